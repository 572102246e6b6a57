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
  (`models/*.py`), so the table `_LOADERS` below is per architecture, by
  the spelling of the scale's name. An architecture not in it is read as
  Llama's loader reads names, the one most models share.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from .checks import quark_kv_cache_config
from .model import AttentionKind, Failure, Load, LoadContext, Release, ScaleMethod

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
    nested = quantization.get("quantization")
    fields = nested if isinstance(nested, dict) else quantization
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


# The spellings of a scale's name that SGLang's loaders tell apart.
Spelling = Literal["kv", "proj", "bare", "exact", "output", "q_output", "q", "prob", "other"]
_SPELLINGS: tuple[tuple[Spelling, re.Pattern[str]], ...] = (
    ("kv", re.compile(r"\.kv_scale$")),
    ("proj", re.compile(r"\.(?:self_attn|mixer)\.(?P<p>[kv])_proj\.(?P=p)_scale$")),
    ("exact", re.compile(r"\.attn\.[kv]_scale$")),
    ("bare", re.compile(r"\.(?:self_attn|mixer)\.[kv]_scale$")),
    ("output", re.compile(r"\.[kv]_proj\.output_scale$")),
    ("q_output", re.compile(r"\.q_proj\.output_scale$")),
    ("q", re.compile(r"\.q_scale$|\.q\.scale$")),
    ("prob", re.compile(r"prob_(?:output_)?scale$")),
)

# What a loader does with a spelling: load it when the layer has the
# parameter (else skip it, with a log line), load it unchecked (a missing
# parameter is a KeyError), load it unchecked under the name
# `maybe_remap_kv_scale_name` gives it, fail with a KeyError on the
# stacked parameter's name, or skip it only when it holds 1.0 (else an
# AssertionError), when the layer lacks the parameter ("placed_or_one") or
# always ("one").
Outcome = Literal["load", "unchecked", "remapped", "keyerror", "placed_or_one", "one"]
_LLAMA: dict[Spelling, Outcome] = {"kv": "load", "proj": "load", "bare": "load", "output": "load"}
_LOADERS: dict[str, dict[Spelling, Outcome]] = {
    # models/llama.py `_legacy_load_weights`: `maybe_remap_kv_scale_name` on every "scale" name.
    "llama": _LLAMA,
    # models/qwen2.py, qwen2_moe.py: no remap; only SGLang's own parameter name loads.
    "qwen2": {"exact": "load"},
    # models/mixtral.py: the stacked-parameter rename meets k_proj / v_proj / q_proj names first.
    "mixtral": {"exact": "load", "proj": "keyerror", "output": "keyerror", "q_output": "keyerror"},
    # models/gemma2.py: `maybe_remap_kv_scale_name` only outside the stacked-parameter branch.
    "gemma2": {
        "kv": "load",
        "bare": "load",
        "proj": "keyerror",
        "output": "keyerror",
        "q_output": "keyerror",
    },
    # models/gemma3_causal.py: `maybe_remap_kv_scale_name` first, and a name it changes (Quark's)
    # or leaves (q, prob) indexes params_dict unchecked; k and v names it checks itself.
    "gemma3": {
        **_LLAMA,
        "output": "remapped",
        "q_output": "remapped",
        "q": "remapped",
        "prob": "remapped",
    },
    # models/granite.py: no remap, `params_dict[name]` unchecked.
    "granite": {"exact": "unchecked", "proj": "keyerror", "bare": "keyerror", "output": "keyerror"},
    # models/exaone.py, olmo.py, olmo2.py, phi3_small.py: every name indexes params_dict unchecked.
    "exact": {
        "exact": "unchecked",
        "kv": "keyerror",
        "proj": "keyerror",
        "bare": "keyerror",
        "output": "keyerror",
        "q_output": "keyerror",
        "q": "keyerror",
        "prob": "keyerror",
    },
    # models/nemotron_h.py: k_proj.k_scale renamed, then the remap (Quark's names too); a
    # name no layer holds is skipped.
    "nemotron_h": {"kv": "load", "proj": "load", "bare": "load", "exact": "load", "output": "load"},
    # models/deepseek_common/deepseek_weight_loader.py: k_proj / v_proj become attn_mqa; the
    # layer's attention is attn_mqa and attn_mha, so an `.attn.` name is skipped, not found.
    "deepseek": {"proj": "load"},
    # models/qwen3_next.py: `.self_attn` is dropped and only ModelOpt's names become the layer's
    # `attn.k_scale`; any other `*_scale` no parameter holds must be 1.0.
    "qwen3_next": {
        "proj": "placed_or_one",
        "exact": "placed_or_one",
        **dict.fromkeys(("kv", "bare", "output", "q_output", "q", "prob", "other"), "one"),
    },
}
_ARCHITECTURES = {
    "Qwen2ForCausalLM": "qwen2",
    "Qwen2MoeForCausalLM": "qwen2",
    "MixtralForCausalLM": "mixtral",
    "Gemma2ForCausalLM": "gemma2",
    "Gemma3ForCausalLM": "gemma3",
    "GraniteForCausalLM": "granite",
    "ExaoneForCausalLM": "exact",
    "OlmoForCausalLM": "exact",
    "Olmo2ForCausalLM": "exact",
    "Phi3SmallForCausalLM": "exact",
    "NemotronHForCausalLM": "nemotron_h",
    "Qwen3NextForCausalLM": "qwen3_next",
    "DeepseekV2ForCausalLM": "deepseek",
    "DeepseekV3ForCausalLM": "deepseek",
}
# Attention built without the quantization config (models/qwen3.py,
# qwen3_moe.py, gpt_oss.py, llama4.py): no scale parameter exists, whatever the config.
_NO_SCALES = frozenset(
    {
        "Qwen3ForCausalLM",
        "Qwen3MoeForCausalLM",
        "GptOssForCausalLM",
        "Llama4ForCausalLM",
        "Llama4ForConditionalGeneration",
    }
)
_STACKED = re.compile(r"\.([qkv])_proj\.")
# model_loader/weight_utils.py `maybe_remap_kv_scale_name`: Quark's names, replaced unchecked.
_QUARK_NAMES = (
    (".q_proj.output_scale", ".attn.q_scale"),
    (".k_proj.output_scale", ".attn.k_scale"),
    (".v_proj.output_scale", ".attn.v_scale"),
    ("self_attn.prob_output_scale", ".attn.prob_scale"),
)
# Model files whose name is not the architecture's.
_MODEL_FILES = {"Gemma3ForCausalLM": "gemma3_causal.py"}


def _spelling(tensor: str) -> Spelling:
    for spelling, pattern in _SPELLINGS:
        if pattern.search(tensor):
            return spelling
    return "other"


def _kind(tensor: str) -> str | None:
    match = re.search(r"(?:\.|_)(q|k|v|kv|prob)(?:_proj\.output|_output|_cache\.)?_?scale$", tensor)
    return None if match is None else {"kv": "k"}.get(match[1], match[1])


def _load(tensor: str, context: LoadContext) -> Load:
    architecture = context.architecture or ""
    loader = _LOADERS["deepseek" if context.attention == "mla" else _ARCHITECTURES.get(architecture, "llama")]
    outcome = loader.get(_spelling(tensor))
    kind = _kind(tensor)
    holds = architecture not in _NO_SCALES and kind in context.parameters
    if outcome == "one" or (outcome == "placed_or_one" and not holds):
        return _skipped_if_one(tensor, architecture)
    if outcome == "keyerror" or (outcome in ("unchecked", "remapped") and not holds):
        where = f"python/sglang/srt/models/{_model_file(architecture)}"
        return Load("fails", failure=Failure("KeyError", repr(_indexed_name(outcome, tensor)), where))
    if outcome is None or not holds:
        reason = (
            f"SGLang 0.5.23's {architecture or 'model'} loader does not read this name"
            if outcome is None
            else "the attention layer holds no such scale parameter"
        )
        return Load("ignored", reason=reason)
    return Load("loaded", kind=kind)


def _indexed_name(outcome: Outcome, tensor: str) -> str:
    """The name a loader indexes params_dict with, for outcome `outcome` of `tensor`."""
    if outcome == "keyerror":
        return _STACKED.sub(".qkv_proj.", tensor, count=1)
    if outcome == "remapped":
        for quark, sglang in _QUARK_NAMES:
            if tensor.endswith(quark):
                return tensor.replace(quark, sglang)
    return tensor


def _skipped_if_one(tensor: str, architecture: str) -> Load:
    """qwen3_next.py: `assert abs(loaded_weight.item() - 1.0) < 1e-6` for a scale it skips."""
    name = tensor.replace(".self_attn", "")
    for modelopt, own in ((".k_proj.k_scale", ".attn.k_scale"), (".v_proj.v_scale", ".attn.v_scale")):
        if name.endswith(modelopt):
            name = name.removesuffix(modelopt) + own
    where = f"python/sglang/srt/models/{_model_file(architecture)}"

    def check(values: tuple[float, ...]) -> Failure | None:
        if len(values) != 1:
            message = f"a Tensor with {len(values)} elements cannot be converted to Scalar"
            return Failure("RuntimeError", message, where)
        if abs(values[0] - 1.0) < 1e-6:
            return None
        return Failure("AssertionError", f"Expected 1.0, got {values[0]} in skipped {name}", where)

    reason = f"SGLang 0.5.23's {architecture} loader finds no parameter for it and skips it, as it holds 1.0"
    return Load("ignored", reason=reason, value_check=check)


def _model_file(architecture: str) -> str:
    if architecture in _MODEL_FILES:
        return _MODEL_FILES[architecture]
    base = re.sub(r"For(?:CausalLM|ConditionalGeneration)$", "", architecture)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", base).lower() + ".py" if base else "*.py"


def _fp8_by_default(quantization: Mapping[str, Any] | None, family: str, attention: AttentionKind) -> bool:
    """`configure_kv_cache_dtype` (mem_cache/kv_cache_dtype.py): FP8 when the config's `kv_cache_quant_algo` is "FP8"."""
    if quantization is None:
        return False
    if family == "compressed-tensors":
        return _supported_compressed_tensors(quantization)
    nested = quantization.get("quantization")
    fields = nested if isinstance(nested, dict) else quantization
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
)
