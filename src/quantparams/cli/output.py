"""How commands write: every command returns a `Report`, and `emit` prints it, as text or as JSON.

A report's text is its lines in the order a person reads them, each for
stdout or stderr: problems go to stderr beside what stdout shows. With
`--json`, stdout holds the report's one JSON document instead of its stdout
lines; its stderr lines are printed all the same, and the document ends the
output, as the last word on what was found.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable
from typing import NamedTuple, Protocol

import orjson

from .. import Problem
from .exit_codes import EXIT_USAGE

__all__ = [
    "Line",
    "Report",
    "UsageFailure",
    "cannot_read",
    "emit",
    "json_text",
    "out",
    "print_json",
    "problem_lines",
    "problems_json",
    "usage_document",
]


class Line(NamedTuple):
    """One line of a report's text, for stdout or (`err`) stderr."""

    text: str
    err: bool = False


def out(lines: Iterable[str]) -> list[Line]:
    """Lines for stdout."""
    return [Line(line) for line in lines]


def problem_lines(path: str, problems: Iterable[Problem]) -> list[Line]:
    """Problems for stderr, each as `PATH: $.where: message`."""
    return [Line(f"{path}: {item}", err=True) for item in problems]


class Report(Protocol):
    """What a command found: its exit status, its JSON document and its text."""

    @property
    def status(self) -> int: ...

    def to_json(self) -> object:
        """The `--json` document."""
        ...

    def to_text(self) -> Iterable[Line]:
        """The lines a person reads, stdout and stderr, in order (printed as they come)."""
        ...


def emit(report: Report, *, as_json: bool) -> int:
    """Print `report` as text, or as its JSON document with its stderr lines; its exit status."""
    on_stderr = False
    for line in report.to_text():
        if as_json and not line.err:
            continue
        if line.err and not on_stderr:
            # Whatever stdout holds comes first, also when both go to one file.
            sys.stdout.flush()
        on_stderr = line.err
        print(line.text, file=sys.stderr if line.err else sys.stdout)
    if as_json:
        sys.stderr.flush()
        print_json(report.to_json())
    return report.status


def usage_document(message: str) -> dict[str, object]:
    """What `--json` prints for arguments that do not go together: nothing was read."""
    return {"ok": False, "error": message}


class UsageFailure(NamedTuple):
    """Arguments that do not parse or do not go together: exit 2, nothing read.

    `prog` is what the message starts with (`quantparams validate`), `usage`
    the usage lines argparse shows before it, if any.
    """

    prog: str
    message: str
    usage: str = ""

    @property
    def status(self) -> int:
        return EXIT_USAGE

    def to_json(self) -> dict[str, object]:
        return usage_document(self.message)

    def to_text(self) -> list[Line]:
        usage = [Line(line, err=True) for line in self.usage.splitlines()]
        return [*usage, Line(f"{self.prog}: error: {self.message}", err=True)]


def cannot_read(error: OSError) -> str:
    """The message for a file that cannot be read."""
    return f"cannot read: {error.strerror or error}"


def problems_json(problems: Iterable[Problem]) -> list[dict[str, str]]:
    return [item.to_json() for item in problems]


def print_json(document: object) -> None:
    sys.stdout.write(json_text(document) + "\n")


def json_text(document: object, *, indent: bool = False) -> str:
    """The document as JSON, on one line unless asked: a log of several runs is then JSON Lines.

    Non-finite floats (possible only in documents built in Python) become null.
    """
    try:
        return orjson.dumps(document, option=orjson.OPT_INDENT_2 if indent else 0).decode()
    except TypeError:
        # orjson writes integers of up to 64 bits; a rank or layer key can be larger.
        return json.dumps(
            _finite(document),
            indent=2 if indent else None,
            separators=None if indent else (",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )


def _finite(value: object) -> object:
    """The value with non-finite floats replaced by None, as orjson writes them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
