"""A file as the commands read it: the document, if it structures, and every problem."""

from __future__ import annotations

from typing import Any, NamedTuple

from .. import Problem, QuantParamError, QuantParamSchema, ValidationContext, load

__all__ = ["Loaded", "load_file", "summary", "summary_json"]


class Loaded(NamedTuple):
    """A file as far as it could be read: no schema when it does not structure."""

    schema: QuantParamSchema | None
    problems: list[Problem]


def load_file(path: str, contexts: list[ValidationContext | None]) -> Loaded:
    """The file and every problem with it; raises `OSError` when it cannot be read."""
    try:
        schema = load(path, validate=False)
    except QuantParamError as error:
        return Loaded(None, error.problems)
    return Loaded(schema, _problems(schema, contexts))


def _problems(schema: QuantParamSchema, contexts: list[ValidationContext | None]) -> list[Problem]:
    found: dict[Problem, None] = {}
    for context in contexts:
        try:
            schema.validate(context)
        except QuantParamError as error:
            # Checking every rank repeats the problems that concern all ranks.
            found.update(dict.fromkeys(error.problems))
    return list(found)


def _all_scales(schema: QuantParamSchema) -> list[float]:
    return [scale for layers in schema.kv_cache.scaling_factor.values() for scale in layers.values()]


def _layer_counts(schema: QuantParamSchema) -> list[int]:
    return sorted({len(layers) for layers in schema.kv_cache.scaling_factor.values()})


def summary(schema: QuantParamSchema) -> str:
    """One line on a valid file, as `validate` and `extract` print it."""
    ranks = schema.kv_cache.scaling_factor
    layers = "/".join(map(str, _layer_counts(schema))) or "0"
    scales = _all_scales(schema)
    scale_range = f", scales {min(scales):.6g} to {max(scales):.6g}" if scales else ""
    return (
        f"model_type {schema.model_type}, dtype {schema.kv_cache.dtype}, "
        f"{len(ranks)} TP rank{'s' if len(ranks) != 1 else ''} x {layers} layers{scale_range}"
    )


def summary_json(schema: QuantParamSchema) -> dict[str, Any]:
    scales = _all_scales(schema)
    return {
        "model_type": schema.model_type,
        "dtype": schema.kv_cache.dtype,
        "rank_count": len(schema.kv_cache.scaling_factor),
        "layers_per_rank": _layer_counts(schema),
        "min_scale": min(scales, default=None),
        "max_scale": max(scales, default=None),
    }
