"""Big checkpoint layouts on disk, their weights sparse: a dense model and a DeepSeek-V3-sized MoE.

`write_layout(folder, layers, shards, experts)` spreads each layer's attention
and MLP (or `experts` experts) weights and its k and v scales over `shards`
shards with an index, in order. Each shard lays its tensors out as safetensors
writes a file: the widest dtype first, then by name, so the F32 scales come
before the FP8 weights, right after the header. Used by the tests and by
`benchmarks/checkpoint_folders.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from checkpoints import INDEX_NAME, Raw, write_safetensors, zeros
from producers import compressed_tensors_config, model_config

__all__ = ["write_layout"]


def _layer_tensors(layer: int, experts: int) -> list[str]:
    names = [f"model.layers.{layer}.self_attn.{t}.weight" for t in ("q_proj", "k_proj", "v_proj", "o_proj")]
    if experts:
        names += [
            f"model.layers.{layer}.mlp.experts.{e}.{w}.{kind}"
            for e in range(experts)
            for w in ("gate_proj", "up_proj", "down_proj")
            for kind in ("weight", "weight_scale_inv")
        ]
    else:
        names += [f"model.layers.{layer}.mlp.{w}.weight" for w in ("gate_proj", "up_proj", "down_proj")]
    return [*names, f"model.layers.{layer}.self_attn.k_scale", f"model.layers.{layer}.self_attn.v_scale"]


def write_layout(folder: Path, layers: int, shards: int, experts: int) -> int:
    """A checkpoint of `layers` layers over `shards` shards; the number of tensors."""
    folder.mkdir(parents=True)
    tensors = [name for layer in range(layers) for name in _layer_tensors(layer, experts)]
    names = [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)]
    per = -(-len(tensors) // shards)
    weight_map = {}
    for number, name in enumerate(names):
        part = tensors[number * per : (number + 1) * per]
        # The F32 scales, then the FP8 weights; each by name.
        ordered = sorted(part, key=lambda tensor: (not tensor.endswith("_scale"), tensor))
        content: dict[str, np.ndarray | Raw] = {
            tensor: np.asarray(0.02, np.float32)
            if tensor.endswith("_scale")
            else zeros("F8_E4M3", (4096, 4096))
            for tensor in ordered
        }
        write_safetensors(folder / name, content)
        weight_map.update(dict.fromkeys(part, name))
    (folder / INDEX_NAME).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (folder / "config.json").write_text(json.dumps(model_config(layers, compressed_tensors_config())))
    return len(tensors)
