"""The documents every contender reads: generated ones of growing size, plus the repo's examples.

Generated documents look like the files quantizers write: `json.dump` with an
indent, keys in numeric order, scales as full-precision floats (an absolute
maximum divided by 448 rarely has a short decimal form).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_TYPE = "llama"
FP8_DTYPE = "float8_e4m3fn"


@dataclass(frozen=True)
class Document:
    """One benchmark input, with what an engine loading it would know."""

    label: str
    data: bytes
    tp_size: int
    num_hidden_layers: int
    model_type: str | None
    scale_count: int

    def context(self, tp_rank: int = 0) -> dict[str, Any]:
        """The context dict vLLM would pass when rank `tp_rank` loads this file."""
        return {
            "tp_size": self.tp_size,
            "tp_rank": tp_rank,
            "num_hidden_layers": self.num_hidden_layers,
            "model_type": self.model_type,
        }

    def all_rank_contexts(self) -> list[dict[str, Any]]:
        return [self.context(rank) for rank in range(self.tp_size)]


def generate(tp_size: int, num_hidden_layers: int, seed: int = 0) -> Document:
    """A sound document of `tp_size` ranks x `num_hidden_layers` layers, the same for a given seed."""
    rng = random.Random(f"{seed}:{tp_size}x{num_hidden_layers}")
    scaling_factor = {
        str(rank): {str(layer): rng.uniform(0.004, 0.06) for layer in range(num_hidden_layers)}
        for rank in range(tp_size)
    }
    doc = {"model_type": MODEL_TYPE, "kv_cache": {"dtype": FP8_DTYPE, "scaling_factor": scaling_factor}}
    data = json.dumps(doc, indent=2).encode()
    label = f"{tp_size}x{num_hidden_layers}"
    return Document(label, data, tp_size, num_hidden_layers, MODEL_TYPE, tp_size * num_hidden_layers)


def from_file(path: Path, label: str) -> Document:
    """A document read from disk, its context taken from its own shape."""
    data = path.read_bytes()
    doc = json.loads(data)
    scaling_factor = doc["kv_cache"]["scaling_factor"]
    layer_counts = [len(layers) for layers in scaling_factor.values()]
    return Document(
        label,
        data,
        tp_size=len(scaling_factor),
        num_hidden_layers=layer_counts[0] if layer_counts else 0,
        model_type=doc["model_type"],
        scale_count=sum(layer_counts),
    )


def examples(folder: Path) -> list[Document]:
    """Every `*.json` example shipped with the project, in name order."""
    return [from_file(path, f"{folder.name}/{path.name}") for path in sorted(folder.glob("*.json"))]


def reference_scales(data: bytes) -> dict[int, dict[int, float]]:
    """`{rank: {layer: scale}}` parsed by the standard library: what every contender must agree with."""
    scaling_factor = json.loads(data)["kv_cache"]["scaling_factor"]
    return {
        int(rank): {int(layer): float(scale) for layer, scale in layers.items()}
        for rank, layers in scaling_factor.items()
    }
