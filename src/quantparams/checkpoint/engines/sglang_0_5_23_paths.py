"""Where SGLang 0.5.23's model loaders look for a layer's scales, for the architectures that
differ from the rest (paths under `sglang/srt/models/`): the checkpoint layouts a
vision-language loader reads, the module a layer's attention is, what a loader renames first,
and the loaders that ask the quantization config of every name.
"""

from __future__ import annotations

__all__ = [
    "ASKS_GET_CACHE_SCALE",
    "ATTENTION_MODULES",
    "CONFIG_CLASSES",
    "LANGUAGE_MODELS",
    "LANGUAGE_STACKS",
    "RENAMES",
]

# Loaders that ask every name of the quantization config's `get_cache_scale`, which only
# compressed-tensors' config has (models/granitemoehybrid.py): any other config class, by family,
# raises an AttributeError on the first tensor.
ASKS_GET_CACHE_SCALE = frozenset({"GraniteMoeHybridForCausalLM"})
CONFIG_CLASSES = {
    "fp8": "Fp8Config",
    "quark": "QuarkConfig",
    "modelopt": "ModelOptFp8Config",
    "modelopt-mixed": "ModelOptMixedPrecisionConfig",
}
# A layer's attention module, where it is not `self_attn`: a scale in any other module names no
# parameter (models/nemotron_h.py, internlm2.py, chatglm.py).
ATTENTION_MODULES = {
    "NemotronHForCausalLM": "mixer",
    "InternLM2ForCausalLM": "attention",
    "ChatGLMModel": "self_attention",
}
# What a loader replaces in every name before it reads it (the first of each, in order).
RENAMES: dict[str, tuple[tuple[str, str], ...]] = {
    # models/exaone.py: the checkpoint's `attn.attention` is SGLang's `self_attn`.
    "ExaoneForCausalLM": (("attn.attention", "self_attn"),),
}
# The stacks of layers a vision-language loader finds the language model's weights in, where it
# reads only some checkpoint layouts (models/qwen2_vl.py and qwen2_5_vl.py rename no name;
# gemma3_mm.py hands a name with `language_model` in it on unrenamed; llava.py strips a leading
# `language_model.`, after mistral.py's Mistral3 renames `model.language_model.` so). A checkpoint
# laid out otherwise (transformers 4.52 and later save `model.language_model.layers`) meets a
# KeyError on the first weight the loader indexes unchecked.
LANGUAGE_STACKS = {
    "Qwen2VLForConditionalGeneration": ("model.layers",),
    "Qwen2_5_VLForConditionalGeneration": ("model.layers",),
    "Gemma3ForConditionalGeneration": ("language_model.model.layers",),
    "LlavaForConditionalGeneration": ("language_model.model.layers",),
    "Mistral3ForConditionalGeneration": ("language_model.model.layers", "model.language_model.layers"),
    # models/internvl.py renames no language-model name.
    "InternVLChatModel": ("language_model.model.layers",),
    "DeepseekVL2ForCausalLM": ("language.model.layers",),
}
# Models whose loader depends on the language model their config names (`llm_config`): for each
# language model built, the loader of its names. models/internvl.py stacks q/k/v for the Qwen
# models only, and indexes params_dict with every name; the attention module and whether it
# holds scales are the language model's own. Any other raises NotImplementedError.
LANGUAGE_MODELS = {
    "InternVLChatModel": {
        "Qwen2ForCausalLM": "exact",
        "Qwen3ForCausalLM": "exact",
        "Qwen3MoeForCausalLM": "exact",
        "GptOssForCausalLM": "exact",
        "InternLM2ForCausalLM": "unstacked",
    },
}
