"""A Pydantic v2 schema that behaves like vLLM's, in lax or strict mode.

vLLM's `QuantParamSchema` / `KVCacheQuantSchema` (vllm/model_executor/layers/
quantization/schema.py) hold `model_type: str | None`, `dtype: str` and
`scaling_factor: dict[int, dict[int, float]]`, and check everything in
`model_validator(mode="after")` methods that read the engine context from
`info.context`: three on the KV-cache section, one on the document. This
module keeps that shape (same fields, same four validators, same messages) so
that Pydantic's cost here is the cost vLLM pays. The one change: the checks
raise `ValueError` instead of using `assert`, which `python -O` would strip.

Re-validation: vLLM never re-checks a loaded object, so the benchmark has to
pick Pydantic's closest equivalent. Both models set
`revalidate_instances="always"` and re-check with
`model_validate(obj, context=ctx)`. With the default (`"never"`),
`model_validate(obj)` runs the document's own validator but hands back the
nested KV-cache section untouched, so the TP checks would silently not run.
The other candidate, `model_validate(obj.model_dump(), context=ctx)`, also
builds a dict copy of every scale first; "always" re-checks the instance
directly, which is the kinder choice for Pydantic.

Strict mode (`strict=True`) refuses text where a number belongs and numbers
where text belongs. It does not change how JSON object keys become `int`:
from JSON every key is a string, and Pydantic still parses `"0"`, `"01"` and
`"+1"` into ints in strict mode (`"01"` and `"1"` still collide silently).
From Python, strict mode would refuse `"0"` as an int key, but re-validation
hands it the loaded object, whose keys are already ints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationInfo, model_validator

FP8_DTYPE = "float8_e4m3fn"


def _model_classes(strict: bool) -> type[BaseModel]:
    """The document model (with its KV-cache model) for one strictness."""
    config = ConfigDict(strict=strict, revalidate_instances="always", protected_namespaces=())

    class KVCacheQuantSchema(BaseModel):
        model_config = config

        dtype: str
        scaling_factor: dict[int, dict[int, float]]

        @model_validator(mode="after")
        def _dtype_is_fp8(self) -> KVCacheQuantSchema:
            if self.dtype != FP8_DTYPE:
                raise ValueError(
                    f"Loaded scaling factors intended for KV cache dtype = {self.dtype} rather than {FP8_DTYPE}!"
                )
            return self

        @model_validator(mode="after")
        def _ranks_match_engine(self, info: ValidationInfo) -> KVCacheQuantSchema:
            ctx = info.context
            if not ctx:
                return self
            tp_size, num_hidden_layers = ctx["tp_size"], ctx["num_hidden_layers"]
            if len(self.scaling_factor) != tp_size:
                raise ValueError(
                    f"Loaded dictionary has TP size {len(self.scaling_factor)} "
                    f"but LLM engine is currently running with TP size {tp_size}."
                )
            for tp_rank, layer_maps in self.scaling_factor.items():
                if len(layer_maps) != num_hidden_layers:
                    raise ValueError(
                        f"KV cache scales map for TP rank {tp_rank} is malformed. "
                        f"Expected {num_hidden_layers} layers, got {len(layer_maps)}."
                    )
            for rank in range(tp_size):
                if rank not in self.scaling_factor:
                    raise ValueError(f"KV cache scales map for TP rank {rank} not found.")
            return self

        @model_validator(mode="after")
        def _current_rank_complete(self, info: ValidationInfo) -> KVCacheQuantSchema:
            ctx = info.context
            if not ctx:
                return self
            tp_rank = ctx["tp_rank"]
            layer_scales_map = self.scaling_factor[tp_rank]
            for layer in range(ctx["num_hidden_layers"]):
                if layer not in layer_scales_map:
                    raise ValueError(
                        f"Could not find KV cache scales for layer {layer} in TP rank {tp_rank}."
                    )
            return self

    class QuantParamSchema(BaseModel):
        model_config = config

        model_type: str | None
        kv_cache: KVCacheQuantSchema

        @model_validator(mode="after")
        def _model_type_matches(self, info: ValidationInfo) -> QuantParamSchema:
            ctx = info.context
            if ctx:
                expected = ctx.get("model_type")
                if expected is not None and expected != self.model_type:
                    raise ValueError(
                        f"Model type is {expected} but loaded scaling factors "
                        f"belonging to different model type {self.model_type}!"
                    )
            return self

    return QuantParamSchema


@dataclass(frozen=True)
class PydanticContender:
    """The contender interface's four functions over one document model."""

    model: type[BaseModel]
    adapter: TypeAdapter[Any]

    def load(self, data: bytes, ctx: dict[str, Any]) -> Any:
        return self.model.model_validate_json(data, context=ctx)

    def revalidate(self, obj: Any, ctx: dict[str, Any]) -> None:
        self.model.model_validate(obj, context=ctx)

    def dump(self, obj: Any) -> bytes:
        # TypeAdapter.dump_json gives bytes; model_dump_json() would add a str round trip.
        return self.adapter.dump_json(obj)

    def scales(self, obj: Any) -> dict[int, dict[int, float]]:
        return obj.kv_cache.scaling_factor  # type: ignore[no-any-return]


def build(strict: bool) -> PydanticContender:
    """The lax (`strict=False`, vLLM's setting) or strict contender."""
    model = _model_classes(strict)
    return PydanticContender(model, TypeAdapter(model))
