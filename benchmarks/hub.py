"""What checking a model by its Hub id costs: requests, bytes read against the checkpoint's size, wall time.

Runs against the tests' Hub-shaped server on localhost with a delay added to
every request, as a network's round trip, for a 4-shard and a 30-shard model
whose weights are sparse files of several GB. Beside quantparams, huggingface_hub's
own `get_safetensors_metadata`, which reads the shard headers alone, as the
reference for what reading headers costs.

    python benchmarks/hub.py [--delay 0.05] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

from checkpoints import INDEX_NAME, write_safetensors, zeros  # noqa: E402
from hub_server import hub_server  # noqa: E402
from producers import compressed_tensors_config, model_config  # noqa: E402
from quantparams.checkpoint import inspect_checkpoint  # noqa: E402

LAYERS_PER_SHARD = 2


def _write(folder: Path, shards: int) -> int:
    folder.mkdir(parents=True)
    names = [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)]
    weight_map = {}
    for number, name in enumerate(names):
        tensors: dict[str, object] = {}
        layers = range(number * LAYERS_PER_SHARD, (number + 1) * LAYERS_PER_SHARD)
        for layer in layers:
            tensors[f"model.layers.{layer}.mlp.down_proj.weight"] = zeros("F8_E4M3", (1 << 15, 1 << 15))
        for layer in layers:
            for kind in "kv":
                tensors[f"model.layers.{layer}.self_attn.{kind}_scale"] = np.asarray(
                    0.01 * (layer + 1), np.float32
                )
        write_safetensors(folder / name, tensors)  # type: ignore[arg-type]
        weight_map.update(dict.fromkeys(tensors, name))
    (folder / INDEX_NAME).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    layers = shards * LAYERS_PER_SHARD
    (folder / "config.json").write_text(json.dumps(model_config(layers, compressed_tensors_config())))
    return sum((folder / name).stat().st_size for name in names)


def _size(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--delay", type=float, default=0.05, help="seconds added to each request (default 0.05)"
    )
    parser.add_argument("--out", type=Path, help="also write the Markdown table to this file")
    args = parser.parse_args()
    rows = [
        "| model | tool | requests | bytes read | checkpoint | wall time |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    with tempfile.TemporaryDirectory() as scratch, hub_server(Path(scratch) / "hub") as server:
        root = server.root
        os.environ["HF_HUB_CACHE"] = str(Path(scratch) / "cache")
        # huggingface_hub reads HF_ENDPOINT when it is imported.
        os.environ["HF_ENDPOINT"] = server.url
        import huggingface_hub

        root.mkdir(parents=True, exist_ok=True)
        for shards in (4, 30):
            repo = f"bench/llama-{shards}-shards"
            size = _write(root / repo, shards)
            server.delay = args.delay
            # The best of three: the first run also pays for importing huggingface_hub.
            walls = []
            for _ in range(3):
                started = time.perf_counter()
                inspection = inspect_checkpoint(repo)
                walls.append(time.perf_counter() - started)
            wall = min(walls)
            if not inspection.ok or inspection.read is None:
                print(f"{repo}: {inspection.problems}", file=sys.stderr)
                return 1
            read = inspection.read
            rows.append(
                f"| {shards} shards | quantparams inspect | {read.requests} | {_size(read.bytes_read)} | "
                f"{_size(size)} | {wall:.2f} s |"
            )
            walls = []
            for _ in range(3):
                server.requests, server.served[:] = 0, []
                started = time.perf_counter()
                huggingface_hub.get_safetensors_metadata(repo)
                walls.append(time.perf_counter() - started)
            wall = min(walls)
            served = sum(last - first + 1 for _, first, last in server.served)
            rows.append(
                f"| {shards} shards | huggingface_hub get_safetensors_metadata (headers only) | "
                f"{server.requests} | {_size(served)} | {_size(size)} | {wall:.2f} s |"
            )
    table = "\n".join(rows)
    print(f"Hub reads with {args.delay * 1000:.0f} ms added to each request:\n\n{table}")
    if args.out is not None:
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
