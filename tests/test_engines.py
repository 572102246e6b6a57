"""The engine model, row by row: checkpoints on disk read through vLLM 0.33.0's and SGLang 0.5.23's views.

Each expected outcome comes from reading the engine's source; the file and
function are named beside it (vLLM paths under `vllm/model_executor/`, SGLang's
under `sglang/srt/`). Outcomes that the reading leaves uncertain say so.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers import (
    compressed_tensors_config,
    fp8_config,
    model_config,
    modelopt_quant_config,
    quark_config,
    write_named,
)
from quantparams.checkpoint import inspect_checkpoint
from quantparams.checkpoint.engines import RELEASES, EngineView
from quantparams.checkpoint.engines.model import LoadContext
from quantparams.checkpoint.engines.vllm_0_33_0_models import ModelLoader, Step
from quantparams.checkpoint.name_table import CONFIG_FAMILIES
from quantparams.checkpoint.numbers import float32, shortest
from recorded_names import RECORDED

LAYERS = 2


def _scales(names: dict[str, str], layers: int = LAYERS) -> dict[str, Any]:
    values = {"q": 0.5, "k": 0.25, "v": 0.125, "prob": 0.75, "kv": 0.375}
    return {name.format(layer=layer): values[kind] for kind, name in names.items() for layer in range(layers)}


LLM_COMPRESSOR = {
    "q": "model.layers.{layer}.self_attn.q_scale",
    "k": "model.layers.{layer}.self_attn.k_scale",
    "v": "model.layers.{layer}.self_attn.v_scale",
}


def _config(
    quantization: dict[str, Any] | None, architecture: str = "LlamaForCausalLM", **extra: Any
) -> dict[str, Any]:
    return {**model_config(LAYERS, quantization), "architectures": [architecture], **extra}


def _inspect(
    folder: Path, scales: dict[str, Any], config: dict[str, Any], **kw: Any
) -> tuple[EngineView, EngineView, Any]:
    write_named(folder, scales, config=config, **kw)
    inspection = inspect_checkpoint(folder, engines=("vllm", "sglang"))
    vllm, sglang = inspection.engines
    return vllm, sglang, inspection


def _sources(view: EngineView, kind: str) -> list[str]:
    return [layer.scale(kind).source for layer in view.layers]


def _failure(view: EngineView) -> tuple[str, str, str] | None:
    return None if view.failure is None else (view.failure.error, view.failure.message, view.failure.where)


# --- BaseKVCacheMethod: fp8, ModelOpt, Quark (layers/quantization/kv_cache.py) ---


def test_fp8_k_alone_serves_v_and_v_alone_stops_vllm(tmp_path: Path) -> None:
    # process_weights_after_loading: k > 0 and v < 0 takes max(k, v) for both; v alone fails
    # `assert layer.k_scale > 0.0`.
    k_only = {f"model.layers.{n}.self_attn.k_scale": 0.25 for n in range(LAYERS)}
    vllm, sglang, _ = _inspect(tmp_path / "k", k_only, _config(fp8_config()))
    assert (_sources(vllm, "k"), _sources(vllm, "v")) == (["checkpoint"] * 2, ["k"] * 2)
    assert vllm.layers[0].v.value == 0.25
    # SGLang's BaseKVCacheMethod (layers/quantization/kv_cache.py) does the same.
    assert _sources(sglang, "v") == ["k"] * 2
    v_only = {f"model.layers.{n}.self_attn.v_scale": 0.25 for n in range(LAYERS)}
    # ModelOpt's `kv_cache_quant_algo` makes vLLM's default cache FP8 (utils/torch_utils.py
    # `resolve_kv_cache_dtype_string`), where the assert runs.
    write_named(tmp_path / "modelopt", v_only, config=_config(None), modelopt=modelopt_quant_config())
    inspection = inspect_checkpoint(tmp_path / "modelopt", engines=("vllm", "sglang"))
    vllm, sglang = inspection.engines
    assert _failure(vllm) == (
        "AssertionError",
        "assert layer.k_scale > 0.0",
        "vllm/model_executor/layers/quantization/kv_cache.py",
    )
    assert vllm.layers == ()
    # SGLang's process_weights_after_loading asserts whatever the cache's dtype.
    assert _failure(sglang) == (
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
    write_named(tmp_path, v_only, config=_config(None), modelopt=modelopt)
    vllm = inspect_checkpoint(tmp_path).engines[0]
    assert (vllm.fp8_by_default, vllm.starts, vllm.fp8_failure is not None) == (fp8, not fp8, not fp8)


def test_v_alone_stops_vllm_only_with_an_fp8_cache(tmp_path: Path) -> None:
    # kv_cache.py runs the settling, and its assert, only `if is_quantized_kv_cache(...)`; under
    # fp8's config the default `--kv-cache-dtype auto` keeps the model's dtype, so vLLM starts.
    v_only = {f"model.layers.{n}.self_attn.v_scale": 0.25 for n in range(LAYERS)}
    vllm, sglang, inspection = _inspect(tmp_path, v_only, _config(fp8_config()))
    assert vllm.starts
    assert not vllm.starts_with_scales
    assert _failure(sglang) is not None
    assert vllm.fp8_failure is not None
    assert (vllm.fp8_failure.error, vllm.fp8_failure.message) == (
        "AssertionError",
        "assert layer.k_scale > 0.0",
    )
    assert (_sources(vllm, "k"), _sources(vllm, "v")) == (["default"] * 2, ["checkpoint"] * 2)
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
    vllm, _, inspection = _inspect(tmp_path / "fp8", _scales(names), _config(fp8_config()))
    assert (_sources(vllm, "q"), _sources(vllm, "prob")) == (["default"] * 2, ["default"] * 2)
    assert inspection.ok
    # Fp8Config.get_cache_scale_mapper (fp8.py) adds the output_scale suffixes, prob too.
    quark_names = {
        "q": "model.layers.{layer}.self_attn.q_proj.output_scale",
        "k": "model.layers.{layer}.self_attn.k_proj.output_scale",
        "v": "model.layers.{layer}.self_attn.v_proj.output_scale",
        "prob": "model.layers.{layer}.self_attn.prob_output_scale",
    }
    vllm, sglang, _ = _inspect(tmp_path / "quark", _scales(quark_names), _config(fp8_config()))
    assert [vllm.layers[0].scale(kind).value for kind in ("q", "k", "v", "prob")] == [0.5, 0.25, 0.125, 0.75]
    # SGLang holds no q or prob parameter (layers/radix_attention.py): 1.0.
    assert (sglang.layers[0].q.source, sglang.layers[0].prob.source) == ("default", "default")


@pytest.mark.parametrize("shape", [[2], [2, 1, 1]])
def test_fp8_per_head_scales_stop_both_engines(tmp_path: Path, shape: list[int]) -> None:
    per_head = [0.25, 0.5] if shape == [2] else [[[0.25]], [[0.5]]]
    scales = {f"model.layers.{n}.self_attn.{kind}_scale": per_head for n in range(LAYERS) for kind in "kv"}
    vllm, sglang, _ = _inspect(tmp_path, scales, _config(fp8_config()))
    # KVCacheScaleParameter.weight_loader (kv_cache.py): one value only.
    assert _failure(vllm) == (
        "ValueError",
        f"KV-cache scale expects a scalar weight, got shape {tuple(shape)}",
        "vllm/model_executor/layers/quantization/kv_cache.py",
    )
    # SGLang's default_weight_loader (model_loader/weight_utils.py) asserts the sizes match.
    assert _failure(sglang) == (
        "AssertionError",
        f"Attempted to load weight (torch.Size({shape})) into parameter (torch.Size([]))",
        "python/sglang/srt/model_loader/weight_utils.py",
    )


def test_a_one_value_tensor_of_any_shape_is_one_scale(tmp_path: Path) -> None:
    scales = {f"model.layers.{n}.self_attn.{kind}_scale": [[[0.25]]] for n in range(LAYERS) for kind in "kv"}
    vllm, sglang, inspection = _inspect(tmp_path, scales, _config(fp8_config()))
    assert inspection.problems == ()
    assert (vllm.layers[1].k.value, sglang.layers[1].v.value) == (0.25, 0.25)


# --- CompressedTensorsKVCacheMethod (layers/quantization/compressed_tensors/compressed_tensors.py) ---


def test_compressed_tensors_starts_each_scale_at_one(tmp_path: Path) -> None:
    # create_weights: torch.ones for q, k and v; nothing copies k into v; no prob parameter.
    fused = {f"model.layers.{n}.self_attn.kv_scale": 0.375 for n in range(LAYERS)}
    vllm, sglang, inspection = _inspect(tmp_path, fused, _config(compressed_tensors_config()))
    assert (_sources(vllm, "k"), _sources(vllm, "v")) == (["checkpoint"] * 2, ["default"] * 2)
    assert [problem.message for problem in inspection.problems] == [
        "vLLM 0.33.0 runs layers 0-1 with v at 1.0: no such scale in the checkpoint"
    ]
    assert vllm.kv_cache_method == "compressed-tensors"
    # SGLang gives a supported compressed-tensors scheme its BaseKVCacheMethod: v takes k's value.
    assert _sources(sglang, "v") == ["k"] * 2


def test_llm_compressor_per_head_scales(tmp_path: Path) -> None:
    # `_tp_aware_loader` flattens [heads, 1, 1], reduces q by max over each KV head's
    # query heads (4 heads, 2 KV heads: pairs), and the backend gets the largest.
    scales = {}
    for n in range(LAYERS):
        scales[f"model.layers.{n}.self_attn.q_scale"] = [[[0.5]], [[0.25]], [[0.125]], [[0.75]]]
        scales[f"model.layers.{n}.self_attn.k_scale"] = [[[0.25]], [[0.0625]]]
        scales[f"model.layers.{n}.self_attn.v_scale"] = [[[0.125]], [[0.5]]]
    vllm, sglang, inspection = _inspect(tmp_path, scales, _config(compressed_tensors_config("attn_head")))
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
    _, _, tensor = _inspect(
        tmp_path / "tensor", _scales(LLM_COMPRESSOR), _config(compressed_tensors_config())
    )
    assert tensor.warnings == ()


def test_a_one_value_q_scale_under_attn_head_needs_no_head_groups(tmp_path: Path) -> None:
    # `_tp_aware_loader` views q as one row per KV head's group of query heads before anything
    # else: one value cannot be 2 columns wide (4 heads, 2 KV heads). One k or v value fills
    # every head through `copy_`.
    scales = {**_scales(LLM_COMPRESSOR), "model.layers.0.self_attn.k_scale": [[[0.25]], [[0.0625]]]}
    vllm, _, inspection = _inspect(tmp_path, scales, _config(compressed_tensors_config("attn_head")))
    assert _failure(vllm) == (
        "RuntimeError",
        "shape '[-1, 2]' is invalid for input of size 1",
        "vllm/model_executor/layers/quantization/compressed_tensors/compressed_tensors.py",
    )
    assert inspection.problems[0].path.endswith('["model.layers.0.self_attn.q_scale"]')
    config = _config(compressed_tensors_config("attn_head"), num_key_value_heads=4)
    vllm, _, _ = _inspect(tmp_path / "no groups", _scales(LLM_COMPRESSOR), config)
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
    config = _config({**compressed_tensors_config(), "kv_cache_scheme": scheme})
    vllm, sglang, inspection = _inspect(tmp_path, _scales(LLM_COMPRESSOR), config)
    assert _failure(vllm) == (
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
    config = _config({**compressed_tensors_config(), "kv_cache_scheme": scheme})
    vllm, _, _ = _inspect(tmp_path, _scales(LLM_COMPRESSOR), config)
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
    vllm, sglang, _ = _inspect(tmp_path / "sound", _scales(names), _config(sound))
    assert (vllm.kv_cache_method, _sources(vllm, "k"), _sources(sglang, "v")) == (
        "quark",
        ["checkpoint"] * 2,
        ["checkpoint"] * 2,
    )
    # QuarkKVCacheMethod.validate_kv_cache_config, in both engines.
    channel = _quark({"dtype": "fp8_e4m3", "qscheme": "per_channel", "is_dynamic": False})
    vllm, sglang, _ = _inspect(tmp_path / "channel", _scales(names), _config(channel))
    message = "Only support per-tensor scaling factor for quark KV cache. Expected qscheme: per_tensor, found qscheme: per_channel"
    assert _failure(vllm) == (
        "NotImplementedError",
        message,
        "vllm/model_executor/layers/quantization/quark/quark.py",
    )
    assert _failure(sglang) == (
        "NotImplementedError",
        message,
        "python/sglang/srt/layers/quantization/quark/quark.py",
    )
    e5m2 = _quark({"dtype": "fp8_e5m2", "qscheme": "per_tensor"})
    vllm, _, _ = _inspect(tmp_path / "e5m2", _scales(names), _config(e5m2))
    assert _failure(vllm) is not None
    assert vllm.failure is not None
    assert (
        vllm.failure.message
        == "Currently supported kv cache quantization is dtype=fp8_e4m3, however received fp8_e5m2"
    )
    # QuarkConfig.from_config: a kv_cache_group that names no layer_quant_config entry.
    unmatched = {**sound, "layer_quant_config": {"*o_proj": {"output_tensors": None}}}
    vllm, _, _ = _inspect(tmp_path / "unmatched", _scales(names), _config(unmatched))
    assert vllm.failure is not None
    assert (vllm.failure.error, vllm.failure.message.split(",")[0]) == (
        "ValueError",
        "The Quark quantized model has the kv_cache_group parameter setting",
    )


# --- ModelOpt (layers/quantization/modelopt.py) and which config applies ---

MODELOPT = {
    "k": "model.layers.{layer}.self_attn.k_proj.k_scale",
    "v": "model.layers.{layer}.self_attn.v_proj.v_scale",
}


def test_modelopt_names_and_config_forms(tmp_path: Path) -> None:
    vllm, sglang, inspection = _inspect(
        tmp_path / "file", _scales(MODELOPT), _config(None), modelopt=modelopt_quant_config()
    )
    assert (vllm.kv_cache_method, _sources(vllm, "v"), _sources(sglang, "k")) == (
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
    vllm, _, inspection = _inspect(tmp_path / "flat", _scales(MODELOPT), _config(flat))
    assert inspection.report is not None
    assert inspection.report.kv_cache_scheme is not None
    assert inspection.report.kv_cache_scheme.source == "config.json quantization_config.kv_cache_scheme"
    assert vllm.kv_cache_method == "modelopt"


def test_config_json_comes_before_hf_quant_config(tmp_path: Path) -> None:
    # transformers_utils/config.py and model_loader/weight_utils.py get_quant_config: config.json's
    # quantization_config first; hf_quant_config.json only when there is none.
    vllm, _, _ = _inspect(
        tmp_path,
        _scales(LLM_COMPRESSOR),
        _config(compressed_tensors_config()),
        modelopt=modelopt_quant_config(),
    )
    assert vllm.kv_cache_method == "compressed-tensors"


def test_modelopt_mixed_precision_needs_a_declared_kv_cache(tmp_path: Path) -> None:
    # ModelOptMixedPrecisionConfig.get_quant_method: a KV-cache method only with kv_cache_quant_method.
    mixed = {"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "MIXED_PRECISION"}}
    vllm, _, inspection = _inspect(tmp_path / "none", _scales(MODELOPT), _config(None), modelopt=mixed)
    assert vllm.kv_cache_method is None
    assert "vLLM 0.33.0 gives these attention layers no KV-cache method" in inspection.problems[0].message
    declared = {**mixed, "quantization": {"quant_algo": "MIXED_PRECISION", "kv_cache_quant_algo": "FP8"}}
    vllm, _, _ = _inspect(tmp_path / "fp8", _scales(MODELOPT), _config(None), modelopt=declared)
    assert (vllm.kv_cache_method, _sources(vllm, "k")) == ("modelopt", ["checkpoint"] * 2)


def test_a_modelopt_export_of_ones_is_its_clamp(tmp_path: Path) -> None:
    ones = {name.format(layer=n): 1.0 for name in MODELOPT.values() for n in range(LAYERS)}
    _, _, inspection = _inspect(tmp_path, ones, _config(None), modelopt=modelopt_quant_config())
    assert [warning.message.split(":")[0] for warning in inspection.warnings] == [
        "every KV-cache scale is exactly 1.0"
    ]
    assert "ModelOpt clamps" in inspection.warnings[0].message


# --- No KV-cache method at all (layers/attention/attention.py, models/utils.py) ---


def test_scale_tensors_without_a_quantization_config(tmp_path: Path) -> None:
    # No quant config: no scale parameter exists, and AutoWeightsLoader._load_module raises
    # from LlamaModel's own loader, with the name relative to it.
    vllm, sglang, inspection = _inspect(tmp_path, _scales(LLM_COMPRESSOR), _config(None))
    assert _failure(vllm) == (
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
    config = _config({"quant_method": "gptq", "bits": 4})
    vllm, _, inspection = _inspect(tmp_path, _scales(LLM_COMPRESSOR), config)
    assert (vllm.starts, vllm.kv_cache_method) == (True, None)
    assert {_sources(vllm, kind)[0] for kind in ("q", "k", "v", "prob")} == {"default"}
    assert inspection.problems[0].message.startswith(
        "vLLM 0.33.0 gives these attention layers no KV-cache method"
    )


# --- MLA (models/deepseek_v2.py, layers/attention/mla_attention.py) ---


def _deepseek(quantization: dict[str, Any] | None) -> dict[str, Any]:
    return _config(
        quantization,
        "DeepseekV3ForCausalLM",
        model_type="deepseek_v3",
        kv_lora_rank=512,
        num_nextn_predict_layers=1,
    )


def test_mla_under_fp8_gets_no_kv_cache_method(tmp_path: Path) -> None:
    # MLAAttention is not an Attention: Fp8Config.get_quant_method returns None for it.
    vllm, sglang, inspection = _inspect(tmp_path, _scales(MODELOPT), _deepseek(fp8_config()))
    assert (vllm.starts, vllm.kv_cache_method) == (True, None)
    assert _sources(vllm, "k") == ["default"] * 2
    assert inspection.problems[0].message.startswith(
        "vLLM 0.33.0 gives these attention layers no KV-cache method"
    )
    # SGLang's DeepseekV2AttentionMLA passes the config to attn_mqa, and its loader
    # (deepseek_common/deepseek_weight_loader.py) turns k_proj / v_proj into attn_mqa.
    assert (sglang.kv_cache_method, _sources(sglang, "k"), _sources(sglang, "v")) == (
        "fp8",
        ["checkpoint"] * 2,
        ["checkpoint"] * 2,
    )


def test_mla_under_modelopt_drops_every_name(tmp_path: Path) -> None:
    # ModelOpt gives MLAAttention a method, but the mapped `.attn.k_scale` meets
    # maybe_remap_kv_scale_name, which makes `.attn.attn.k_scale` of it and drops it.
    vllm, _, inspection = _inspect(
        tmp_path, _scales(MODELOPT), _deepseek(None), modelopt=modelopt_quant_config()
    )
    assert (vllm.starts, vllm.kv_cache_method, _sources(vllm, "k")) == (True, "modelopt", ["default"] * 2)
    assert inspection.problems[0].message.startswith("vLLM 0.33.0 runs layers 0-1 with k and v at 1.0: ")
    assert "is not read: maybe_remap_kv_scale_name" in inspection.problems[0].message
    # No mapper rule and no maybe_remap_kv_scale_name suffix covers a prob scale, so the name reaches
    # DeepseekV2Model.load_weights' `params_dict[name]` as it is, and raises (read, not run).
    prob = {**_scales(MODELOPT), "model.layers.0.self_attn.attn.prob_scale": 0.5}
    vllm, _, _ = _inspect(tmp_path / "prob", prob, _deepseek(None), modelopt=modelopt_quant_config())
    assert _failure(vllm) == (
        "KeyError",
        "'layers.0.self_attn.attn.prob_scale'",
        "vllm/model_executor/models/deepseek_v2.py",
    )


def test_mla_indexes_a_name_maybe_remap_kv_scale_name_leaves(tmp_path: Path) -> None:
    # deepseek_v2.py: an output scale that no cache-scale rule renames under compressed-tensors
    # ends in no suffix maybe_remap_kv_scale_name remaps, so `params_dict[name]` raises; under fp8
    # it becomes `.attn.k_scale`, which is remapped to no parameter and dropped.
    vllm, _, _ = _inspect(tmp_path / "ct", _scales(_QUARK_KV), _deepseek(compressed_tensors_config()))
    assert _failure(vllm) == (
        "KeyError",
        "'layers.0.self_attn.k_proj.output_scale'",
        "vllm/model_executor/models/deepseek_v2.py",
    )
    vllm, _, _ = _inspect(tmp_path / "fp8", _scales(_QUARK_KV), _deepseek(fp8_config()))
    assert (vllm.starts, _sources(vllm, "k")) == (True, ["default"] * 2)


def test_vllm_longcat_indexes_every_name(tmp_path: Path) -> None:
    # longcat_flash.py: FlashModel's own loop remaps no scale name and indexes params_dict with it.
    config = _config(fp8_config(), "LongcatFlashForCausalLM", model_type="longcat_flash", kv_lora_rank=512)
    vllm, _, _ = _inspect(tmp_path, _scales(LLM_COMPRESSOR), config)
    assert _failure(vllm) == (
        "KeyError",
        "'layers.0.self_attn.attn.k_scale'",
        "vllm/model_executor/models/longcat_flash.py",
    )


def test_vllm_bailing_v2_attention_holds_no_scale(tmp_path: Path) -> None:
    # bailing_moe.py: Attention built without the quantization config, and BailingMoeModel's own
    # AutoWeightsLoader, which found none, ignores no scale suffix.
    names = {kind: f"model.layers.{{layer}}.attention.{kind}_scale" for kind in "kv"}
    vllm, _, _ = _inspect(tmp_path, _scales(names), _config(fp8_config(), "BailingMoeV2ForCausalLM"))
    assert _failure(vllm) == (
        "ValueError",
        "There is no module or parameter named 'layers.0.attention.attn.k_scale' in BailingMoeModel",
        "vllm/model_executor/models/utils.py",
    )


def test_other_latent_attention_model_types(tmp_path: Path) -> None:
    # GLM-5's glm_moe_dsa is in vLLM's is_deepseek_mla (transformers_utils/model_arch_config_convertor.py),
    # and its attention an MLAAttention (models/deepseek_v32/attention.py), which compressed-tensors gives
    # no KV-cache method. SGLang runs GlmMoeDsaForCausalLM, a DeepseekV2ForCausalLM (models/glm4_moe.py),
    # as MLA (configs/model_config.py): its loader reads only k_proj / v_proj names.
    config = _config(
        compressed_tensors_config(), "GlmMoeDsaForCausalLM", model_type="glm_moe_dsa", kv_lora_rank=512
    )
    vllm, sglang, inspection = _inspect(tmp_path, _scales(LLM_COMPRESSOR), config)
    assert (vllm.starts, vllm.kv_cache_method, _sources(vllm, "k")) == (True, None, ["default"] * 2)
    assert (sglang.starts, _sources(sglang, "k"), _sources(sglang, "v")) == (
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
    config = _config(compressed_tensors_config(), "DeepseekV4ForCausalLM", model_type="deepseek_v4", **extra)
    vllm, _, _ = _inspect(tmp_path, _scales(LLM_COMPRESSOR), config)
    assert vllm.kv_cache_method == (None if latent else "compressed-tensors")


def test_sglang_mla_skips_attn_names(tmp_path: Path) -> None:
    # deepseek_weight_loader.py renames only k_proj / v_proj to attn_mqa; the layer's attention
    # is attn_mqa and attn_mha (models/deepseek_v2.py), so `self_attn.attn.k_scale` is not
    # found in params_dict, and skipped.
    names = {kind: f"model.layers.{{layer}}.self_attn.attn.{kind}_scale" for kind in "kv"}
    _, sglang, _ = _inspect(tmp_path, _scales(names), _deepseek(fp8_config()))
    assert (sglang.starts, _sources(sglang, "k"), _sources(sglang, "v")) == (
        True,
        ["default"] * 2,
        ["default"] * 2,
    )
    assert {item.reason for item in sglang.ignored} == {
        "SGLang 0.5.23's DeepseekV3ForCausalLM loader does not read this name"
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
    config = {**_config(compressed_tensors_config()), "num_hidden_layers": 4, **extra}
    vllm, _, inspection = _inspect(tmp_path, scales, config)
    assert inspection.problems == ()
    assert [layer.layer for layer in vllm.layers] == attention


def test_nemotron_h_mixer_scales(tmp_path: Path) -> None:
    scales = {f"backbone.layers.{n}.mixer.{kind}_proj.{kind}_scale": 0.25 for n in (1, 3) for kind in "kv"}
    config = {**_config(compressed_tensors_config(), "NemotronHForCausalLM"), "num_hidden_layers": 4}
    config["hybrid_override_pattern"] = "M*M*"
    vllm, sglang, inspection = _inspect(tmp_path, scales, config)
    assert inspection.problems == ()
    assert [(layer.layer, layer.k.source) for layer in vllm.layers] == [(1, "checkpoint"), (3, "checkpoint")]
    assert _sources(sglang, "k") == ["checkpoint"] * 2


def test_sglang_nemotron_h_remaps_quark_names(tmp_path: Path) -> None:
    # nemotron_h.py passes a scale name it does not hold through maybe_remap_kv_scale_name,
    # whose Quark table makes `mixer.attn.k_scale` of `mixer.k_proj.output_scale`.
    scales = {f"backbone.layers.{n}.mixer.{kind}_proj.output_scale": 0.25 for n in (1, 3) for kind in "kv"}
    config = {**_config(quark_config(), "NemotronHForCausalLM"), "num_hidden_layers": 4}
    config["hybrid_override_pattern"] = "M*M*"
    _, sglang, _ = _inspect(tmp_path, scales, config)
    assert (sglang.starts, _sources(sglang, "k"), _sources(sglang, "v")) == (
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
    vllm, _, _ = _inspect(tmp_path, scales, _config(fp8_config(), architecture))
    # SGLang's module paths for DBRX were not read: vLLM's view only.
    inspection = inspect_checkpoint(tmp_path, engines=("vllm",))
    assert inspection.problems == ()
    assert _sources(vllm, "k") == ["checkpoint"] * 2


def test_a_vision_tower_and_mtp_layers_are_reported_apart(tmp_path: Path) -> None:
    scales = _scales(LLM_COMPRESSOR)
    scales["vision_model.model.layers.0.self_attn.k_scale"] = 0.5
    scales["model.layers.2.self_attn.k_scale"] = 0.5
    config = _config(compressed_tensors_config(), "LlavaForConditionalGeneration")
    vllm, _, inspection = _inspect(tmp_path, scales, config)
    assert inspection.problems == ()
    assert [layer.layer for layer in vllm.layers] == [0, 1]
    assert [warning.message.split(",")[0].split(" past")[0] for warning in inspection.warnings] == [
        "1 scale tensors of vision_model.model.layers",
        "layer 2",
    ]


# --- SGLang's per-model loaders (models/*.py) ---


def test_sglang_qwen2_reads_only_its_own_names(tmp_path: Path) -> None:
    # qwen2.py `_legacy_load_weights`: no maybe_remap_kv_scale_name; only `self_attn.attn.k_scale` loads.
    vllm, sglang, _ = _inspect(tmp_path, _scales(LLM_COMPRESSOR), _config(fp8_config(), "Qwen2ForCausalLM"))
    assert _sources(vllm, "k") == ["checkpoint"] * 2
    assert _sources(sglang, "k") == ["default"] * 2
    inspection = inspect_checkpoint(tmp_path, engines=("sglang",))
    assert inspection.problems[0].message.startswith("SGLang 0.5.23 runs layers 0-1 with k and v at 1.0: ")
    own = {f"model.layers.{n}.self_attn.attn.{kind}_scale": 0.25 for n in range(LAYERS) for kind in "kv"}
    _, sglang, _ = _inspect(tmp_path / "own", own, _config(fp8_config(), "Qwen2ForCausalLM"))
    assert _sources(sglang, "k") == ["checkpoint"] * 2


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
    _, sglang, inspection = _inspect(tmp_path, _scales(kv), _config(fp8_config(), architecture))
    assert (sglang.starts, _sources(sglang, "k")) == (True, ["default"] * 2)
    assert inspection.problems[-1].message.startswith("SGLang 0.5.23 runs layers 0-1 with k and v at 1.0: ")


def test_sglang_llama4_indexes_a_q_scale_unchecked(tmp_path: Path) -> None:
    # mllama4.py drops a scale name maybe_remap_kv_scale_name changes; `q_scale` it leaves as it
    # is, and `params_dict[name]` raises.
    names = {kind: f"language_model.model.layers.{{layer}}.self_attn.{kind}_scale" for kind in "qkv"}
    _, sglang, _ = _inspect(tmp_path, _scales(names), _config(fp8_config(), "Llama4ForConditionalGeneration"))
    assert _failure(sglang) == (
        "KeyError",
        "'language_model.model.layers.0.self_attn.q_scale'",
        "python/sglang/srt/models/mllama4.py",
    )


def test_sglang_vision_language_loaders(tmp_path: Path) -> None:
    # qwen2_5_vl.py stacks k_proj first, as Mixtral does; glm4v.py reads SGLang's own name alone;
    # gemma3_mm.py hands the language model's names to Gemma3ForCausalLM.load_weights.
    _, sglang, _ = _inspect(
        tmp_path / "qwen", _scales(MODELOPT), _config(fp8_config(), "Qwen2_5_VLForConditionalGeneration")
    )
    assert _failure(sglang) == (
        "KeyError",
        "'model.layers.0.self_attn.qkv_proj.k_scale'",
        "python/sglang/srt/models/qwen2_5_vl.py",
    )
    for number, names in enumerate([LLM_COMPRESSOR, MODELOPT, _EXACT]):
        config = _config(fp8_config(), "Glm4vForConditionalGeneration")
        _, sglang, _ = _inspect(tmp_path / f"glm{number}", _scales(names), config)
        assert _sources(sglang, "k") == ["checkpoint" if names is _EXACT else "default"] * 2
    gemma = {kind: f"language_model.model.layers.{{layer}}.self_attn.{kind}_scale" for kind in "qkv"}
    _, sglang, _ = _inspect(
        tmp_path / "gemma", _scales(gemma), _config(fp8_config(), "Gemma3ForConditionalGeneration")
    )
    assert _failure(sglang) == (
        "KeyError",
        "'language_model.model.layers.0.self_attn.q_scale'",
        "python/sglang/srt/models/gemma3_causal.py",
    )


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
    vllm, _, _ = _inspect(tmp_path / "quark", _scales(quark), _config(quantization, **gemma3))
    assert _failure(vllm) == (
        "ValueError",
        "There is no module or parameter named 'layers.0.self_attn.qkv_proj.output_scale' in Gemma3Model",
        "vllm/model_executor/models/utils.py",
    )
    # The cache-scale mapper's regex rules run first: llm-compressor's names load.
    vllm, _, _ = _inspect(
        tmp_path / "ct", _scales(LLM_COMPRESSOR), _config(compressed_tensors_config(), **gemma3)
    )
    assert (vllm.starts, _sources(vllm, "k")) == (True, ["checkpoint"] * 2)


_QUARK_KV = {
    "k": "model.layers.{layer}.self_attn.k_proj.output_scale",
    "v": "model.layers.{layer}.self_attn.v_proj.output_scale",
}


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
    vllm, _, _ = _inspect(tmp_path / "fp8", _scales(_QUARK_KV), _config(fp8_config(), architecture))
    assert _failure(vllm) == (
        "ValueError",
        f"There is no module or parameter named 'model.layers.0.self_attn.qkv_proj.output_scale' in {in_class}",
        "vllm/model_executor/models/utils.py",
    )
    prob = {**LLM_COMPRESSOR, "prob": "model.layers.{layer}.self_attn.prob_output_scale"}
    vllm, _, _ = _inspect(tmp_path / "ct", _scales(prob), _config(compressed_tensors_config(), architecture))
    assert _failure(vllm) == (
        "ValueError",
        f"There is no module or parameter named 'model.layers.0.self_attn.prob_output_scale' in {in_class}",
        "vllm/model_executor/models/utils.py",
    )
    vllm, _, _ = _inspect(tmp_path / "lc", _scales(LLM_COMPRESSOR), _config(fp8_config(), architecture))
    assert (vllm.starts, _sources(vllm, "k"), _sources(vllm, "q")) == (
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
    vllm, _, _ = _inspect(tmp_path / "fp8", _scales(names), _config(fp8_config(), architecture))
    assert (vllm.starts, _sources(vllm, "k")) == (True, ["checkpoint"] * 2)
    vllm, _, _ = _inspect(tmp_path / "ct", _scales(names), _config(compressed_tensors_config(), architecture))
    assert _failure(vllm) == (
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
    config = {**_config(fp8_config(), "NemotronHForCausalLM"), "num_hidden_layers": 4}
    config["hybrid_override_pattern"] = "M*M*"
    vllm, _, _ = _inspect(tmp_path, scales, config)
    assert _failure(vllm) == (
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
    config = {**_config(quantization, "JambaForCausalLM"), "num_hidden_layers": 8}
    config |= {"attn_layer_period": 8, "attn_layer_offset": 4}
    names = {kind: f"model.layers.4.self_attn.{kind}_scale" for kind in "kv"}
    vllm, _, _ = _inspect(tmp_path / "lc", _scales(names, layers=1), config)
    assert _failure(vllm) == (
        "ValueError",
        "There is no module or parameter named 'model.layers.4.k_scale' in JambaForCausalLM",
        "vllm/model_executor/models/utils.py",
    )
    modelopt = {"k": "model.layers.4.self_attn.k_proj.k_scale"}
    vllm, _, _ = _inspect(tmp_path / "mo", _scales(modelopt, layers=1), config)
    assert _failure(vllm) == (
        "ValueError",
        "There is no module or parameter named 'model.layers.4.qkv_proj.k_scale' in JambaForCausalLM",
        "vllm/model_executor/models/utils.py",
    )


def test_vllm_models_whose_attention_holds_no_scale(tmp_path: Path) -> None:
    # lfm2_moe.py: the cache-scale mapper applies at the top, but Lfm2MoeModel's own
    # AutoWeightsLoader, which ignores no scale suffix, finds `attn.k_scale` on no module.
    vllm, _, _ = _inspect(
        tmp_path / "lfm", _scales(LLM_COMPRESSOR), _config(fp8_config(), "Lfm2MoeForCausalLM")
    )
    assert _failure(vllm) == (
        "ValueError",
        "There is no module or parameter named 'layers.0.self_attn.attn.k_scale' in Lfm2MoeModel",
        "vllm/model_executor/models/utils.py",
    )
    # step3p5.py: Step3p5Model's own loop skips what params_dict lacks, such as an output scale
    # that no cache-scale rule renames under compressed-tensors.
    vllm, _, _ = _inspect(
        tmp_path / "step3p5", _scales(_QUARK_KV), _config(compressed_tensors_config(), "Step3p5ForCausalLM")
    )
    assert (vllm.starts, _sources(vllm, "k"), vllm.ignored[0].reason) == (
        True,
        ["default"] * 2,
        "the model's own loop (step3p5.py) skips a name it holds no parameter for",
    )
    # step3_text.py: Step3TextModel's own loop indexes params_dict with what it does not stack.
    vllm, _, _ = _inspect(tmp_path / "step", _scales(MODELOPT), _config(fp8_config(), "Step3TextForCausalLM"))
    assert _failure(vllm) == (
        "KeyError",
        "'layers.0.self_attn.qkv_proj.k_scale'",
        "vllm/model_executor/models/step3_text.py",
    )


def test_sglang_gemma3_indexes_what_maybe_remap_kv_scale_name_passes_on(tmp_path: Path) -> None:
    # gemma3_causal.py: a name maybe_remap_kv_scale_name leaves as it is (q_scale) and a Quark
    # name it replaces (`self_attn.prob_output_scale` -> `..attn.prob_scale`) index params_dict
    # unchecked; the layer holds k and v only (layers/radix_attention.py).
    gemma3 = {"architecture": "Gemma3ForCausalLM", "model_type": "gemma3_text"}
    _, sglang, _ = _inspect(
        tmp_path / "q", _scales(LLM_COMPRESSOR), _config(compressed_tensors_config(), **gemma3)
    )
    where = "python/sglang/srt/models/gemma3_causal.py"
    assert _failure(sglang) == ("KeyError", "'model.layers.0.self_attn.q_scale'", where)
    quark = {
        "k": "model.layers.{layer}.self_attn.k_proj.output_scale",
        "v": "model.layers.{layer}.self_attn.v_proj.output_scale",
    }
    _, sglang, _ = _inspect(tmp_path / "kv", _scales(quark), _config(fp8_config(), **gemma3))
    assert (sglang.starts, _sources(sglang, "k"), _sources(sglang, "v")) == (
        True,
        ["checkpoint"] * 2,
        ["checkpoint"] * 2,
    )
    quark["prob"] = "model.layers.{layer}.self_attn.prob_output_scale"
    _, sglang, _ = _inspect(tmp_path / "prob", _scales(quark), _config(fp8_config(), **gemma3))
    assert _failure(sglang) == ("KeyError", "'model.layers.0..attn.prob_scale'", where)


def _qwen3_next(tmp_path: Path, scales: dict[str, Any]) -> tuple[EngineView, Any]:
    config = {**_config(compressed_tensors_config(), "Qwen3NextForCausalLM"), "num_hidden_layers": 4}
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
    assert _failure(sglang) == (
        "AssertionError",
        "Expected 1.0, got 0.5 in skipped model.layers.3.k_scale",
        where,
    )
    assert inspection.problems[0].path.endswith('["model.layers.3.self_attn.k_scale"]')
    ones = dict.fromkeys(calibrated, 1.0)
    sglang, _ = _qwen3_next(tmp_path / "ones", ones)
    assert (sglang.starts, _sources(sglang, "k")) == (True, ["default"] * 2)
    modelopt = {f"model.layers.{n}.self_attn.{kind}_proj.{kind}_scale": 0.5 for n in (1, 3) for kind in "kv"}
    sglang, inspection = _qwen3_next(tmp_path / "modelopt", modelopt)
    assert (sglang.starts, _sources(sglang, "k"), inspection.problems) == (True, ["checkpoint"] * 2, ())
    # `loaded_weight.item()` of a per-head scale.
    per_head = {"model.layers.1.self_attn.q_scale": [0.5] * 4}
    sglang, _ = _qwen3_next(tmp_path / "heads", {**modelopt, **per_head})
    assert _failure(sglang) == (
        "RuntimeError",
        "a Tensor with 4 elements cannot be converted to Scalar",
        where,
    )


_EXACT = {kind: f"model.layers.{{layer}}.self_attn.attn.{kind}_scale" for kind in "kv"}
_KV_SCALE = {"kv": "model.layers.{layer}.self_attn.kv_scale"}


@pytest.mark.parametrize(
    ("architecture", "loaded", "skipped"),
    [
        # qwen3_5.py: QWEN3_5_KV_SCALE_MAPPER and the dropped `.self_attn` reach `attn.k_scale`.
        ("Qwen3_5MoeForConditionalGeneration", [LLM_COMPRESSOR, MODELOPT, _EXACT], [_KV_SCALE]),
        # minimax_m2.py: maybe_remap_kv_scale_name on the unstacked name; `.attn.` becomes `.attn.attn.`.
        ("MiniMaxM2ForCausalLM", [LLM_COMPRESSOR, MODELOPT, _KV_SCALE], [_EXACT]),
        # glm4_moe_lite.py makes `attn_mqa` of `_proj`, a name no MLA layer holds, and skips it.
        ("Glm4MoeLiteForCausalLM", [], [LLM_COMPRESSOR, MODELOPT, _EXACT, _KV_SCALE]),
        # glm4_moe.py builds its RadixAttention without the quantization config.
        ("Glm4MoeForCausalLM", [], [LLM_COMPRESSOR, MODELOPT, _EXACT, _KV_SCALE]),
        # kimi_k25.py hands its language model's names to DeepseekV3ForCausalLM's loader.
        ("KimiK25ForConditionalGeneration", [MODELOPT], [LLM_COMPRESSOR, _EXACT, _KV_SCALE]),
        # glm4.py: no remap, and a name params_dict lacks is skipped.
        ("Glm4ForCausalLM", [_EXACT], [LLM_COMPRESSOR, MODELOPT, _KV_SCALE]),
        # bailing_moe.py, step3p5.py build their RadixAttention without the quantization config.
        ("BailingMoeV2ForCausalLM", [], [LLM_COMPRESSOR, MODELOPT, _EXACT, _KV_SCALE]),
        ("Step3p5ForCausalLM", [], [LLM_COMPRESSOR, MODELOPT, _EXACT, _KV_SCALE]),
    ],
)
def test_sglang_loaders_of_newer_models(
    tmp_path: Path, architecture: str, loaded: list[dict[str, str]], skipped: list[dict[str, str]]
) -> None:
    for number, names in enumerate([*loaded, *skipped]):
        _, sglang, _ = _inspect(tmp_path / str(number), _scales(names), _config(fp8_config(), architecture))
        expected = "checkpoint" if names in loaded else "default"
        assert (sglang.starts, _sources(sglang, "k")) == (True, [expected] * 2), names


@pytest.mark.parametrize(
    ("architecture", "file"), [("Gemma2ForCausalLM", "gemma2.py"), ("Cohere2ForCausalLM", "commandr.py")]
)
def test_sglang_gemma2_and_cohere_index_what_the_remap_leaves(
    tmp_path: Path, architecture: str, file: str
) -> None:
    # gemma2.py, commandr.py: maybe_remap_kv_scale_name leaves `q_scale` as it is and makes
    # `..attn.prob_scale` of Quark's prob name; `params_dict[name]` raises for both.
    where = f"python/sglang/srt/models/{file}"
    _, sglang, _ = _inspect(tmp_path / "q", _scales(LLM_COMPRESSOR), _config(fp8_config(), architecture))
    assert _failure(sglang) == ("KeyError", "'model.layers.0.self_attn.q_scale'", where)
    prob = {**_QUARK_KV, "prob": "model.layers.{layer}.self_attn.prob_output_scale"}
    _, sglang, _ = _inspect(tmp_path / "prob", _scales(prob), _config(fp8_config(), architecture))
    # The stacked rename meets `k_proj.output_scale` first.
    assert _failure(sglang) == ("KeyError", "'model.layers.0.self_attn.qkv_proj.output_scale'", where)
    kv = {kind: f"model.layers.{{layer}}.self_attn.{kind}_scale" for kind in "kv"}
    _, sglang, _ = _inspect(
        tmp_path / "kv", _scales({**kv, "prob": prob["prob"]}), _config(fp8_config(), architecture)
    )
    assert _failure(sglang) == ("KeyError", "'model.layers.0..attn.prob_scale'", where)


@pytest.mark.parametrize(
    ("architecture", "file"), [("Olmo3ForCausalLM", "olmo2.py"), ("MiMoForCausalLM", "mimo.py")]
)
def test_sglang_loaders_that_index_every_name(tmp_path: Path, architecture: str, file: str) -> None:
    # olmo2.py (configs/olmo3.py makes Olmo-3 an Olmo2ForCausalLM), mimo.py: no remap, and
    # `params_dict[name]` for every name but SGLang's own.
    _, sglang, _ = _inspect(tmp_path / "lc", _scales(LLM_COMPRESSOR), _config(fp8_config(), architecture))
    assert _failure(sglang) == (
        "KeyError",
        "'model.layers.0.self_attn.k_scale'",
        f"python/sglang/srt/models/{file}",
    )
    _, sglang, _ = _inspect(tmp_path / "own", _scales(_EXACT), _config(fp8_config(), architecture))
    assert _sources(sglang, "k") == ["checkpoint"] * 2


def test_sglang_hunyuan_holds_no_scale_and_indexes_some_names(tmp_path: Path) -> None:
    # hunyuan.py: RadixAttention without the quantization config, and Gemma-2's handling of names.
    where = "python/sglang/srt/models/hunyuan.py"
    kv = {"k": LLM_COMPRESSOR["k"], "v": LLM_COMPRESSOR["v"]}
    _, sglang, _ = _inspect(tmp_path / "kv", _scales(kv), _config(fp8_config(), "HunYuanMoEV1ForCausalLM"))
    assert (sglang.starts, _sources(sglang, "k")) == (True, ["default"] * 2)
    _, sglang, _ = _inspect(
        tmp_path / "q", _scales(LLM_COMPRESSOR), _config(fp8_config(), "HunYuanDenseV1ForCausalLM")
    )
    assert _failure(sglang) == ("KeyError", "'model.layers.0.self_attn.q_scale'", where)


def test_sglang_olmoe_skips_only_kv_scale(tmp_path: Path) -> None:
    _, sglang, _ = _inspect(tmp_path / "kv", _scales(_KV_SCALE), _config(fp8_config(), "OlmoeForCausalLM"))
    assert (sglang.starts, _sources(sglang, "k")) == (True, ["default"] * 2)
    _, sglang, _ = _inspect(
        tmp_path / "lc", _scales(LLM_COMPRESSOR), _config(fp8_config(), "OlmoeForCausalLM")
    )
    assert _failure(sglang) == (
        "KeyError",
        "'model.layers.0.self_attn.k_scale'",
        "python/sglang/srt/models/olmoe.py",
    )


def test_sglang_granite_moe_loads_through_mixtral(tmp_path: Path) -> None:
    # granitemoe.py hands its names to MixtralForCausalLM.load_weights, which stacks k_proj first.
    _, sglang, _ = _inspect(tmp_path, _scales(MODELOPT), _config(fp8_config(), "GraniteMoeForCausalLM"))
    assert _failure(sglang) == (
        "KeyError",
        "'model.layers.0.self_attn.qkv_proj.k_scale'",
        "python/sglang/srt/models/mixtral.py",
    )


def test_sglang_mixtral_modelopt_names_are_a_key_error(tmp_path: Path) -> None:
    # mixtral.py: the stacked rename makes `qkv_proj.k_scale`, and `params_dict[name]` raises.
    _, sglang, _ = _inspect(tmp_path, _scales(MODELOPT), _config(fp8_config(), "MixtralForCausalLM"))
    assert _failure(sglang) == (
        "KeyError",
        "'model.layers.0.self_attn.qkv_proj.k_scale'",
        "python/sglang/srt/models/mixtral.py",
    )


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

    write_named(tmp_path, _scales(LLM_COMPRESSOR), config=_config(compressed_tensors_config()))
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
