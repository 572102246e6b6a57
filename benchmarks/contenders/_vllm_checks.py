"""vLLM's checks in plain Python, for the contenders whose libraries only parse.

The same checks, in the same order and with the same words, as the
`model_validator`s of vLLM's Pydantic schema (see `_pydantic_schema.py`): the
dtype always; with a non-empty context the TP size, each rank's layer count,
that every rank is present, that every layer of the current rank is present,
and the model type. Like vLLM's, they stop at the first problem. Raising
`ValueError` instead of `assert` keeps them running under `python -O`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FP8_DTYPE = "float8_e4m3fn"


def check_document(
    model_type: str | None,
    dtype: str,
    scaling_factor: Mapping[int, Mapping[int, float]],
    ctx: Mapping[str, Any] | None,
) -> None:
    """Raise `ValueError` at the first of vLLM's checks that the document fails."""
    if dtype != FP8_DTYPE:
        raise ValueError(
            f"Loaded scaling factors intended for KV cache dtype = {dtype} rather than {FP8_DTYPE}!"
        )
    if not ctx:
        return
    tp_size = ctx["tp_size"]
    num_hidden_layers = ctx["num_hidden_layers"]
    if len(scaling_factor) != tp_size:
        raise ValueError(
            f"Loaded dictionary has TP size {len(scaling_factor)} "
            f"but LLM engine is currently running with TP size {tp_size}."
        )
    for tp_rank, layer_maps in scaling_factor.items():
        if len(layer_maps) != num_hidden_layers:
            raise ValueError(
                f"KV cache scales map for TP rank {tp_rank} is malformed. "
                f"Expected {num_hidden_layers} layers, got {len(layer_maps)}."
            )
    for rank in range(tp_size):
        if rank not in scaling_factor:
            raise ValueError(f"KV cache scales map for TP rank {rank} not found.")
    current_rank = ctx["tp_rank"]
    layer_scales_map = scaling_factor[current_rank]
    for layer in range(num_hidden_layers):
        if layer not in layer_scales_map:
            raise ValueError(f"Could not find KV cache scales for layer {layer} in TP rank {current_rank}.")
    expected_type = ctx.get("model_type")
    if expected_type is not None and expected_type != model_type:
        raise ValueError(
            f"Model type is {expected_type} but loaded scaling factors "
            f"belonging to different model type {model_type}!"
        )
