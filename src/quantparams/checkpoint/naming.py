"""Reading a tensor name through the naming table (`name_table.NAMINGS`): the layer,
the kind of scale, and the parameter each engine loads it into.

A name is read once per layer-0 name: the table's rows read what follows a
layer's number, never the number, so the layers of a model share one reading.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from .name_table import NAMINGS, Kind, Naming

__all__ = [
    "ATTENTION_PARAMETER",
    "MAX_LAYERS",
    "NamedScale",
    "layer_module",
    "looks_like_scale",
    "mapped_name",
    "name_scale",
    "regex_mapped",
    "scale_like",
    "suffix_mapped",
    "tensor_layer",
    "tensor_stack",
    "vllm_name",
]

# The most layers (and TP ranks) a checkpoint may claim, refused past it where
# they enter (a config's num_hidden_layers, a tensor's layers.N., a rank
# file's N): no model has that many, and a claimed count must not cost time or
# memory in the loops over every layer.
MAX_LAYERS = 1 << 16

# A pattern's "kind" group matches one of these.
_KINDS: dict[str, Kind] = {"q": "q", "k": "k", "v": "v", "prob": "prob", "kv": "kv"}

# Names a person would take for a KV-cache scale whatever the table says: one
# of them that no engine reads is reported rather than ignored.
_LOOKS_LIKE_SCALE = re.compile(
    r"(?:^|\.)(?:q|k|v|kv|prob)_scale$|_proj\.output_scale$|prob_output_scale$"
    r"|(?:^|\.)[qkv](?:_cache)?\.scale$|kv_cache_scaling_factor"
)
# vLLM's attention scale parameters: `Attention` held as `.attn` by a decoder
# layer's attention module (`self_attn.attn`, NemotronH's `mixer.attn`, DBRX's
# `norm_attn_norm.attn.attn`, EXAONE-3's `attn.attention.attn`).
ATTENTION_PARAMETER = re.compile(
    r"\.[0-9]+\.(?:self_attn|mixer|attention|self_attention|attn|norm_attn_norm\.attn|attn\.attention)"
    r"\.attn\.(?P<kind>q|k|v|prob)_scale$"
)
# A stack of layers and a layer in it: `model.layers.3.`, `transformer.blocks.3.`,
# `vision_model.model.layers.3.` (the first such part of the name).
_LAYER = re.compile(r"^(?P<stack>(?:.*?\.)?(?:layers|blocks|h))\.(?P<layer>[0-9]+)\.")


class NamedScale(NamedTuple):
    """What the table says of one tensor name (one of them for each scale of a checkpoint)."""

    tensor: str
    layer: int
    kind: Kind
    naming: Naming
    # The stack of layers the tensor belongs to: `model.layers`, `vision_model.model.layers`.
    stack: str
    # The parameter vLLM's mapper makes of it under the config, or None when
    # vLLM would not load it into an attention layer.
    vllm_name: str | None
    # What follows the layer's number: `self_attn.k_scale`. The layers of a
    # stack differ in their number alone, which no engine reads apart.
    rest: str


def vllm_name(tensor: str, family: str) -> str | None:
    """The attention parameter vLLM's cache-scale mapper makes of `tensor` under config `family`."""
    return _attention_parameter(mapped_name(tensor, family))


def _attention_parameter(name: str) -> str | None:
    return name if ATTENTION_PARAMETER.search(name) else None


def mapped_name(tensor: str, family: str) -> str:
    """What vLLM's cache-scale mapper makes of `tensor` under config `family`, a scale or not."""
    layer = _LAYER.search(tensor)
    if layer is not None:
        # The table's rows read what follows a layer's number (see `name_scale`): the
        # layers of a model share one mapping, worked out on layer 0's name.
        first = f"{layer['stack']}.0."
        moved = _moved(_mapped(first + tensor[layer.end() :], family), first, tensor[: layer.end()])
        if moved is not None:
            return moved
    return _mapped(tensor, family)


def _moved(name: str, first: str, prefix: str) -> str | None:
    """`name`, made of layer 0's name (which begins `first`: its stack and `.0.`), in the layer
    `prefix` begins with instead; None when `name` does not begin as layer 0's name did."""
    return prefix + name[len(first) :] if name.startswith(first) else None


@functools.lru_cache(maxsize=1 << 12)
def _mapped(tensor: str, family: str) -> str:
    return suffix_mapped(regex_mapped(tensor), family)


def regex_mapped(tensor: str) -> str:
    """`tensor` through the cache-scale mapper's regular expressions, which run first."""
    name = tensor
    for naming in NAMINGS:
        if naming.step == "regex" and naming.vllm_rewrite is not None and naming.regex.search(name):
            name = naming.regex.sub(naming.vllm_rewrite, name)
    return name


def suffix_mapped(name: str, family: str) -> str:
    """`name` through the suffix rules config `family` adds to the cache-scale mapper, which
    run last (after a model's own substring, stacking and prefix rules)."""
    for naming in NAMINGS:
        if naming.step == "suffix" and _applies(naming, family) and naming.regex.search(name):
            name = naming.regex.sub(naming.vllm_rewrite or "", name)
    return name


def _applies(naming: Naming, family: str) -> bool:
    return naming.vllm_configs is None or family in naming.vllm_configs


def name_scale(tensor: str, family: str) -> NamedScale | None:
    """The table's reading of `tensor`, or None when no naming matches it.

    The first matching row names the producer and kind; `vllm_name` is the
    mapper's result under `family`, which may be None (an `output_scale`
    under compressed-tensors, say).
    """
    # Every naming ends in "scale": other names (nearly all of a checkpoint's) need no search.
    if not tensor.endswith("scale"):
        return None
    layer = _LAYER.search(tensor)
    if layer is None:
        return None
    # The table's rows read what follows a layer's number, never the number itself: the
    # layers of a model share one reading.
    stack, number = layer.groups()
    start = layer.end()
    rest = tensor[start:]
    reading = _reading(stack, rest, family)
    if reading is None:
        return None
    naming, kind, parameter = reading
    if parameter is not None:
        parameter = vllm_name(tensor, family) if parameter == _UNMOVED else tensor[:start] + parameter
    return NamedScale(tensor, int(number), kind, naming, stack, parameter, rest)


# A parameter vLLM's mapper makes of layer 0's name that does not keep layer 0's place.
_UNMOVED = "\0"


@functools.lru_cache(maxsize=1 << 12)
def _reading(stack: str, rest: str, family: str) -> tuple[Naming, Kind, str | None] | None:
    """`_read` of layer 0's tensor `stack.0.rest`, its vLLM parameter given past the
    `stack.0.` it begins with (`_UNMOVED` when it does not begin so)."""
    first = f"{stack}.0."
    reading = _read(first + rest, family)
    if reading is None:
        return None
    naming, kind, parameter = reading
    if parameter is not None:
        parameter = parameter[len(first) :] if parameter.startswith(first) else _UNMOVED
    return naming, kind, parameter


def _read(tensor: str, family: str) -> tuple[Naming, Kind, str | None] | None:
    """The first row that matches `tensor`, the kind it reads, and the parameter vLLM loads it
    into under config `family` (None: none)."""
    for naming in NAMINGS:
        match = naming.regex.search(tensor)
        if match is not None:
            kind = naming.kind or _KINDS[match["kind"]]
            parameter = _attention_parameter(_mapped(tensor, family))
            return naming, kind, parameter
    return None


def tensor_layer(tensor: str) -> int | None:
    """The layer of the first stack of layers in `tensor`'s name, if it names one."""
    found = _LAYER.search(tensor)
    return None if found is None else int(found["layer"])


def tensor_stack(tensor: str) -> str | None:
    """The first stack of layers in `tensor`'s name (`model.layers`), if it names one."""
    found = _LAYER.search(tensor)
    return None if found is None else found["stack"]


def layer_module(tensor: str) -> str | None:
    """The module of its layer `tensor` lies in (`self_attn` of `model.layers.3.self_attn.k_scale`),
    if it names a layer of a stack and a module in it."""
    found = _LAYER.search(tensor)
    if found is None:
        return None
    module, dot, _ = tensor[found.end() :].partition(".")
    return module if dot else None


# What `might_be_scale` finds: every naming and every name `_LOOKS_LIKE_SCALE` takes has it.
_MIGHT_BE_SCALE = re.compile(r"scale\Z|scaling_factor")


def might_be_scale(tensor: str) -> bool:
    """Whether the table or a person could take `tensor` for a scale: false for nearly every
    tensor of a checkpoint, on its name's ending alone."""
    return _MIGHT_BE_SCALE.search(tensor) is not None


def scale_like(tensors: Iterable[str]) -> Iterator[str]:
    """The tensors of `tensors` that `might_be_scale`, in order."""
    return filter(_MIGHT_BE_SCALE.search, tensors)


def looks_like_scale(tensor: str) -> bool:
    """Named like a KV-cache scale, whatever the table says."""
    return might_be_scale(tensor) and _LOOKS_LIKE_SCALE.search(tensor) is not None
