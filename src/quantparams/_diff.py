"""What `quantparams diff` reports about two files, as plain data: `quantparams.diff_schemas`."""

from __future__ import annotations

import math
from typing import Any

import attrs

from ._format import DEFAULT_RTOL
from ._schema import QuantParamSchema

__all__ = ["DEFAULT_RTOL", "Difference", "ScaleDifference", "diff_schemas", "relative_difference"]


def relative_difference(a: float, b: float) -> float:
    """|a - b| / max(|a|, |b|): 0 when equal, at most 2 for finite numbers.

    Symmetric, unlike |a - b| / |a|, and scale-free, so one tolerance fits
    tiny and huge scales alike. Infinite when exactly one is non-finite or
    either is NaN.
    """
    if a == b:
        return 0.0
    largest = max(abs(a), abs(b))
    if not math.isfinite(largest) or math.isnan(a) or math.isnan(b):
        return math.inf
    difference = abs(a - b)
    if math.isinf(difference):
        # Only for finite numbers of opposite signs near the double's limit.
        return abs(a / largest - b / largest)
    return difference / largest


@attrs.frozen
class ScaleDifference:
    """One layer's scale in A and in B, and their relative difference |a-b|/max(|a|,|b|)."""

    rank: int
    layer: int
    a: float
    b: float
    relative: float

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "layer": self.layer,
            "a": self.a,
            "b": self.b,
            "relative_difference": self.relative,
        }


@attrs.frozen
class Difference:
    """How B differs from A. Ranks and layers are in numeric order.

    `model_type` and `dtype` hold (A's, B's) when they differ, else None.
    Layers are compared only in ranks both files have. `scales` lists the
    shared scales whose relative difference exceeds `rtol`, largest first.
    """

    rtol: float
    model_type: tuple[str | None, str | None] | None
    dtype: tuple[str, str] | None
    ranks_only_in_a: tuple[int, ...]
    ranks_only_in_b: tuple[int, ...]
    layers_only_in_a: tuple[tuple[int, int], ...]
    layers_only_in_b: tuple[tuple[int, int], ...]
    scales_compared: int
    largest: ScaleDifference | None
    scales: tuple[ScaleDifference, ...]

    @property
    def same(self) -> bool:
        """Whether nothing differs: same model type and dtype, ranks, layers, and scales within `rtol`."""
        return not (
            self.model_type
            or self.dtype
            or self.ranks_only_in_a
            or self.ranks_only_in_b
            or self.layers_only_in_a
            or self.layers_only_in_b
            or self.scales
        )

    def to_json(self) -> dict[str, Any]:
        """The `differences` of `diff --json` for two files."""

        def pair(values: tuple[str | None, str | None] | None) -> dict[str, str | None] | None:
            return None if values is None else {"a": values[0], "b": values[1]}

        def layers(items: tuple[tuple[int, int], ...]) -> list[dict[str, int]]:
            return [{"rank": rank, "layer": layer} for rank, layer in items]

        return {
            "model_type": pair(self.model_type),
            "dtype": pair(self.dtype),
            "ranks_only_in_a": list(self.ranks_only_in_a),
            "ranks_only_in_b": list(self.ranks_only_in_b),
            "layers_only_in_a": layers(self.layers_only_in_a),
            "layers_only_in_b": layers(self.layers_only_in_b),
            "scales_compared": self.scales_compared,
            "largest": None if self.largest is None else self.largest.to_json(),
            "scales": [item.to_json() for item in self.scales],
        }


def diff_schemas(a: QuantParamSchema, b: QuantParamSchema, rtol: float = DEFAULT_RTOL) -> Difference:
    """How B differs from A, scale by scale; either may be sound or not.

    Two scales are the same when their `relative_difference` is at most
    `rtol`, a finite number >= 0 (0: identical values only).
    """
    for name, schema in (("a", a), ("b", b)):
        if not isinstance(schema, QuantParamSchema):
            raise TypeError(
                f"diff_schemas expects {name} to be a QuantParamSchema, got {type(schema).__name__}"
            )
    if (
        isinstance(rtol, bool)
        or not isinstance(rtol, (int, float))
        or not (math.isfinite(rtol) and rtol >= 0)
    ):
        raise ValueError(f"rtol must be a finite number >= 0, got {rtol!r}")
    ranks_a, ranks_b = a.kv_cache.scaling_factor, b.kv_cache.scaling_factor
    layers_only_in_a: list[tuple[int, int]] = []
    layers_only_in_b: list[tuple[int, int]] = []
    beyond: list[ScaleDifference] = []
    largest: ScaleDifference | None = None
    compared = 0
    for rank in sorted(ranks_a.keys() & ranks_b.keys()):
        layers_a, layers_b = ranks_a[rank], ranks_b[rank]
        layers_only_in_a += [(rank, layer) for layer in sorted(layers_a.keys() - layers_b.keys())]
        layers_only_in_b += [(rank, layer) for layer in sorted(layers_b.keys() - layers_a.keys())]
        for layer in sorted(layers_a.keys() & layers_b.keys()):
            scale_a, scale_b = layers_a[layer], layers_b[layer]
            relative = relative_difference(scale_a, scale_b)
            compared += 1
            if relative > rtol or largest is None or relative > largest.relative:
                item = ScaleDifference(rank, layer, scale_a, scale_b, relative)
                if relative > rtol:
                    beyond.append(item)
                if largest is None or relative > largest.relative:
                    largest = item
    # Stable, even reversed: equal differences stay in rank, layer order.
    beyond.sort(key=lambda item: item.relative, reverse=True)
    return Difference(
        rtol=rtol,
        model_type=None if a.model_type == b.model_type else (a.model_type, b.model_type),
        dtype=None if a.kv_cache.dtype == b.kv_cache.dtype else (a.kv_cache.dtype, b.kv_cache.dtype),
        ranks_only_in_a=tuple(sorted(ranks_a.keys() - ranks_b.keys())),
        ranks_only_in_b=tuple(sorted(ranks_b.keys() - ranks_a.keys())),
        layers_only_in_a=tuple(layers_only_in_a),
        layers_only_in_b=tuple(layers_only_in_b),
        scales_compared=compared,
        largest=largest,
        scales=tuple(beyond),
    )
