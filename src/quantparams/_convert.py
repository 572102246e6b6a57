"""The cattrs converter: JSON-shaped Python values to and from our classes.

Structuring is strict where cattrs' defaults would coerce: keys must be
canonical decimal strings, scales JSON numbers, text must be text. A wrong
shape anywhere raises one `StructureError` naming every bad place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cattrs.preconf.orjson import OrjsonConverter, make_converter

from ._errors import Problem, StructureError
from ._maps import LayerScales, RankScales
from ._schema import KVCacheQuantSchema, QuantParamSchema
from ._structure import document_from_json, kv_cache_from_json

__all__ = ["converter"]


def _structured(built: tuple[Any, list[Problem]]) -> Any:
    value, problems = built
    if value is None:
        raise StructureError(problems)
    return value


def _copy_maps(json_form: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    # Unstructured output belongs to the caller; the cached forms must not leak.
    return {key: dict(layers) for key, layers in json_form.items()}


def _is_scaling_map(cl: Any) -> bool:
    return cl in _SCALING_MAP_TYPES


def _is_layer_map(cl: Any) -> bool:
    return cl in _LAYER_MAP_TYPES


_SCALING_MAP_TYPES = (RankScales, Mapping[int, Mapping[int, float]])
_LAYER_MAP_TYPES = (LayerScales, Mapping[int, float])


def _make_converter() -> OrjsonConverter:
    conv = make_converter()
    conv.register_structure_hook(QuantParamSchema, lambda obj, _: document_from_json(obj))
    conv.register_structure_hook(KVCacheQuantSchema, lambda obj, _: _structured(kv_cache_from_json(obj)))
    conv.register_structure_hook_func(_is_scaling_map, lambda obj, _: _structured(RankScales.from_json(obj)))
    conv.register_structure_hook_func(_is_layer_map, lambda obj, _: _structured(LayerScales.from_json(obj)))
    conv.register_unstructure_hook(
        QuantParamSchema,
        lambda schema: {"model_type": schema.model_type, "kv_cache": conv.unstructure(schema.kv_cache)},
    )
    conv.register_unstructure_hook(
        KVCacheQuantSchema,
        lambda kv: {"dtype": kv.dtype, "scaling_factor": conv.unstructure(kv.scaling_factor, RankScales)},
    )
    conv.register_unstructure_hook(RankScales, lambda ranks: _copy_maps(ranks._json_form()))
    conv.register_unstructure_hook(LayerScales, lambda layers: dict(layers._json_form()))
    return conv


converter: OrjsonConverter = _make_converter()
"""The configured converter: structures and unstructures this library's classes
from and to JSON-ready values, strictly, with every problem reported.

Built when `quantparams.converter` is first asked for: `import quantparams`
does not import cattrs."""
