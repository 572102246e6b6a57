"""The three in-process jobs, each as one call per contender to hand to `timing.interleaved`.

- load: JSON bytes -> checked object, for rank 0's context (what an engine does at start-up);
- revalidate: an object loaded once, checked again for each of its TP ranks' contexts
  (one process checking a file for every rank it will serve, or a tool checking a file
  for a whole deployment); reported per re-validation;
- dump: a loaded object -> JSON bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .contenders import Contender
from .documents import Document
from .timing import Plan, Stats, Thunk, interleaved


def _load(c: Contender, doc: Document) -> Thunk:
    load, data, ctx = c.load, doc.data, doc.context()
    return lambda: load(data, ctx)


def _revalidate(c: Contender, doc: Document) -> Thunk:
    revalidate, obj, contexts = c.revalidate, c.load(doc.data, doc.context()), doc.all_rank_contexts()

    def every_rank() -> None:
        for ctx in contexts:
            revalidate(obj, ctx)

    return every_rank


def _dump(c: Contender, doc: Document) -> Thunk:
    dump, obj = c.dump, c.load(doc.data, doc.context())
    return lambda: dump(obj)


@dataclass(frozen=True)
class Job:
    """A timed operation: its name, its heading in the report, how to call it."""

    name: str
    title: str
    thunk: Callable[[Contender, Document], Thunk]
    ops_per_call: Callable[[Document], int] = lambda doc: 1

    def run(self, contenders: Sequence[Contender], doc: Document, plan: Plan) -> tuple[dict[str, Stats], int]:
        """Per-operation stats by contender name, and the number of rounds."""
        thunks = {c.NAME: self.thunk(c, doc) for c in contenders}
        stats, rounds = interleaved(thunks, plan)
        ops = self.ops_per_call(doc)
        per_op = {name: Stats(tuple(t / ops for t in s.samples_ns)) for name, s in stats.items()}
        return per_op, rounds


JOBS = (
    Job("load", "Load: JSON bytes to a checked object (context of rank 0)", _load),
    Job(
        "revalidate",
        "Re-validate: a loaded object checked for each of its TP ranks (time per rank)",
        _revalidate,
        lambda doc: doc.tp_size,
    ),
    Job("dump", "Dump: a loaded object to JSON bytes", _dump),
)
