"""Frozen msgspec Structs, decoded with a typed `msgspec.json.Decoder`, then vLLM's checks in Python.

msgspec converts and type-checks while it parses (JSON key strings to `int`,
refusing `"01"`; JSON integers accepted as floats), so only the checks that
need the engine context are left for `_vllm_checks`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._common import cold_start_code, lazy_version
from ._vllm_checks import check_document

NAME = "msgspec_struct"
CHECKS = True
COLD_START_CODE = cold_start_code(NAME)
__getattr__ = lazy_version(("msgspec",))


class KVCacheQuantSchema(msgspec.Struct, frozen=True):
    dtype: str
    scaling_factor: dict[int, dict[int, float]]


class QuantParamSchema(msgspec.Struct, frozen=True):
    model_type: str | None
    kv_cache: KVCacheQuantSchema


_DECODER = msgspec.json.Decoder(QuantParamSchema)
_ENCODER = msgspec.json.Encoder()


def load(data: bytes, ctx: dict[str, Any]) -> QuantParamSchema:
    obj = _DECODER.decode(data)
    revalidate(obj, ctx)
    return obj


def revalidate(obj: QuantParamSchema, ctx: dict[str, Any]) -> None:
    kv = obj.kv_cache
    check_document(obj.model_type, kv.dtype, kv.scaling_factor, ctx)


def dump(obj: QuantParamSchema) -> bytes:
    return _ENCODER.encode(obj)


def scales(obj: QuantParamSchema) -> dict[int, dict[int, float]]:
    return obj.kv_cache.scaling_factor
