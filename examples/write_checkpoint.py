"""Write a small FP8-style Llama checkpoint folder to try `quantparams extract` on.

    python examples/write_checkpoint.py llama-fp8
    python examples/write_checkpoint.py llama-fp8-broken --leave-out model.layers.17.self_attn.v_scale

The folder gets a config.json (32 layers) and two safetensors shards with an
index, layers 0-15 in the first and 16-31 in the second, each layer with a
float32 `k_scale` and `v_scale`: the tensors a calibrated FP8 export holds
for the KV cache. The weights are left out; extract never reads them.
Only the standard library is needed: a safetensors file is an 8-byte header
length, a JSON header naming each tensor's dtype, shape and byte range, and
the tensors' bytes.
"""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path

LAYERS = 32
SHARDS = (range(16), range(16, 32))


def scales() -> dict[str, float]:
    tensors = {}
    for layer in range(LAYERS):
        prefix = f"model.layers.{layer}.self_attn"
        tensors[f"{prefix}.k_scale"] = 0.0136 + 0.0013 * layer
        tensors[f"{prefix}.v_scale"] = 0.015 + 0.00125 * layer
    return tensors


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


def write(folder: Path, leave_out: list[str]) -> None:
    tensors = {name: value for name, value in scales().items() if name not in leave_out}
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_type": "llama", "num_hidden_layers": LAYERS, "num_key_value_heads": 8}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    weight_map = {}
    for number, layers in enumerate(SHARDS, start=1):
        shard = f"model-{number:05d}-of-{len(SHARDS):05d}.safetensors"
        names = [name for name in tensors if int(name.split(".")[2]) in layers]
        write_safetensors(folder / shard, {name: tensors[name] for name in names})
        weight_map.update(dict.fromkeys(names, shard))
    index = {"metadata": {}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--leave-out", action="append", default=[], metavar="TENSOR")
    args = parser.parse_args()
    write(args.folder, args.leave_out)


if __name__ == "__main__":
    main()
