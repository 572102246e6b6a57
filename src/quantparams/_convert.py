"""The cattrs converter: JSON-shaped Python values to and from our classes.

Structuring is strict where cattrs' defaults would coerce: keys must be
canonical decimal strings, scales JSON numbers, text must be text. A wrong
shape anywhere raises one `StructureError` naming every bad place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cattrs.preconf.orjson import OrjsonConverter, make_converter

from ._errors import Path, Problem, StructureError, describe, problem
from ._maps import LayerScales, RankScales
from ._schema import KVCacheQuantSchema, QuantParamSchema, built_document

__all__ = ["converter", "document_around", "document_from_json"]

_MISSING = object()
_SCALING_FACTOR_PATH = ("kv_cache", "scaling_factor")


def _required(obj: dict[str, Any], key: str, path: Path, problems: list[Problem]) -> Any:
    value = obj.get(key, _MISSING)
    if value is _MISSING:
        problems.append(problem((*path, key), "required key is missing"))
    return value


def _kv_cache_from_json(
    obj: object, path: Path, from_orjson: bool = False, unsigned: bool = False
) -> tuple[KVCacheQuantSchema | None, list[Problem]]:
    if type(obj) is not dict:
        expected = 'expected an object with keys "dtype" and "scaling_factor"'
        return None, [problem(path, f"{expected}, got {describe(obj)}")]
    problems: list[Problem] = []
    dtype = _required(obj, "dtype", path, problems)
    if dtype is not _MISSING and type(dtype) is not str:
        problems.append(problem((*path, "dtype"), f"expected a string, got {describe(dtype)}"))
    scaling_factor = _required(obj, "scaling_factor", path, problems)
    ranks = None
    if scaling_factor is not _MISSING:
        ranks, map_problems = RankScales.from_json(
            scaling_factor, (*path, "scaling_factor"), from_orjson=from_orjson, unsigned=unsigned
        )
        problems += map_problems
    if problems or ranks is None:
        return None, problems
    return KVCacheQuantSchema(dtype, ranks), []


def document_from_json(obj: object, *, from_orjson: bool = False, unsigned: bool = False) -> QuantParamSchema:
    """A parsed JSON document as a `QuantParamSchema`, or `StructureError`.

    `from_orjson=True` says `obj` is what `orjson.loads` has just returned
    and no one else holds it, so its floats are finite and its dicts may
    become the maps' storage: true of what `loads` has just parsed, never of
    a value handed to the converter, which its owner may change later.
    `unsigned=True` adds that the text parsed held no `-`.
    """
    if type(obj) is not dict:
        expected = 'expected an object with keys "model_type" and "kv_cache"'
        raise StructureError([problem((), f"{expected}, got {describe(obj)}")])
    # The usual document, read without collecting problems; anything else is
    # read again below, by the path that names every problem.
    usual = _usual_fields(obj)
    if usual is not None:
        model_type, dtype, scaling_json = usual
        ranks, _ = RankScales.from_json(
            scaling_json, _SCALING_FACTOR_PATH, from_orjson=from_orjson, unsigned=unsigned
        )
        if ranks is not None:
            return built_document(model_type, dtype, ranks)
    problems: list[Problem] = []
    model_type = _required(obj, "model_type", (), problems)
    if model_type is not _MISSING and model_type is not None and type(model_type) is not str:
        problems.append(problem(("model_type",), f"expected a string or null, got {describe(model_type)}"))
    kv_json = _required(obj, "kv_cache", (), problems)
    kv_cache = None
    if kv_json is not _MISSING:
        kv_cache, kv_problems = _kv_cache_from_json(kv_json, ("kv_cache",), from_orjson, unsigned)
        problems += kv_problems
    if problems or kv_cache is None:
        raise StructureError(problems)
    return QuantParamSchema(model_type, kv_cache)


def _usual_fields(obj: dict[str, Any]) -> tuple[str | None, str, object] | None:
    """The model type, dtype and scaling-factor value of a document, or None
    unless the model type and dtype are of the right types."""
    model_type = obj.get("model_type", _MISSING)
    kv_json = obj.get("kv_cache")
    if (model_type is None or type(model_type) is str) and type(kv_json) is dict:
        dtype = kv_json.get("dtype")
        if type(dtype) is str:
            return model_type, dtype, kv_json.get("scaling_factor", _MISSING)
    return None


def document_around(obj: object, ranks: RankScales) -> QuantParamSchema | None:
    """The document `obj` (parsed JSON with an integer where its scaling
    factors go) with `ranks` in that place; None unless that integer is there
    and the other fields are of the right types."""
    usual = _usual_fields(obj) if type(obj) is dict else None
    if usual is None or type(usual[2]) is not int:
        return None
    return built_document(usual[0], usual[1], ranks)


def _structured(
    built: tuple[Any, list[Problem]],
) -> Any:
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
    conv.register_structure_hook(KVCacheQuantSchema, lambda obj, _: _structured(_kv_cache_from_json(obj, ())))
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
from and to JSON-ready values, strictly, with every problem reported."""
