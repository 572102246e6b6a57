"""Checkpoints as each producer writes them: its tensor names and its config, on disk.

`write_named(folder, scales, config=...)` writes a safetensors file (or shards
with an index) holding the given scale tensors beside a weight, a
`config.json` and, for ModelOpt, `hf_quant_config.json`. The `*_config`
functions give each producer's quantization config; `PRODUCERS` names each
producer's k and v (and q / prob) tensors for one layer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from checkpoints import INDEX_NAME, Raw, shard_names, write_safetensors
from quant_configs import compressed_tensors_config, fp8_config, modelopt_quant_config, quark_config

__all__ = [
    "PRODUCERS",
    "compressed_tensors_config",
    "fp8_config",
    "model_config",
    "modelopt_quant_config",
    "quark_config",
    "write_named",
]


def model_config(
    layers: int,
    quantization: Mapping[str, object] | None = None,
    *,
    heads: int = 4,
    kv_heads: int = 2,
    model_type: str = "llama",
) -> dict[str, object]:
    config: dict[str, object] = {
        "model_type": model_type,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
    }
    if quantization is not None:
        config["quantization_config"] = dict(quantization)
    return config


# Each producer's tensor names for layer N (formatted with `layer=`), by the kind of scale.
PRODUCERS: dict[str, dict[str, str]] = {
    "llm-compressor": {
        "q": "model.layers.{layer}.self_attn.q_scale",
        "k": "model.layers.{layer}.self_attn.k_scale",
        "v": "model.layers.{layer}.self_attn.v_scale",
    },
    "llm-compressor-old": {
        "k": "model.layers.{layer}.self_attn.k_proj.output_scale",
        "v": "model.layers.{layer}.self_attn.v_proj.output_scale",
    },
    "quark": {
        "q": "model.layers.{layer}.self_attn.q_proj.output_scale",
        "k": "model.layers.{layer}.self_attn.k_proj.output_scale",
        "v": "model.layers.{layer}.self_attn.v_proj.output_scale",
        "prob": "model.layers.{layer}.self_attn.prob_output_scale",
    },
    "modelopt": {
        "k": "model.layers.{layer}.self_attn.k_proj.k_scale",
        "v": "model.layers.{layer}.self_attn.v_proj.v_scale",
    },
    "fused-qkv": {
        "k": "model.layers.{layer}.self_attn.qkv_proj.k_scale",
        "v": "model.layers.{layer}.self_attn.qkv_proj.v_scale",
    },
    "fused-qkqkv": {
        "k": "model.layers.{layer}.self_attn.qkqkv_proj.k_scale",
        "v": "model.layers.{layer}.self_attn.qkqkv_proj.v_scale",
    },
    "nemotron-h": {
        "k": "backbone.layers.{layer}.mixer.k_proj.k_scale",
        "v": "backbone.layers.{layer}.mixer.v_proj.v_scale",
    },
    "hunyuan": {
        "q": "model.layers.{layer}.self_attn.q.scale",
        "k": "model.layers.{layer}.self_attn.k_cache.scale",
        "v": "model.layers.{layer}.self_attn.v_cache.scale",
    },
    "legacy-kv": {"kv": "model.layers.{layer}.self_attn.kv_scale"},
}


def write_named(
    folder: Path,
    scales: Mapping[str, float | Sequence[float]],
    *,
    config: Mapping[str, object] | None = None,
    modelopt: Mapping[str, object] | None = None,
    shards: int = 1,
    extra_tensors: Mapping[str, np.ndarray | Raw] | None = None,
) -> Path:
    """A checkpoint holding the F32 tensors `scales` (a float: shape []; a list: one per head)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = shard_names(shards)
    contents: list[dict[str, np.ndarray | Raw]] = [{} for _ in names]
    contents[0]["model.embed_tokens.weight"] = np.ones((4, 4), np.float32)
    for position, (name, value) in enumerate(scales.items()):
        contents[position * shards // max(len(scales), 1)][name] = np.asarray(value, np.float32)
    for position, (name, tensor) in enumerate((extra_tensors or {}).items()):
        contents[position % shards][name] = tensor
    for name, tensors in zip(names, contents):
        write_safetensors(folder / name, tensors)
    if shards > 1:
        weight_map = {tensor: name for name, tensors in zip(names, contents) for tensor in tensors}
        (folder / INDEX_NAME).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config, indent=2))
    if modelopt is not None:
        (folder / "hf_quant_config.json").write_text(json.dumps(modelopt, indent=2))
    return folder
