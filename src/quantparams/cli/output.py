"""How commands write: problems to stderr, JSON documents to stdout."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable

import orjson

from .. import Problem
from .exit_codes import EXIT_USAGE

__all__ = ["cannot_read", "print_json", "problems_json", "report", "usage_document", "usage_error"]


def usage_document(message: str) -> dict[str, object]:
    """What `--json` prints for arguments that do not go together: nothing was read."""
    return {"ok": False, "error": message}


def usage_error(command: str, error: Exception, *, as_json: bool) -> int:
    if as_json:
        print_json(usage_document(str(error)))
    print(f"quantparams {command}: error: {error}", file=sys.stderr)
    return EXIT_USAGE


def cannot_read(path: str, error: OSError) -> str:
    message = f"cannot read: {error.strerror or error}"
    print(f"{path}: {message}", file=sys.stderr)
    return message


def report(path: str, problems: Iterable[Problem]) -> None:
    # Whatever stdout holds comes first, also when both go to one file.
    sys.stdout.flush()
    for item in problems:
        print(f"{path}: {item}", file=sys.stderr)


def problems_json(problems: Iterable[Problem]) -> list[dict[str, str]]:
    return [item.to_json() for item in problems]


def print_json(document: object, *, indent: bool = False) -> None:
    # One line unless asked: a log of several runs is then JSON Lines.
    # Non-finite floats (possible only in documents built in Python) become null.
    try:
        text = orjson.dumps(document, option=orjson.OPT_INDENT_2 if indent else 0).decode()
    except TypeError:
        # orjson writes integers of up to 64 bits; a rank or layer key can be larger.
        text = json.dumps(
            _finite(document),
            indent=2 if indent else None,
            separators=None if indent else (",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    sys.stdout.write(text + "\n")


def _finite(value: object) -> object:
    """The value with non-finite floats replaced by None, as orjson writes them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
