"""SGLang 0.5.23's model loaders, as far as they touch KV-cache scale names (paths under
`sglang/srt/models/`).

Every model has its own `load_weights`; `LOADERS` tells them apart by what
each does with each spelling of a scale's name, and `ARCHITECTURES` names
the loader of each architecture. An architecture not in it is read as
Llama's loader reads names (the one most models share), or, run with
latent attention, as DeepSeek-V2's.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["ARCHITECTURES", "LOADERS", "NO_SCALES", "Outcome", "Spelling", "model_file", "spelling"]

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
# stacked parameter's name (on its own name, for a loader that stacks no q, k or v: "missing";
# in ERNIE-4.5's words: "not_found"), or skip it only when it holds 1.0 (else an
# AssertionError), when the layer lacks the parameter ("placed_or_one") or
# always ("one").
Outcome = Literal["load", "unchecked", "remapped", "keyerror", "missing", "not_found", "placed_or_one", "one"]
_LLAMA: dict[Spelling, Outcome] = {"kv": "load", "proj": "load", "bare": "load", "output": "load"}
_EXACT: dict[Spelling, Outcome] = {
    "exact": "unchecked",
    **dict.fromkeys(("kv", "proj", "bare", "output", "q_output", "q", "prob", "other"), "keyerror"),
}
# As `_EXACT`, but a `kv_scale` no parameter holds is skipped.
_EXACT_BUT_KV: dict[Spelling, Outcome] = {
    spelling: outcome for spelling, outcome in _EXACT.items() if spelling != "kv"
}
LOADERS: dict[str, dict[Spelling, Outcome]] = {
    # models/llama.py `_legacy_load_weights`: `maybe_remap_kv_scale_name` on every "scale" name.
    "llama": _LLAMA,
    # models/qwen2.py, qwen2_moe.py: no remap; only SGLang's own parameter name loads.
    "qwen2": {"exact": "load"},
    # models/mixtral.py: the stacked-parameter rename meets k_proj / v_proj / q_proj names first.
    "mixtral": {"exact": "load", "proj": "keyerror", "output": "keyerror", "q_output": "keyerror"},
    # models/gemma2.py, commandr.py: `maybe_remap_kv_scale_name` only outside the stacked-parameter
    # branch, and what it leaves (q) or replaces (Quark's prob) indexes params_dict unchecked.
    "gemma2": {
        "kv": "load",
        "bare": "load",
        "proj": "keyerror",
        "output": "keyerror",
        "q_output": "keyerror",
        "q": "unchecked",
        "prob": "remapped",
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
    # models/granite.py: no remap, `params_dict[name]` unchecked but for a `kv_scale`.
    "granite": _EXACT_BUT_KV,
    # models/exaone.py, olmo.py, olmo2.py, phi3_small.py, mimo.py: every name indexes params_dict
    # unchecked.
    "exact": _EXACT,
    # models/olmoe.py: as "exact", but `kv_scale` becomes `attn.kv_scale`, which is skipped.
    "olmoe": _EXACT_BUT_KV,
    # models/minicpm3.py, internlm2.py, chatglm.py: no q/k/v stacking, and every name indexes
    # params_dict unchecked.
    "unstacked": {
        "exact": "unchecked",
        **dict.fromkeys(("kv", "proj", "bare", "output", "q_output", "q", "prob", "other"), "missing"),
    },
    # models/ernie4.py: q/k/v stacked unchecked; a name no parameter has raises its own KeyError.
    "ernie4_5": {
        "exact": "unchecked",
        **dict.fromkeys(("proj", "output", "q_output"), "keyerror"),
        **dict.fromkeys(("kv", "bare", "q", "prob", "other"), "not_found"),
    },
    # models/granitemoehybrid.py: compressed-tensors' `get_cache_scale` makes the layer's name of
    # a k or v `output_scale`; the rest is stacked or indexed unchecked.
    "granitemoehybrid": {
        "exact": "unchecked",
        "output": "remapped",
        **dict.fromkeys(("kv", "proj", "bare", "q_output", "q", "prob", "other"), "keyerror"),
    },
    # models/nemotron_h.py: k_proj.k_scale renamed, then the remap (Quark's names too); a
    # name no layer holds is skipped.
    "nemotron_h": {"kv": "load", "proj": "load", "bare": "load", "exact": "load", "output": "load"},
    # models/deepseek_common/deepseek_weight_loader.py: k_proj / v_proj become attn_mqa; the
    # layer's attention is attn_mqa and attn_mha, so an `.attn.` name is skipped, not found.
    "deepseek": {"proj": "load"},
    # models/qwen3_5.py: QWEN3_5_KV_SCALE_MAPPER makes the layer's `attn.k_scale` of
    # llm-compressor's and ModelOpt's names, and `.self_attn` is dropped from the rest.
    "qwen3_5": {"proj": "load", "bare": "load", "exact": "load"},
    # models/minimax_m2.py: no stacking for a `k_scale` / `v_scale` name, then the remap.
    "minimax_m2": {"kv": "load", "proj": "load", "bare": "load"},
    # models/glm4_moe_lite.py, glm5_next.py, longcat_flash.py, mistral_large_3.py, kimi_k3.py,
    # bailing_moe_linear.py, bailing_moe_v3.py, sarvam_moe.py: no name a producer writes
    # becomes the MLA layer's parameter, and a name params_dict lacks is skipped.
    "none": {},
    # models/mllama4.py: a scale name maybe_remap_kv_scale_name changes is dropped, one it
    # leaves (q) indexes params_dict unchecked.
    "mllama4": {"q": "unchecked"},
    # models/qwen3_next.py: `.self_attn` is dropped and only ModelOpt's names become the layer's
    # `attn.k_scale`; any other `*_scale` no parameter holds must be 1.0.
    "qwen3_next": {
        "proj": "placed_or_one",
        "exact": "placed_or_one",
        **dict.fromkeys(("kv", "bare", "output", "q_output", "q", "prob", "other"), "one"),
    },
}
ARCHITECTURES = {
    "Qwen2ForCausalLM": "qwen2",
    "Qwen2MoeForCausalLM": "qwen2",
    "MixtralForCausalLM": "mixtral",
    "Gemma2ForCausalLM": "gemma2",
    # models/hunyuan.py: Gemma-2's handling of names, on attention that holds no scale.
    "HunYuanMoEV1ForCausalLM": "gemma2",
    "HunYuanDenseV1ForCausalLM": "gemma2",
    # models/glm4.py: no remap; only SGLang's own parameter name loads.
    "Glm4ForCausalLM": "qwen2",
    # models/olmo2.py (configs/olmo3.py names Olmo-3 so), mimo.py: every name unchecked.
    "Olmo3ForCausalLM": "exact",
    "MiMoForCausalLM": "exact",
    "CohereForCausalLM": "gemma2",
    "Cohere2ForCausalLM": "gemma2",
    "OlmoeForCausalLM": "olmoe",
    "Gemma3ForCausalLM": "gemma3",
    # models/gemma3_mm.py hands a language model's name to Gemma3ForCausalLM.load_weights.
    "Gemma3ForConditionalGeneration": "gemma3",
    # models/kimi_vl.py, kimi_linear.py: Gemma-3's handling of names, on latent attention whose
    # `attn_mqa` no remapped name reaches.
    "KimiVLForConditionalGeneration": "gemma3",
    "KimiLinearForCausalLM": "gemma3",
    # models/deepseek_vl2.py hands a `language.` name to DeepseekV2ForCausalLM.load_weights.
    "DeepseekVL2ForCausalLM": "deepseek",
    # models/qwen2_5_vl.py: the stacked-parameter rename first, as Mixtral's.
    "Qwen2_5_VLForConditionalGeneration": "mixtral",
    # models/qwen2_vl.py: the stacked-parameter rename, then every name unchecked.
    "Qwen2VLForConditionalGeneration": "exact",
    # models/glm4v.py: no remap; only SGLang's own parameter name loads.
    "Glm4vForConditionalGeneration": "qwen2",
    "Llama4ForConditionalGeneration": "mllama4",
    "GraniteForCausalLM": "granite",
    "MiniCPM3ForCausalLM": "unstacked",
    "InternLM2ForCausalLM": "unstacked",
    "ChatGLMModel": "unstacked",
    "Ernie4_5_MoeForCausalLM": "ernie4_5",
    "Ernie4_5_ForCausalLM": "ernie4_5",
    "GraniteMoeHybridForCausalLM": "granitemoehybrid",
    "ExaoneForCausalLM": "exact",
    "OlmoForCausalLM": "exact",
    "Olmo2ForCausalLM": "exact",
    "Phi3SmallForCausalLM": "exact",
    "NemotronHForCausalLM": "nemotron_h",
    "Qwen3NextForCausalLM": "qwen3_next",
    # DeepseekV2ForCausalLM's loader, inherited or called (configs/model_config.py runs these as MLA).
    **dict.fromkeys(
        (
            "DeepseekV2ForCausalLM",
            "DeepseekV3ForCausalLM",
            "DeepseekV32ForCausalLM",
            "GlmMoeDsaForCausalLM",
            "HYV4ForCausalLM",
            "DotsVLMForCausalLM",
            "Dots3NoteForCausalLM",
            "KimiK25ForConditionalGeneration",
            "GigaChat35ForCausalLM",
        ),
        "deepseek",
    ),
    **dict.fromkeys(
        (
            "Qwen3_5ForCausalLM",
            "Qwen3_5MoeForCausalLM",
            "Qwen3_5ForConditionalGeneration",
            "Qwen3_5MoeForConditionalGeneration",
        ),
        "qwen3_5",
    ),
    "MiniMaxM2ForCausalLM": "minimax_m2",
    # models/granitemoe.py hands its names to MixtralForCausalLM.load_weights.
    **dict.fromkeys(
        ("GraniteMoeForCausalLM", "GraniteMoeSharedForCausalLM", "GraniteMoeSWAForCausalLM"), "mixtral"
    ),
    **dict.fromkeys(
        (
            "Glm4MoeLiteForCausalLM",
            "Glm5NextForConditionalGeneration",
            "LongcatFlashForCausalLM",
            "MistralLarge3ForCausalLM",
            "KimiK3LinearForCausalLM",
            "KimiK3ForConditionalGeneration",
            "BailingMoeV2_5ForCausalLM",
            "BailingMoeV3ForCausalLM",
            "SarvamMLAForCausalLM",
        ),
        "none",
    ),
}
# Attention built without the quantization config (models/qwen3.py,
# qwen3_moe.py, gpt_oss.py, llama4.py, glm4_moe.py): no scale parameter exists, whatever the config.
# Also latent attention whose loader names `.attn.k_scale`, never its `attn_mqa.k_scale`.
NO_SCALES = frozenset(
    {
        "KimiVLForConditionalGeneration",
        "KimiLinearForCausalLM",
        # deepseek_vl2.py builds its language model without the quantization config.
        "DeepseekVL2ForCausalLM",
        "Qwen3ForCausalLM",
        "Qwen3MoeForCausalLM",
        "GptOssForCausalLM",
        "Llama4ForCausalLM",
        "Llama4ForConditionalGeneration",
        "Glm4MoeForCausalLM",
        # qwen3_vl.py, qwen3_vl_moe.py and glm4v_moe.py build their language model as Qwen3's,
        # Qwen3-MoE's and GLM-4.5's.
        "Qwen3VLForConditionalGeneration",
        "Qwen3VLMoeForConditionalGeneration",
        "Glm4vMoeForConditionalGeneration",
        "HunYuanMoEV1ForCausalLM",
        "HunYuanDenseV1ForCausalLM",
        "BailingMoeV2ForCausalLM",
        "Step3p5ForCausalLM",
    }
)
# The files whose loader raises, where the name is not the architecture's.
_MODEL_FILES = {
    "Gemma3ForCausalLM": "gemma3_causal.py",
    "Gemma3ForConditionalGeneration": "gemma3_causal.py",
    "HunYuanMoEV1ForCausalLM": "hunyuan.py",
    "HunYuanDenseV1ForCausalLM": "hunyuan.py",
    "Olmo3ForCausalLM": "olmo2.py",
    "MiMoForCausalLM": "mimo.py",
    "Qwen2_5_VLForConditionalGeneration": "qwen2_5_vl.py",
    "Qwen2VLForConditionalGeneration": "qwen2_vl.py",
    "MiniCPM3ForCausalLM": "minicpm3.py",
    "InternVLChatModel": "internvl.py",
    "InternLM2ForCausalLM": "internlm2.py",
    "ChatGLMModel": "chatglm.py",
    "KimiVLForConditionalGeneration": "kimi_vl.py",
    "DeepseekVL2ForCausalLM": "deepseek_vl2.py",
    "Ernie4_5_MoeForCausalLM": "ernie4.py",
    "Ernie4_5_ForCausalLM": "ernie4.py",
    "GraniteMoeHybridForCausalLM": "granitemoehybrid.py",
    "Mistral3ForConditionalGeneration": "llava.py",
    "Llama4ForConditionalGeneration": "mllama4.py",
    "CohereForCausalLM": "commandr.py",
    "Cohere2ForCausalLM": "commandr.py",
    **dict.fromkeys(
        ("GraniteMoeForCausalLM", "GraniteMoeSharedForCausalLM", "GraniteMoeSWAForCausalLM"), "mixtral.py"
    ),
}


def spelling(tensor: str) -> Spelling:
    """The spelling of scale tensor `tensor`'s name."""
    for found, pattern in _SPELLINGS:
        if pattern.search(tensor):
            return found
    return "other"


def model_file(architecture: str) -> str:
    """The file under `models/` whose loader reads `architecture`'s names."""
    if architecture in _MODEL_FILES:
        return _MODEL_FILES[architecture]
    base = re.sub(r"For(?:CausalLM|ConditionalGeneration)$", "", architecture)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", base).lower() + ".py" if base else "*.py"
