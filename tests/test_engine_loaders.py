"""Each model's own loader, as each engine release reads scale names through it: vLLM 0.33.0's
model table (`engines/vllm_0_33_0_models.py`) and SGLang 0.5.23's (`engines/sglang_0_5_23_models.py`).

As in `test_engines.py`, each expected outcome names the engine's file it was read from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine_cases import (
    EXACT,
    KV_SCALE,
    LAYERS,
    LLM_COMPRESSOR,
    MODELOPT,
    QUARK_KV,
    engine_config,
    failure,
    inspect_views,
    scale_tensors,
    sources,
)
from producers import compressed_tensors_config, fp8_config, quark_config, write_named
from quantparams.checkpoint import inspect_checkpoint
from quantparams.checkpoint.engines import RELEASES, EngineView
from quantparams.checkpoint.engines.model import LoadContext
from quantparams.checkpoint.engines.sglang_0_5_23_models import model_file
from quantparams.checkpoint.engines.vllm_0_33_0_models import ModelLoader, Step
from quantparams.checkpoint.name_table import CONFIG_FAMILIES
from recorded_names import RECORDED


def test_vllm_longcat_indexes_every_name(tmp_path: Path) -> None:
    # longcat_flash.py: FlashModel's own loop remaps no scale name and indexes params_dict with it.
    config = engine_config(
        fp8_config(), "LongcatFlashForCausalLM", model_type="longcat_flash", kv_lora_rank=512
    )
    vllm, _, _ = inspect_views(tmp_path, scale_tensors(LLM_COMPRESSOR), config)
    assert failure(vllm) == (
        "KeyError",
        "'layers.0.self_attn.attn.k_scale'",
        "vllm/model_executor/models/longcat_flash.py",
    )


def test_vllm_bailing_v2_attention_holds_no_scale(tmp_path: Path) -> None:
    # bailing_moe.py: Attention built without the quantization config, and BailingMoeModel's own
    # AutoWeightsLoader, which found none, ignores no scale suffix.
    names = {kind: f"model.layers.{{layer}}.attention.{kind}_scale" for kind in "kv"}
    vllm, _, _ = inspect_views(
        tmp_path, scale_tensors(names), engine_config(fp8_config(), "BailingMoeV2ForCausalLM")
    )
    assert failure(vllm) == (
        "ValueError",
        "There is no module or parameter named 'layers.0.attention.attn.k_scale' in BailingMoeModel",
        "vllm/model_executor/models/utils.py",
    )


# --- SGLang's per-model loaders (models/*.py) ---


def test_sglang_qwen2_reads_only_its_own_names(tmp_path: Path) -> None:
    # qwen2.py `_legacy_load_weights`: no maybe_remap_kv_scale_name; only `self_attn.attn.k_scale` loads.
    vllm, sglang, _ = inspect_views(
        tmp_path, scale_tensors(LLM_COMPRESSOR), engine_config(fp8_config(), "Qwen2ForCausalLM")
    )
    assert sources(vllm, "k") == ["checkpoint"] * 2
    assert sources(sglang, "k") == ["default"] * 2
    inspection = inspect_checkpoint(tmp_path, engines=("sglang",))
    assert inspection.problems[0].message.startswith("SGLang 0.5.23 runs layers 0-1 with k and v at 1.0: ")
    own = {f"model.layers.{n}.self_attn.attn.{kind}_scale": 0.25 for n in range(LAYERS) for kind in "kv"}
    _, sglang, _ = inspect_views(tmp_path / "own", own, engine_config(fp8_config(), "Qwen2ForCausalLM"))
    assert sources(sglang, "k") == ["checkpoint"] * 2


@pytest.mark.parametrize(
    "architecture",
    [
        "Qwen3ForCausalLM",
        "Qwen3MoeForCausalLM",
        "GptOssForCausalLM",
        "Llama4ForConditionalGeneration",
        "Glm4MoeForCausalLM",
        "Qwen3VLForConditionalGeneration",
        "Qwen3VLMoeForConditionalGeneration",
        "Glm4vMoeForConditionalGeneration",
    ],
)
def test_sglang_attention_without_the_quantization_config_holds_no_scale(
    tmp_path: Path, architecture: str
) -> None:
    # qwen3.py, qwen3_moe.py, gpt_oss.py, llama4.py, glm4_moe.py (and the vision-language models
    # built on them): RadixAttention is built without the quantization config, so no k or v
    # parameter exists and every layer runs at 1.0.
    kv = {"k": LLM_COMPRESSOR["k"], "v": LLM_COMPRESSOR["v"]}
    _, sglang, inspection = inspect_views(
        tmp_path, scale_tensors(kv), engine_config(fp8_config(), architecture)
    )
    assert (sglang.starts, sources(sglang, "k")) == (True, ["default"] * 2)
    assert inspection.problems[-1].message.startswith("SGLang 0.5.23 runs layers 0-1 with k and v at 1.0: ")


def test_sglang_llama4_indexes_a_q_scale_unchecked(tmp_path: Path) -> None:
    # mllama4.py drops a scale name maybe_remap_kv_scale_name changes; `q_scale` it leaves as it
    # is, and `params_dict[name]` raises.
    names = {kind: f"language_model.model.layers.{{layer}}.self_attn.{kind}_scale" for kind in "qkv"}
    _, sglang, _ = inspect_views(
        tmp_path, scale_tensors(names), engine_config(fp8_config(), "Llama4ForConditionalGeneration")
    )
    assert failure(sglang) == (
        "KeyError",
        "'language_model.model.layers.0.self_attn.q_scale'",
        "python/sglang/srt/models/mllama4.py",
    )


def test_sglang_vision_language_loaders(tmp_path: Path) -> None:
    # qwen2_5_vl.py stacks k_proj first, as Mixtral does; glm4v.py reads SGLang's own name alone;
    # gemma3_mm.py hands the language model's names to Gemma3ForCausalLM.load_weights.
    _, sglang, _ = inspect_views(
        tmp_path / "qwen",
        scale_tensors(MODELOPT),
        engine_config(fp8_config(), "Qwen2_5_VLForConditionalGeneration"),
    )
    assert failure(sglang) == (
        "KeyError",
        "'model.layers.0.self_attn.qkv_proj.k_scale'",
        "python/sglang/srt/models/qwen2_5_vl.py",
    )
    for number, names in enumerate([LLM_COMPRESSOR, MODELOPT, EXACT]):
        config = engine_config(fp8_config(), "Glm4vForConditionalGeneration")
        _, sglang, _ = inspect_views(tmp_path / f"glm{number}", scale_tensors(names), config)
        assert sources(sglang, "k") == ["checkpoint" if names is EXACT else "default"] * 2
    gemma = {kind: f"language_model.model.layers.{{layer}}.self_attn.{kind}_scale" for kind in "qkv"}
    _, sglang, _ = inspect_views(
        tmp_path / "gemma",
        scale_tensors(gemma),
        engine_config(fp8_config(), "Gemma3ForConditionalGeneration"),
    )
    assert failure(sglang) == (
        "KeyError",
        "'language_model.model.layers.0.self_attn.q_scale'",
        "python/sglang/srt/models/gemma3_causal.py",
    )


def test_sglang_qwen2_vl_indexes_every_name(tmp_path: Path) -> None:
    # qwen2_vl.py: q/k/v stacked, then `params_dict[name]` unchecked; only SGLang's own name loads.
    config = engine_config(fp8_config(), "Qwen2VLForConditionalGeneration")
    _, sglang, _ = inspect_views(tmp_path / "lc", scale_tensors(LLM_COMPRESSOR), config)
    assert failure(sglang) == (
        "KeyError",
        "'model.layers.0.self_attn.k_scale'",
        "python/sglang/srt/models/qwen2_vl.py",
    )
    _, sglang, _ = inspect_views(tmp_path / "modelopt", scale_tensors(MODELOPT), config)
    assert failure(sglang) is not None
    assert failure(sglang)[1] == "'model.layers.0.self_attn.qkv_proj.k_scale'"  # type: ignore[index]


@pytest.mark.parametrize("quantization", [quark_config(), fp8_config()])
def test_vllm_gemma3_stacks_output_scale_names_before_the_suffix_rules(
    tmp_path: Path, quantization: dict[str, Any]
) -> None:
    # Gemma3ForCausalLM.load_weights passes Gemma3Model.hf_to_vllm_mapper (gemma3.py), whose
    # `.k_proj` -> `.qkv_proj` runs before the config's `.k_proj.output_scale` suffix rule.
    gemma3 = {"architecture": "Gemma3ForCausalLM", "model_type": "gemma3_text"}
    quark = {
        "k": "model.layers.{layer}.self_attn.k_proj.output_scale",
        "v": "model.layers.{layer}.self_attn.v_proj.output_scale",
    }
    vllm, _, _ = inspect_views(
        tmp_path / "quark", scale_tensors(quark), engine_config(quantization, **gemma3)
    )
    assert failure(vllm) == (
        "ValueError",
        "There is no module or parameter named 'layers.0.self_attn.qkv_proj.output_scale' in Gemma3Model",
        "vllm/model_executor/models/utils.py",
    )
    # The cache-scale mapper's regex rules run first: llm-compressor's names load.
    vllm, _, _ = inspect_views(
        tmp_path / "ct", scale_tensors(LLM_COMPRESSOR), engine_config(compressed_tensors_config(), **gemma3)
    )
    assert (vllm.starts, sources(vllm, "k")) == (True, ["checkpoint"] * 2)


@pytest.mark.parametrize(
    ("architecture", "in_class"),
    [
        ("GemmaForCausalLM", "GemmaForCausalLM"),
        ("Qwen2MoeForCausalLM", "Qwen2MoeForCausalLM"),
        ("Cohere2ForCausalLM", "CohereForCausalLM"),
        ("StableLmForCausalLM", "StablelmForCausalLM"),
    ],
)
def test_vllm_models_stacking_at_the_top_refuse_output_scale_names_there(
    tmp_path: Path, architecture: str, in_class: str
) -> None:
    # gemma.py, qwen2_moe.py, commandr.py, stablelm.py: `load_weights` passes the model's mapper
    # (stacking `.k_proj`) to AutoWeightsLoader, and no inner model loads its own weights, so
    # AutoWeightsLoader's ValueError names the whole name in the model's class.
    vllm, _, _ = inspect_views(
        tmp_path / "fp8", scale_tensors(QUARK_KV), engine_config(fp8_config(), architecture)
    )
    assert failure(vllm) == (
        "ValueError",
        f"There is no module or parameter named 'model.layers.0.self_attn.qkv_proj.output_scale' in {in_class}",
        "vllm/model_executor/models/utils.py",
    )
    prob = {**LLM_COMPRESSOR, "prob": "model.layers.{layer}.self_attn.prob_output_scale"}
    vllm, _, _ = inspect_views(
        tmp_path / "ct", scale_tensors(prob), engine_config(compressed_tensors_config(), architecture)
    )
    assert failure(vllm) == (
        "ValueError",
        f"There is no module or parameter named 'model.layers.0.self_attn.prob_output_scale' in {in_class}",
        "vllm/model_executor/models/utils.py",
    )
    vllm, _, _ = inspect_views(
        tmp_path / "lc", scale_tensors(LLM_COMPRESSOR), engine_config(fp8_config(), architecture)
    )
    assert (vllm.starts, sources(vllm, "k"), sources(vllm, "q")) == (
        True,
        ["checkpoint"] * 2,
        ["checkpoint"] * 2,
    )


@pytest.mark.parametrize(
    ("architecture", "language_model"),
    [
        ("Qwen2_5_VLForConditionalGeneration", "Qwen2Model"),
        ("Qwen3VLForConditionalGeneration", "Qwen3LLMModel"),
        ("Gemma3ForConditionalGeneration", "Gemma3Model"),
    ],
)
def test_vllm_vision_language_models_load_as_their_language_model(
    tmp_path: Path, architecture: str, language_model: str
) -> None:
    # qwen2_5_vl.py, qwen3_vl.py, gemma3_mm.py: the cache-scale mapper applies at the top, and
    # the language model's own AutoWeightsLoader refuses what no module holds, naming it from
    # its layers on.
    names = {
        kind: f"model.language_model.layers.{{layer}}.self_attn.{kind}_proj.output_scale" for kind in "kv"
    }
    vllm, _, _ = inspect_views(
        tmp_path / "fp8", scale_tensors(names), engine_config(fp8_config(), architecture)
    )
    assert (vllm.starts, sources(vllm, "k")) == (True, ["checkpoint"] * 2)
    vllm, _, _ = inspect_views(
        tmp_path / "ct", scale_tensors(names), engine_config(compressed_tensors_config(), architecture)
    )
    assert failure(vllm) == (
        "ValueError",
        f"There is no module or parameter named 'layers.0.self_attn.qkv_proj.output_scale' in {language_model}",
        "vllm/model_executor/models/utils.py",
    )


def test_a_model_mapper_applies_substring_then_stacking_then_prefix_rules() -> None:
    # WeightsMapper._map_name_with_shard (models/utils.py) runs the steps in that order,
    # whatever order a model's rules are written in.
    rules: tuple[tuple[Step, str, str], ...] = (
        ("prefix", "model.c.", "model.d."),
        ("stacked", ".b.", ".c."),
        ("substr", ".a.", ".b."),
    )
    loader = ModelLoader(rules=rules)
    assert loader.mapped("model.a.k_scale", None) == "model.d.k_scale"
    # With the config's cache-scale mapper, its regular expressions come first and its suffix rules last.
    assert loader.mapped("model.a.k_scale", "fp8") == "model.d.attn.k_scale"
    assert loader.mapped("model.a.k_proj.output_scale", "fp8") == "model.d.attn.k_scale"


def test_vllm_nemotron_h_names_the_mapped_prefix(tmp_path: Path) -> None:
    # nemotron_h.py's mapper makes `model.` of `backbone`, then stacks `k_proj`.
    scales = {f"backbone.layers.{n}.mixer.{kind}_proj.output_scale": 0.25 for n in (1, 3) for kind in "kv"}
    config = {**engine_config(fp8_config(), "NemotronHForCausalLM"), "num_hidden_layers": 4}
    config["hybrid_override_pattern"] = "M*M*"
    vllm, _, _ = inspect_views(tmp_path, scales, config)
    assert failure(vllm) == (
        "ValueError",
        "There is no module or parameter named 'model.layers.1.mixer.qkv_proj.output_scale' in NemotronHForCausalLM",
        "vllm/model_executor/models/utils.py",
    )


@pytest.mark.parametrize("quantization", [fp8_config(), compressed_tensors_config(), None])
def test_vllm_jamba_finds_no_quantization_config_and_refuses_every_scale(
    tmp_path: Path, quantization: dict[str, Any] | None
) -> None:
    # jamba.py: no module AutoWeightsLoader asks holds a quant_config (lm_head's is None), so
    # neither the cache-scale mapper nor its ignored suffixes apply; the model's mapper drops
    # `.self_attn.`, and its Attention, built without the config, holds no scale.
    config = {**engine_config(quantization, "JambaForCausalLM"), "num_hidden_layers": 8}
    config |= {"attn_layer_period": 8, "attn_layer_offset": 4}
    names = {kind: f"model.layers.4.self_attn.{kind}_scale" for kind in "kv"}
    vllm, _, _ = inspect_views(tmp_path / "lc", scale_tensors(names, layers=1), config)
    assert failure(vllm) == (
        "ValueError",
        "There is no module or parameter named 'model.layers.4.k_scale' in JambaForCausalLM",
        "vllm/model_executor/models/utils.py",
    )
    modelopt = {"k": "model.layers.4.self_attn.k_proj.k_scale"}
    vllm, _, _ = inspect_views(tmp_path / "mo", scale_tensors(modelopt, layers=1), config)
    assert failure(vllm) == (
        "ValueError",
        "There is no module or parameter named 'model.layers.4.qkv_proj.k_scale' in JambaForCausalLM",
        "vllm/model_executor/models/utils.py",
    )


def test_vllm_models_whose_attention_holds_no_scale(tmp_path: Path) -> None:
    # lfm2_moe.py: the cache-scale mapper applies at the top, but Lfm2MoeModel's own
    # AutoWeightsLoader, which ignores no scale suffix, finds `attn.k_scale` on no module.
    vllm, _, _ = inspect_views(
        tmp_path / "lfm", scale_tensors(LLM_COMPRESSOR), engine_config(fp8_config(), "Lfm2MoeForCausalLM")
    )
    assert failure(vllm) == (
        "ValueError",
        "There is no module or parameter named 'layers.0.self_attn.attn.k_scale' in Lfm2MoeModel",
        "vllm/model_executor/models/utils.py",
    )
    # step3p5.py: Step3p5Model's own loop skips what params_dict lacks, such as an output scale
    # that no cache-scale rule renames under compressed-tensors.
    vllm, _, _ = inspect_views(
        tmp_path / "step3p5",
        scale_tensors(QUARK_KV),
        engine_config(compressed_tensors_config(), "Step3p5ForCausalLM"),
    )
    assert (vllm.starts, sources(vllm, "k"), vllm.ignored[0].reason) == (
        True,
        ["default"] * 2,
        "the model's own loop (step3p5.py) skips a name it holds no parameter for",
    )
    # step3_text.py: Step3TextModel's own loop indexes params_dict with what it does not stack.
    vllm, _, _ = inspect_views(
        tmp_path / "step", scale_tensors(MODELOPT), engine_config(fp8_config(), "Step3TextForCausalLM")
    )
    assert failure(vllm) == (
        "KeyError",
        "'layers.0.self_attn.qkv_proj.k_scale'",
        "vllm/model_executor/models/step3_text.py",
    )


def test_sglang_gemma3_indexes_what_maybe_remap_kv_scale_name_passes_on(tmp_path: Path) -> None:
    # gemma3_causal.py: a name maybe_remap_kv_scale_name leaves as it is (q_scale) and a Quark
    # name it replaces (`self_attn.prob_output_scale` -> `..attn.prob_scale`) index params_dict
    # unchecked; the layer holds k and v only (layers/radix_attention.py).
    gemma3 = {"architecture": "Gemma3ForCausalLM", "model_type": "gemma3_text"}
    _, sglang, _ = inspect_views(
        tmp_path / "q", scale_tensors(LLM_COMPRESSOR), engine_config(compressed_tensors_config(), **gemma3)
    )
    where = "python/sglang/srt/models/gemma3_causal.py"
    assert failure(sglang) == ("KeyError", "'model.layers.0.self_attn.q_scale'", where)
    quark = {
        "k": "model.layers.{layer}.self_attn.k_proj.output_scale",
        "v": "model.layers.{layer}.self_attn.v_proj.output_scale",
    }
    _, sglang, _ = inspect_views(tmp_path / "kv", scale_tensors(quark), engine_config(fp8_config(), **gemma3))
    assert (sglang.starts, sources(sglang, "k"), sources(sglang, "v")) == (
        True,
        ["checkpoint"] * 2,
        ["checkpoint"] * 2,
    )
    quark["prob"] = "model.layers.{layer}.self_attn.prob_output_scale"
    _, sglang, _ = inspect_views(
        tmp_path / "prob", scale_tensors(quark), engine_config(fp8_config(), **gemma3)
    )
    assert failure(sglang) == ("KeyError", "'model.layers.0..attn.prob_scale'", where)


def _qwen3_next(tmp_path: Path, scales: dict[str, Any]) -> tuple[EngineView, Any]:
    config = {**engine_config(compressed_tensors_config(), "Qwen3NextForCausalLM"), "num_hidden_layers": 4}
    config["layer_types"] = ["linear_attention", "full_attention"] * 2
    write_named(tmp_path, scales, config=config)
    inspection = inspect_checkpoint(tmp_path, engines=("sglang",))
    return inspection.engines[1], inspection


def test_sglang_qwen3_next_asserts_a_scale_it_cannot_place_is_one(tmp_path: Path) -> None:
    # qwen3_next.py drops `.self_attn`, makes ModelOpt's `k_proj.k_scale` the layer's
    # `attn.k_scale`, and asserts any other `*_scale` no parameter holds is 1.0.
    where = "python/sglang/srt/models/qwen3_next.py"
    calibrated = {f"model.layers.{n}.self_attn.{kind}_scale": 0.5 for n in (1, 3) for kind in "kv"}
    # Each layer's name, though one reading of the name serves the stack.
    calibrated |= {"model.layers.1.self_attn.k_scale": 1.0, "model.layers.1.self_attn.v_scale": 1.0}
    sglang, inspection = _qwen3_next(tmp_path / "calibrated", calibrated)
    assert failure(sglang) == (
        "AssertionError",
        "Expected 1.0, got 0.5 in skipped model.layers.3.k_scale",
        where,
    )
    assert inspection.problems[0].path.endswith('["model.layers.3.self_attn.k_scale"]')
    ones = dict.fromkeys(calibrated, 1.0)
    sglang, _ = _qwen3_next(tmp_path / "ones", ones)
    assert (sglang.starts, sources(sglang, "k")) == (True, ["default"] * 2)
    modelopt = {f"model.layers.{n}.self_attn.{kind}_proj.{kind}_scale": 0.5 for n in (1, 3) for kind in "kv"}
    sglang, inspection = _qwen3_next(tmp_path / "modelopt", modelopt)
    assert (sglang.starts, sources(sglang, "k"), inspection.problems) == (True, ["checkpoint"] * 2, ())
    # `loaded_weight.item()` of a per-head scale.
    per_head = {"model.layers.1.self_attn.q_scale": [0.5] * 4}
    sglang, _ = _qwen3_next(tmp_path / "heads", {**modelopt, **per_head})
    assert failure(sglang) == (
        "RuntimeError",
        "a Tensor with 4 elements cannot be converted to Scalar",
        where,
    )


@pytest.mark.parametrize(
    ("architecture", "loaded", "skipped"),
    [
        # qwen3_5.py: QWEN3_5_KV_SCALE_MAPPER and the dropped `.self_attn` reach `attn.k_scale`.
        ("Qwen3_5MoeForConditionalGeneration", [LLM_COMPRESSOR, MODELOPT, EXACT], [KV_SCALE]),
        # minimax_m2.py: maybe_remap_kv_scale_name on the unstacked name; `.attn.` becomes `.attn.attn.`.
        ("MiniMaxM2ForCausalLM", [LLM_COMPRESSOR, MODELOPT, KV_SCALE], [EXACT]),
        # glm4_moe_lite.py makes `attn_mqa` of `_proj`, a name no MLA layer holds, and skips it.
        ("Glm4MoeLiteForCausalLM", [], [LLM_COMPRESSOR, MODELOPT, EXACT, KV_SCALE]),
        # glm4_moe.py builds its RadixAttention without the quantization config.
        ("Glm4MoeForCausalLM", [], [LLM_COMPRESSOR, MODELOPT, EXACT, KV_SCALE]),
        # kimi_k25.py hands its language model's names to DeepseekV3ForCausalLM's loader.
        ("KimiK25ForConditionalGeneration", [MODELOPT], [LLM_COMPRESSOR, EXACT, KV_SCALE]),
        # glm4.py: no remap, and a name params_dict lacks is skipped.
        ("Glm4ForCausalLM", [EXACT], [LLM_COMPRESSOR, MODELOPT, KV_SCALE]),
        # bailing_moe.py, step3p5.py build their RadixAttention without the quantization config.
        ("BailingMoeV2ForCausalLM", [], [LLM_COMPRESSOR, MODELOPT, EXACT, KV_SCALE]),
        ("Step3p5ForCausalLM", [], [LLM_COMPRESSOR, MODELOPT, EXACT, KV_SCALE]),
    ],
)
def test_sglang_loaders_of_newer_models(
    tmp_path: Path, architecture: str, loaded: list[dict[str, str]], skipped: list[dict[str, str]]
) -> None:
    for number, names in enumerate([*loaded, *skipped]):
        _, sglang, _ = inspect_views(
            tmp_path / str(number), scale_tensors(names), engine_config(fp8_config(), architecture)
        )
        expected = "checkpoint" if names in loaded else "default"
        assert (sglang.starts, sources(sglang, "k")) == (True, [expected] * 2), names


@pytest.mark.parametrize(
    ("architecture", "file"), [("Gemma2ForCausalLM", "gemma2.py"), ("Cohere2ForCausalLM", "commandr.py")]
)
def test_sglang_gemma2_and_cohere_index_what_the_remap_leaves(
    tmp_path: Path, architecture: str, file: str
) -> None:
    # gemma2.py, commandr.py: maybe_remap_kv_scale_name leaves `q_scale` as it is and makes
    # `..attn.prob_scale` of Quark's prob name; `params_dict[name]` raises for both.
    where = f"python/sglang/srt/models/{file}"
    _, sglang, _ = inspect_views(
        tmp_path / "q", scale_tensors(LLM_COMPRESSOR), engine_config(fp8_config(), architecture)
    )
    assert failure(sglang) == ("KeyError", "'model.layers.0.self_attn.q_scale'", where)
    prob = {**QUARK_KV, "prob": "model.layers.{layer}.self_attn.prob_output_scale"}
    _, sglang, _ = inspect_views(
        tmp_path / "prob", scale_tensors(prob), engine_config(fp8_config(), architecture)
    )
    # The stacked rename meets `k_proj.output_scale` first.
    assert failure(sglang) == ("KeyError", "'model.layers.0.self_attn.qkv_proj.output_scale'", where)
    kv = {kind: f"model.layers.{{layer}}.self_attn.{kind}_scale" for kind in "kv"}
    _, sglang, _ = inspect_views(
        tmp_path / "kv",
        scale_tensors({**kv, "prob": prob["prob"]}),
        engine_config(fp8_config(), architecture),
    )
    assert failure(sglang) == ("KeyError", "'model.layers.0..attn.prob_scale'", where)


@pytest.mark.parametrize(
    ("architecture", "file"), [("Olmo3ForCausalLM", "olmo2.py"), ("MiMoForCausalLM", "mimo.py")]
)
def test_sglang_loaders_that_index_every_name(tmp_path: Path, architecture: str, file: str) -> None:
    # olmo2.py (configs/olmo3.py makes Olmo-3 an Olmo2ForCausalLM), mimo.py: no remap, and
    # `params_dict[name]` for every name but SGLang's own.
    _, sglang, _ = inspect_views(
        tmp_path / "lc", scale_tensors(LLM_COMPRESSOR), engine_config(fp8_config(), architecture)
    )
    assert failure(sglang) == (
        "KeyError",
        "'model.layers.0.self_attn.k_scale'",
        f"python/sglang/srt/models/{file}",
    )
    _, sglang, _ = inspect_views(
        tmp_path / "own", scale_tensors(EXACT), engine_config(fp8_config(), architecture)
    )
    assert sources(sglang, "k") == ["checkpoint"] * 2


def test_sglang_hunyuan_holds_no_scale_and_indexes_some_names(tmp_path: Path) -> None:
    # hunyuan.py: RadixAttention without the quantization config, and Gemma-2's handling of names.
    where = "python/sglang/srt/models/hunyuan.py"
    kv = {"k": LLM_COMPRESSOR["k"], "v": LLM_COMPRESSOR["v"]}
    _, sglang, _ = inspect_views(
        tmp_path / "kv", scale_tensors(kv), engine_config(fp8_config(), "HunYuanMoEV1ForCausalLM")
    )
    assert (sglang.starts, sources(sglang, "k")) == (True, ["default"] * 2)
    _, sglang, _ = inspect_views(
        tmp_path / "q",
        scale_tensors(LLM_COMPRESSOR),
        engine_config(fp8_config(), "HunYuanDenseV1ForCausalLM"),
    )
    assert failure(sglang) == ("KeyError", "'model.layers.0.self_attn.q_scale'", where)


def test_sglang_olmoe_skips_only_kv_scale(tmp_path: Path) -> None:
    _, sglang, _ = inspect_views(
        tmp_path / "kv", scale_tensors(KV_SCALE), engine_config(fp8_config(), "OlmoeForCausalLM")
    )
    assert (sglang.starts, sources(sglang, "k")) == (True, ["default"] * 2)
    _, sglang, _ = inspect_views(
        tmp_path / "lc", scale_tensors(LLM_COMPRESSOR), engine_config(fp8_config(), "OlmoeForCausalLM")
    )
    assert failure(sglang) == (
        "KeyError",
        "'model.layers.0.self_attn.k_scale'",
        "python/sglang/srt/models/olmoe.py",
    )


def test_sglang_granite_moe_loads_through_mixtral(tmp_path: Path) -> None:
    # granitemoe.py hands its names to MixtralForCausalLM.load_weights, which stacks k_proj first.
    _, sglang, _ = inspect_views(
        tmp_path, scale_tensors(MODELOPT), engine_config(fp8_config(), "GraniteMoeForCausalLM")
    )
    assert failure(sglang) == (
        "KeyError",
        "'model.layers.0.self_attn.qkv_proj.k_scale'",
        "python/sglang/srt/models/mixtral.py",
    )


def test_sglang_mixtral_modelopt_names_are_a_key_error(tmp_path: Path) -> None:
    # mixtral.py: the stacked rename makes `qkv_proj.k_scale`, and `params_dict[name]` raises.
    _, sglang, _ = inspect_views(
        tmp_path, scale_tensors(MODELOPT), engine_config(fp8_config(), "MixtralForCausalLM")
    )
    assert failure(sglang) == (
        "KeyError",
        "'model.layers.0.self_attn.qkv_proj.k_scale'",
        "python/sglang/srt/models/mixtral.py",
    )


_ARCHITECTURES = [
    None,
    "LlamaForCausalLM",
    "Qwen2ForCausalLM",
    "Qwen3ForCausalLM",
    "MixtralForCausalLM",
    "Gemma2ForCausalLM",
    "NemotronHForCausalLM",
    "DeepseekV3ForCausalLM",
    "DbrxForCausalLM",
    "Llama4ForCausalLM",
    "GemmaForCausalLM",
    "JambaForCausalLM",
    "Step3TextForCausalLM",
    "Lfm2MoeForCausalLM",
    "Qwen3NextForCausalLM",
    "OPTForCausalLM",
    "Step3p5ForCausalLM",
    "Qwen3_5ForCausalLM",
    "MiniMaxM2ForCausalLM",
    "Glm4MoeLiteForCausalLM",
    "Glm4MoeForCausalLM",
    "LongcatFlashForCausalLM",
    "HunYuanMoEV1ForCausalLM",
    "BailingMoeV2ForCausalLM",
]


@given(
    st.sampled_from(["model.", "language_model.model.", "backbone.", ""]),
    st.sampled_from(sorted({name.split(".N.")[1] for name, *_ in RECORDED})),
    st.sampled_from(_ARCHITECTURES),
    st.sampled_from([*CONFIG_FAMILIES, "modelopt_fp4"]),
    st.sampled_from(["standard", "mla"]),
    st.sets(st.sampled_from(["q", "k", "v", "prob"])),
    st.integers(1, 200),
)
def test_every_layer_of_a_stack_loads_as_its_first_does(
    stack: str,
    rest: str,
    architecture: str | None,
    family: str,
    attention: Any,
    parameters: set[str],
    layer: int,
) -> None:
    # engine_view asks a release once per stack and name ending, and reuses the answer
    # in each layer; only a failure may name the layer, and it is never reused.
    context = LoadContext(family, architecture, attention, frozenset(parameters), quantized=family != "")
    for release in RELEASES.values():
        first = release.load(f"{stack}layers.0.{rest}", context)
        tensor = f"{stack}layers.{layer}.{rest}"
        other = release.load(tensor, context)
        assert other == first or other.outcome == first.outcome == "fails"
        # A check of the values, made with the first layer's reading, words each layer's own.
        if first.value_check is not None:
            refused = first.value_check(tensor, (0.5,))
            assert refused is not None
            assert f"layers.{layer}." in refused.message
            assert first.value_check(tensor, (1.0,)) is None


def test_sglang_minicpm3_and_ernie_index_every_name(tmp_path: Path) -> None:
    # minicpm3.py stacks no q/k/v and indexes params_dict with every name; ernie4.py stacks them
    # and raises its own KeyError for a name no parameter has. Only SGLang's own name loads.
    for architecture, names, key in (
        ("MiniCPM3ForCausalLM", MODELOPT, "'model.layers.0.self_attn.k_proj.k_scale'"),
        ("MiniCPM3ForCausalLM", LLM_COMPRESSOR, "'model.layers.0.self_attn.k_scale'"),
        ("Ernie4_5_MoeForCausalLM", MODELOPT, "'model.layers.0.self_attn.qkv_proj.k_scale'"),
        (
            "Ernie4_5_MoeForCausalLM",
            LLM_COMPRESSOR,
            "\"Parameter 'model.layers.0.self_attn.k_scale' not found in model.\"",
        ),
    ):
        config = engine_config(fp8_config(), architecture)
        folder = tmp_path / f"{architecture}-{len(names)}"
        _, sglang, _ = inspect_views(folder, scale_tensors(names), config)
        assert failure(sglang) == ("KeyError", key, f"python/sglang/srt/models/{model_file(architecture)}")
        _, sglang, _ = inspect_views(folder.with_name(folder.name + "-own"), scale_tensors(EXACT), config)
        assert sources(sglang, "k") == ["checkpoint"] * LAYERS


def test_sglang_granite_hybrid_asks_every_config_for_get_cache_scale(tmp_path: Path) -> None:
    # granitemoehybrid.py calls quant_config.get_cache_scale(name) for every tensor; only
    # compressed-tensors' config defines it, and it makes `.attn.k_scale` of `k_proj.output_scale`.
    architecture = "GraniteMoeHybridForCausalLM"
    _, sglang, _ = inspect_views(
        tmp_path / "fp8", scale_tensors(EXACT), engine_config(fp8_config(), architecture)
    )
    assert failure(sglang) == (
        "AttributeError",
        "'Fp8Config' object has no attribute 'get_cache_scale'",
        "python/sglang/srt/models/granitemoehybrid.py",
    )
    config = engine_config(compressed_tensors_config(), architecture)
    _, sglang, _ = inspect_views(tmp_path / "quark-names", scale_tensors(QUARK_KV), config)
    assert sources(sglang, "k") == ["checkpoint"] * LAYERS
    _, sglang, _ = inspect_views(tmp_path / "lc", scale_tensors(LLM_COMPRESSOR), config)
    assert failure(sglang) == (
        "KeyError",
        "'model.layers.0.self_attn.k_scale'",
        "python/sglang/srt/models/granitemoehybrid.py",
    )


def test_vllm_granite_hybrid_inner_loop_indexes_what_the_top_leaves(tmp_path: Path) -> None:
    # granitemoehybrid.py: the top AutoWeightsLoader maps the names (fp8's output-scale rules too),
    # then GraniteMoeHybridModel's own loop stacks q/k/v and indexes params_dict unchecked.
    architecture = "GraniteMoeHybridForCausalLM"
    vllm, _, _ = inspect_views(
        tmp_path / "fp8", scale_tensors(QUARK_KV), engine_config(fp8_config(), architecture)
    )
    assert sources(vllm, "k") == ["checkpoint"] * LAYERS
    config = engine_config(compressed_tensors_config(), architecture)
    vllm, _, _ = inspect_views(tmp_path / "ct", scale_tensors(QUARK_KV), config)
    assert failure(vllm) == (
        "KeyError",
        "'layers.0.self_attn.qkv_proj.output_scale'",
        "vllm/model_executor/models/granitemoehybrid.py",
    )
    vllm, _, _ = inspect_views(tmp_path / "lc", scale_tensors(LLM_COMPRESSOR), config)
    assert sources(vllm, "k") == ["checkpoint"] * LAYERS


def test_sglang_kimi_and_deepseek_vl2_latent_attention_takes_no_name(tmp_path: Path) -> None:
    # kimi_vl.py and kimi_linear.py remap a name first (maybe_remap_kv_scale_name), to an `.attn.`
    # name no latent layer has (theirs is `attn_mqa`): skipped, or, where the remap replaces the
    # name unchecked or leaves it, a KeyError. deepseek_vl2.py's language model holds no scale.
    def names(stack: str, spelling: dict[str, str]) -> dict[str, str]:
        return {kind: name.replace("model.layers", stack) for kind, name in spelling.items()}

    for architecture, stack, file in (
        ("KimiVLForConditionalGeneration", "language_model.model.layers", "kimi_vl.py"),
        ("KimiLinearForCausalLM", "model.layers", "kimi_linear.py"),
    ):
        config = engine_config(fp8_config(), architecture)
        _, sglang, _ = inspect_views(tmp_path / file, scale_tensors(names(stack, MODELOPT)), config)
        assert (sglang.starts, sources(sglang, "k")) == (True, ["default"] * LAYERS)
        _, sglang, _ = inspect_views(
            tmp_path / f"quark-{file}", scale_tensors(names(stack, QUARK_KV)), config
        )
        assert failure(sglang) == (
            "KeyError",
            f"'{stack}.0.self_attn.attn.k_scale'",
            f"python/sglang/srt/models/{file}",
        )
    config = engine_config(fp8_config(), "DeepseekVL2ForCausalLM")
    _, sglang, _ = inspect_views(
        tmp_path / "vl2", scale_tensors(names("language.model.layers", MODELOPT)), config
    )
    assert (sglang.starts, sources(sglang, "k")) == (True, ["default"] * LAYERS)
    _, sglang, _ = inspect_views(tmp_path / "vl2-model", scale_tensors(MODELOPT), config)
    assert failure(sglang) == (
        "KeyError",
        "'model.layers.…' (the loader reads the language model at language.model.layers)",
        "python/sglang/srt/models/deepseek_vl2.py",
    )


def test_sglang_granite_indexes_q_and_prob_names(tmp_path: Path) -> None:
    # granite.py skips a `kv_scale` it holds no parameter for, and indexes params_dict with any
    # other name unchecked; olmo2.py indexes every name, a fused qkv_proj one too.
    config = engine_config(fp8_config(), "GraniteForCausalLM")
    names = {**EXACT, "q": "model.layers.{layer}.self_attn.q_scale"}
    _, sglang, _ = inspect_views(tmp_path / "granite", scale_tensors(names), config)
    assert failure(sglang) == (
        "KeyError",
        "'model.layers.0.self_attn.q_scale'",
        "python/sglang/srt/models/granite.py",
    )
    fused = {kind: f"model.layers.{{layer}}.self_attn.qkv_proj.{kind}_scale" for kind in "kv"}
    _, sglang, _ = inspect_views(
        tmp_path / "olmo", scale_tensors(fused), engine_config(fp8_config(), "Olmo2ForCausalLM")
    )
    assert failure(sglang) is not None
    assert failure(sglang)[0] == "KeyError"  # type: ignore[index]
