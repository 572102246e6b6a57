"""`quantparams schema`: a JSON Schema of the file format."""

from __future__ import annotations

import argparse

from .._jsonschema import json_schema
from .arguments import Command
from .exit_codes import EXIT_OK
from .output import print_json

__all__ = ["COMMAND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def _run(args: argparse.Namespace) -> int:
    print_json(json_schema(), indent=True)
    return EXIT_OK


COMMAND = Command(
    name="schema",
    help="print a JSON Schema of the file format",
    description="Print a JSON Schema (draft 2020-12) of the file format: every check that needs "
    "no engine context, except that numbers fit a double.",
    exit_status="0 printed, 2 a usage error.",
    example="quantparams schema > quantparams.schema.json",
    add_arguments=_add_arguments,
    run=_run,
)
