"""The error types, and how problem paths and bad values are rendered."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping

import attrs
import orjson

__all__ = [
    "DuplicateKeyError",
    "FileTooLargeError",
    "Index",
    "JsonPath",
    "MapKey",
    "ParseError",
    "Problem",
    "QuantParamError",
    "StructureError",
    "ValidationError",
    "describe",
    "problem",
    "spell",
]

# Longest rendering of a bad value quoted in a message: a 10 MB string must not
# become a 10 MB message.
_MAX_QUOTED = 40


# Path elements are plain classes, not attrs ones: each attrs class adds to
# every program's start-up, and these are only ever made, then read when a
# problem is rendered.
class MapKey:
    """A key of a JSON object used as a map, as opposed to a field name."""

    __slots__ = ("key",)

    def __init__(self, key: object) -> None:
        self.key = key


class Index:
    """A position in a JSON array."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


# A path is a tuple of field names (rendered `.name`), map keys (rendered
# `["key"]`) and array positions (rendered `[3]`), rendered only when a
# problem is reported.
JsonPath = tuple["str | MapKey | Index", ...]


def _render_path(path: JsonPath) -> str:
    parts = ["$"]
    for element in path:
        if isinstance(element, MapKey):
            parts.append(f"[{_render_key(element.key)}]")
        elif isinstance(element, Index):
            parts.append(f"[{element.index}]")
        elif len(element) <= _MAX_QUOTED:
            parts.append(f".{element}")
        else:  # a long name from the file: quoted short
            parts.append(f"[{describe(element)}]")
    return "".join(parts)


def _render_key(key: object) -> str:
    if isinstance(key, str):
        return describe(key)
    if type(key) is int:
        # An int key is written as a JSON string key.
        return describe(_int_text(key, _MAX_QUOTED))
    return describe(key)


def describe(value: object) -> str:
    """Render a value as JSON where possible, cut to a short prefix.

    Only the part that is shown is ever rendered, so the cost does not grow
    with the value: a 10 MB string or a million-entry dict in the wrong place
    costs as much as a short one.
    """
    try:
        text = _Prefix(_MAX_QUOTED, as_json=True).render(value)
    except _NotJson:
        text = _Prefix(_MAX_QUOTED, as_json=False).render(value)
    if len(text) > _MAX_QUOTED:
        text = f"{text[: _MAX_QUOTED - 3]}..."
    return text


def spell(value: object) -> str:
    """A value as Python's str() spells it in a sentence, cut to a short prefix.

    Strings, None and bools as str() has them (vLLM's messages are written
    so); anything else as `describe` renders it, which never spells a huge
    int in full.
    """
    if value is None or type(value) is bool:
        return str(value)
    if type(value) is str:
        return value if len(value) <= _MAX_QUOTED else f"{value[: _MAX_QUOTED - 3]}..."
    return describe(value)


class _Full(Exception):
    """The prefix is longer than what will be shown: stop rendering."""


class _NotJson(Exception):
    """The shown part holds a value JSON cannot spell: render as Python instead."""


class _Prefix:
    """Renders the start of a value, at most `limit + 1` characters of it.

    As JSON (orjson's compact spelling, with NaN and Infinity spelled as
    Python's json module writes them) or, for values JSON cannot spell, as
    Python's repr.
    """

    def __init__(self, limit: int, *, as_json: bool) -> None:
        self._limit = limit
        self._as_json = as_json
        self._parts: list[str] = []
        self._size = 0

    def render(self, value: object) -> str:
        with contextlib.suppress(_Full):
            self._value(value)
        return "".join(self._parts)

    def _add(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        if self._size > self._limit:
            raise _Full

    def _value(self, value: object) -> None:
        # Every container adds at least one character per level before it
        # descends, so nesting deeper than the limit is never visited.
        if value is None or isinstance(value, bool):
            self._add(_JSON_CONSTANTS[value] if self._as_json else repr(value))
        elif isinstance(value, int):
            self._add(_int_text(value, self._limit + 1))
        elif isinstance(value, float):
            self._add(_float_text(value, self._as_json))
        elif isinstance(value, str):
            self._str(value)
        elif isinstance(value, dict) or (not self._as_json and isinstance(value, Mapping)):
            self._mapping(value)
        elif isinstance(value, (list, tuple)):
            self._sequence(value)
        elif self._as_json:
            raise _NotJson
        else:
            self._add(repr(value))

    def _str(self, value: str) -> None:
        # Escaping never shortens text, so the first limit + 1 characters
        # render to at least as much as will be shown.
        head = value[: self._limit + 1]
        if self._as_json:
            try:
                self._add(orjson.dumps(head).decode())
            except orjson.JSONEncodeError:
                # A lone surrogate: not UTF-8, so not JSON.
                raise _NotJson from None
        else:
            self._add(repr(head))

    def _mapping(self, value: Mapping[object, object]) -> None:
        plain = isinstance(value, dict)
        if not plain:
            self._add(f"{type(value).__name__}(")
        self._add("{")
        separator = "," if self._as_json else ", "
        colon = ":" if self._as_json else ": "
        for index, (key, item) in enumerate(value.items()):
            if index:
                self._add(separator)
            if self._as_json and not isinstance(key, str):
                raise _NotJson
            self._value(key)
            self._add(colon)
            self._value(item)
        self._add("}")
        if not plain:
            self._add(")")

    def _sequence(self, value: list[object] | tuple[object, ...]) -> None:
        tuple_syntax = not self._as_json and isinstance(value, tuple)
        self._add("(" if tuple_syntax else "[")
        separator = "," if self._as_json else ", "
        for index, item in enumerate(value):
            if index:
                self._add(separator)
            self._value(item)
        if tuple_syntax and len(value) == 1:
            self._add(",")
        self._add(")" if tuple_syntax else "]")


_JSON_CONSTANTS = {None: "null", True: "true", False: "false"}


def _float_text(value: float, as_json: bool) -> str:
    if not math.isfinite(value):
        # Spelled as Python's json module writes them.
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if as_json:
        return orjson.dumps(float(value)).decode()
    return repr(value)


# Up to this many bits, an int has at most 60 digits: cheap to spell in full.
_SHORT_INT_BITS = 199


def _int_text(value: int, digits: int) -> str:
    """At least the first `digits` characters of the int's decimal spelling.

    Spelling a huge int in full costs time quadratic in its length, and past
    4300 digits `str` refuses outright; only its leading digits are needed.
    """
    value = int(value)
    if value.bit_length() <= _SHORT_INT_BITS:
        return str(value)
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    # A lower bound on the digit count, off by at most one.
    length = int(magnitude.bit_length() * _LOG10_2)
    drop = max(length - digits - 2, 0)
    return sign + str(magnitude // 10**drop)


_LOG10_2 = math.log10(2)


@attrs.frozen
class Problem:
    """One thing wrong with a document: where (a JSON path) and what.

    `layer` is the model layer a checkpoint's problem concerns, when it
    concerns one: the order problems are listed in, and the runs of layers
    the command line prints the same problem of many layers as. It takes no
    part in equality: the path already names the tensor.
    """

    path: str
    message: str
    layer: int | None = attrs.field(default=None, kw_only=True, eq=False, repr=False)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def to_json(self) -> dict[str, str]:
        """The form every `--json` document lists problems in: `{"path", "message"}`."""
        return {"path": self.path, "message": self.message}


def problem(path: JsonPath, message: str) -> Problem:
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


class FileTooLargeError(ParseError):
    """The file is larger than the limit `load` was given, so it was not read.

    A `ParseError`, so code that treats unreadable input as one case needs no
    change; catch this class to tell a size limit from broken JSON.
    """


class DuplicateKeyError(ParseError):
    """An object names the same key twice: readers disagree on which value counts."""


class StructureError(QuantParamError):
    """The input has the wrong shape or a value of the wrong type."""


class ValidationError(QuantParamError):
    """The document is well formed but fails a check."""
