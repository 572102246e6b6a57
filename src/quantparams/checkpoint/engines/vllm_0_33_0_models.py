"""vLLM 0.33.0's model classes, as far as their loaders touch KV-cache scale names (paths under
`vllm/model_executor/models/`).

A model's `load_weights` hands the checkpoint to `AutoWeightsLoader` (`utils.py`), with the
model's own `WeightsMapper` or none. The loader adds the quantization config's cache-scale
mapper when the first of the model and its children to have a `quant_config` attribute holds
one (`lm_head` holds None when built without it). `WeightsMapper` then runs each name through
every regular expression (the cache-scale mapper's), the model's substring, stacking and prefix
rules, and last the suffix rules (fp8's and Quark's `output_scale` names): a model that stacks
`k_proj` into `qkv_proj` at the top leaves no `k_proj.output_scale` for those rules to find.

`MODELS` holds the classes whose loading differs from Llama's (`LLAMA`), by architecture.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import attrs

from ..naming import mapped_name, regex_mapped, suffix_mapped
from .vllm_0_33_0_registry import NATIVE, TRANSFORMERS_CLASSES

__all__ = ["LLAMA", "MODELS", "ModelLoader", "Step", "model_loader", "transformers_backend"]

Step = Literal["substr", "stacked", "prefix"]


@attrs.frozen
class ModelLoader:
    """How one model class loads a checkpoint's names, as far as KV-cache scales go."""

    # The model's own mapper rules that can touch a scale's name: (step, old, new), each
    # replacing the first `old` (at the start, for "prefix"). They apply by step, in
    # `_STEPS`'s order, and in their own order within a step.
    rules: tuple[tuple[Step, str, str], ...] = ()
    # Whether AutoWeightsLoader finds the quantization config and adds its cache-scale mapper.
    cache_mapper: bool = True
    # Whether the loader that meets a name no module holds lets names ending in `.k_scale`
    # (and the like) pass: only one that found the quantization config does.
    ignores_scale_suffixes: bool = True
    # Whether the Attention layers are built with the quantization config; else no scale
    # parameter exists, whatever the config.
    attention_quantized: bool = True
    # Which loader refuses a name no module holds: the inner model's AutoWeightsLoader
    # ("inner", `LlamaModel`'s, after its own q/k/v stacking, naming it relative to that
    # model), the model's own ("top", the full name, in the model's class), or the inner
    # model's own loop ("inner_loop", a KeyError); or none, the inner model's own loop
    # skipping it ("skipped").
    refused_by: Literal["inner", "top", "inner_loop", "skipped"] = "inner"
    # The class whose loader refuses a name, as `_get_name()` gives it, where the architecture
    # does not say it: the model's, for "top"; its language model's, for "inner" (whose
    # words then name the weight from its `layers.N.` on).
    class_name: str | None = None
    # The model's file, under `models/`.
    file: str = ""
    # Whether the model's own loop passes names through `maybe_remap_kv_scale_name`
    # (`model_loader/weight_utils.py`), which drops a name it cannot place.
    own_loop: bool = False

    def mapped(self, tensor: str, family: str | None) -> str:
        """The name the model's loader looks `tensor` up by; `family` is the quantization config's,
        or None when the loader finds no config (and no cache-scale mapper applies)."""
        if not self.rules:
            return tensor if family is None else mapped_name(tensor, family)
        name = tensor if family is None else regex_mapped(tensor)
        for step in _STEPS:
            for rule, old, new in self.rules:
                if rule == step and (name.startswith(old) if step == "prefix" else old in name):
                    name = name.replace(old, new, 1)
        return name if family is None else suffix_mapped(name, family)


# WeightsMapper._map_name_with_shard's order (models/utils.py), between the regular
# expressions and the suffix rules.
_STEPS: tuple[Step, ...] = ("substr", "stacked", "prefix")


LLAMA = ModelLoader(file="llama.py")

_QKV: tuple[tuple[Step, str, str], ...] = (
    ("stacked", ".q_proj", ".qkv_proj"),
    ("stacked", ".k_proj", ".qkv_proj"),
    ("stacked", ".v_proj", ".qkv_proj"),
)


def _stacked_at_top(
    file: str, *, rules: tuple[tuple[Step, str, str], ...] = (), class_name: str | None = None
) -> ModelLoader:
    """A model whose `load_weights` passes its own mapper, stacking q, k and v, to AutoWeightsLoader,
    with no loader of its inner model: a name no module holds is refused at the top."""
    return ModelLoader(rules=(*rules, *_QKV), refused_by="top", class_name=class_name, file=file)


# Models built without the quantization config anywhere AutoWeightsLoader looks, and with
# `Attention(...)` built without it too: no scale parameter, no cache-scale mapper, and no
# scale name passes.
def _no_quantization(file: str, rules: tuple[tuple[Step, str, str], ...] = ()) -> ModelLoader:
    return ModelLoader(
        rules=rules,
        cache_mapper=False,
        ignores_scale_suffixes=False,
        attention_quantized=False,
        refused_by="top",
        file=file,
    )


_OWN_LOOP = ModelLoader(own_loop=True)

MODELS: Mapping[str, ModelLoader] = {
    # Own loops: deepseek_v2.py, llama4.py, dbrx.py, gpt_oss.py, kimi_vl.py, mistral_large_3.py.
    **dict.fromkeys(
        (
            "DeepseekForCausalLM",
            "DeepseekV2ForCausalLM",
            "DeepseekV3ForCausalLM",
            "KimiK25ForConditionalGeneration",
            "KimiVLForConditionalGeneration",
            "MistralLarge3ForCausalLM",
            "Llama4ForCausalLM",
            "Llama4ForConditionalGeneration",
            "DbrxForCausalLM",
            "GptOssForCausalLM",
        ),
        _OWN_LOOP,
    ),
    "GemmaForCausalLM": _stacked_at_top("gemma.py"),
    "Gemma2ForCausalLM": _stacked_at_top("gemma2.py"),
    # Gemma3Model's own AutoWeightsLoader refuses the name, relative to it.
    "Gemma3ForCausalLM": ModelLoader(rules=_QKV, file="gemma3.py"),
    "Qwen2MoeForCausalLM": _stacked_at_top("qwen2_moe.py"),
    "OlmoeForCausalLM": _stacked_at_top("olmoe.py"),
    "PhiMoEForCausalLM": _stacked_at_top("phimoe.py"),
    # exaone.py: the attention's Attention is `transformer.h.N.attn.attention.attn`.
    "ExaoneForCausalLM": _stacked_at_top("exaone.py"),
    "Exaone4ForCausalLM": _stacked_at_top("exaone4.py"),
    "ExaoneMoEForCausalLM": _stacked_at_top("exaone_moe.py", class_name="ExaoneMoeForCausalLM"),
    "ExaoneMoeForCausalLM": _stacked_at_top("exaone_moe.py"),
    "CohereForCausalLM": _stacked_at_top("commandr.py"),
    "Cohere2ForCausalLM": _stacked_at_top("commandr.py", class_name="CohereForCausalLM"),
    "Cohere2MoeForCausalLM": _stacked_at_top("cohere2_moe.py"),
    "NemotronForCausalLM": _stacked_at_top("nemotron.py"),
    "DeciLMForCausalLM": _stacked_at_top("nemotron_nas.py"),
    "NemotronHForCausalLM": _stacked_at_top("nemotron_h.py", rules=(("prefix", "backbone", "model"),)),
    "NemotronHPuzzleForCausalLM": _stacked_at_top(
        "nemotron_h.py", rules=(("prefix", "backbone", "model"),), class_name="NemotronHForCausalLM"
    ),
    "FalconH1ForCausalLM": _stacked_at_top("falcon_h1.py"),
    "AfmoeForCausalLM": _stacked_at_top("afmoe.py"),
    "ApertusForCausalLM": _stacked_at_top("apertus.py"),
    "OPTForCausalLM": _stacked_at_top("opt.py", rules=(("prefix", "decoder.", "model.decoder."),)),
    "OrionForCausalLM": _stacked_at_top("orion.py"),
    "SolarForCausalLM": _stacked_at_top("solar.py"),
    "StableLmForCausalLM": _stacked_at_top("stablelm.py", class_name="StablelmForCausalLM"),
    "Step1ForCausalLM": _stacked_at_top("step1.py"),
    "Rnj1ForCausalLM": _stacked_at_top("rnj1.py"),
    "HyperCLOVAXForCausalLM": _stacked_at_top("hyperclovax.py"),
    "MuseGlimmerForCausalLM": _stacked_at_top(
        "muse_glimmer.py",
        rules=(("prefix", "model.language_model.", "model."), ("prefix", "language_model.", "model.")),
    ),
    # Vision-language models: the language model's own AutoWeightsLoader refuses a name.
    "Qwen2_5_VLForConditionalGeneration": ModelLoader(class_name="Qwen2Model", file="qwen2_5_vl.py"),
    "Qwen3VLForConditionalGeneration": ModelLoader(class_name="Qwen3LLMModel", file="qwen3_vl.py"),
    "Qwen3VLMoeForConditionalGeneration": ModelLoader(class_name="Qwen3MoeLLMModel", file="qwen3_vl_moe.py"),
    "Gemma3ForConditionalGeneration": ModelLoader(class_name="Gemma3Model", file="gemma3_mm.py"),
    "Mistral3ForConditionalGeneration": ModelLoader(class_name="MistralModel", file="mistral3.py"),
    "Glm4vForConditionalGeneration": ModelLoader(class_name="Glm4Model", file="glm4_1v.py"),
    "Glm4vMoeForConditionalGeneration": ModelLoader(class_name="Glm4MoeModel", file="glm4_1v.py"),
    "Phi4MMForCausalLM": ModelLoader(class_name="LlamaModel", file="phi4mm.py"),
    "JambaForCausalLM": _no_quantization("jamba.py", rules=(("substr", ".self_attn.", "."), *_QKV)),
    "Zamba2ForCausalLM": _no_quantization(
        "zamba2.py",
        rules=tuple(("stacked", f".self_attn.{kind}_proj", ".self_attn.qkv_proj") for kind in "qkv"),
    ),
    "Plamo3ForCausalLM": _no_quantization("plamo3.py"),
    # Step3TextModel's own loop indexes params_dict with every name it does not stack.
    "Step3TextForCausalLM": ModelLoader(
        cache_mapper=False,
        ignores_scale_suffixes=False,
        attention_quantized=False,
        refused_by="inner_loop",
        file="step3_text.py",
    ),
    # BailingMoeModel's own AutoWeightsLoader finds no config, and its Attention is built without one.
    "BailingMoeV2ForCausalLM": ModelLoader(
        ignores_scale_suffixes=False,
        attention_quantized=False,
        class_name="BailingMoeModel",
        file="bailing_moe.py",
    ),
    # FlashModel's own loop (latent attention) indexes params_dict with every name, remapping none.
    "LongcatFlashForCausalLM": ModelLoader(refused_by="inner_loop", file="longcat_flash.py"),
    # GraniteMoeHybridModel's own loop stacks q/k/v and indexes params_dict with every name.
    "GraniteMoeHybridForCausalLM": ModelLoader(
        refused_by="inner_loop", ignores_scale_suffixes=False, file="granitemoehybrid.py"
    ),
    # Step3p5Model's own loop skips a name params_dict lacks.
    "Step3p5ForCausalLM": ModelLoader(refused_by="skipped", file="step3p5.py"),
    # The cache-scale mapper applies at the top (SupportsQuant), but Lfm2MoeModel's own
    # AutoWeightsLoader finds no config, and its Attention is built without one.
    "Lfm2MoeForCausalLM": ModelLoader(
        ignores_scale_suffixes=False, attention_quantized=False, file="lfm2_moe.py"
    ),
}


def model_loader(architecture: str) -> ModelLoader:
    """The loader of `architecture` ("" when the config names none): its own, Llama's, or, for an
    architecture vLLM has no model of, the Transformers backend's (`models/transformers/base.py`),
    which builds each attention's Attention with the quantization config and adds q/k/v stacking
    to its mapper, at the top."""
    model = MODELS.get(architecture)
    if model is not None:
        return model
    backend = transformers_backend(architecture)
    return _stacked_at_top("transformers/base.py", class_name=backend) if backend else LLAMA


def transformers_backend(architecture: str) -> str:
    """The Transformers backend's class that serves `architecture`, or "" for one vLLM has a model
    of (or none named)."""
    if not architecture or architecture in NATIVE:
        return ""
    return TRANSFORMERS_CLASSES.get(architecture, "TransformersForCausalLM")
