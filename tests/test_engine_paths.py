"""Where each engine release looks for a layer's scales, beyond a model's own loader: the
checkpoint layouts a vision-language loader reads, the registry that sends an architecture to the
Transformers backend, the module a layer's attention is, and the language model a config names.

As in `test_engines.py`, each expected outcome names the engine's file it was read from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine_cases import (
    EXACT,
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
from producers import fp8_config, write_named
from quantparams.checkpoint.engines.sglang_0_5_23_models import ARCHITECTURES, NO_SCALES, model_file
from quantparams.checkpoint.engines.sglang_0_5_23_paths import ATTENTION_MODULES, LANGUAGE_STACKS, RENAMES
from quantparams.checkpoint.engines.sglang_0_5_23_registry import REGISTERED
from quantparams.checkpoint.engines.vllm_0_33_0_models import MODELS
from quantparams.checkpoint.engines.vllm_0_33_0_registry import NATIVE
from quantparams.checkpoint.scheme import read_configs


@pytest.mark.parametrize(
    ("architecture", "reads", "other", "attention", "file"),
    [
        (
            "Qwen2_5_VLForConditionalGeneration",
            "model",
            "model.language_model",
            "self_attn.attn",
            "qwen2_5_vl.py",
        ),
        ("Qwen2VLForConditionalGeneration", "model", "model.language_model", "self_attn.attn", "qwen2_vl.py"),
        (
            "Gemma3ForConditionalGeneration",
            "language_model.model",
            "model.language_model",
            "self_attn",
            "gemma3_causal.py",
        ),
        (
            "LlavaForConditionalGeneration",
            "language_model.model",
            "model.language_model",
            "self_attn",
            "llava.py",
        ),
        ("Mistral3ForConditionalGeneration", "model.language_model", "model", "self_attn", "llava.py"),
    ],
)
def test_sglang_vision_language_loaders_read_only_some_layouts(
    tmp_path: Path, architecture: str, reads: str, other: str, attention: str, file: str
) -> None:
    # qwen2_vl.py and qwen2_5_vl.py rename no name, gemma3_mm.py hands a `language_model` name on
    # as it is, llava.py strips a leading `language_model.`: in the other layout, the loader indexes
    # params_dict with names no parameter has (Mistral3's mistral.py reads both of the usual
    # layouts, not `model.layers`). vLLM's mappers read them all.
    config = engine_config(fp8_config(), architecture)
    names = {kind: f"{reads}.layers.{{layer}}.{attention}.{kind}_scale" for kind in "kv"}
    vllm, sglang, _ = inspect_views(tmp_path / "read", scale_tensors(names), config)
    assert (sglang.starts, sources(sglang, "k")) == (True, ["checkpoint"] * LAYERS)
    names = {kind: f"{other}.layers.{{layer}}.{attention}.{kind}_scale" for kind in "kv"}
    vllm, sglang, inspection = inspect_views(tmp_path / "other", scale_tensors(names), config)
    expected = " or ".join(LANGUAGE_STACKS[architecture])
    assert failure(sglang) == (
        "KeyError",
        f"'{other}.layers.…' (the loader reads the language model at {expected})",
        f"python/sglang/srt/models/{file}",
    )
    assert (vllm.starts, sources(vllm, "k")) == (True, ["checkpoint"] * LAYERS)
    assert [(problem.path, problem.message.split(":")[0]) for problem in inspection.problems] == [
        (f'model.safetensors["{other}.layers.0.{attention}.k_scale"]', "SGLang 0.5.23")
    ]


def test_exaone_attention_is_attn_attention(tmp_path: Path) -> None:
    # vLLM exaone.py: the Attention is `transformer.h.N.attn.attention.attn`, its mapper stacks q/k/v
    # at the top. SGLang exaone.py renames `attn.attention` to `self_attn`, then indexes params_dict
    # with every name unchecked.
    config = engine_config(fp8_config(), "ExaoneForCausalLM", model_type="exaone")
    attention = "transformer.h.{layer}.attn.attention"
    names = {kind: f"{attention}.{kind}_scale" for kind in "kv"}
    vllm, sglang, _ = inspect_views(tmp_path / "lc", scale_tensors(names), config)
    assert (vllm.starts, sources(vllm, "k"), sources(vllm, "v")) == (
        True,
        ["checkpoint"] * LAYERS,
        ["checkpoint"] * LAYERS,
    )
    assert failure(sglang) == (
        "KeyError",
        "'transformer.h.0.self_attn.k_scale'",
        "python/sglang/srt/models/exaone.py",
    )
    names = {kind: f"{attention}.attn.{kind}_scale" for kind in "kv"}
    vllm, sglang, _ = inspect_views(tmp_path / "own", scale_tensors(names), config)
    assert (sources(vllm, "k"), sources(sglang, "k")) == (["checkpoint"] * LAYERS, ["checkpoint"] * LAYERS)
    names = {kind: f"{attention}.{kind}_proj.output_scale" for kind in "kv"}
    vllm, sglang, _ = inspect_views(tmp_path / "quark", scale_tensors(names), config)
    assert failure(vllm) == (
        "ValueError",
        "There is no module or parameter named 'transformer.h.0.attn.attention.qkv_proj.output_scale' "
        "in ExaoneForCausalLM",
        "vllm/model_executor/models/utils.py",
    )
    assert failure(sglang) == (
        "KeyError",
        "'transformer.h.0.self_attn.qkv_proj.output_scale'",
        "python/sglang/srt/models/exaone.py",
    )


@pytest.mark.parametrize(
    ("architecture", "model_class"),
    [
        # registry.py maps these to the Transformers backend; vLLM has no model of the last.
        ("SmolLM3ForCausalLM", "TransformersForCausalLM"),
        ("HunYuanMoEV1ForCausalLM", "TransformersMoEForCausalLM"),
        ("NoSuchModelForCausalLM", "TransformersForCausalLM"),
    ],
)
def test_vllm_transformers_backend_stacks_at_the_top(
    tmp_path: Path, architecture: str, model_class: str
) -> None:
    # transformers/base.py adds q/k/v stacking to the mapper it passes to AutoWeightsLoader, so
    # fp8's `k_proj.output_scale` rule finds no such name left.
    config = engine_config(fp8_config(), architecture)
    vllm, _, _ = inspect_views(tmp_path / "lc", scale_tensors(LLM_COMPRESSOR), config)
    assert (vllm.starts, sources(vllm, "k"), sources(vllm, "q")) == (
        True,
        ["checkpoint"] * LAYERS,
        ["checkpoint"] * LAYERS,
    )
    vllm, _, _ = inspect_views(tmp_path / "quark", scale_tensors(QUARK_KV), config)
    assert failure(vllm) == (
        "ValueError",
        f"There is no module or parameter named 'model.layers.0.self_attn.qkv_proj.output_scale' in {model_class}",
        "vllm/model_executor/models/utils.py",
    )
    _, _, inspection = inspect_views(tmp_path / "warned", scale_tensors(LLM_COMPRESSOR), config)
    assert inspection.engines[0].backend == model_class
    assert inspection.engines[0].to_json()["transformers_backend"] == model_class
    warned = (
        f"vLLM 0.33.0 has no model of {architecture}: it serves it with its Transformers backend "
        f"({model_class}), where transformers has the model, and is judged so"
    )
    assert warned in [warning.message for warning in inspection.warnings]
    # A model of vLLM's own reads Llama's way.
    _, _, inspection = inspect_views(
        tmp_path / "llama", scale_tensors(QUARK_KV), engine_config(fp8_config(), "LlamaForCausalLM")
    )
    assert inspection.engines[0].starts


@pytest.mark.parametrize(
    ("names", "unheld"),
    [
        (LLM_COMPRESSOR, "model.layers.0.self_attn.k_scale"),
        (MODELOPT, "model.layers.0.self_attn.k_proj.k_scale"),
        (EXACT, "model.layers.0.self_attn.attn"),
        ({kind: f"transformer.h.{{layer}}.attn.{kind}_scale" for kind in "kv"}, "model.h.0.attn.k_scale"),
    ],
)
def test_sglang_transformers_backend_holds_no_scale(
    tmp_path: Path, names: dict[str, str], unheld: str
) -> None:
    # models/registry.py serves an architecture it does not register (SmolLM3, Seed-OSS, ERNIE-4.5
    # dense, whose class SGLang names Ernie4_5_ForCausalLM) by models/transformers.py, which keeps its
    # RadixAttention layers in a dict: AutoWeightsLoader (models/utils.py) finds no module for a
    # scale, after the backend's prefix mapper.
    for architecture in ("SmolLM3ForCausalLM", "SeedOssForCausalLM", "Ernie4_5ForCausalLM"):
        config = engine_config(fp8_config(), architecture)
        _, sglang, _ = inspect_views(tmp_path / architecture, scale_tensors(names), config)
        assert failure(sglang) == (
            "ValueError",
            f"No module or parameter named {unheld!r} in TransformersForCausalLM.",
            "python/sglang/srt/models/utils.py",
        )
        assert sglang.backend == "TransformersForCausalLM"


def test_every_architecture_the_tables_name_is_one_the_engine_registers() -> None:
    # A name the registry lacks would never be looked up: the engine serves it otherwise.
    sglang_named = {*ARCHITECTURES, *NO_SCALES, *LANGUAGE_STACKS, *RENAMES, *ATTENTION_MODULES}
    # configs/olmo3.py makes Olmo-3's config name Olmo2ForCausalLM.
    assert sglang_named - REGISTERED == {"Olmo3ForCausalLM"}
    assert set(MODELS) - NATIVE == set()


def test_sglang_attention_modules_other_than_self_attn(tmp_path: Path) -> None:
    # internlm2.py (attention at `attention.attn`) and chatglm.py (`self_attention.attn`) stack no
    # q/k/v and index params_dict with every name; a scale named in another module is no layer's.
    for architecture, stack, module in (
        ("InternLM2ForCausalLM", "model.layers", "attention"),
        ("ChatGLMModel", "transformer.encoder.layers", "self_attention"),
    ):
        config = engine_config(fp8_config(), architecture)
        own = {kind: f"{stack}.{{layer}}.{module}.attn.{kind}_scale" for kind in "kv"}
        _, sglang, _ = inspect_views(tmp_path / f"{module}-own", scale_tensors(own), config)
        assert sources(sglang, "k") == ["checkpoint"] * LAYERS
        bare = {kind: f"{stack}.{{layer}}.{module}.{kind}_scale" for kind in "kv"}
        _, sglang, _ = inspect_views(tmp_path / f"{module}-bare", scale_tensors(bare), config)
        assert failure(sglang) == (
            "KeyError",
            f"'{stack}.0.{module}.k_scale'",
            f"python/sglang/srt/models/{model_file(architecture)}",
        )
        elsewhere = {kind: f"{stack}.{{layer}}.self_attn.attn.{kind}_scale" for kind in "kv"}
        _, sglang, _ = inspect_views(tmp_path / f"{module}-elsewhere", scale_tensors(elsewhere), config)
        assert failure(sglang) == (
            "KeyError",
            f"'{stack}.0.self_attn.attn.k_scale'",
            f"python/sglang/srt/models/{model_file(architecture)}",
        )
    # llama.py's remap finds no Llama parameter for an `mlp` or `mixer` name, and skips it.
    for name in ("mlp.{kind}_proj.output_scale", "mixer.{kind}_proj.{kind}_scale"):
        names = {kind: f"model.layers.{{layer}}.{name}".replace("{kind}", kind) for kind in "kv"}
        _, sglang, _ = inspect_views(
            tmp_path / name.split(".")[0], scale_tensors(names), engine_config(fp8_config())
        )
        assert (sglang.starts, sources(sglang, "k")) == (True, ["default"] * LAYERS)


def test_sglang_internvl_reads_names_as_the_language_model_it_builds(tmp_path: Path) -> None:
    # internvl.py builds the language model its `llm_config` names, stacks q/k/v for the Qwen
    # models only, and indexes params_dict with every name; Qwen3's attention holds no scale.
    def internvl(inner: str, layers: int = LAYERS) -> dict[str, Any]:
        llm = {"architectures": [inner], "model_type": "qwen2", "num_hidden_layers": layers}
        return engine_config(fp8_config(), "InternVLChatModel", model_type="internvl_chat", llm_config=llm)

    def names(module: str) -> dict[str, str]:
        return {kind: f"language_model.model.layers.{{layer}}.{module}.{kind}_scale" for kind in "kv"}

    _, sglang, _ = inspect_views(
        tmp_path / "qwen2", scale_tensors(names("self_attn.attn")), internvl("Qwen2ForCausalLM")
    )
    assert sources(sglang, "k") == ["checkpoint"] * LAYERS
    _, sglang, _ = inspect_views(
        tmp_path / "qwen2-lc", scale_tensors(names("self_attn")), internvl("Qwen2ForCausalLM")
    )
    assert failure(sglang) == (
        "KeyError",
        "'language_model.model.layers.0.self_attn.k_scale'",
        "python/sglang/srt/models/internvl.py",
    )
    _, sglang, _ = inspect_views(
        tmp_path / "qwen3", scale_tensors(names("self_attn.attn")), internvl("Qwen3ForCausalLM")
    )
    assert failure(sglang) == (
        "KeyError",
        "'language_model.model.layers.0.self_attn.attn.k_scale'",
        "python/sglang/srt/models/internvl.py",
    )
    _, sglang, _ = inspect_views(
        tmp_path / "internlm2", scale_tensors(names("attention.attn")), internvl("InternLM2ForCausalLM")
    )
    assert sources(sglang, "k") == ["checkpoint"] * LAYERS
    _, sglang, _ = inspect_views(
        tmp_path / "llama", scale_tensors(names("self_attn.attn")), internvl("LlamaForCausalLM")
    )
    assert failure(sglang) == (
        "NotImplementedError",
        "LlamaForCausalLM is not implemented.",
        "python/sglang/srt/models/internvl.py",
    )


def test_a_language_model_config_of_internvl_gives_the_layer_count(tmp_path: Path) -> None:
    # InternVL's config.json keeps the language model's settings in `llm_config`.
    config = engine_config(
        None, "InternVLChatModel", llm_config={"num_hidden_layers": 3, "architectures": ["Qwen2ForCausalLM"]}
    )
    write_named(tmp_path, scale_tensors(LLM_COMPRESSOR), config=config)
    read = read_configs(tmp_path, [])
    assert (read.num_hidden_layers, read.layers_source, read.text_architecture) == (
        3,
        "config.json llm_config.num_hidden_layers",
        "Qwen2ForCausalLM",
    )
