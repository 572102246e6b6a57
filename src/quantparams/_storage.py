"""The maps' keys and storage: canonical key strings, and the dict a map keeps.

A map keeps one dict from canonical key strings ("0", "17") to values, in
source order: the map's JSON form as it stands, and for a parsed object of
canonical keys, that object itself. Python code sees `int` keys.

The table of key strings "0".."n-1" lets a parsed object's keys be checked
with one list comparison instead of a parse per key: orjson hands out the
same key objects again from its cache, so the comparison is mostly pointers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from ._errors import JsonPath, MapKey, Problem, describe, problem
from ._format import is_canonical_key_text

__all__ = ["canonical_key", "collect", "is_dense", "key_strings", "python_key", "scale", "storage"]

# "0", "1", ... grown on demand; replaced, never mutated, so a reader in
# another thread always sees a whole table. Two threads growing it at once
# each use the table they built.
_key_strings: list[str] = []


class _KeyLists(dict[int, list[str]]):
    """key_strings(n) for the few sizes files actually have, so that checking
    a map's keys does not copy the table first: looked up in C, which a small
    file's load notices, and made when first missing."""

    __slots__ = ()

    def __missing__(self, n: int) -> list[str]:
        table = _key_strings
        if n > len(table):
            table = _grown_table(n)
        keys = table[:n]
        if len(self) < _KEY_LISTS_KEPT:
            self[n] = keys
        return keys


_KEY_LISTS_KEPT = 64
key_strings: Callable[[int], list[str]] = _KeyLists().__getitem__
"""`key_strings(n)`: the canonical key strings "0" .. str(n - 1), in order. Shared: never mutate it."""


def _grown_table(n: int) -> list[str]:
    global _key_strings
    size = max(n, 2 * len(_key_strings), 1024)
    # The key objects orjson itself hands out (see the module's docstring).
    # Where two keys share a cache slot the later one stays: parse the small,
    # common ones last.
    members = ",".join(f'"{i}":0' for i in reversed(range(size)))
    table = list(reversed(orjson.loads(f"{{{members}}}")))
    _key_strings = table
    return table


def canonical_key(key: object) -> int | None:
    """The int a JSON key stands for, or None unless it is canonical decimal."""
    if type(key) is not str or not is_canonical_key_text(key):
        return None
    try:
        return int(key)
    except ValueError:  # longer than int() will convert: no rank or layer is
        return None


def python_key(key: object) -> int | None:
    """The key as an int, or None unless it is a non-negative integer (not a
    bool) short enough for `str` to spell, as its JSON key must be."""
    if isinstance(key, int) and not isinstance(key, bool) and key >= 0 and key.bit_length() <= _MAX_KEY_BITS:
        return int(key)
    return None


# Python's default limit on converting an int to text is 4300 digits: keys
# stay well under it.
_MAX_KEY_BITS = 4096


def storage(items: Iterable[tuple[int, object]]) -> dict[str, object]:
    """A map's dict for (key, value) pairs of canonical int keys."""
    return {str(key): value for key, value in items}


def is_dense(stored: dict[str, object]) -> bool:
    """True when the stored keys are exactly "0".."n-1", in order."""
    return list(stored) == key_strings(len(stored))


_JSON_KEY = 'a key like "0" or "17" (a non-negative integer without sign, spaces or leading zeros)'
_PYTHON_KEY = "a non-negative integer key"

KeyParser = Callable[[object], "int | None"]
ValueParser = Callable[[object, JsonPath], "tuple[Any, list[Problem]]"]


def collect(
    obj: object, path: JsonPath, what: str, parse_key: KeyParser, parse_value: ValueParser
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """A map's storage for any mapping, or every problem with its keys and values."""
    if not isinstance(obj, Mapping):
        return None, [problem(path, f"expected an object mapping {what}, got {describe(obj)}")]
    expected_key = _JSON_KEY if parse_key is canonical_key else _PYTHON_KEY
    items: list[tuple[int, object]] = []
    problems: list[Problem] = []
    for key, value in obj.items():
        at = (*path, MapKey(key))
        parsed_key = parse_key(key)
        if parsed_key is None:
            problems.append(problem(at, _bad_key(expected_key, key)))
        parsed_value, value_problems = parse_value(value, at)
        problems += value_problems
        if parsed_key is not None and parsed_value is not None:
            items.append((parsed_key, parsed_value))
    if problems:
        return None, problems
    return storage(items), []


def _bad_key(expected: str, key: object) -> str:
    # A canonical JSON key is refused only when int() will not convert it.
    if expected is _JSON_KEY and type(key) is str and is_canonical_key_text(key):
        return f"expected {expected} of a plausible size, got one of {len(key)} digits"
    return f"expected {expected}, got {describe(key)}"


def scale(value: object, path: JsonPath) -> tuple[float | None, list[Problem]]:
    if type(value) is float:
        return value, []
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        real = True
    else:
        # Any other real number (numpy's float32, say) is a scale too, but
        # never a bool or text. Imported here: the common path never needs it.
        import numbers

        real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if real:
        try:
            return float(value), []  # type: ignore[arg-type]
        except (OverflowError, ValueError, TypeError):
            pass
    return None, [problem(path, f"expected a number, got {describe(value)}")]
