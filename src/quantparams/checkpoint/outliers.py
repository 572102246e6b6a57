"""Scales far from their kind's other layers, and a lone 1.0 among calibrated ones: warnings.

The rule is the scale file's (`_format.OUTLIER_FACTOR`): a k or v scale more
than that factor above or below the median of the same kind across layers is
worth a look, as calibration keeps a model's layers within about an order of
magnitude. A layer left at exactly 1.0 while the others are calibrated is the
default an uncalibrated layer gets. ModelOpt clamps its FP8 scales to at
least 1.0, so its 1.0s are not taken for that.
"""

from __future__ import annotations

import statistics

from .._errors import Problem
from .._format import OUTLIER_FACTOR
from .numbers import shortest
from .scan import FoundScale

__all__ = ["scale_outliers"]


def scale_outliers(by_layer: dict[int, dict[str, FoundScale]], count: int, family: str) -> list[Problem]:
    """Warnings for the k and v scales of layers `0..count-1` that stand out from their kind's."""
    warnings = []
    for kind in ("k", "v"):
        column = {}
        for layer, kinds in by_layer.items():
            scale = kinds.get(kind) or kinds.get("kv")
            if layer < count and scale is not None and scale.sound and scale.values:
                column[layer] = scale
        if len(column) < 3:
            continue
        largest = {layer: max(scale.values or ()) for layer, scale in column.items()}
        median = statistics.median(largest.values())
        ones = [layer for layer, value in largest.items() if value == 1.0]
        for layer, value in sorted(largest.items()):
            scale = column[layer]
            if value > median * OUTLIER_FACTOR or value < median / OUTLIER_FACTOR:
                shown, typical = shortest(value, scale.dtype), shortest(median, scale.dtype)
                message = (
                    f"the {kind} scale of layer {layer} is {shown}, {value / median:.3g}x the median "
                    f"{typical} of the other layers' {kind} scales: a calibration error?"
                )
                warnings.append(Problem(scale.where, message))
            elif (
                value == 1.0
                and median != 1.0
                and len(ones) * 2 < len(largest)
                and not family.startswith("modelopt")
            ):
                message = (
                    f"the {kind} scale of layer {layer} is exactly 1.0, the default of an uncalibrated "
                    f"layer, while the median of the {kind} scales is {shortest(median, scale.dtype)}"
                )
                warnings.append(Problem(scale.where, message))
    return warnings
