"""The configs that declare a KV-cache scheme, and the rest of what the checkpoint side reads, on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkpoints import write_legacy_checkpoint, write_safetensors
from producers import fp8_config, model_config, write_named
from quantparams import ExtractError, KVCacheScheme, extract, extract_scales, inspect_checkpoint

KV = {"model.layers.0.self_attn.kv_scale": 0.5}
QUARK_OUTPUT = {"dtype": "fp8_e4m3", "qscheme": "per_tensor", "is_dynamic": False}


def _scheme(folder: Path, quantization: dict[str, Any] | None, where: str = "quantization_config") -> Any:
    config = model_config(1)
    if quantization is not None:
        config[where] = quantization
    write_named(folder, KV, config=config)
    inspection = inspect_checkpoint(folder)
    assert inspection.report is not None
    return inspection.report.kv_cache_scheme


@pytest.mark.parametrize(
    ("quantization", "expected"),
    [
        ({"quant_method": "compressed-tensors", "kv_cache_scheme": None}, None),
        (
            {
                "quant_method": "compressed_tensors",
                "kv_cache_scheme": {"strategy": "attn_head", "dynamic": True},
            },
            ("compressed-tensors", "kv_cache_scheme", "attn_head", True),
        ),
        ({"quant_method": "quark", "export": {"kv_cache_group": []}}, None),
        (
            {"quant_method": "quark", "export": {"kv_cache_group": ["*k_proj"]}, "layer_quant_config": {}},
            None,
        ),
        (
            {
                "quant_method": "quark",
                "export": {"kv_cache_group": ["*k_proj", "*v_proj"]},
                "layer_quant_config": {
                    "*k_proj": {
                        "output_tensors": {**QUARK_OUTPUT, "qscheme": "per_channel", "is_dynamic": True}
                    },
                    "*v_proj": {"output_tensors": {**QUARK_OUTPUT, "is_dynamic": True}},
                },
            },
            ("quark", "export.kv_cache_group", "attn_head", True),
        ),
        ({"quant_method": "fp8", "activation_scheme": "static"}, None),
        (
            {"quant_method": "fp8", "kv_cache_scheme": {"dynamic": True}},
            ("fp8", "kv_cache_scheme", "tensor", True),
        ),
        (
            {"quant_method": "fp8", "kv_cache_quant_method": "dynamic"},
            ("fp8", "kv_cache_quant_method", "tensor", True),
        ),
        (
            {"quant_method": "modelopt", "kv_cache_quant_algo": "FP8"},
            ("modelopt", "kv_cache_quant_algo", "tensor", False),
        ),
        ({"quant_method": "modelopt", "kv_cache_quant_algo": None}, None),
        ({"quant_method": "gptq", "bits": 4}, None),
        (
            {
                "quant_method": "quark",
                "export": {"kv_cache_group": [["*k_proj"]]},
                "layer_quant_config": {"a": 1},
            },
            None,
        ),
    ],
)
def test_config_schemes(
    tmp_path: Path, quantization: dict[str, Any], expected: tuple[str, str, str, bool] | None
) -> None:
    found = _scheme(tmp_path, quantization)
    if expected is None:
        assert found is None
    else:
        family, key, strategy, dynamic = expected
        assert found == KVCacheScheme(family, f"config.json quantization_config.{key}", strategy, dynamic)


def test_compression_config_and_text_config_are_read(tmp_path: Path) -> None:
    quantization = {"quant_method": "compressed-tensors", "kv_cache_scheme": {"strategy": "tensor"}}
    assert (
        _scheme(tmp_path / "compression", quantization, "compression_config").config == "compressed-tensors"
    )
    config = {"model_type": "llava", "text_config": {**model_config(1), "quantization_config": quantization}}
    write_named(tmp_path / "text", KV, config=config)
    report = inspect_checkpoint(tmp_path / "text").report
    assert report is not None
    assert report.kv_cache_scheme is not None
    assert (report.model_type, report.num_hidden_layers) == ("llama", 1)


def test_an_unreadable_or_broken_config(tmp_path: Path) -> None:
    write_named(tmp_path / "dir", KV)
    (tmp_path / "dir" / "config.json").mkdir()
    [problem] = inspect_checkpoint(tmp_path / "dir").problems
    assert (problem.path, problem.message.split(":")[0]) == ("config.json", "cannot read")
    config = {"num_hidden_layers": 1, "num_key_value_heads": 0, "quantization_config": fp8_config()}
    write_named(tmp_path / "heads", KV, config=config)
    assert [str(p) for p in inspect_checkpoint(tmp_path / "heads").problems] == [
        "config.json: num_key_value_heads must be an integer >= 1, got 0"
    ]


def test_duplicate_scales_in_the_report(tmp_path: Path) -> None:
    scales = {**KV, "model.layers.0.self_attn.k_scale": 0.25, "model.layers.0.self_attn.v_scale": 0.25}
    write_named(tmp_path, scales, config=model_config(1, fp8_config()))
    # Layer by layer, then by name: k_scale, kv_scale, v_scale.
    assert [str(problem) for problem in inspect_checkpoint(tmp_path).problems] == [
        'model.safetensors["model.layers.0.self_attn.kv_scale"]: duplicate KV-cache scale for layer 0: '
        'a k scale was already found in model.safetensors["model.layers.0.self_attn.k_scale"]',
        'model.safetensors["model.layers.0.self_attn.v_scale"]: duplicate KV-cache scale for layer 0: '
        'a kv scale was already found in model.safetensors["model.layers.0.self_attn.kv_scale"]',
    ]


def test_per_rank_files_left_out_layers_and_broken_files(tmp_path: Path) -> None:
    write_legacy_checkpoint(
        tmp_path / "mtp", {0: {0: 0.5, 1: 0.25}, 1: {0: 0.75, 1: 0.125}}, config=model_config(1)
    )
    made = extract(tmp_path / "mtp")
    assert made.schema.kv_cache.scaling_factor == {0: {0: 0.5}, 1: {0: 0.75}}
    assert made.left_out == (1,)

    # rank01 and rank1 both claim rank 1; rank0 is cut to 4 bytes.
    write_legacy_checkpoint(tmp_path / "broken", {0: {0: 0.5}, 1: {0: 0.5}})
    (tmp_path / "broken" / "rank01.safetensors").write_bytes(
        (tmp_path / "broken" / "rank1.safetensors").read_bytes()
    )
    (tmp_path / "broken" / "rank0.safetensors").write_bytes(b"\x00" * 4)
    with pytest.raises(ExtractError) as caught:
        extract_scales(tmp_path / "broken")
    assert [str(problem) for problem in caught.value.problems] == [
        "rank1.safetensors: TP rank 1 already has rank01.safetensors",
        "rank0.safetensors: not a readable safetensors file: 4 bytes, too short for the 8-byte header length",
    ]


def test_per_rank_scale_of_the_wrong_dtype_and_shape(tmp_path: Path) -> None:
    name = "model.layers.0.self_attn.kv_cache_scaling_factor"
    write_safetensors((tmp_path / "rank0.safetensors"), {name: np.array([[1, 2]], np.int32)})
    with pytest.raises(ExtractError) as caught:
        extract_scales(tmp_path)
    assert [str(problem) for problem in caught.value.problems] == [
        f'rank0.safetensors["{name}"]: expected a scale stored as F16, BF16, F32 or F64, got I32',
        f'rank0.safetensors["{name}"]: expected a per-tensor scale (one value, such as shape [] or [1]), got shape [1, 2]',
    ]


def test_bad_model_type_argument(tmp_path: Path) -> None:
    write_named(tmp_path, KV, config=model_config(1))
    with pytest.raises(ValueError, match=r"^model_type must be a string or None, got 3$"):
        extract(tmp_path, model_type=3)  # type: ignore[arg-type]


def test_json_of_the_scheme(tmp_path: Path) -> None:
    (tmp_path / "hf_quant_config.json").write_text(
        json.dumps({"quantization": {"kv_cache_quant_algo": "FP8"}})
    )
    scheme = _scheme(tmp_path, None)
    assert scheme.to_json() == {
        "config": "modelopt",
        "source": "hf_quant_config.json quantization.kv_cache_quant_algo",
        "strategy": "tensor",
        "dynamic": False,
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
# Keys the scheme readers look for, so that the fuzzed configs reach them.
KEYS = st.sampled_from(
    [
        "quant_method",
        "kv_cache_scheme",
        "export",
        "kv_cache_group",
        "layer_quant_config",
        "output_tensors",
        "kv_cache_quant_method",
        "kv_cache_quant_algo",
        "quantization",
        "strategy",
        "dynamic",
        "is_dynamic",
        "qscheme",
        "*k_proj",
        "num_hidden_layers",
        "num_key_value_heads",
        "text_config",
        "quantization_config",
        "quant_algo",
        "symmetric",
        "num_bits",
        "type",
        "model_type",
        "architectures",
        "kv_lora_rank",
        "layer_types",
        "layers_block_type",
        "hybrid_override_pattern",
        "attn_type_list",
        "full_attention_interval",
        "attn_layer_period",
        "attn_layer_offset",
        "num_attention_heads",
    ]
)
configs = st.recursive(
    json_values,
    lambda inner: st.dictionaries(KEYS, inner, max_size=4) | st.lists(inner, max_size=2),
    max_leaves=12,
)


leaves = st.dictionaries(KEYS, json_values, max_size=4) | json_values
unhashable = st.lists(st.text(max_size=2), max_size=1) | st.dictionaries(
    st.text(max_size=2), st.none(), max_size=1
)
# Each config's own shape, with anything at its leaves, and the quant_method it goes with.
shaped = st.one_of(
    st.tuples(
        st.just("quark"),
        st.fixed_dictionaries(
            {
                "export": st.fixed_dictionaries(
                    {"kv_cache_group": st.lists(st.just("*k_proj") | unhashable | json_values, max_size=3)}
                )
                | leaves,
                "layer_quant_config": st.dictionaries(
                    st.just("*k_proj") | st.text(max_size=3),
                    st.fixed_dictionaries({"output_tensors": leaves}) | leaves,
                )
                | leaves,
            }
        ),
    ),
    st.tuples(
        st.sampled_from(["compressed-tensors", "fp8"]),
        st.fixed_dictionaries(
            {"kv_cache_scheme": leaves | unhashable, "kv_cache_quant_method": json_values | unhashable}
        ),
    ),
    st.tuples(st.just("modelopt"), st.fixed_dictionaries({"kv_cache_quant_algo": json_values | unhashable})),
    st.tuples(json_values, st.dictionaries(KEYS, configs, max_size=4)),
)


@given(shaped, configs, st.dictionaries(KEYS, configs, max_size=4))
def test_fuzzed_configs_never_crash(
    tmp_path_factory: pytest.TempPathFactory,
    shaped_config: tuple[object, dict[str, Any]],
    modelopt: Any,
    model: dict[str, Any],
) -> None:
    method, quantization = shaped_config
    folder = tmp_path_factory.mktemp("config")
    config = {**model_config(1), **model, "quantization_config": {"quant_method": method, **quantization}}
    write_named(folder, {**KV, "model.layers.0.self_attn.q_scale": [0.5, 0.25]}, config=config)
    (folder / "hf_quant_config.json").write_text(json.dumps(modelopt))
    inspection = inspect_checkpoint(folder, engines=("vllm", "sglang"))
    assert inspection.report is not None
    assert all("\n" not in problem.message for problem in inspection.problems)


def test_a_kv_cache_scheme_that_is_not_an_object(tmp_path: Path) -> None:
    config = model_config(1, {"quant_method": "compressed-tensors", "kv_cache_scheme": "fp8"})
    write_named(tmp_path, KV, config=config)
    inspection = inspect_checkpoint(tmp_path)
    messages = [str(problem) for problem in inspection.problems]
    assert messages[0] == (
        'config.json: quantization_config.kv_cache_scheme must be an object (such as {"num_bits": 8, '
        '"type": "float", "strategy": "tensor"}), got "fp8"'
    )
    # CompressedTensorsKVCacheMethod.validate_kv_cache_scheme calls .get on it.
    assert messages[1] == (
        "config.json: vLLM 0.33.0: will not start: AttributeError in compressed_tensors.py: "
        "'str' object has no attribute 'get'"
    )


def test_no_config_json_is_a_warning(tmp_path: Path) -> None:
    write_named(tmp_path, KV)
    [warning] = [w.message for w in inspect_checkpoint(tmp_path).warnings if "config.json" in w.message]
    assert warning.startswith(
        "no config.json: the layer count, the attention layers and the quantization config"
    )
