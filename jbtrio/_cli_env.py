"""Configuration from the environment: every option of a subcommand (``jbtrio serve``'s) as
``JBTRIO_<OPTION>``, made from the parser's own option definitions.

Nothing here lists options by hand: an option added to the parser later (by anyone) gets its
variable by construction (``--max-connections`` -> ``JBTRIO_MAX_CONNECTIONS``, the
positional ``MODULE:APP`` -> ``JBTRIO_APP``). A variable becomes the option's default, so the
command line always wins. A bad value is one line naming the variable, exit status 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

__all__ = [
    "PREFIX",
    "EnvError",
    "apply_environment",
    "document_environment",
    "env_name",
    "env_options",
]

PREFIX = "JBTRIO_"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class EnvError(ValueError):
    """A ``JBTRIO_*`` variable with a value its option refuses."""


def env_name(action: argparse.Action) -> str:
    """The variable of an option: its first long name (or a positional's dest), upper-cased,
    ``-`` as ``_``, prefixed ``JBTRIO_``."""
    longs = [opt for opt in action.option_strings if opt.startswith("--")]
    name = longs[0][2:] if longs else action.dest
    return PREFIX + name.upper().replace("-", "_")


def env_options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The options of ``parser`` that a variable can set (not help, version or hidden ones)."""
    return [
        action
        for action in parser._actions  # argparse has no public list of a parser's options
        if not isinstance(action, argparse._HelpAction | argparse._VersionAction)
        and action.help != argparse.SUPPRESS
    ]


def _flag(action: argparse.Action) -> bool:
    return action.nargs == 0


def _convert(action: argparse.Action, var: str, raw: str) -> object:
    if _flag(action):
        word = raw.strip().lower()
        if word in _TRUE:
            return action.const
        if word in _FALSE:
            return action.default
        raise EnvError(f"${var} is a switch: 1/true/yes/on or 0/false/no/off, got {raw!r}")
    convert = action.type
    try:
        value = convert(raw) if callable(convert) else raw
    except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
        kind = getattr(convert, "__name__", "value")
        raise EnvError(f"${var}: invalid {kind} value {raw!r} ({exc})") from None
    if action.choices is not None and value not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise EnvError(f"${var} must be one of {choices}, got {raw!r}")
    return value


def apply_environment(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> set[str]:
    """Make each ``JBTRIO_*`` variable set in ``environ`` the default of its option in
    ``parser`` (a positional becomes optional); returns the dests set so. Raises
    :class:`EnvError` for a value the option refuses."""
    applied: set[str] = set()
    for action in env_options(parser):
        var = env_name(action)
        raw = environ.get(var)
        if raw is None:
            continue
        action.default = _convert(action, var, raw)
        if not action.option_strings:
            action.nargs = "?"
            action.required = False
        applied.add(action.dest)
    return applied


def document_environment(parser: argparse.ArgumentParser) -> None:
    """Name each option's variable in its ``--help`` line."""
    for action in env_options(parser):
        if action.help is not None:
            action.help = f"{action.help} [${env_name(action)}]"
