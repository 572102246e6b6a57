"""The `quantparams` command line: one module per command.

Each command module holds a `COMMAND`: its arguments, its help text and how
it runs, which returns a report (what was found, its exit status); `output`
prints every report, as text or as JSON. Problems go to stderr as
`FILE: $.path: message`, one per line, with or without `--json`; `--json`
changes only what goes to stdout, which is then one JSON document whatever
the exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from . import diff, extract, inspect, schema, validate
from .arguments import HelpFormatter, Parser, epilog
from .exit_codes import EXIT_USAGE
from .output import emit

__all__ = ["main"]

_COMMANDS = {
    command.name: command
    for command in (validate.COMMAND, inspect.COMMAND, diff.COMMAND, schema.COMMAND, extract.COMMAND)
}

_EXIT_STATUS = (
    "0 success, 1 invalid input (for diff: files that differ), 2 a usage error or a file that "
    "cannot be read (for extract: written). Each command's --help says what each means for it."
)


def _parsers(json_errors: bool) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = Parser(
        prog="quantparams",
        description="Read, check and write quantization parameter files.",
        epilog=epilog(_EXIT_STATUS, validate.COMMAND.example),
        formatter_class=HelpFormatter,
        json_errors=json_errors,
    )
    parser.add_argument("--version", action="version", version=f"quantparams {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    subparsers: dict[str, argparse.ArgumentParser] = {}
    for name, command in _COMMANDS.items():
        subparsers[name] = commands.add_parser(
            name,
            help=command.help,
            description=command.description,
            epilog=command.epilog,
            formatter_class=HelpFormatter,
            json_errors=json_errors,
        )
        command.add_arguments(subparsers[name])
    return parser, subparsers


def _asks_for_json(argv: Sequence[str]) -> bool:
    """Whether `--json` (or a prefix argparse takes for it) comes before any `--`."""
    for arg in argv:
        if arg == "--":
            return False
        if len(arg) > 2 and "--json".startswith(arg):
            return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser, subparsers = _parsers(json_errors=_asks_for_json(argv))
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # Reported by the command's parser, so that its usage line is shown.
        subparsers[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        # Commands without --json (schema) print the same either way.
        status = emit(_COMMANDS[args.command].run(args), as_json=getattr(args, "json", False))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`| head`). Point stdout at nothing so that
        # the flush at exit does not fail again with a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_USAGE
    return status
