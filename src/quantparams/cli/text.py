"""Human output: values, number ranges, tables and lists cut when long."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import orjson

__all__ = ["SHOWN", "g", "pairs_text", "ranges", "shown", "shown_table", "table", "text"]

T = TypeVar("T")

# Longest list a person gets before "... and N more"; --json lists everything.
SHOWN = 20
# Widest run of layer or rank numbers on one line of human output.
_RANGES_WIDTH = 50


def text(value: str | None) -> str:
    # JSON spelling: null stands out from a model type named "None".
    return orjson.dumps(value).decode()


def g(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def ranges(numbers: Iterable[int]) -> str:
    """Sorted numbers as "0-3, 5", cut when long."""
    return pairs_text([(number, number) for number in numbers])


def pairs_text(pairs: Sequence[tuple[int, int]]) -> str:
    """Sorted (first, last) ranges as "0-3, 5", merging neighbours, cut when long."""
    merged: list[list[int]] = []
    for first, last in pairs:
        if merged and first == merged[-1][1] + 1:
            merged[-1][1] = last
        else:
            merged.append([first, last])
    parts = [str(first) if first == last else f"{first}-{last}" for first, last in merged]
    joined = ", ".join(parts)
    if len(joined) <= _RANGES_WIDTH:
        return joined
    count = sum(last - first + 1 for first, last in merged)
    tail = f"... ({count} in all)"
    kept: list[str] = []
    for part in parts:
        if len(", ".join([*kept, part, tail])) > _RANGES_WIDTH:
            break
        kept.append(part)
    return ", ".join([*kept, tail])


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Right-aligned columns two spaces apart, headers on the first line."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    return ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in [headers, *rows]]


def shown(
    lines: list[str], indent: str = "", limit: int = SHOWN, hint: str = "--json lists all"
) -> list[str]:
    """At most `limit` lines (0: all), then how many more there are."""
    kept = lines[: limit or None]
    return [indent + line for line in kept] + _more(indent, len(lines) - len(kept), hint)


def shown_table(
    headers: list[str],
    items: Sequence[T],
    row: Callable[[T], list[str]],
    indent: str = "",
    limit: int = SHOWN,
    hint: str = "--json lists all",
) -> list[str]:
    """A table of the first `limit` items (0: all), one `row` each, then how many more there are."""
    kept = items[: limit or None]
    lines = table(headers, [row(item) for item in kept])
    return [indent + line for line in lines] + _more(indent, len(items) - len(kept), hint)


def _more(indent: str, hidden: int, hint: str) -> list[str]:
    return [f"{indent}... and {hidden} more ({hint})"] if hidden else []
