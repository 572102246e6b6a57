"""The names KV-cache scale tensors go by in checkpoints, and what engines make of them.

One table, kept as data: `NAMINGS`. Each row is one naming convention: the
end of a tensor name (a regular expression), the producer that writes it,
which scale it holds (q, k, v, prob, or kv for the fused scale that serves
both k and v), the parameter name vLLM's cache-scale mapper rewrites it to,
the quantization configs under which that rewrite applies, and whether
SGLang reads it.

vLLM's side follows vLLM 0.33.0: `QuantizationConfig.get_cache_scale_mapper()`
in `layers/quantization/base_config.py` (regular expressions, every one that
matches applied in order, each to the name the previous ones left), plus the
`output_scale` suffixes that `Fp8Config` (`fp8.py`) and `QuarkConfig`
(`quark/quark.py`) add on top; `CompressedTensorsConfig` and the ModelOpt
configs use the base rules alone there. SGLang's side follows
`maybe_remap_kv_scale_name` (`model_loader/weight_utils.py`): the fused
`.kv_scale`, `.k_scale` / `.v_scale` and the ModelOpt names.

A rewritten name is a scale parameter only when it ends in
`.attn.{q,k,v,prob}_scale`, the attention layer's own parameters.
"""

from __future__ import annotations

import functools
import re
from typing import Literal

import attrs

__all__ = [
    "ATTENTION_PARAMETER",
    "CONFIG_FAMILIES",
    "MAX_LAYERS",
    "NAMINGS",
    "VLLM_RELEASE",
    "Kind",
    "NamedScale",
    "Naming",
    "looks_like_scale",
    "mapped_name",
    "name_scale",
    "vllm_name",
]

VLLM_RELEASE = "0.33.0"

# The most layers (and TP ranks) a checkpoint may claim, refused past it where
# they enter (a config's num_hidden_layers, a tensor's layers.N., a rank
# file's N): no model has that many, and a claimed count must not cost time or
# memory in the loops over every layer.
MAX_LAYERS = 1 << 16

# The quantization configs the table tells apart ("" for none or another).
CONFIG_FAMILIES = ("compressed-tensors", "quark", "modelopt", "fp8", "")

Kind = Literal["q", "k", "v", "prob", "kv"]
# A pattern's "kind" group matches one of these.
_KINDS: dict[str, Kind] = {"q": "q", "k": "k", "v": "v", "prob": "prob", "kv": "kv"}

_WITH_SUFFIXES = frozenset({"fp8", "quark"})


@attrs.frozen(kw_only=True)
class Naming:
    """One naming convention of a KV-cache scale tensor."""

    # Matches the end of a tensor name; group "kind" gives the scale's kind
    # where one pattern covers several.
    pattern: str
    producer: str
    # The kind when the pattern has no "kind" group.
    kind: Kind | None
    # vLLM's rewrite of the matched end (a `re.sub` template), or None when
    # vLLM's mapper leaves the name as it is.
    vllm_rewrite: str | None
    # The configs under which vLLM applies the rewrite; None: under every one.
    vllm_configs: frozenset[str] | None
    # SGLang's rewrite of names of this row: (pattern, `re.sub` template), or
    # None when SGLang reads no such name.
    sglang: tuple[str, str] | None
    # How vLLM's mapper applies the rewrite: "regex" rules run first, in table
    # order; "suffix" rules after them, on the end of the name.
    step: Literal["regex", "suffix"] = "regex"
    # The naming as a person writes it, for messages.
    example: str = ""

    regex: re.Pattern[str] = attrs.field(init=False, eq=False, repr=False)
    sglang_regex: re.Pattern[str] | None = attrs.field(init=False, eq=False, repr=False)

    @regex.default
    def _regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)

    @sglang_regex.default
    def _sglang_regex(self) -> re.Pattern[str] | None:
        return None if self.sglang is None else re.compile(self.sglang[0])


NAMINGS: tuple[Naming, ...] = (
    Naming(
        pattern=r"\.kv_scale$",
        producer="deprecated fused scale",
        kind="kv",
        vllm_rewrite=".attn.k_scale",
        vllm_configs=None,
        sglang=(r"\.kv_scale$", ".attn.k_scale"),
        example="*.kv_scale",
    ),
    Naming(
        pattern=r"\.self_attn\.[kv]_proj\.(?P<kind>[kv])_scale$",
        producer="NVIDIA ModelOpt",
        kind=None,
        vllm_rewrite=r".self_attn.attn.\g<kind>_scale",
        vllm_configs=None,
        # SGLang reads k_proj.k_scale and v_proj.v_scale only.
        sglang=(r"\.self_attn\.(?P<p>[kv])_proj\.(?P=p)_scale$", r".self_attn.attn.\g<p>_scale"),
        example="*.self_attn.k_proj.k_scale / v_proj.v_scale",
    ),
    Naming(
        pattern=r"\.self_attn\.qk(?:qk)?v_proj\.(?P<kind>[kv])_scale$",
        producer="fused qkv / qkqkv projection",
        kind=None,
        vllm_rewrite=r".self_attn.attn.\g<kind>_scale",
        vllm_configs=None,
        sglang=None,
        example="*.self_attn.qkv_proj.k_scale / v_scale (qkqkv_proj too)",
    ),
    Naming(
        pattern=r"\.mixer\.[kv]_proj\.(?P<kind>[kv])_scale$",
        producer="NemotronH",
        kind=None,
        vllm_rewrite=r".mixer.attn.\g<kind>_scale",
        vllm_configs=None,
        sglang=None,
        example="*.mixer.k_proj.k_scale / v_proj.v_scale",
    ),
    Naming(
        pattern=r"\.self_attn\.q\.scale$",
        producer="HunYuan v3",
        kind="q",
        vllm_rewrite=".self_attn.attn.q_scale",
        vllm_configs=None,
        sglang=None,
        example="*.self_attn.q.scale",
    ),
    Naming(
        pattern=r"\.self_attn\.(?P<kind>[kv])_cache\.scale$",
        producer="HunYuan v3",
        kind=None,
        vllm_rewrite=r".self_attn.attn.\g<kind>_scale",
        vllm_configs=None,
        sglang=None,
        example="*.self_attn.k_cache.scale / v_cache.scale",
    ),
    Naming(
        pattern=r"(?<!\.attn)\.(?P<kind>[qkv])_scale$",
        producer="llm-compressor / compressed-tensors",
        kind=None,
        vllm_rewrite=r".attn.\g<kind>_scale",
        vllm_configs=None,
        # SGLang reads k and v, not q.
        sglang=(r"\.(?P<p>[kv])_scale$", r".attn.\g<p>_scale"),
        example="*.self_attn.k_scale / v_scale / q_scale",
    ),
    Naming(
        pattern=r"\.(?P<kind>[qkv])_proj\.output_scale$",
        producer="AMD Quark, older compressed-tensors",
        kind=None,
        vllm_rewrite=r".attn.\g<kind>_scale",
        vllm_configs=_WITH_SUFFIXES,
        # SGLang renames k and v unchecked; it holds no q parameter.
        sglang=(r"\.(?P<p>[kv])_proj\.output_scale$", r".attn.\g<p>_scale"),
        step="suffix",
        example="*.k_proj.output_scale / v_proj / q_proj",
    ),
    Naming(
        pattern=r"\.self_attn\.prob_output_scale$",
        producer="AMD Quark",
        kind="prob",
        vllm_rewrite=".self_attn.attn.prob_scale",
        vllm_configs=_WITH_SUFFIXES,
        sglang=None,
        step="suffix",
        example="*.self_attn.prob_output_scale",
    ),
    Naming(
        pattern=r"\.attn\.(?P<kind>q|k|v|prob)_scale$",
        producer="vLLM's own parameter names",
        kind=None,
        vllm_rewrite=None,
        vllm_configs=None,
        sglang=None,
        example="*.attn.k_scale / v_scale / q_scale / prob_scale",
    ),
)

# Names a person would take for a KV-cache scale whatever the table says: one
# of them that no engine reads is reported rather than ignored.
_LOOKS_LIKE_SCALE = re.compile(
    r"(?:^|\.)(?:q|k|v|kv|prob)_scale$|_proj\.output_scale$|prob_output_scale$"
    r"|(?:^|\.)[qkv](?:_cache)?\.scale$|kv_cache_scaling_factor"
)
_SGLANG_PARAMETER = re.compile(r"layers\.[0-9]+\.self_attn\.attn\.[kv]_scale$")
# vLLM's attention scale parameters: `Attention` held as `.attn` by a decoder
# layer's attention module (`self_attn.attn`, NemotronH's `mixer.attn`, DBRX's
# `norm_attn_norm.attn.attn`).
ATTENTION_PARAMETER = re.compile(
    r"\.[0-9]+\.(?:self_attn|mixer|attention|self_attention|attn|norm_attn_norm\.attn)"
    r"\.attn\.(?P<kind>q|k|v|prob)_scale$"
)
# A stack of layers and a layer in it: `model.layers.3.`, `transformer.blocks.3.`,
# `vision_model.model.layers.3.` (the first such part of the name).
_LAYER = re.compile(r"^(?P<stack>(?:.*?\.)?(?:layers|blocks|h))\.(?P<layer>[0-9]+)\.")


@attrs.frozen
class NamedScale:
    """What the table says of one tensor name."""

    tensor: str
    layer: int
    kind: Kind
    naming: Naming
    # The stack of layers the tensor belongs to: `model.layers`, `vision_model.model.layers`.
    stack: str
    # The parameter vLLM's mapper makes of it under the config, or None when
    # vLLM would not load it into an attention layer.
    vllm_name: str | None
    # Whether SGLang loads it.
    sglang: bool
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
    name = tensor
    for naming in NAMINGS:
        if naming.step == "regex" and naming.vllm_rewrite is not None and naming.regex.search(name):
            name = naming.regex.sub(naming.vllm_rewrite, name)
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
    stack, rest = layer["stack"], tensor[layer.end() :]
    first = f"{stack}.0."
    reading = _reading(first + rest, family)
    if reading is None:
        return None
    naming, kind, sglang, parameter = reading
    if parameter is not None:
        parameter = _moved(parameter, first, tensor[: layer.end()]) or vllm_name(tensor, family)
    return NamedScale(tensor, int(layer["layer"]), kind, naming, stack, parameter, sglang, rest)


@functools.lru_cache(maxsize=1 << 12)
def _reading(tensor: str, family: str) -> tuple[Naming, Kind, bool, str | None] | None:
    """The first row that matches `tensor`, the kind it reads, whether SGLang loads it, and
    the parameter vLLM loads it into under config `family` (None: none)."""
    for naming in NAMINGS:
        match = naming.regex.search(tensor)
        if match is not None:
            kind = naming.kind or _KINDS[match["kind"]]
            parameter = _mapped(tensor, family)
            return naming, kind, _sglang_reads(naming, tensor), _attention_parameter(parameter)
    return None


def _sglang_reads(naming: Naming, tensor: str) -> bool:
    if naming.sglang is None or naming.sglang_regex is None:
        return False
    regex, template = naming.sglang_regex, naming.sglang[1]
    # SGLang loads the result only where a Llama-family attention layer has that parameter.
    return (
        regex.search(tensor) is not None and _SGLANG_PARAMETER.search(regex.sub(template, tensor)) is not None
    )


def tensor_layer(tensor: str) -> int | None:
    """The layer of the first stack of layers in `tensor`'s name, if it names one."""
    found = _LAYER.search(tensor)
    return None if found is None else int(found["layer"])


def might_be_scale(tensor: str) -> bool:
    """Whether the table or a person could take `tensor` for a scale: false for nearly every
    tensor of a checkpoint, on its name's ending alone."""
    return tensor.endswith("scale") or "scaling_factor" in tensor


def looks_like_scale(tensor: str) -> bool:
    """Named like a KV-cache scale, whatever the table says."""
    return might_be_scale(tensor) and _LOOKS_LIKE_SCALE.search(tensor) is not None
