"""What the engine tests share: checkpoints of a few layers written with the usual namings, read
through both engines' views."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from producers import model_config, write_named
from quantparams.checkpoint import inspect_checkpoint
from quantparams.checkpoint.engines import RELEASES, EngineView
from quantparams.checkpoint.engines.model import LoadContext

LAYERS = 2

LLM_COMPRESSOR = {
    "q": "model.layers.{layer}.self_attn.q_scale",
    "k": "model.layers.{layer}.self_attn.k_scale",
    "v": "model.layers.{layer}.self_attn.v_scale",
}
MODELOPT = {
    "k": "model.layers.{layer}.self_attn.k_proj.k_scale",
    "v": "model.layers.{layer}.self_attn.v_proj.v_scale",
}
QUARK_KV = {
    "k": "model.layers.{layer}.self_attn.k_proj.output_scale",
    "v": "model.layers.{layer}.self_attn.v_proj.output_scale",
}
EXACT = {kind: f"model.layers.{{layer}}.self_attn.attn.{kind}_scale" for kind in "kv"}
KV_SCALE = {"kv": "model.layers.{layer}.self_attn.kv_scale"}


def scale_tensors(names: dict[str, str], layers: int = LAYERS) -> dict[str, Any]:
    """A scale of a fixed value per kind for each of `names` (a template with `{layer}`) in each layer."""
    values = {"q": 0.5, "k": 0.25, "v": 0.125, "prob": 0.75, "kv": 0.375}
    return {name.format(layer=layer): values[kind] for kind, name in names.items() for layer in range(layers)}


def engine_config(
    quantization: dict[str, Any] | None, architecture: str = "LlamaForCausalLM", **extra: Any
) -> dict[str, Any]:
    return {**model_config(LAYERS, quantization), "architectures": [architecture], **extra}


def deepseek(quantization: dict[str, Any] | None) -> dict[str, Any]:
    return engine_config(
        quantization,
        "DeepseekV3ForCausalLM",
        model_type="deepseek_v3",
        kv_lora_rank=512,
        num_nextn_predict_layers=1,
    )


def inspect_views(
    folder: Path, tensors: dict[str, Any], config: dict[str, Any], **kw: Any
) -> tuple[EngineView, EngineView, Any]:
    """The checkpoint of `tensors` and `config` written to `folder`: vLLM's view, SGLang's, and the inspection."""
    write_named(folder, tensors, config=config, **kw)
    inspection = inspect_checkpoint(folder, engines=("vllm", "sglang"))
    vllm, sglang = inspection.engines
    return vllm, sglang, inspection


def sources(view: EngineView, kind: str) -> list[str]:
    return [layer.scale(kind).source for layer in view.layers]


def failure(view: EngineView) -> tuple[str, str, str] | None:
    return None if view.failure is None else (view.failure.error, view.failure.message, view.failure.where)


def sglang_llama_reads(tensor: str, family: str = "fp8") -> bool:
    """Whether SGLang's Llama loader loads `tensor` into a Llama layer's k or v parameter."""
    context = LoadContext(family, "LlamaForCausalLM", "standard", frozenset({"k", "v"}), quantized=True)
    return RELEASES["sglang"].load(tensor, context).outcome == "loaded"
