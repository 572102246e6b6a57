"""The `quantparams` command line: one module per command.

Each command module holds a `COMMAND`: its arguments, its help text and what
it prints. Exit status: 0 success, 1 invalid input (or, for `diff`, files that
differ), 2 usage error or a file that cannot be read or written. Problems go
to stderr as `FILE: $.path: message`, one per line, with or without `--json`;
`--json` changes only what goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import diff, extract, inspect, schema, validate
from .arguments import Parser
from .exit_codes import EXIT_USAGE

__all__ = ["main"]

_COMMANDS = {
    command.name: command
    for command in (validate.COMMAND, inspect.COMMAND, diff.COMMAND, schema.COMMAND, extract.COMMAND)
}


def _parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = Parser(prog="quantparams", description="Read, check and write quantization parameter files.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    subparsers: dict[str, argparse.ArgumentParser] = {}
    for name, command in _COMMANDS.items():
        subparsers[name] = commands.add_parser(name, help=command.help, description=command.description)
        command.add_arguments(subparsers[name])
    return parser, subparsers


def main(argv: Sequence[str] | None = None) -> int:
    parser, subparsers = _parsers()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # Reported by the command's parser, so that its usage line is shown.
        subparsers[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        status = _COMMANDS[args.command].run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`| head`). Point stdout at nothing so that
        # the flush at exit does not fail again with a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_USAGE
    return status
