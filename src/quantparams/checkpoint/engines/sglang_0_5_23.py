"""SGLang 0.5.23's handling of KV-cache scales, read from its sources (paths under `sglang/srt/`).

- Which attention layers hold scales: `RadixAttention` gets k and v scale
  parameters only from a quantization config that gives it a KV-cache
  method (`layers/radix_attention.py`): fp8 always (`fp8.py`), Quark always
  (`quark/quark.py`), ModelOpt when `kv_cache_quant_algo` is set
  (`modelopt_quant.py`; NVFP4 defaults it), compressed-tensors only for a
  static, symmetric, per-tensor 8-bit float scheme (anything else is logged
  and ignored). No q or prob parameter exists anywhere.
- How they settle (`layers/quantization/kv_cache.py`,
  `BaseKVCacheMethod.process_weights_after_loading`): both start at -1.0;
  k alone is copied to v; v alone fails `assert layer.k_scale > 0.0`; a
  missing pair is 1.0. A tensor of more than one value fails
  `default_weight_loader`'s size assert.
- Which names each model reads: every model has its own `load_weights`
  (`models/*.py`); `sglang_0_5_23_models.py` holds what each does with
  each spelling of a scale's name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..naming import layer_module, tensor_stack
from ..scheme import modelopt_fields
from .checks import quark_kv_cache_config
from .model import AttentionKind, Failure, Load, LoadContext, Release, ScaleMethod
from .sglang_0_5_23_models import ARCHITECTURES, LOADERS, NO_SCALES, Outcome, model_file, spelling
from .sglang_0_5_23_paths import (
    ASKS_GET_CACHE_SCALE,
    ATTENTION_MODULES,
    CONFIG_CLASSES,
    LANGUAGE_MODELS,
    LANGUAGE_STACKS,
    RENAMES,
)
from .sglang_0_5_23_registry import REGISTERED, TRANSFORMERS_PREFIXES

__all__ = ["RELEASE"]

_KV_CACHE = "python/sglang/srt/layers/quantization/kv_cache.py"
_WEIGHT_UTILS = "python/sglang/srt/model_loader/weight_utils.py"

_V_WITHOUT_K = Failure("AssertionError", "assert layer.k_scale > 0.0", _KV_CACHE)


def _method(name: str) -> ScaleMethod:
    return ScaleMethod(name, frozenset({"k", "v"}), sentinel=True, v_without_k=_V_WITHOUT_K)


def _supported_compressed_tensors(quantization: Mapping[str, Any]) -> bool:
    """`CompressedTensorsKVCacheMethod.is_supported_scheme`: static symmetric per-tensor FP8."""
    scheme = quantization.get("kv_cache_scheme")
    return (
        isinstance(scheme, dict)
        and scheme.get("type") == "float"
        and scheme.get("num_bits") == 8
        and scheme.get("strategy") == "tensor"
        and scheme.get("symmetric", True) is True
        and scheme.get("dynamic", False) is False
    )


def _modelopt_declares(quantization: Mapping[str, Any]) -> bool:
    """Whether ModelOpt's config sets `kv_cache_quant_algo` (NVFP4 defaults it to "auto")."""
    fields = modelopt_fields(quantization)
    if "FP4" in str(fields.get("quant_algo", "")).upper():
        return True
    return bool(fields.get("kv_cache_quant_algo")) or isinstance(fields.get("kv_cache_scheme"), dict)


def _methods(
    quantization: Mapping[str, Any] | None, family: str
) -> dict[tuple[str, AttentionKind], ScaleMethod]:
    if quantization is None:
        return {}
    gives = {
        "fp8": True,
        "quark": True,
        "modelopt": _modelopt_declares(quantization),
        "modelopt-mixed": _modelopt_declares(quantization),
        "compressed-tensors": _supported_compressed_tensors(quantization),
    }.get(family, False)
    if not gives:
        return {}
    method = _method(family.removesuffix("-mixed"))
    return {(family, "standard"): method, (family, "mla"): method}


_STACKED = re.compile(r"\.([qkv])_proj\.")
# model_loader/weight_utils.py `maybe_remap_kv_scale_name`: Quark's names, replaced unchecked.
_QUARK_NAMES = (
    (".q_proj.output_scale", ".attn.q_scale"),
    (".k_proj.output_scale", ".attn.k_scale"),
    (".v_proj.output_scale", ".attn.v_scale"),
    ("self_attn.prob_output_scale", ".attn.prob_scale"),
)


def _kind(tensor: str) -> str | None:
    match = re.search(r"(?:\.|_)(q|k|v|kv|prob)(?:_proj\.output|_output|_cache\.)?_?scale$", tensor)
    return None if match is None else {"kv": "k"}.get(match[1], match[1])


def _load(tensor: str, context: LoadContext) -> Load:
    architecture = context.architecture or ""
    refused = _refused_whatever_the_name(tensor, architecture, context)
    if refused is not None:
        return refused
    language_models = LANGUAGE_MODELS.get(architecture)
    if language_models is not None:
        # The language model built decides the loader, its attention module and its scales.
        holder = context.text_architecture or ""
        loader = LOADERS[language_models[holder]]
    else:
        holder = architecture
        loader = LOADERS[
            ARCHITECTURES.get(architecture) or ("deepseek" if context.attention == "mla" else "llama")
        ]
    kind = _kind(tensor)
    # The loader reads, and indexes params_dict with, the name as it renames it.
    for old, new in RENAMES.get(architecture, ()):
        tensor = tensor.replace(old, new, 1)
    outcome = loader.get(spelling(tensor))
    # The scale must lie in the layer's attention module: elsewhere (an `mlp.k_proj.output_scale`)
    # the loader's rename names no parameter.
    fits = layer_module(tensor) == ATTENTION_MODULES.get(holder, "self_attn")
    holds = holder not in NO_SCALES and kind in context.parameters and fits
    if outcome == "one" or (outcome == "placed_or_one" and not holds):
        return _skipped_if_one(architecture)
    if outcome in ("keyerror", "missing", "not_found") or (
        outcome in ("unchecked", "remapped") and not holds
    ):
        where = f"python/sglang/srt/models/{model_file(architecture)}"
        return Load("fails", failure=Failure("KeyError", repr(_missing_key(outcome, tensor)), where))
    if outcome is None or not holds:
        reason = (
            f"{architecture or 'the model'}'s loader does not read this name"
            if outcome is None
            else "the attention layer holds no such scale parameter"
        )
        return Load("ignored", reason=reason)
    return Load("loaded", kind=kind)


def _refused_whatever_the_name(tensor: str, architecture: str, context: LoadContext) -> Load | None:
    """The failure of a model whose loader fails on the checkpoint, whatever the scale's
    spelling: one served by the Transformers backend, one that builds no such language model,
    a language model laid out as its loader does not read, a loader that asks a config for what
    only compressed-tensors' has."""
    if _backend(architecture):
        return _transformers_backend(tensor)
    where = f"python/sglang/srt/models/{model_file(architecture)}"
    inner = context.text_architecture or ""
    if architecture in LANGUAGE_MODELS and inner not in LANGUAGE_MODELS[architecture]:
        return Load("fails", failure=Failure("NotImplementedError", f"{inner} is not implemented.", where))
    expected, stack = LANGUAGE_STACKS.get(architecture), tensor_stack(tensor)
    if expected is not None and stack not in expected:
        message = f"'{stack}.…' (the loader reads the language model at {' or '.join(expected)})"
        return Load("fails", failure=Failure("KeyError", message, where))
    config_class = CONFIG_CLASSES.get(context.family)
    if architecture in ASKS_GET_CACHE_SCALE and config_class is not None:
        message = f"'{config_class}' object has no attribute 'get_cache_scale'"
        return Load("fails", failure=Failure("AttributeError", message, where))
    return None


# The first part of a scale's name past its attention module that no module holds: the
# module's own `q_proj` / `k_proj` / `v_proj` / `o_proj` are its children.
_UNHELD = re.compile(r"^.*?\.[0-9]+\.[^.]+\.(?:[qkvo]_proj\.)?[^.]+")


def _backend(architecture: str) -> str:
    """models/registry.py: the Transformers backend serves an architecture SGLang registers no
    model of (Olmo-3's config names Olmo2ForCausalLM, configs/olmo3.py)."""
    unregistered = architecture not in REGISTERED and architecture not in ARCHITECTURES
    return "TransformersForCausalLM" if architecture and unregistered else ""


def _transformers_backend(tensor: str) -> Load:
    """models/transformers.py: the attention layers are kept out of the module tree, so its
    AutoWeightsLoader (models/utils.py) finds no module for any scale."""
    for old, new in TRANSFORMERS_PREFIXES:
        if tensor.startswith(old):
            tensor = new + tensor.removeprefix(old)
            break
    unheld = _UNHELD.match(tensor)
    name = tensor if unheld is None else unheld[0]
    message = f"No module or parameter named {name!r} in TransformersForCausalLM."
    return Load("fails", failure=Failure("ValueError", message, "python/sglang/srt/models/utils.py"))


def _missing_key(outcome: Outcome, tensor: str) -> str:
    """The key of the KeyError that outcome `outcome` of `tensor` raises: the name the loader
    indexes params_dict with, or ERNIE-4.5's words."""
    if outcome == "keyerror":
        return _STACKED.sub(".qkv_proj.", tensor, count=1)
    if outcome == "not_found":
        return f"Parameter '{tensor}' not found in model."
    if outcome == "remapped":
        for quark, sglang in _QUARK_NAMES:
            if tensor.endswith(quark):
                return tensor.replace(quark, sglang)
    return tensor


def _skipped_if_one(architecture: str) -> Load:
    """qwen3_next.py: `assert abs(loaded_weight.item() - 1.0) < 1e-6` for a scale it skips."""
    where = f"python/sglang/srt/models/{model_file(architecture)}"

    def check(tensor: str, values: tuple[float, ...]) -> Failure | None:
        if len(values) != 1:
            message = f"a Tensor with {len(values)} elements cannot be converted to Scalar"
            return Failure("RuntimeError", message, where)
        if abs(values[0] - 1.0) < 1e-6:
            return None
        name = tensor.replace(".self_attn", "")
        for modelopt, own in ((".k_proj.k_scale", ".attn.k_scale"), (".v_proj.v_scale", ".attn.v_scale")):
            if name.endswith(modelopt):
                name = name.removesuffix(modelopt) + own
        return Failure("AssertionError", f"Expected 1.0, got {values[0]} in skipped {name}", where)

    reason = f"SGLang 0.5.23's {architecture} loader finds no parameter for it and skips it, as it holds 1.0"
    return Load("ignored", reason=reason, value_check=check)


def _fp8_by_default(quantization: Mapping[str, Any] | None, family: str, attention: AttentionKind) -> bool:
    """`configure_kv_cache_dtype` (mem_cache/kv_cache_dtype.py): FP8 when the config's `kv_cache_quant_algo` is "FP8"."""
    if quantization is None:
        return False
    if family == "compressed-tensors":
        return _supported_compressed_tensors(quantization)
    fields = modelopt_fields(quantization)
    scheme = fields.get("kv_cache_scheme")
    if family.startswith("modelopt") and isinstance(scheme, dict):
        return scheme.get("type") == "float" and scheme.get("num_bits") == 8
    return str(fields.get("kv_cache_quant_algo", "")).upper() == "FP8"


def _quark_check(quantization: Mapping[str, Any], family: str, attention: AttentionKind) -> Failure | None:
    if family != "quark":
        return None
    return quark_kv_cache_config(quantization, "python/sglang/srt/layers/quantization/quark/quark.py")


def _accept(
    method: ScaleMethod,
    kind: str,
    shape: tuple[int, ...],
    values: tuple[float, ...],
    heads: tuple[int | None, int | None],
) -> tuple[float, ...] | Failure:
    """`default_weight_loader` (model_loader/weight_utils.py) into a 0-d parameter: one value only."""
    if len(values) == 1:
        return values
    message = f"Attempted to load weight (torch.Size({list(shape)})) into parameter (torch.Size([]))"
    return Failure("AssertionError", message, _WEIGHT_UTILS)


RELEASE = Release(
    engine="sglang",
    release="0.5.23",
    title="SGLang 0.5.23",
    methods_for=_methods,
    config_checks=(_quark_check,),
    load=_load,
    fp8_by_default=_fp8_by_default,
    # configs/model_config.py names MLA architectures; GlmMoeDsaForCausalLM is a
    # DeepseekV2ForCausalLM (models/glm4_moe.py).
    mla_model_types=frozenset({"deepseek_v2", "deepseek_v3", "deepseek_v32", "kimi_k2", "glm_moe_dsa"}),
    accept=_accept,
    backend=_backend,
)
