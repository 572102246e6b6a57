"""A parsed JSON document as this library's classes, naming every problem of its shape.

The precise path: it copies what it keeps and checks every value it reads.
"""

from __future__ import annotations

from typing import Any

from ._errors import JsonPath, Problem, StructureError, describe, problem
from ._maps import RankScales
from ._schema import KVCacheQuantSchema, QuantParamSchema

__all__ = ["document_from_json", "kv_cache_from_json"]

_MISSING = object()


def _required(obj: dict[str, Any], key: str, path: JsonPath, problems: list[Problem]) -> Any:
    value = obj.get(key, _MISSING)
    if value is _MISSING:
        problems.append(problem((*path, key), "required key is missing"))
    return value


def kv_cache_from_json(obj: object, path: JsonPath = ()) -> tuple[KVCacheQuantSchema | None, list[Problem]]:
    """The KV-cache section of a parsed document, or every problem that prevents it."""
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
        ranks, map_problems = RankScales.from_json(scaling_factor, (*path, "scaling_factor"))
        problems += map_problems
    if problems or ranks is None:
        return None, problems
    return KVCacheQuantSchema(dtype, ranks), []


def document_from_json(obj: object) -> QuantParamSchema:
    """A parsed JSON document as a `QuantParamSchema`, or `StructureError` naming every problem."""
    if type(obj) is not dict:
        expected = 'expected an object with keys "model_type" and "kv_cache"'
        raise StructureError([problem((), f"{expected}, got {describe(obj)}")])
    problems: list[Problem] = []
    model_type = _required(obj, "model_type", (), problems)
    if model_type is not _MISSING and model_type is not None and type(model_type) is not str:
        problems.append(problem(("model_type",), f"expected a string or null, got {describe(model_type)}"))
    kv_json = _required(obj, "kv_cache", (), problems)
    kv_cache = None
    if kv_json is not _MISSING:
        kv_cache, kv_problems = kv_cache_from_json(kv_json, ("kv_cache",))
        problems += kv_problems
    if problems or kv_cache is None:
        raise StructureError(problems)
    return QuantParamSchema(model_type, kv_cache)
