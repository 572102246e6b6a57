"""Runs of consecutive numbers: how reports and messages name many ranks or layers at once."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["number_runs"]


def number_runs(numbers: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """The numbers, sorted, as runs of consecutive ones, each (first, last): 0, 1, 2, 5 -> (0, 2), (5, 5).

    A number given twice counts once.
    """
    runs: list[list[int]] = []
    for number in sorted(numbers):
        if runs and number <= runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return tuple((first, last) for first, last in runs)
