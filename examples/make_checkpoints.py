"""Writes the two tiny checkpoints under examples/ that README.md's checkpoint example runs on.

- `llama-fp8/`: an 8-layer Llama FP8 checkpoint's KV-cache scales as llm-compressor writes
  them, in two shards with an index: per-layer `self_attn.k_scale`, `v_scale` and `q_scale`,
  and a compressed-tensors `kv_cache_scheme` in config.json. The weights are left out.
- `llama-fp8-broken/`: the same with what goes wrong in real exports: layer 3's scales
  under the older `k_proj.output_scale` names (which vLLM does not map under
  compressed-tensors), layer 5's scales dropped, a NaN v scale in layer 6, and an MTP
  layer 8 past num_hidden_layers.

    python examples/make_checkpoints.py

Only the standard library is needed: a safetensors file is an 8-byte header
length, a JSON header naming each tensor's dtype, shape and byte range, and the
tensors' bytes. tests/test_examples.py checks that the shipped files are what
this script writes.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from pathlib import Path

LAYERS = 8
INDEX = "model.safetensors.index.json"
SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "num_hidden_layers": LAYERS,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "quantization_config": {
        "quant_method": "compressed-tensors",
        "format": "float-quantized",
        "config_groups": {
            "group_0": {
                "targets": ["Linear"],
                "weights": {"num_bits": 8, "type": "float", "strategy": "channel", "dynamic": False},
                "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "dynamic": True},
            }
        },
        "kv_cache_scheme": {
            "num_bits": 8,
            "type": "float",
            "strategy": "tensor",
            "dynamic": False,
            "symmetric": True,
        },
    },
}


def _layer(layer: int, broken: bool) -> dict[str, float]:
    if broken and layer == 5:
        return {}
    # Calibrated-looking values, exact in float32.
    scales = {"q": 0.0234375 + layer / 512, "k": 0.015625 + layer / 1024, "v": 0.01171875 + layer / 2048}
    if broken and layer == 6:
        scales["v"] = math.nan
    prefix = f"model.layers.{layer}.self_attn."
    if broken and layer == 3:
        return {f"{prefix}{kind}_proj.output_scale": value for kind, value in scales.items()}
    return {f"{prefix}{kind}_scale": value for kind, value in scales.items()}


def write_safetensors(path: Path, tensors: dict[str, float]) -> None:
    """Each value as a float32 scalar (shape [])."""
    header: dict[str, object] = {}
    data = b""
    for name, value in tensors.items():
        header[name] = {"dtype": "F32", "shape": [], "data_offsets": [len(data), len(data) + 4]}
        data += struct.pack("<f", value)
    text = json.dumps(header, separators=(",", ":")).encode()
    # The header is padded with spaces to a multiple of 8 bytes, as safetensors writes it.
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def write(folder: Path, broken: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shards: list[dict[str, float]] = [{}, {}]
    for layer in range(LAYERS + 1 if broken else LAYERS):
        shards[0 if layer < LAYERS // 2 else 1].update(_layer(layer, broken))
    weight_map = {}
    for name, tensors in zip(SHARDS, shards):
        write_safetensors(folder / name, tensors)
        weight_map.update(dict.fromkeys(tensors, name))
    (folder / INDEX).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}, indent=2) + "\n")
    (folder / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")


def main(root: Path) -> None:
    for name in ("llama-fp8", "llama-fp8-broken"):
        for old in (root / name).glob("*"):
            old.unlink()
        write(root / name, broken=name.endswith("broken"))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
