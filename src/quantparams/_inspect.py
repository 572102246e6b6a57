"""What `quantparams inspect` reports about a file, as plain data: `quantparams.inspect_schema`."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

import attrs

from ._format import OUTLIER_FACTOR
from ._schema import QuantParamSchema

__all__ = ["OUTLIER_FACTOR", "Inspection", "Outlier", "RankStats", "inspect_schema"]


@attrs.frozen
class Outlier:
    """A layer whose scale is more than `OUTLIER_FACTOR` times, or less than its inverse, its rank's median."""

    rank: int
    layer: int
    scale: float
    median: float

    @property
    def ratio(self) -> float:
        """The scale over its rank's median."""
        return self.scale / self.median

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "layer": self.layer,
            "scale": self.scale,
            "median": self.median,
            "ratio": self.ratio,
        }


@attrs.frozen
class RankStats:
    """One rank's layers and scales.

    `missing_layers` and `extra_layers` compare its layer set with the
    reference set (`Inspection.reference_layers`). The statistics leave out
    non-finite scales; they are None for a rank without finite scales.
    """

    rank: int
    layer_count: int
    min: float | None
    median: float | None
    max: float | None
    outlier_count: int
    missing_layers: tuple[int, ...]
    extra_layers: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "layer_count": self.layer_count,
            "min": self.min,
            "median": self.median,
            "max": self.max,
            "outlier_count": self.outlier_count,
            "missing_layers": list(self.missing_layers),
            "extra_layers": list(self.extra_layers),
        }


@attrs.frozen
class Inspection:
    """A file's shape and scale statistics. Ranks and layers are in numeric order.

    `reference_rank` is the first rank holding the layer set most ranks
    share: the set that every rank is compared with. `rank_gaps` and
    `layer_gaps` are the (first, last) ranges of numbers below the highest
    rank / reference layer that are absent, which an engine would miss.
    `outliers` are the layers of every rank beyond `outlier_factor` (in rank,
    then layer order).
    """

    model_type: str | None
    dtype: str
    outlier_factor: float
    ranks: tuple[RankStats, ...]
    rank_gaps: tuple[tuple[int, int], ...]
    reference_rank: int | None
    reference_layers: tuple[int, ...]
    layer_gaps: tuple[tuple[int, int], ...]
    outliers: tuple[Outlier, ...]

    @property
    def layer_sets_differ(self) -> bool:
        """Whether some rank's layers are not the reference set."""
        return any(stats.missing_layers or stats.extra_layers for stats in self.ranks)

    def to_json(self) -> dict[str, Any]:
        """The `report` of `inspect --json FILE`."""
        return {
            "model_type": self.model_type,
            "dtype": self.dtype,
            "rank_count": len(self.ranks),
            "rank_gaps": [list(gap) for gap in self.rank_gaps],
            "reference_rank": self.reference_rank,
            "reference_layers": list(self.reference_layers),
            "layer_gaps": [list(gap) for gap in self.layer_gaps],
            "layer_sets_differ": self.layer_sets_differ,
            "outlier_factor": self.outlier_factor,
            "ranks": [stats.to_json() for stats in self.ranks],
            "outliers": [outlier.to_json() for outlier in self.outliers],
        }


def inspect_schema(schema: QuantParamSchema) -> Inspection:
    """The ranks, layers, scale statistics and outliers of a document, sound or not.

    Loaded with `validate=False`, a file that fails its checks can still be
    inspected: its statistics often show what is wrong.
    """
    if not isinstance(schema, QuantParamSchema):
        raise TypeError(f"inspect_schema expects a QuantParamSchema, got {type(schema).__name__}")
    scaling_factor = schema.kv_cache.scaling_factor
    ranks = sorted(scaling_factor)
    layer_sets = {rank: frozenset(scaling_factor[rank]) for rank in ranks}
    reference_rank = _reference_rank(ranks, layer_sets)
    reference: frozenset[int] = frozenset() if reference_rank is None else layer_sets[reference_rank]
    all_stats = []
    all_outliers: list[Outlier] = []
    for rank in ranks:
        layers = scaling_factor[rank]
        finite = sorted(scale for scale in layers.values() if math.isfinite(scale))
        median = _median(finite) if finite else None
        outliers = [] if median is None else _outliers(rank, sorted(layers.items()), median)
        all_outliers += outliers
        all_stats.append(
            RankStats(
                rank=rank,
                layer_count=len(layers),
                min=finite[0] if finite else None,
                median=median,
                max=finite[-1] if finite else None,
                outlier_count=len(outliers),
                missing_layers=tuple(sorted(reference - layer_sets[rank])),
                extra_layers=tuple(sorted(layer_sets[rank] - reference)),
            )
        )
    return Inspection(
        model_type=schema.model_type,
        dtype=schema.kv_cache.dtype,
        outlier_factor=OUTLIER_FACTOR,
        ranks=tuple(all_stats),
        rank_gaps=_gaps(ranks),
        reference_rank=reference_rank,
        reference_layers=tuple(sorted(reference)),
        layer_gaps=_gaps(sorted(reference)),
        outliers=tuple(all_outliers),
    )


def _median(ordered: list[float]) -> float:
    # `ordered` is already sorted: statistics.median would sort it again.
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _reference_rank(ranks: list[int], layer_sets: dict[int, frozenset[int]]) -> int | None:
    # The most common set rather than rank 0's or the union: with one odd rank
    # out of eight, the odd one is named, not the seven others.
    counts = Counter(layer_sets.values())
    best = max(counts.values(), default=0)
    return next((rank for rank in ranks if counts[layer_sets[rank]] == best), None)


def _outliers(rank: int, items: Iterable[tuple[int, float]], median: float) -> list[Outlier]:
    # A median <= 0 belongs to a broken file; ratios to it mean nothing.
    if not median > 0:
        return []
    high, low = median * OUTLIER_FACTOR, median / OUTLIER_FACTOR
    return [
        Outlier(rank, layer, scale, median)
        for layer, scale in items
        if math.isfinite(scale) and not low <= scale <= high
    ]


def _gaps(ordered: list[int]) -> tuple[tuple[int, int], ...]:
    # As (first, last) ranges: a key may be as large as 10**20.
    gaps = []
    expected = 0
    for number in ordered:
        if number > expected:
            gaps.append((expected, number - 1))
        expected = number + 1
    return tuple(gaps)
