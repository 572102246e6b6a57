"""The older per-rank export: `rank0.safetensors`, `rank1.safetensors`, ... one file per TP rank.

vLLM's old `examples/fp8/extract_scales.py` read these (AMMO / TensorRT-LLM
exports): every tensor whose name holds `kv_cache_scaling_factor` is the one
scale of a layer, its layer the number in the `layers.N.` part of its name.
No engine reads them from the checkpoint, so only `extract` does.
"""

from __future__ import annotations

import re
from typing import cast

from .._errors import Problem
from .folder import RANK_FILE, Layout, OpenFile, open_file
from .grouping import by_layer
from .header import Header, HeaderError, read_header
from .messages import no_scale_for
from .name_table import Naming
from .naming import MAX_LAYERS, NamedScale
from .scan import FoundScale, past_layers, scale_values, tensor_path
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
        highest = max(scale.named.layer for scales in read_by_rank.values() for scale in scales)
        layer_count, basis = highest + 1, f"scales were found up to layer {highest} in some rank"
    ranks = {}
    left_out = sorted(
        {
            scale.named.layer
            for scales in read_by_rank.values()
            for scale in scales
            if scale.named.layer >= layer_count
        }
    )
    for rank, scales in read_by_rank.items():
        kept = [scale for scale in scales if scale.named.layer < layer_count]
        layers = _layer_map(by_rank[rank], kept, layer_count, basis, problems)
        if layers is not None:
            ranks[rank] = layers
    return ranks, tuple(left_out)


# The one naming of these files, outside the table engines read names through.
_LEGACY_NAMING = Naming(
    pattern=LEGACY_SCALE,
    producer="AMMO / TensorRT-LLM per-rank export",
    kind="kv",
    vllm_rewrite=None,
    vllm_configs=None,
    example=f"rank0.safetensors: *.layers.N.*{LEGACY_SCALE}",
)


def _read_rank(layout: Layout, file: str, problems: list[Problem]) -> list[FoundScale]:
    path = layout.folder / file
    try:
        # One open for the header and the scales' bytes, as for a shard.
        with open_file(path) as stream:
            return _rank_scales(file, read_header(path, file, stream), stream, problems)
    except HeaderError as error:
        problems.extend(error.problems)
    except OSError as error:
        problems.append(Problem(file, f"cannot read: {error.strerror or error}"))
    return []


def _rank_scales(file: str, header: Header, stream: OpenFile, problems: list[Problem]) -> list[FoundScale]:
    names = [tensor for tensor in header.tensors if LEGACY_SCALE in tensor]
    if not names:
        problems.append(Problem(file, f"no tensor named like *.{LEGACY_SCALE}"))
        return []
    read: list[FoundScale] = []
    for tensor in names:
        where = tensor_path(file, tensor)
        match = _LEGACY_LAYER.search(tensor)
        if match is None:
            problems.append(Problem(where, 'cannot tell the layer: the name has no "layers.N." part'))
            continue
        layer = int(match[1])
        if layer >= MAX_LAYERS:
            problems.append(Problem(where, past_layers(layer)))
            continue
        info = header.tensors[tensor]
        checked = scale_values(problems, where, header, info, None, "", stream, layer=layer)
        # Its problems are already said: an unsound scale is kept only to be counted.
        values, sound = (None, False) if checked is None else checked
        stack = tensor[: match.start(1) - 1].lstrip(".")
        named = NamedScale(tensor, layer, "kv", _LEGACY_NAMING, stack, None, tensor[match.end() :])
        read.append(FoundScale(file, named, info.dtype, info.shape, values, sound))
    return sorted(read, key=lambda scale: (scale.named.layer, scale.named.tensor))


def _layer_map(
    file: str, scales: list[FoundScale], layer_count: int, basis: str, problems: list[Problem]
) -> dict[int, float] | None:
    before = len(problems)
    grouped, _ = by_layer(scales, problems)
    values = {
        layer: kinds["k"].values[0]
        for layer, kinds in grouped.items()
        if kinds["k"].sound and kinds["k"].values
    }
    missing = [layer for layer in range(layer_count) if layer not in grouped]
    if missing:
        problems.append(Problem(file, no_scale_for(missing, layer_count, basis)))
    return values if len(problems) == before else None
