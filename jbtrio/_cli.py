"""The ``jbtrio`` command line: one subcommand per job.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; this module only wires them together and sets up logging.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

__all__ = ["main"]

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

_Runner = Callable[[argparse.Namespace], int]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jbtrio",
        description="Trio-native runtime for jambonz WebSocket-API voice applications.",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="stdlib logging level for jbtrio's loggers (default: WARNING)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in _SUBCOMMANDS.items():
        module = import_module(module_name)
        subparser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(subparser)
        runner: _Runner = module.run
        subparser.set_defaults(run=runner)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = _build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    runner: _Runner = args.run
    return runner(args)
