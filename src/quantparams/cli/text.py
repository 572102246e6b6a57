"""Human output: values, runs of numbers, tables and lists cut when long."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import orjson

from .. import number_runs

__all__ = ["SHOWN", "g", "numbers_text", "runs_text", "shown", "shown_table", "table", "text"]

T = TypeVar("T")

# Longest list a person gets before "... and N more"; --json lists everything.
SHOWN = 20
# Widest run of layer or rank numbers on one line of human output.
_RUNS_WIDTH = 50


def text(value: str | None) -> str:
    # JSON spelling: null stands out from a model type named "None".
    return orjson.dumps(value).decode()


def g(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def numbers_text(numbers: Iterable[int]) -> str:
    """Numbers as their runs, "0-3, 5", cut when long."""
    return runs_text(number_runs(numbers))


def runs_text(runs: Sequence[tuple[int, int]]) -> str:
    """Runs of numbers, each (first, last), as "0-3, 5", cut when long: the one way the
    command line prints many ranks or layers."""
    parts = [str(first) if first == last else f"{first}-{last}" for first, last in runs]
    joined = ", ".join(parts)
    if len(joined) <= _RUNS_WIDTH:
        return joined
    count = sum(last - first + 1 for first, last in runs)
    tail = f"... ({count} in all)"
    kept: list[str] = []
    for part in parts:
        if len(", ".join([*kept, part, tail])) > _RUNS_WIDTH:
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
