"""Before anything is timed: do all contenders compute the same thing?

A benchmark of code that gives different answers, or that silently skips its
checks, measures nothing. For every document this checks that each contender
loads the same scales in the same order, reads its own dump back to the same
scales, re-validates for every rank, and (when it checks at all) refuses the
document for a context that does not fit it, on load and on re-validation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .contenders import Contender
from .documents import Document, reference_scales

Ordered = list[tuple[int, list[tuple[int, float]]]]


def _ordered(scales: dict[int, dict[int, float]]) -> Ordered:
    return [(rank, list(layers.items())) for rank, layers in scales.items()]


def _wrong_contexts(doc: Document) -> list[dict[str, Any]]:
    return [
        {**doc.context(), "tp_size": doc.tp_size + 1},
        {**doc.context(), "num_hidden_layers": doc.num_hidden_layers + 1},
        {**doc.context(), "model_type": "not-" + str(doc.model_type)},
    ]


def _refuses(action: Callable[..., object], *args: object) -> bool:
    try:
        action(*args)
    except ValueError:
        return True
    return False


def disagreements(contenders: Sequence[Contender], documents: Sequence[Document]) -> list[str]:
    """Every way a contender departs from the reference; empty when all agree."""
    problems = []
    for doc in documents:
        expected = reference_scales(doc.data)
        for c in contenders:
            where = f"{c.NAME} on {doc.label}"
            obj = c.load(doc.data, doc.context())
            if _ordered(c.scales(obj)) != _ordered(expected):
                problems.append(f"{where}: load gives different scales (or order) than the reference")
            if reference_scales(c.dump(obj)) != expected:
                problems.append(f"{where}: its dump reads back to different scales")
            for ctx in doc.all_rank_contexts():
                c.revalidate(obj, ctx)
            if not c.CHECKS:
                continue
            for ctx in _wrong_contexts(doc):
                if not _refuses(c.load, doc.data, ctx):
                    problems.append(f"{where}: load accepts the wrong context {ctx}")
                if not _refuses(c.revalidate, obj, ctx):
                    problems.append(f"{where}: revalidate accepts the wrong context {ctx}")
    return problems
