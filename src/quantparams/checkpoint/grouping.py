"""A checkpoint's scale tensors by layer and kind: the one grouping the report, `extract` and the per-rank files share."""

from __future__ import annotations

from collections.abc import Iterable

from .._errors import Problem
from .messages import duplicate
from .scan import FoundScale

__all__ = ["by_layer"]


def by_layer(
    scales: Iterable[FoundScale], problems: list[Problem]
) -> tuple[dict[int, dict[str, FoundScale]], set[int]]:
    """Each layer's scales by kind (q, k, v, prob), a fused kv scale standing for both k and v;
    and the layers that hold two scales of a kind.

    A second scale of a kind is a problem, naming the first; the first stays.
    """
    layers: dict[int, dict[str, FoundScale]] = {}
    duplicated: set[int] = set()
    for scale in scales:
        layer = scale.named.layer
        kinds = layers.setdefault(layer, {})
        fills = ("k", "v") if scale.named.kind == "kv" else (scale.named.kind,)
        taken = [kinds[kind] for kind in fills if kind in kinds]
        if taken:
            message = duplicate(layer, taken[0].named.kind, taken[0].where)
            problems.append(Problem(scale.where, message, layer=layer))
            duplicated.add(layer)
        for kind in fills:
            kinds.setdefault(kind, scale)
    return layers, duplicated
