"""The ``jbtrio`` command line: one subcommand per job.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; this module only wires them together, takes ``--log-level`` and
``--log-format`` from anywhere on the line (:mod:`._cli_logging`), gives every ``serve``
option its ``JBTRIO_*`` variable (:mod:`._cli_env`) and sets up logging.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib import import_module

from . import __version__
from ._cli_env import EnvError, apply_environment, document_environment
from ._cli_logging import (
    LEVELS,
    LOG_FORMATS,
    UsageError,
    configure_logging,
    env_logging_options,
    split_logging_options,
)

__all__ = ["main", "parse_command_line"]

# name -> (module implementing add_arguments/run, one-line help)
_SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("jbtrio._demo", "show jbtrio at work with no jambonz needed (the main job)"),
    "serve": ("jbtrio._cli_serve", "serve an app object (MODULE:APP) to jambonz"),
    "call": ("jbtrio.testing._cli_call", "place one simulated jambonz call against a running app"),
    "audio": (
        "jbtrio.testing._cli_audio",
        "stream audio to an app's audio socket (listen/stream) as jambonz does",
    ),
}

#: Subcommands whose every option may also come from a ``JBTRIO_*`` variable.
_FROM_ENVIRONMENT = ("serve",)

_Runner = Callable[[argparse.Namespace], int]


def _build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog="jbtrio",
        description="Trio-native runtime for jambonz WebSocket-API voice applications.",
    )
    parser.add_argument("--version", action="version", version=f"jbtrio {__version__}")
    # Taken out of the line before parsing (they may be anywhere): shown here for --help.
    parser.add_argument(
        "--log-level",
        choices=LEVELS,
        help="stdlib logging level (default: INFO for serve, else WARNING; "
        "$JBTRIO_LOG_LEVEL); accepted anywhere on the line",
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="text lines, or one JSON object per line with call_sid, path and event as "
        "fields (default: text; $JBTRIO_LOG_FORMAT); accepted anywhere on the line",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    subparsers: dict[str, argparse.ArgumentParser] = {}
    for name, (module_name, help_text) in _SUBCOMMANDS.items():
        module = import_module(module_name)
        subparser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(subparser)
        if name in _FROM_ENVIRONMENT:
            document_environment(subparser)
        runner: _Runner = module.run
        subparser.set_defaults(run=runner)
        subparsers[name] = subparser
    return parser, subparsers


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named on the line (the top level takes no option with a value)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def parse_command_line(
    argv: Sequence[str], environ: Mapping[str, str] | None = None
) -> argparse.Namespace:
    """Parse ``argv`` as the command line (``JBTRIO_*`` from ``environ``, by default the
    process's): ``args.log_level``/``args.log_format`` are resolved and
    ``args.from_environment`` names the options a variable set. A bad option or variable is
    one line on stderr and ``SystemExit(2)``."""
    environ = os.environ if environ is None else environ
    try:
        rest, given = split_logging_options(argv)
        from_env = env_logging_options(environ)
    except UsageError as exc:
        print(f"jbtrio: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    parser, subparsers = _build_parser()
    command = _command_of(rest)
    applied: set[str] = set()
    if command in _FROM_ENVIRONMENT:
        try:
            applied = apply_environment(subparsers[command], environ)
        except EnvError as exc:
            print(f"jbtrio {command}: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    args = parser.parse_args(rest)
    args.from_environment = applied
    args.log_level = given.level or from_env.level or ("INFO" if command == "serve" else "WARNING")
    args.log_format = given.log_format or from_env.log_format or "text"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    try:
        args = parse_command_line(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    configure_logging(args.log_level, args.log_format)
    runner: _Runner = args.run
    return runner(args)
