"""A reference oracle: vLLM's Pydantic schema for the quantization parameter file.

The models below reproduce the behaviour of vLLM's
`vllm/model_executor/layers/quantization/schema.py`: the same field types, the same
`model_validator(mode="after")` checks in the same order, reading the engine
context from `info.context`, failing through `assert` with the same messages.
Pydantic turns a failed `assert` inside a validator into its own
`ValidationError`; a missing context key or an absent current rank escapes as a
bare `KeyError`, as it does in vLLM.

`oracle_load` and `oracle_loader` use the models the way vLLM does: Python's
`json` module (which lets `NaN` and `Infinity` through), then
`model_validate(obj, context=...)`.

The checks rely on `assert`, as vLLM's do, so they vanish under `python -O`;
tests that use this oracle skip themselves there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

__all__ = [
    "OracleResult",
    "VllmKVCacheQuantSchema",
    "VllmQuantParamSchema",
    "oracle_load",
    "oracle_loader",
    "oracle_validate",
]

_FP8 = "float8_e4m3fn"


def _engine_context(info: ValidationInfo) -> Any:
    """The context vLLM passed, or None when it asks for no engine checks.

    vLLM tests the context for truth, so an empty dict means "no checks".
    """
    context = info.context
    return context if context else None


class VllmKVCacheQuantSchema(BaseModel):
    """The KV-cache section: dtype and, per TP rank, each layer's scale."""

    dtype: str
    scaling_factor: dict[int, dict[int, float]]

    @model_validator(mode="after")
    def check_is_fp8(self) -> VllmKVCacheQuantSchema:
        assert self.dtype == _FP8, (
            f"Loaded scaling factors intended for KV cache dtype = {self.dtype} rather than float8_e4m3fn!"
        )
        return self

    @model_validator(mode="after")
    def check_tp_ranks(self, info: ValidationInfo) -> VllmKVCacheQuantSchema:
        context = _engine_context(info)
        if context is None:
            return self
        tp_size = context["tp_size"]
        layer_count = context["num_hidden_layers"]
        ranks = self.scaling_factor
        assert len(ranks) == tp_size, (
            f"Loaded dictionary has TP size {len(ranks)} "
            f"but LLM engine is currently running with TP size {tp_size}."
        )
        for rank, layers in ranks.items():
            assert len(layers) == layer_count, (
                f"KV cache scales map for TP rank {rank} is malformed. "
                f"Expected {layer_count} layers, got {len(layers)}."
            )
        for rank in range(tp_size):
            assert rank in ranks, f"KV cache scales map for TP rank {rank} not found."
        return self

    @model_validator(mode="after")
    def check_current_rank(self, info: ValidationInfo) -> VllmKVCacheQuantSchema:
        context = _engine_context(info)
        if context is None:
            return self
        tp_rank = context["tp_rank"]
        layer_count = context["num_hidden_layers"]
        # A rank the file lacks raises a bare KeyError here, as in vLLM.
        current = self.scaling_factor[tp_rank]
        for layer in range(layer_count):
            assert layer in current, f"Could not find KV cache scales for layer {layer} in TP rank {tp_rank}."
        return self


class VllmQuantParamSchema(BaseModel):
    """A whole file: the model type (required, may be null) and the KV-cache section."""

    # A field named model_type would otherwise warn about pydantic's "model_" namespace.
    model_config = ConfigDict(protected_namespaces=())

    model_type: str | None
    kv_cache: VllmKVCacheQuantSchema

    @model_validator(mode="after")
    def check_model_type(self, info: ValidationInfo) -> VllmQuantParamSchema:
        context = _engine_context(info)
        if context is None:
            return self
        expected = context.get("model_type", None)
        if expected is not None:
            assert expected == self.model_type, (
                f"Model type is {expected} but loaded scaling factors "
                f"belonging to different model type {self.model_type}!"
            )
        return self


@dataclass(frozen=True)
class OracleResult:
    """What the oracle accepted, as plain Python values."""

    model_type: str | None
    dtype: str
    scales: dict[int, dict[int, float]]


def oracle_validate(obj: object, context: Mapping[str, Any] | None = None) -> VllmQuantParamSchema:
    """`model_validate` as vLLM calls it; raises whatever vLLM would raise."""
    return VllmQuantParamSchema.model_validate(obj, context=context)


def oracle_load(data: bytes | str, context: Mapping[str, Any] | None = None) -> OracleResult | Exception:
    """Parse and check a document as vLLM does: the result, or the exception raised.

    Bytes are decoded as UTF-8 first, as vLLM's loader reads a file in text
    mode: a byte-order mark then fails in `json` as it does there.

    The exception is returned rather than raised so that a test can assert its
    type: `json.JSONDecodeError`, `UnicodeDecodeError`, pydantic's
    `ValidationError` (a failed type or `assert`), or a bare `KeyError`.
    """
    try:
        text = data if isinstance(data, str) else data.decode("utf-8")
        schema = oracle_validate(json.loads(text), context)
    except Exception as error:
        return error
    kv = schema.kv_cache
    return OracleResult(
        model_type=schema.model_type,
        dtype=kv.dtype,
        scales={rank: dict(layers) for rank, layers in kv.scaling_factor.items()},
    )


def oracle_loader(
    path: str | os.PathLike[str],
    tp_rank: int,
    tp_size: int,
    num_hidden_layers: int,
    model_type: str | None,
) -> list[tuple[int, float]]:
    """vLLM's `kv_cache_scales_loader`: the rank's (layer, scale) pairs, or [] on any error.

    vLLM returns the items view of the rank's dict, in file order; this returns
    the same pairs as a list. vLLM opens the file in text mode with the
    locale's encoding, UTF-8 where it runs; UTF-8 is named here so that the
    tests do not depend on the locale of the machine running them.
    """
    context = {
        "model_type": model_type,
        "num_hidden_layers": num_hidden_layers,
        "tp_rank": tp_rank,
        "tp_size": tp_size,
    }
    try:
        with open(path, encoding="utf-8") as file:
            obj = json.load(file)
        schema = oracle_validate(obj, context)
        return list(schema.kv_cache.scaling_factor[tp_rank].items())
    except Exception:
        # vLLM logs the error and falls back to scales of 1.0: an empty list.
        return []
