"""Frozen attrs classes and cattrs' stock orjson converter, no custom hooks, then vLLM's checks in Python.

What a user gets from `cattrs.preconf.orjson.make_converter()` out of the box:
keys become ints by calling `int()` on each (so `"01"`, `" 1"` and `"1_0"`
pass), scales by calling `float()` on each. It shows what quantparams' own
hooks and maps buy over the defaults of the same stack.
"""

# No `from __future__ import annotations`: cattrs reads the field types at run time.
from typing import Any

import attrs
from cattrs.preconf.orjson import make_converter

from ._common import cold_start_code, lazy_version
from ._vllm_checks import check_document

NAME = "cattrs_naive"
CHECKS = True
COLD_START_CODE = cold_start_code(NAME)
__getattr__ = lazy_version(("attrs", "cattrs", "orjson"))


@attrs.frozen
class KVCacheQuantSchema:
    dtype: str
    scaling_factor: dict[int, dict[int, float]]


@attrs.frozen
class QuantParamSchema:
    model_type: str | None
    kv_cache: KVCacheQuantSchema


_CONVERTER = make_converter()


def load(data: bytes, ctx: dict[str, Any]) -> QuantParamSchema:
    obj = _CONVERTER.loads(data, QuantParamSchema)
    revalidate(obj, ctx)
    return obj


def revalidate(obj: QuantParamSchema, ctx: dict[str, Any]) -> None:
    kv = obj.kv_cache
    check_document(obj.model_type, kv.dtype, kv.scaling_factor, ctx)


def dump(obj: QuantParamSchema) -> bytes:
    return _CONVERTER.dumps(obj)


def scales(obj: QuantParamSchema) -> dict[int, dict[int, float]]:
    return obj.kv_cache.scaling_factor
