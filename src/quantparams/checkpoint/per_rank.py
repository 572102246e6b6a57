"""The older per-rank export: `rank0.safetensors`, `rank1.safetensors`, ... one file per TP rank.

vLLM's old `examples/fp8/extract_scales.py` read these (AMMO / TensorRT-LLM
exports): every tensor whose name holds `kv_cache_scaling_factor` is the one
scale of a layer, its layer the number in the `layers.N.` part of its name.
No engine reads them from the checkpoint, so only `extract` does.
"""

from __future__ import annotations

import math
import re
from typing import cast

import attrs

from .._errors import Problem
from .folder import RANK_FILE, Layout
from .header import HeaderError, read_header
from .messages import duplicate, no_scale_for
from .naming import MAX_LAYERS
from .scan import past_layers, scale_values, tensor_path
from .scheme import ModelConfig
from .text import quote_list

__all__ = ["LEGACY_SCALE", "from_rank_files"]

LEGACY_SCALE = "kv_cache_scaling_factor"
_LEGACY_LAYER = re.compile(r"(?:^|\.)layers\.([0-9]+)\.")


def from_rank_files(
    layout: Layout, tp_size: int, config: ModelConfig, problems: list[Problem]
) -> tuple[dict[int, dict[int, float]], tuple[int, ...]]:
    """Each rank's layer map, or {} with every problem added to `problems`; and the layers left out.

    Layers past config.json's num_hidden_layers (MTP or draft layers) are left out.
    """
    rank_files = [name for name in layout.files if RANK_FILE.fullmatch(name)]
    others = [name for name in layout.files if name not in rank_files]
    if others:
        message = (
            f"per-rank files ({quote_list(rank_files)}) sit beside other safetensors files "
            f"({quote_list(others)}): cannot tell which layout to read"
        )
        problems.append(Problem("*.safetensors", message))
        return {}, ()
    by_rank: dict[int, str] = {}
    for name in rank_files:
        rank = int(cast("re.Match[str]", RANK_FILE.fullmatch(name))[1])
        if rank >= MAX_LAYERS:
            message = (
                f"TP rank {rank} is past any TP size's ranks (0..{MAX_LAYERS - 1}): the file is not read"
            )
            problems.append(Problem(name, message))
            continue
        if rank in by_rank:
            problems.append(Problem(name, f"TP rank {rank} already has {by_rank[rank]}"))
            continue
        by_rank[rank] = name
    if not by_rank:
        return {}, ()
    count = max(by_rank) + 1
    missing = [f"rank{rank}.safetensors" for rank in range(count) if rank not in by_rank]
    if missing:
        message = (
            f"no {quote_list(missing)}: per-rank files must be rank0..rank{count - 1} for TP size {count}"
        )
        problems.append(Problem(layout.where, message))
    if tp_size not in (1, count):
        message = f"tp_size is {tp_size} but the checkpoint has per-rank files for TP size {count}"
        problems.append(Problem(layout.where, message))

    read_by_rank = {}
    for rank, file in sorted(by_rank.items()):
        scales = _read_rank(layout, file, problems)
        if scales:
            read_by_rank[rank] = scales
    if not read_by_rank:
        return {}, ()
    # Every rank needs the same layers: without config.json, those up to the
    # highest layer found in any rank.
    if config.num_hidden_layers is not None:
        layer_count, basis = config.num_hidden_layers, f"{config.layers_source} is {config.num_hidden_layers}"
    else:
        highest = max(layer for scales in read_by_rank.values() for layer, _, _ in scales)
        layer_count, basis = highest + 1, f"scales were found up to layer {highest} in some rank"
    ranks = {}
    left_out = sorted(
        {layer for scales in read_by_rank.values() for layer, _, _ in scales if layer >= layer_count}
    )
    for rank, scales in read_by_rank.items():
        kept = [scale for scale in scales if scale[0] < layer_count]
        layers = _layer_map(by_rank[rank], kept, layer_count, basis, problems)
        if layers is not None:
            ranks[rank] = layers
    return ranks, tuple(left_out)


# (layer, where, value or None when unsound and already reported)
_Read = tuple[int, str, "float | None"]


def _read_rank(layout: Layout, file: str, problems: list[Problem]) -> list[_Read]:
    try:
        header = read_header(layout.folder / file, file)
    except HeaderError as error:
        problems.extend(error.problems)
        return []
    except OSError as error:
        problems.append(Problem(file, f"cannot read: {error.strerror or error}"))
        return []
    names = [tensor for tensor in header.tensors if LEGACY_SCALE in tensor]
    if not names:
        problems.append(Problem(file, f"no tensor named like *.{LEGACY_SCALE}"))
        return []
    read: list[_Read] = []
    for tensor in names:
        where = tensor_path(file, tensor)
        match = _LEGACY_LAYER.search(tensor)
        if match is None:
            problems.append(Problem(where, 'cannot tell the layer: the name has no "layers.N." part'))
            continue
        if int(match[1]) >= MAX_LAYERS:
            problems.append(Problem(where, past_layers(int(match[1]))))
            continue
        own: list[Problem] = []
        values = scale_values(own, where, header, header.tensors[tensor], None, "")
        problems.extend(attrs.evolve(problem, layer=int(match[1])) for problem in own)
        # One per-tensor scale, kept only when sound: its problems are already said.
        value = values[0] if values and 0.0 < values[0] < math.inf else None
        read.append((int(match[1]), where, value))
    return sorted(read, key=lambda item: (item[0], item[1]))


def _layer_map(
    file: str, scales: list[_Read], layer_count: int, basis: str, problems: list[Problem]
) -> dict[int, float] | None:
    before = len(problems)
    first_where: dict[int, str] = {}
    values: dict[int, float] = {}
    for layer, where, value in scales:
        if layer in first_where:
            problems.append(Problem(where, duplicate(layer, "kv", first_where[layer]), layer=layer))
            continue
        first_where[layer] = where
        if value is not None:
            values[layer] = value
    missing = [layer for layer in range(layer_count) if layer not in first_where]
    if missing:
        problems.append(Problem(file, no_scale_for(missing, layer_count, basis)))
    return values if len(problems) == before else None
