"""The engine model, row by row: checkpoints on disk read through vLLM 0.33.0's and SGLang 0.5.23's views.

Each expected outcome comes from reading the engine's source; the file and
function are named beside it (vLLM paths under `vllm/model_executor/`, SGLang's
under `sglang/srt/`). Outcomes that the reading leaves uncertain say so. Each
model's own loader is tested in `test_engine_loaders.py`.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import pytest

from engine_cases import (
    LAYERS,
    LLM_COMPRESSOR,
    MODELOPT,
    QUARK_KV,
    deepseek,
    engine_config,
    failure,
    inspect_views,
    scale_tensors,
    sources,
)
from producers import (
    compressed_tensors_config,
    fp8_config,
    modelopt_quant_config,
    quark_config,
    write_named,
)
from quantparams.checkpoint import inspect_checkpoint
from quantparams.checkpoint.engines import EngineView
from quantparams.checkpoint.numbers import float32, shortest

# --- BaseKVCacheMethod: fp8, ModelOpt, Quark (layers/quantization/kv_cache.py) ---


def test_fp8_k_alone_serves_v_and_v_alone_stops_vllm(tmp_path: Path) -> None:
    # process_weights_after_loading: k > 0 and v < 0 takes max(k, v) for both; v alone fails
    # `assert layer.k_scale > 0.0`.
    k_only = {f"model.layers.{n}.self_attn.k_scale": 0.25 for n in range(LAYERS)}
    vllm, sglang, _ = inspect_views(tmp_path / "k", k_only, engine_config(fp8_config()))
    assert (sources(vllm, "k"), sources(vllm, "v")) == (["checkpoint"] * 2, ["k"] * 2)
    assert vllm.layers[0].v.value == 0.25
    # SGLang's BaseKVCacheMethod (layers/quantization/kv_cache.py) does the same.
    assert sources(sglang, "v") == ["k"] * 2
    v_only = {f"model.layers.{n}.self_attn.v_scale": 0.25 for n in range(LAYERS)}
    # ModelOpt's `kv_cache_quant_algo` makes vLLM's default cache FP8 (utils/torch_utils.py
    # `resolve_kv_cache_dtype_string`), where the assert runs.
    write_named(tmp_path / "modelopt", v_only, config=engine_config(None), modelopt=modelopt_quant_config())
    inspection = inspect_checkpoint(tmp_path / "modelopt", engines=("vllm", "sglang"))
    vllm, sglang = inspection.engines
    assert failure(vllm) == (
        "AssertionError",
        "assert layer.k_scale > 0.0",
        "vllm/model_executor/layers/quantization/kv_cache.py",
    )
    assert vllm.layers == ()
    # SGLang's process_weights_after_loading asserts whatever the cache's dtype.
    assert failure(sglang) == (
        "AssertionError",
        "assert layer.k_scale > 0.0",
        "python/sglang/srt/layers/quantization/kv_cache.py",
    )
    assert [problem.message for problem in inspection.problems] == [
        "vLLM 0.33.0: will not start: AssertionError in kv_cache.py: assert layer.k_scale > 0.0",
        "SGLang 0.5.23: will not start: AssertionError in kv_cache.py: assert layer.k_scale > 0.0",
    ]


@pytest.mark.parametrize(
    ("algorithm", "fp8"),
    [
        ("FP8", True),
        ("NVFP4", True),
        ("INT8", False),
        ({"type": "float", "num_bits": 8, "dynamic": False}, True),
        # get_kv_cache_quant_algo_string asks `dynamic is False` of a scheme.
        ({"type": "float", "num_bits": 8}, False),
    ],
)
def test_which_modelopt_kv_cache_algorithms_vllm_serves_in_fp8_by_default(
    tmp_path: Path, algorithm: object, fp8: bool
) -> None:
    # utils/torch_utils.py resolves `--kv-cache-dtype auto` to FP8 or NVFP4 for those ModelOpt
    # algorithms alone; another falls back to "auto", and v without k then starts.
    key = "kv_cache_scheme" if isinstance(algorithm, dict) else "kv_cache_quant_algo"
    modelopt = {"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "FP8", key: algorithm}}
    v_only = {f"model.layers.{n}.self_attn.v_proj.v_scale": 0.25 for n in range(LAYERS)}
    write_named(tmp_path, v_only, config=engine_config(None), modelopt=modelopt)
    vllm = inspect_checkpoint(tmp_path).engines[0]
    assert (vllm.fp8_by_default, vllm.starts, vllm.fp8_failure is not None) == (fp8, not fp8, not fp8)


def test_v_alone_stops_vllm_only_with_an_fp8_cache(tmp_path: Path) -> None:
    # kv_cache.py runs the settling, and its assert, only `if is_quantized_kv_cache(...)`; under
    # fp8's config the default `--kv-cache-dtype auto` keeps the model's dtype, so vLLM starts.
    v_only = {f"model.layers.{n}.self_attn.v_scale": 0.25 for n in range(LAYERS)}
    vllm, sglang, inspection = inspect_views(tmp_path, v_only, engine_config(fp8_config()))
    assert vllm.starts
    assert not vllm.starts_with_scales
    assert failure(sglang) is not None
    assert vllm.fp8_failure is not None
    assert (vllm.fp8_failure.error, vllm.fp8_failure.message) == (
        "AssertionError",
        "assert layer.k_scale > 0.0",
    )
    assert (sources(vllm, "k"), sources(vllm, "v")) == (["default"] * 2, ["checkpoint"] * 2)
    assert inspection.problems[0].message == (
        "vLLM 0.33.0: starts with the default --kv-cache-dtype auto, scales unused; "
        "with --kv-cache-dtype fp8 it will not start: AssertionError in kv_cache.py: assert layer.k_scale > 0.0"
    )
    document = vllm.to_json()
    assert (document["starts"], document["failure"]) == (True, None)
    assert document["failure_with_fp8_cache"] == {
        "error": "AssertionError",
        "message": "assert layer.k_scale > 0.0",
        "where": "vllm/model_executor/layers/quantization/kv_cache.py",
    }


def test_fp8_missing_q_is_1_and_quark_names_fill_q_and_prob(tmp_path: Path) -> None:
    # The log says "Setting it to k_scale", but `q_scale = 1.0` a few lines on is what is copied.
    names = {"k": LLM_COMPRESSOR["k"], "v": LLM_COMPRESSOR["v"]}
    vllm, _, inspection = inspect_views(tmp_path / "fp8", scale_tensors(names), engine_config(fp8_config()))
    assert (sources(vllm, "q"), sources(vllm, "prob")) == (["default"] * 2, ["default"] * 2)
    assert inspection.ok
    # Fp8Config.get_cache_scale_mapper (fp8.py) adds the output_scale suffixes, prob too.
    quark_names = {
        "q": "model.layers.{layer}.self_attn.q_proj.output_scale",
        "k": "model.layers.{layer}.self_attn.k_proj.output_scale",
        "v": "model.layers.{layer}.self_attn.v_proj.output_scale",
        "prob": "model.layers.{layer}.self_attn.prob_output_scale",
    }
    vllm, sglang, _ = inspect_views(
        tmp_path / "quark", scale_tensors(quark_names), engine_config(fp8_config())
    )
    assert [vllm.layers[0].scale(kind).value for kind in ("q", "k", "v", "prob")] == [0.5, 0.25, 0.125, 0.75]
    # SGLang holds no q or prob parameter (layers/radix_attention.py): 1.0.
    assert (sglang.layers[0].q.source, sglang.layers[0].prob.source) == ("default", "default")


@pytest.mark.parametrize("shape", [[2], [2, 1, 1]])
def test_fp8_per_head_scales_stop_both_engines(tmp_path: Path, shape: list[int]) -> None:
    per_head = [0.25, 0.5] if shape == [2] else [[[0.25]], [[0.5]]]
    scales = {f"model.layers.{n}.self_attn.{kind}_scale": per_head for n in range(LAYERS) for kind in "kv"}
    vllm, sglang, _ = inspect_views(tmp_path, scales, engine_config(fp8_config()))
    # KVCacheScaleParameter.weight_loader (kv_cache.py): one value only.
    assert failure(vllm) == (
        "ValueError",
        f"KV-cache scale expects a scalar weight, got shape {tuple(shape)}",
        "vllm/model_executor/layers/quantization/kv_cache.py",
    )
    # SGLang's default_weight_loader (model_loader/weight_utils.py) asserts the sizes match.
    assert failure(sglang) == (
        "AssertionError",
        f"Attempted to load weight (torch.Size({shape})) into parameter (torch.Size([]))",
        "python/sglang/srt/model_loader/weight_utils.py",
    )


def test_a_one_value_tensor_of_any_shape_is_one_scale(tmp_path: Path) -> None:
    scales = {f"model.layers.{n}.self_attn.{kind}_scale": [[[0.25]]] for n in range(LAYERS) for kind in "kv"}
    vllm, sglang, inspection = inspect_views(tmp_path, scales, engine_config(fp8_config()))
    assert inspection.problems == ()
    assert (vllm.layers[1].k.value, sglang.layers[1].v.value) == (0.25, 0.25)


# --- CompressedTensorsKVCacheMethod (layers/quantization/compressed_tensors/compressed_tensors.py) ---


def test_compressed_tensors_starts_each_scale_at_one(tmp_path: Path) -> None:
    # create_weights: torch.ones for q, k and v; nothing copies k into v; no prob parameter.
    fused = {f"model.layers.{n}.self_attn.kv_scale": 0.375 for n in range(LAYERS)}
    vllm, sglang, inspection = inspect_views(tmp_path, fused, engine_config(compressed_tensors_config()))
    assert (sources(vllm, "k"), sources(vllm, "v")) == (["checkpoint"] * 2, ["default"] * 2)
    assert [problem.message for problem in inspection.problems] == [
        "vLLM 0.33.0 runs layers 0-1 with v at 1.0: no such scale in the checkpoint"
    ]
    assert vllm.kv_cache_method == "compressed-tensors"
    # SGLang gives a supported compressed-tensors scheme its BaseKVCacheMethod: v takes k's value.
    assert sources(sglang, "v") == ["k"] * 2


def test_llm_compressor_per_head_scales(tmp_path: Path) -> None:
    # `_tp_aware_loader` flattens [heads, 1, 1], reduces q by max over each KV head's
    # query heads (4 heads, 2 KV heads: pairs), and the backend gets the largest.
    scales = {}
    for n in range(LAYERS):
        scales[f"model.layers.{n}.self_attn.q_scale"] = [[[0.5]], [[0.25]], [[0.125]], [[0.75]]]
        scales[f"model.layers.{n}.self_attn.k_scale"] = [[[0.25]], [[0.0625]]]
        scales[f"model.layers.{n}.self_attn.v_scale"] = [[[0.125]], [[0.5]]]
    vllm, sglang, inspection = inspect_views(
        tmp_path, scales, engine_config(compressed_tensors_config("attn_head"))
    )
    layer = vllm.layers[0]
    assert (layer.q.per_head, layer.q.value) == ((0.5, 0.75), 0.75)
    assert (layer.k.per_head, layer.k.value, layer.v.per_head, layer.v.value) == (
        (0.25, 0.0625),
        0.25,
        (0.125, 0.5),
        0.5,
    )
    # SGLang supports only per-tensor compressed-tensors scales (is_supported_scheme): the
    # scheme is logged and ignored, no layer holds a scale, every one is 1.0.
    assert sglang.kv_cache_method is None
    assert [problem.message.split(" under")[0] for problem in inspection.problems] == [
        "SGLang 0.5.23 gives these attention layers no KV-cache method"
    ]
    # v1/attention/backend.py: per-head scales need a backend that supports them.
    assert [warning.message for warning in inspection.warnings] == [
        "vLLM 0.33.0 runs per-head (attn_head) scales only with FlashAttention 3 or 4 (Hopper SM90, "
        "Blackwell SM100 GPUs); on other GPUs it finds no attention backend and does not start"
    ]
    _, _, tensor = inspect_views(
        tmp_path / "tensor", scale_tensors(LLM_COMPRESSOR), engine_config(compressed_tensors_config())
    )
    assert tensor.warnings == ()


def test_a_one_value_q_scale_under_attn_head_needs_no_head_groups(tmp_path: Path) -> None:
    # `_tp_aware_loader` views q as one row per KV head's group of query heads before anything
    # else: one value cannot be 2 columns wide (4 heads, 2 KV heads). One k or v value fills
    # every head through `copy_`.
    scales = {**scale_tensors(LLM_COMPRESSOR), "model.layers.0.self_attn.k_scale": [[[0.25]], [[0.0625]]]}
    vllm, _, inspection = inspect_views(
        tmp_path, scales, engine_config(compressed_tensors_config("attn_head"))
    )
    assert failure(vllm) == (
        "RuntimeError",
        "shape '[-1, 2]' is invalid for input of size 1",
        "vllm/model_executor/layers/quantization/compressed_tensors/compressed_tensors.py",
    )
    assert inspection.problems[0].path.endswith('["model.layers.0.self_attn.q_scale"]')
    config = engine_config(compressed_tensors_config("attn_head"), num_key_value_heads=4)
    vllm, _, _ = inspect_views(tmp_path / "no groups", scale_tensors(LLM_COMPRESSOR), config)
    assert (vllm.starts, vllm.layers[0].q.per_head) == (True, (0.5,) * 4)


@pytest.mark.parametrize(
    ("scheme", "error", "message"),
    [
        (
            {"num_bits": 4, "type": "float", "strategy": "tensor", "symmetric": True},
            "NotImplementedError",
            "Currently supported kv cache quantization is num_bits=8, type=float, however received num_bits=4, type=float",
        ),
        (
            {"num_bits": 8, "type": "int", "strategy": "tensor", "symmetric": True},
            "NotImplementedError",
            "Currently supported kv cache quantization is num_bits=8, type=float, however received num_bits=8, type=int",
        ),
        (
            # compressed-tensors 0.17.0 (vLLM 0.33.0's pin) makes QuantizationStrategy a (str, Enum)
            # with no __format__ of its own: Python 3.11 to 3.13 format a member as its name.
            {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True},
            "NotImplementedError",
            "Invalid strategy for compressed-tensors KV cache. Expected strategies: "
            "(<QuantizationStrategy.TENSOR: 'tensor'>, <QuantizationStrategy.ATTN_HEAD: 'attn_head'>), "
            "found strategy: QuantizationStrategy.CHANNEL",
        ),
        (
            {"num_bits": 8, "type": "float", "strategy": "tensor", "symmetric": False},
            "NotImplementedError",
            "Only support symmetric scaling factor for compressed-tensors KV cache. However found symmetric: False",
        ),
    ],
)
def test_unsupported_compressed_tensors_schemes_stop_vllm(
    tmp_path: Path, scheme: dict[str, Any], error: str, message: str
) -> None:
    # validate_kv_cache_scheme, run from CompressedTensorsKVCacheMethod.__init__ as each Attention is built.
    config = engine_config({**compressed_tensors_config(), "kv_cache_scheme": scheme})
    vllm, sglang, inspection = inspect_views(tmp_path, scale_tensors(LLM_COMPRESSOR), config)
    assert failure(vllm) == (
        error,
        message,
        "vllm/model_executor/layers/quantization/compressed_tensors/compressed_tensors.py",
    )
    assert inspection.problems[0].path == "config.json"
    # SGLang logs "Ignoring compressed-tensors kv_cache_scheme ..." and starts without scales.
    assert (sglang.starts, sglang.kv_cache_method) == (True, None)


def test_the_invalid_strategy_message_formats_the_enum_as_python_does(tmp_path: Path) -> None:
    # The enum as compressed-tensors 0.17.0 declares it, formatted by the Python running the tests.
    class QuantizationStrategy(str, enum.Enum):
        TENSOR = "tensor"
        CHANNEL = "channel"
        ATTN_HEAD = "attn_head"

    supported = (QuantizationStrategy.TENSOR, QuantizationStrategy.ATTN_HEAD)
    expected = (
        "Invalid strategy for compressed-tensors KV cache. "
        f"Expected strategies: {supported}, found strategy: {QuantizationStrategy('channel')}"
    )
    scheme = {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True}
    config = engine_config({**compressed_tensors_config(), "kv_cache_scheme": scheme})
    vllm, _, _ = inspect_views(tmp_path, scale_tensors(LLM_COMPRESSOR), config)
    assert vllm.failure is not None
    assert vllm.failure.message == expected


# --- Quark (layers/quantization/quark/quark.py) ---


def _quark(output: dict[str, Any]) -> dict[str, Any]:
    return {
        "quant_method": "quark",
        "export": {"kv_cache_group": ["*k_proj", "*v_proj"], "pack_method": "reorder"},
        "layer_quant_config": {"*k_proj": {"output_tensors": output}, "*v_proj": {"output_tensors": output}},
    }


def test_quark_kv_cache_configs(tmp_path: Path) -> None:
    names = {
        "k": "model.layers.{layer}.self_attn.k_proj.output_scale",
        "v": "model.layers.{layer}.self_attn.v_proj.output_scale",
    }
    sound = _quark({"dtype": "fp8_e4m3", "qscheme": "per_tensor", "is_dynamic": False})
    vllm, sglang, _ = inspect_views(tmp_path / "sound", scale_tensors(names), engine_config(sound))
    assert (vllm.kv_cache_method, sources(vllm, "k"), sources(sglang, "v")) == (
        "quark",
        ["checkpoint"] * 2,
        ["checkpoint"] * 2,
    )
    # QuarkKVCacheMethod.validate_kv_cache_config, in both engines.
    channel = _quark({"dtype": "fp8_e4m3", "qscheme": "per_channel", "is_dynamic": False})
    vllm, sglang, _ = inspect_views(tmp_path / "channel", scale_tensors(names), engine_config(channel))
    message = "Only support per-tensor scaling factor for quark KV cache. Expected qscheme: per_tensor, found qscheme: per_channel"
    assert failure(vllm) == (
        "NotImplementedError",
        message,
        "vllm/model_executor/layers/quantization/quark/quark.py",
    )
    assert failure(sglang) == (
        "NotImplementedError",
        message,
        "python/sglang/srt/layers/quantization/quark/quark.py",
    )
    e5m2 = _quark({"dtype": "fp8_e5m2", "qscheme": "per_tensor"})
    vllm, _, _ = inspect_views(tmp_path / "e5m2", scale_tensors(names), engine_config(e5m2))
    assert failure(vllm) is not None
    assert vllm.failure is not None
    assert (
        vllm.failure.message
        == "Currently supported kv cache quantization is dtype=fp8_e4m3, however received fp8_e5m2"
    )
    # QuarkConfig.from_config: a kv_cache_group that names no layer_quant_config entry.
    unmatched = {**sound, "layer_quant_config": {"*o_proj": {"output_tensors": None}}}
    vllm, _, _ = inspect_views(tmp_path / "unmatched", scale_tensors(names), engine_config(unmatched))
    assert vllm.failure is not None
    assert (vllm.failure.error, vllm.failure.message.split(",")[0]) == (
        "ValueError",
        "The Quark quantized model has the kv_cache_group parameter setting",
    )


# --- ModelOpt (layers/quantization/modelopt.py) and which config applies ---


def test_modelopt_names_and_config_forms(tmp_path: Path) -> None:
    vllm, sglang, inspection = inspect_views(
        tmp_path / "file", scale_tensors(MODELOPT), engine_config(None), modelopt=modelopt_quant_config()
    )
    assert (vllm.kv_cache_method, sources(vllm, "v"), sources(sglang, "k")) == (
        "modelopt",
        ["checkpoint"] * 2,
        ["checkpoint"] * 2,
    )
    assert inspection.warnings == ()
    # config.json's flat form: quant_method "modelopt" with a kv_cache_scheme.
    flat = {
        "quant_method": "modelopt",
        "quant_algo": "FP8",
        "kv_cache_scheme": {"type": "float", "num_bits": 8},
    }
    vllm, _, inspection = inspect_views(tmp_path / "flat", scale_tensors(MODELOPT), engine_config(flat))
    assert inspection.report is not None
    assert inspection.report.kv_cache_scheme is not None
    assert inspection.report.kv_cache_scheme.source == "config.json quantization_config.kv_cache_scheme"
    assert vllm.kv_cache_method == "modelopt"


def test_config_json_comes_before_hf_quant_config(tmp_path: Path) -> None:
    # transformers_utils/config.py and model_loader/weight_utils.py get_quant_config: config.json's
    # quantization_config first; hf_quant_config.json only when there is none.
    vllm, _, _ = inspect_views(
        tmp_path,
        scale_tensors(LLM_COMPRESSOR),
        engine_config(compressed_tensors_config()),
        modelopt=modelopt_quant_config(),
    )
    assert vllm.kv_cache_method == "compressed-tensors"


def test_modelopt_mixed_precision_needs_a_declared_kv_cache(tmp_path: Path) -> None:
    # ModelOptMixedPrecisionConfig.get_quant_method: a KV-cache method only with kv_cache_quant_method.
    mixed = {"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "MIXED_PRECISION"}}
    vllm, _, inspection = inspect_views(
        tmp_path / "none", scale_tensors(MODELOPT), engine_config(None), modelopt=mixed
    )
    assert vllm.kv_cache_method is None
    assert "vLLM 0.33.0 gives these attention layers no KV-cache method" in inspection.problems[0].message
    declared = {**mixed, "quantization": {"quant_algo": "MIXED_PRECISION", "kv_cache_quant_algo": "FP8"}}
    vllm, _, _ = inspect_views(
        tmp_path / "fp8", scale_tensors(MODELOPT), engine_config(None), modelopt=declared
    )
    assert (vllm.kv_cache_method, sources(vllm, "k")) == ("modelopt", ["checkpoint"] * 2)


def test_a_modelopt_export_of_ones_is_its_clamp(tmp_path: Path) -> None:
    ones = {name.format(layer=n): 1.0 for name in MODELOPT.values() for n in range(LAYERS)}
    _, _, inspection = inspect_views(tmp_path, ones, engine_config(None), modelopt=modelopt_quant_config())
    assert [warning.message.split(":")[0] for warning in inspection.warnings] == [
        "every KV-cache scale is exactly 1.0"
    ]
    assert "ModelOpt clamps" in inspection.warnings[0].message


# --- No KV-cache method at all (layers/attention/attention.py, models/utils.py) ---


def test_scale_tensors_without_a_quantization_config(tmp_path: Path) -> None:
    # No quant config: no scale parameter exists, and AutoWeightsLoader._load_module raises
    # from LlamaModel's own loader, with the name relative to it.
    vllm, sglang, inspection = inspect_views(tmp_path, scale_tensors(LLM_COMPRESSOR), engine_config(None))
    assert failure(vllm) == (
        "ValueError",
        "There is no module or parameter named 'layers.0.self_attn.k_scale' in LlamaModel",
        "vllm/model_executor/models/utils.py",
    )
    # SGLang's maybe_remap_kv_scale_name finds no parameter, logs and skips: 1.0.
    assert (sglang.starts, sglang.kv_cache_method) == (True, None)
    assert inspection.problems[0].path == 'model.safetensors["model.layers.0.self_attn.k_scale"]'


def test_a_quantization_config_without_a_kv_cache_method(tmp_path: Path) -> None:
    # A GPTQ config gives Attention no KV-cache method; its q/k/v suffixes are ignored
    # (QuantizationConfig._ignore_unexpected_suffixes, base_config.py): every layer runs at 1.0.
    config = engine_config({"quant_method": "gptq", "bits": 4})
    vllm, _, inspection = inspect_views(tmp_path, scale_tensors(LLM_COMPRESSOR), config)
    assert (vllm.starts, vllm.kv_cache_method) == (True, None)
    assert {sources(vllm, kind)[0] for kind in ("q", "k", "v", "prob")} == {"default"}
    assert inspection.problems[0].message.startswith(
        "vLLM 0.33.0 gives these attention layers no KV-cache method"
    )


# --- MLA (models/deepseek_v2.py, layers/attention/mla_attention.py) ---


def test_mla_under_fp8_gets_no_kv_cache_method(tmp_path: Path) -> None:
    # MLAAttention is not an Attention: Fp8Config.get_quant_method returns None for it.
    vllm, sglang, inspection = inspect_views(tmp_path, scale_tensors(MODELOPT), deepseek(fp8_config()))
    assert (vllm.starts, vllm.kv_cache_method) == (True, None)
    assert sources(vllm, "k") == ["default"] * 2
    assert inspection.problems[0].message.startswith(
        "vLLM 0.33.0 gives these attention layers no KV-cache method"
    )
    # SGLang's DeepseekV2AttentionMLA passes the config to attn_mqa, and its loader
    # (deepseek_common/deepseek_weight_loader.py) turns k_proj / v_proj into attn_mqa.
    assert (sglang.kv_cache_method, sources(sglang, "k"), sources(sglang, "v")) == (
        "fp8",
        ["checkpoint"] * 2,
        ["checkpoint"] * 2,
    )


def test_mla_under_modelopt_drops_every_name(tmp_path: Path) -> None:
    # ModelOpt gives MLAAttention a method, but the mapped `.attn.k_scale` meets
    # maybe_remap_kv_scale_name, which makes `.attn.attn.k_scale` of it and drops it.
    vllm, _, inspection = inspect_views(
        tmp_path, scale_tensors(MODELOPT), deepseek(None), modelopt=modelopt_quant_config()
    )
    assert (vllm.starts, vllm.kv_cache_method, sources(vllm, "k")) == (True, "modelopt", ["default"] * 2)
    assert inspection.problems[0].message.startswith("vLLM 0.33.0 runs layers 0-1 with k and v at 1.0: ")
    assert "is not read: maybe_remap_kv_scale_name" in inspection.problems[0].message
    # No mapper rule and no maybe_remap_kv_scale_name suffix covers a prob scale, so the name reaches
    # DeepseekV2Model.load_weights' `params_dict[name]` as it is, and raises (read, not run).
    prob = {**scale_tensors(MODELOPT), "model.layers.0.self_attn.attn.prob_scale": 0.5}
    vllm, _, _ = inspect_views(tmp_path / "prob", prob, deepseek(None), modelopt=modelopt_quant_config())
    assert failure(vllm) == (
        "KeyError",
        "'layers.0.self_attn.attn.prob_scale'",
        "vllm/model_executor/models/deepseek_v2.py",
    )


def test_mla_indexes_a_name_maybe_remap_kv_scale_name_leaves(tmp_path: Path) -> None:
    # deepseek_v2.py: an output scale that no cache-scale rule renames under compressed-tensors
    # ends in no suffix maybe_remap_kv_scale_name remaps, so `params_dict[name]` raises; under fp8
    # it becomes `.attn.k_scale`, which is remapped to no parameter and dropped.
    vllm, _, _ = inspect_views(
        tmp_path / "ct", scale_tensors(QUARK_KV), deepseek(compressed_tensors_config())
    )
    assert failure(vllm) == (
        "KeyError",
        "'layers.0.self_attn.k_proj.output_scale'",
        "vllm/model_executor/models/deepseek_v2.py",
    )
    vllm, _, _ = inspect_views(tmp_path / "fp8", scale_tensors(QUARK_KV), deepseek(fp8_config()))
    assert (vllm.starts, sources(vllm, "k")) == (True, ["default"] * 2)


def test_other_latent_attention_model_types(tmp_path: Path) -> None:
    # GLM-5's glm_moe_dsa is in vLLM's is_deepseek_mla (transformers_utils/model_arch_config_convertor.py),
    # and its attention an MLAAttention (models/deepseek_v32/attention.py), which compressed-tensors gives
    # no KV-cache method. SGLang runs GlmMoeDsaForCausalLM, a DeepseekV2ForCausalLM (models/glm4_moe.py),
    # as MLA (configs/model_config.py): its loader reads only k_proj / v_proj names.
    config = engine_config(
        compressed_tensors_config(), "GlmMoeDsaForCausalLM", model_type="glm_moe_dsa", kv_lora_rank=512
    )
    vllm, sglang, inspection = inspect_views(tmp_path, scale_tensors(LLM_COMPRESSOR), config)
    assert (vllm.starts, vllm.kv_cache_method, sources(vllm, "k")) == (True, None, ["default"] * 2)
    assert (sglang.starts, sources(sglang, "k"), sources(sglang, "v")) == (
        True,
        ["default"] * 2,
        ["default"] * 2,
    )
    assert not inspection.ok


@pytest.mark.parametrize(
    ("extra", "latent"),
    [
        ({"kv_lora_rank": 512}, True),
        # DeepSeek-V4's per-layer compress ratios: is_deepseek_mla asks for head_dim instead.
        ({"compress_ratios": [0, 4], "head_dim": 512}, True),
        ({"compress_ratios": [0, 4], "kv_lora_rank": 512}, False),
        (
            {"compress_rates": {"compressed": 4}, "layer_types": ["compressed", "sliding"], "head_dim": 512},
            True,
        ),
        # get_compress_ratios (transformers_utils/deepseek_v4_utils.py) takes compress_ratios when given.
        ({"compress_ratios": [], "compress_rates": {}, "layer_types": ["x"], "kv_lora_rank": 512}, True),
        ({}, False),
    ],
)
def test_which_configs_vllm_runs_with_latent_attention(
    tmp_path: Path, extra: dict[str, Any], latent: bool
) -> None:
    config = engine_config(
        compressed_tensors_config(), "DeepseekV4ForCausalLM", model_type="deepseek_v4", **extra
    )
    vllm, _, _ = inspect_views(tmp_path, scale_tensors(LLM_COMPRESSOR), config)
    assert vllm.kv_cache_method == (None if latent else "compressed-tensors")


def test_sglang_mla_skips_attn_names(tmp_path: Path) -> None:
    # deepseek_weight_loader.py renames only k_proj / v_proj to attn_mqa; the layer's attention
    # is attn_mqa and attn_mha (models/deepseek_v2.py), so `self_attn.attn.k_scale` is not
    # found in params_dict, and skipped.
    names = {kind: f"model.layers.{{layer}}.self_attn.attn.{kind}_scale" for kind in "kv"}
    _, sglang, _ = inspect_views(tmp_path, scale_tensors(names), deepseek(fp8_config()))
    assert (sglang.starts, sources(sglang, "k"), sources(sglang, "v")) == (
        True,
        ["default"] * 2,
        ["default"] * 2,
    )
    assert {item.reason for item in sglang.ignored} == {
        "DeepseekV3ForCausalLM's loader does not read this name"
    }


# --- Which layers keep a KV cache, and where the language model's are ---


@pytest.mark.parametrize(
    ("extra", "attention"),
    [
        (
            {"layer_types": ["linear_attention", "full_attention", "linear_attention", "full_attention"]},
            [1, 3],
        ),
        ({"full_attention_interval": 2}, [1, 3]),
        ({"hybrid_override_pattern": "M*M*"}, [1, 3]),
        ({"attn_type_list": [0, 1, 0, 1]}, [1, 3]),
        ({"attn_layer_period": 2, "attn_layer_offset": 1}, [1, 3]),
        ({"layers_block_type": ["mamba", "attention", "mamba", "attention"]}, [1, 3]),
        # NemotronH's layout of experts alone (configs/nemotron_h.py: "moe" is the pattern's "E").
        ({"layers_block_type": ["moe", "attention", "mlp", "attention"]}, [1, 3]),
    ],
)
def test_hybrids_judge_only_their_attention_layers(
    tmp_path: Path, extra: dict[str, Any], attention: list[int]
) -> None:
    scales = {f"model.layers.{n}.self_attn.{kind}_scale": 0.25 for n in attention for kind in "kv"}
    config = {**engine_config(compressed_tensors_config()), "num_hidden_layers": 4, **extra}
    vllm, _, inspection = inspect_views(tmp_path, scales, config)
    assert inspection.problems == ()
    assert [layer.layer for layer in vllm.layers] == attention


def test_nemotron_h_mixer_scales(tmp_path: Path) -> None:
    scales = {f"backbone.layers.{n}.mixer.{kind}_proj.{kind}_scale": 0.25 for n in (1, 3) for kind in "kv"}
    config = {**engine_config(compressed_tensors_config(), "NemotronHForCausalLM"), "num_hidden_layers": 4}
    config["hybrid_override_pattern"] = "M*M*"
    vllm, sglang, inspection = inspect_views(tmp_path, scales, config)
    assert inspection.problems == ()
    assert [(layer.layer, layer.k.source) for layer in vllm.layers] == [(1, "checkpoint"), (3, "checkpoint")]
    assert sources(sglang, "k") == ["checkpoint"] * 2


def test_sglang_nemotron_h_remaps_quark_names(tmp_path: Path) -> None:
    # nemotron_h.py passes a scale name it does not hold through maybe_remap_kv_scale_name,
    # whose Quark table makes `mixer.attn.k_scale` of `mixer.k_proj.output_scale`.
    scales = {f"backbone.layers.{n}.mixer.{kind}_proj.output_scale": 0.25 for n in (1, 3) for kind in "kv"}
    config = {**engine_config(quark_config(), "NemotronHForCausalLM"), "num_hidden_layers": 4}
    config["hybrid_override_pattern"] = "M*M*"
    _, sglang, _ = inspect_views(tmp_path, scales, config)
    assert (sglang.starts, sources(sglang, "k"), sources(sglang, "v")) == (
        True,
        ["checkpoint"] * 2,
        ["checkpoint"] * 2,
    )


@pytest.mark.parametrize(
    ("stack", "architecture"),
    [
        ("transformer.blocks", "DbrxForCausalLM"),
        ("model.llm.layers", "LlamaForCausalLM"),
        ("model.language_model.layers", "LlamaForCausalLM"),
    ],
)
def test_odd_layer_prefixes(tmp_path: Path, stack: str, architecture: str) -> None:
    # DBRX's own loop (dbrx.py) passes `norm_attn_norm.attn.k_scale`, which the cache-scale
    # mapper's lookbehind leaves alone, through maybe_remap_kv_scale_name: `.attn.attn.k_scale`.
    attention = "norm_attn_norm.attn" if architecture == "DbrxForCausalLM" else "self_attn"
    scales = {f"{stack}.{n}.{attention}.{kind}_scale": 0.25 for n in range(LAYERS) for kind in "kv"}
    vllm, _, _ = inspect_views(tmp_path, scales, engine_config(fp8_config(), architecture))
    # SGLang's module paths for DBRX were not read: vLLM's view only.
    inspection = inspect_checkpoint(tmp_path, engines=("vllm",))
    assert inspection.problems == ()
    assert sources(vllm, "k") == ["checkpoint"] * 2


def test_a_vision_tower_and_mtp_layers_are_reported_apart(tmp_path: Path) -> None:
    # llava.py: the language model's layers are `language_model.model.layers`.
    names = {kind: f"language_model.{name}" for kind, name in LLM_COMPRESSOR.items()}
    scales = scale_tensors(names)
    scales["vision_model.model.layers.0.self_attn.k_scale"] = 0.5
    scales["language_model.model.layers.2.self_attn.k_scale"] = 0.5
    config = engine_config(compressed_tensors_config(), "LlavaForConditionalGeneration")
    vllm, _, inspection = inspect_views(tmp_path, scales, config)
    assert inspection.problems == ()
    assert [layer.layer for layer in vllm.layers] == [0, 1]
    assert [warning.message.split(",")[0].split(" past")[0] for warning in inspection.warnings] == [
        "1 scale tensors of vision_model.model.layers",
        "layer 2",
    ]


def test_values_are_the_float32_the_engine_holds() -> None:
    assert float32(0.1) == 0.1
    assert float32(1 / 3) == 0.33333334
    assert float32(0.0117187500001) == 0.01171875


def test_shortest_decimals_of_each_dtype() -> None:
    assert shortest(-0.009999999776482582, "F32") == -0.01
    assert shortest(0.0999755859375, "F16") == 0.1
    assert shortest(0.10009765625, "BF16") == 0.1
    assert shortest(0.1, "F64") == 0.1
    assert shortest(float("nan"), "F32") != shortest(float("nan"), "F32")


def test_an_engine_not_named_is_read_through_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quantparams.checkpoint import engines as engines_module

    write_named(tmp_path, scale_tensors(LLM_COMPRESSOR), config=engine_config(compressed_tensors_config()))
    both = inspect_checkpoint(tmp_path, engines=("vllm", "sglang")).engines
    read: list[str] = []
    real = engines_module.engine_view  # type: ignore[attr-defined]

    def recording(release: Any, facts: Any) -> tuple[EngineView, str | None]:
        read.append(release.engine)
        return real(release, facts)

    monkeypatch.setattr(engines_module, "engine_view", recording)
    views = inspect_checkpoint(tmp_path).engines
    assert read == ["vllm"]
    # Asked for, the others are what naming them gives, each read once.
    assert (views[1], views[-1:], views) == (both[1], (both[1],), both)
    assert list(views) == list(both)
    assert read == ["vllm", "sglang"]
    assert [view.engine for view in views] == ["vllm", "sglang"]
