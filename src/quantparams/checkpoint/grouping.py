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
        named = scale.named
        layer = named.layer
        kinds = layers.get(layer)
        if kinds is None:
            kinds = layers[layer] = {}
        # The first scale already held of a kind this one fills.
        taken = None
        for kind in _FILLS.get(named.kind) or (named.kind,):
            held = kinds.get(kind)
            if held is None:
                kinds[kind] = scale
            elif taken is None:
                taken = held
        if taken is not None:
            message = duplicate(layer, taken.named.kind, taken.where)
            problems.append(Problem(scale.where, message, layer=layer))
            duplicated.add(layer)
    return layers, duplicated


_FILLS = {"kv": ("k", "v")}
