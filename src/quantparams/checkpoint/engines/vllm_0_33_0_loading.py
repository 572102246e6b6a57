"""How vLLM 0.33.0 reads a scale tensor's name (paths under `vllm/model_executor/`).

`AutoWeightsLoader` (`models/utils.py`) applies the config's cache-scale
mapper around the model's own mapper, then raises for a name no module
holds, unless a quantization config lets it ignore names ending in
`.q_scale`, `.k_scale` or `.v_scale`. Models with their own loop pass the
mapped name through `maybe_remap_kv_scale_name`
(`model_loader/weight_utils.py`), which drops what it cannot place.
`vllm_0_33_0_models.py` holds how each model class differs from Llama's.
"""

from __future__ import annotations

import re

from ..naming import ATTENTION_PARAMETER
from .model import Failure, Load, LoadContext
from .vllm_0_33_0_models import ModelLoader, model_loader

__all__ = ["load_name"]

_ROOT = "vllm/model_executor/"
_UTILS = _ROOT + "models/utils.py"

# The endings `maybe_remap_kv_scale_name` remaps (model_loader/weight_utils.py), dropping the name
# when the result is no parameter.
_REMAPPED_SUFFIXES = (
    ".kv_scale",
    ".k_scale",
    ".v_scale",
    ".q_scale",
    ".k_zero_point",
    ".v_zero_point",
    ".q_zero_point",
    ".q.scale",
    ".k_cache.scale",
    ".v_cache.scale",
)
_IGNORED_SUFFIXES = (".q_scale", ".k_scale", ".v_scale", ".q_zero_point", ".k_zero_point", ".v_zero_point")


def load_name(tensor: str, context: LoadContext) -> Load:
    """What vLLM 0.33.0 does with the scale tensor `tensor`: load it, ignore it, or fail."""
    quantized = context.family != "" or context.quantized
    architecture = context.architecture or ""
    model = model_loader(architecture)
    finds_config = quantized and model.cache_mapper
    name = model.mapped(tensor, context.family if finds_config else None)
    if context.attention == "mla":
        # deepseek_v2.py: the mapped `.attn.k_scale` meets `maybe_remap_kv_scale_name`, which
        # makes `.attn.attn.k_scale` of it, a parameter that no MLA layer has, and drops it; a
        # name it does not remap (a prob scale, an output scale left as it is) indexes params_dict,
        # as every name does in a model whose own loop remaps none (longcat_flash.py).
        unchecked = model.refused_by == "inner_loop"
        if name.endswith(_REMAPPED_SUFFIXES) and not unchecked:
            return Load(
                "ignored", reason="maybe_remap_kv_scale_name finds no MLA parameter for it and drops it"
            )
        relative = _IN_STACK.search(name)
        key = name.removeprefix("model.") if relative is None else relative[0]
        where = _ROOT + "models/" + (model.file if unchecked else "deepseek_v2.py")
        return Load("fails", failure=Failure("KeyError", repr(key), where))
    if model.own_loop:
        name = _remap(name)
    parameter = ATTENTION_PARAMETER.search(name)
    if parameter is not None and model.attention_quantized and parameter["kind"] in context.parameters:
        return Load("loaded", kind=parameter["kind"])
    if finds_config and model.ignores_scale_suffixes and name.endswith(_IGNORED_SUFFIXES):
        return Load(
            "ignored", reason="no attention layer holds it, and vLLM ignores names ending in this suffix"
        )
    if model.own_loop:
        return Load("ignored", reason="maybe_remap_kv_scale_name finds no parameter for it and drops it")
    if model.refused_by == "skipped":
        return Load(
            "ignored", reason=f"the model's own loop ({model.file}) skips a name it holds no parameter for"
        )
    return Load("fails", failure=_refused(name, architecture, model))


# maybe_remap_kv_scale_name's patterns for standard attention, the first that matches
# applies (model_loader/weight_utils.py); a name that is already a parameter stays.
_REMAP = (
    (re.compile(r"\.kv_scale$"), ".attn.k_scale"),
    (re.compile(r"\.self_attn\.([kv])_proj\.([kv])_scale$"), r".self_attn.attn.\2_scale"),
    (re.compile(r"\.self_attn\.qkv_proj\.([kv])_scale$"), r".self_attn.attn.\1_scale"),
    (re.compile(r"\.self_attn\.qkqkv_proj\.([kv])_scale$"), r".self_attn.attn.\1_scale"),
    (re.compile(r"\.mixer\.[kv]_proj\.([kv])_scale$"), r".mixer.attn.\1_scale"),
    (re.compile(r"\.self_attn\.q\.scale$"), ".self_attn.attn.q_scale"),
    (re.compile(r"\.self_attn\.([kv])_cache\.scale$"), r".self_attn.attn.\1_scale"),
    (re.compile(r"\.([qkv])_scale$"), r".attn.\1_scale"),
)


def _remap(name: str) -> str:
    if ATTENTION_PARAMETER.search(name):
        return name
    for pattern, replacement in _REMAP:
        if pattern.search(name):
            return pattern.sub(replacement, name)
    return name


def _refused(name: str, architecture: str, model: ModelLoader) -> Failure:
    """The failure of loading `name`, which no module holds, in the loader `model` says refuses it."""
    if model.refused_by == "top":
        top = model.class_name or architecture or "the model"
        return Failure("ValueError", f"There is no module or parameter named {name!r} in {top}", _UTILS)
    # The inner model's loader stacks q, k and v first, and names the weight relative to itself.
    stacked = re.sub(r"\.[qkv]_proj\.", ".qkv_proj.", name, count=1)
    if model.refused_by == "inner_loop":
        return Failure("KeyError", repr(stacked.removeprefix("model.")), _ROOT + "models/" + model.file)
    relative = _IN_STACK.search(stacked)
    if model.class_name is not None and relative is not None:
        message = f"There is no module or parameter named {relative[0]!r} in {model.class_name}"
    elif stacked.startswith("model.") and architecture.endswith("ForCausalLM"):
        model_class = architecture.removesuffix("ForCausalLM") + "Model"
        message = f"There is no module or parameter named {stacked.removeprefix('model.')!r} in {model_class}"
    else:
        message = f"There is no module or parameter named {stacked!r} in {architecture or 'the model'}"
    return Failure("ValueError", message, _UTILS)


# A weight's name from its layer stack on, as a language model's loader names it.
_IN_STACK = re.compile(r"(?<![^.])layers\.[0-9]+\..*$")
