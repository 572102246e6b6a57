"""The error types, and how problem paths and bad values are rendered."""

from __future__ import annotations

import math
from collections.abc import Iterable

import attrs
import orjson

__all__ = [
    "MapKey",
    "ParseError",
    "Path",
    "Problem",
    "QuantParamError",
    "StructureError",
    "ValidationError",
    "describe",
    "problem",
]

# Longest rendering of a bad value quoted in a message: a 10 MB string must not
# become a 10 MB message.
_MAX_QUOTED = 40


@attrs.frozen
class MapKey:
    """A key of a JSON object used as a map, as opposed to a field name."""

    key: object


# A path is a tuple of field names (rendered `.name`) and map keys (rendered
# `["key"]`), rendered only when a problem is reported.
Path = tuple["str | MapKey", ...]


def _render_path(path: Path) -> str:
    parts = ["$"]
    for element in path:
        if isinstance(element, MapKey):
            parts.append(f"[{_render_key(element.key)}]")
        else:
            parts.append(f".{element}")
    return "".join(parts)


def _render_key(key: object) -> str:
    if isinstance(key, str):
        return describe(key)
    if type(key) is int:
        # An int key is written as a JSON string key.
        return f'"{key}"'
    return describe(key)


def describe(value: object) -> str:
    """Render a value as JSON where possible, cut to a short prefix."""
    if isinstance(value, float) and not math.isfinite(value):
        # Spelled as Python's json module writes them.
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    try:
        text = orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):
        text = repr(value)
    if len(text) > _MAX_QUOTED:
        text = f"{text[: _MAX_QUOTED - 3]}..."
    return text


@attrs.frozen
class Problem:
    """One thing wrong with a document: where (a JSON path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def problem(path: Path, message: str) -> Problem:
    return Problem(_render_path(path), message)


class QuantParamError(ValueError):
    """Base of every error raised for bad input.

    `problems` lists every problem found, each with the JSON path it concerns.
    `source` names the file the input came from, when known.
    """

    def __init__(self, problems: Iterable[Problem], source: str | None = None) -> None:
        self.problems: list[Problem] = list(problems)
        self.source = source
        super().__init__(self.problems)

    def __str__(self) -> str:
        head = f"{self.source}: " if self.source else ""
        lines = [str(p) for p in self.problems]
        if len(lines) == 1:
            return head + lines[0]
        return f"{head}{len(lines)} problems:\n" + "\n".join(f"  {line}" for line in lines)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.problems, self.source))


class ParseError(QuantParamError):
    """The input is not JSON, or not UTF-8."""


class StructureError(QuantParamError):
    """The input has the wrong shape or a value of the wrong type."""


class ValidationError(QuantParamError):
    """The document is well formed but fails a check."""
