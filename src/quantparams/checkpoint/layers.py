"""Which layers keep a KV cache, and which stack of layers in a checkpoint is the language model's.

A hybrid model keeps a KV cache in its attention layers only: the config
says which, in one of several spellings (`layer_types`, `layers_block_type`,
`hybrid_override_pattern`, `attn_type_list`, `full_attention_interval`,
`attn_layer_period`). A multimodal checkpoint holds other stacks beside the
language model's (a vision tower's `vision_model.model.layers.N`), and MTP
or draft layers sit past `num_hidden_layers` or in a stack of their own:
none of them is a layer of the KV cache the engine sizes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = ["attention_layers", "is_tower"]

# A stack of a tower the language model's KV cache does not include.
_TOWER = re.compile(
    r"(?:^|[._])(?:vision|visual|vit|image|img|audio|speech|whisper|siglip|clip|mm_projector|"
    r"multi_modal_projector|mtp|nextn|draft|eagle)(?:[._]|$)"
)
# `layer_types` entries of layers that keep no KV cache.
_NO_CACHE = ("linear", "mamba", "conv", "ssm", "recurrent", "deltanet", "moe_only", "mlp")
# Entries that keep no KV cache only when they are the whole entry: NemotronH's
# `layers_block_type` "moe" is a layer of experts alone (its pattern's "E").
_NO_CACHE_ENTRIES = frozenset({"moe"})


def is_tower(stack: str) -> bool:
    """Whether the layer stack `stack` (such as `vision_model.model.layers`) is a vision, audio or MTP tower."""
    return _TOWER.search(stack) is not None


def _keeps_cache(kind: object) -> bool:
    text = str(kind).lower()
    return text not in _NO_CACHE_ENTRIES and not any(word in text for word in _NO_CACHE)


def attention_layers(text: Mapping[str, object], count: int) -> tuple[int, ...] | None:
    """The layers among `0..count-1` that keep a KV cache, from the (text) config;
    None when the config says nothing of it (then every layer does)."""
    layer_types = text.get("layer_types") or text.get("layers_block_type")
    if isinstance(layer_types, Sequence) and not isinstance(layer_types, str) and layer_types:
        return tuple(layer for layer, kind in enumerate(layer_types[:count]) if _keeps_cache(kind))
    pattern = text.get("hybrid_override_pattern")
    if isinstance(pattern, str) and pattern:
        return tuple(layer for layer, kind in enumerate(pattern[:count]) if kind == "*")
    kinds = text.get("attn_type_list")
    if isinstance(kinds, Sequence) and not isinstance(kinds, str) and kinds:
        return tuple(layer for layer, kind in enumerate(kinds[:count]) if kind == 1)
    interval = text.get("full_attention_interval")
    if type(interval) is int and interval >= 1:
        return tuple(layer for layer in range(count) if (layer + 1) % interval == 0)
    period, offset = text.get("attn_layer_period"), text.get("attn_layer_offset", 0)
    if type(period) is int and period >= 1 and type(offset) is int:
        return tuple(layer for layer in range(count) if layer % period == offset)
    return None
