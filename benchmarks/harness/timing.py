"""Timing in process: contenders interleaved round by round, medians reported.

Why this shape:

- Interleaving. Each round times every contender once, in an order rotated
  from round to round, so drift of a shared machine (other jobs, frequency
  changes, thermal limits) hits every contender alike instead of whichever
  happened to run during the slow minute.
- Batches. A call shorter than the clock's resolution cannot be timed alone;
  each contender's batch size is set so that a batch lasts about a target
  time, and the time per call is the batch's time divided by its size.
- Medians of rounds, with the interquartile range as the spread, because a
  few rounds hit by another process should not move the result.
- The garbage collector stays on, as in the program that loads the file, but
  runs to completion between batches so that nobody pays for another's garbage.
  As with `timeit`, freeing a call's result is part of the call.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from time import perf_counter_ns

Thunk = Callable[[], object]


@dataclass(frozen=True)
class Plan:
    """How long to measure: batch length, time budget per job, bounds on rounds."""

    batch_ns: int
    budget_ns: int
    min_rounds: int
    max_rounds: int


@dataclass(frozen=True)
class Stats:
    """The per-call times of one contender on one job, one per round."""

    samples_ns: tuple[float, ...]

    @property
    def median_ns(self) -> float:
        return statistics.median(self.samples_ns)

    @property
    def spread(self) -> float:
        """Interquartile range over the median: 0.05 means the middle half of rounds lies within 5 %."""
        if len(self.samples_ns) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples_ns, n=4, method="inclusive")
        return (q3 - q1) / self.median_ns


def _batch_ns(thunk: Thunk, calls: int) -> int:
    gc.collect()
    start = perf_counter_ns()
    for _ in range(calls):
        thunk()
    return perf_counter_ns() - start


def batch_size(thunk: Thunk, target_ns: int) -> tuple[int, float]:
    """Calls per batch so that a batch lasts about `target_ns`, and the estimated ns per call.

    The first call is left out: it pays one-time set-up (code generation,
    caches, lazy imports) that a cold-start measurement reports on its own.
    """
    thunk()
    calls = 1
    while True:
        elapsed = _batch_ns(thunk, calls)
        if elapsed * 8 >= target_ns or calls >= 1 << 20:
            per_call = elapsed / calls
            return max(1, round(target_ns / max(per_call, 1.0))), per_call
        calls *= 2


def interleaved(thunks: Mapping[str, Thunk], plan: Plan) -> tuple[dict[str, Stats], int]:
    """Time every thunk round by round; returns per-call stats by name and the number of rounds."""
    names = list(thunks)
    sizes = {}
    round_ns = 0.0
    for name in names:
        calls, per_call = batch_size(thunks[name], plan.batch_ns)
        sizes[name] = calls
        round_ns += calls * per_call
    rounds = max(plan.min_rounds, min(plan.max_rounds, int(plan.budget_ns / max(round_ns, 1.0))))
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            calls = sizes[name]
            samples[name].append(_batch_ns(thunks[name], calls) / calls)
    return {name: Stats(tuple(values)) for name, values in samples.items()}, rounds
