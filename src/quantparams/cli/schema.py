"""`quantparams schema`: a JSON Schema of the file format."""

from __future__ import annotations

import argparse
from typing import Any, NamedTuple

from .. import json_schema
from .arguments import Command
from .exit_codes import EXIT_OK
from .output import Line, Report, json_text

__all__ = ["COMMAND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


class SchemaDocument(NamedTuple):
    """The JSON Schema, printed as indented JSON: a file to keep, read by people too."""

    schema: dict[str, Any]
    status: int = EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return self.schema

    def to_text(self) -> list[Line]:
        return [Line(json_text(self.schema, indent=True))]


def _run(args: argparse.Namespace) -> Report:
    return SchemaDocument(json_schema())


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
