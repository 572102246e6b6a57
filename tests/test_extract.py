"""extract_scales on real safetensors checkpoints, sound and broken."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors

import quantparams
from checkpoints import (
    INDEX_NAME,
    Dtype,
    bf16,
    config_for,
    scale_name,
    shard_names,
    stored,
    write_checkpoint,
    write_legacy_checkpoint,
    write_safetensors,
    zeros,
)
from producers import compressed_tensors_config
from quant_configs import fp8_config, modelopt_flat_config
from quantparams import QuantParamError, QuantParamSchema, ValidationContext
from quantparams.checkpoint import (
    DEFAULT_OUTPUT_NAME,
    ExtractError,
    extract,
    extract_scales,
    inspect_checkpoint,
)
from quantparams.checkpoint import scan as scan_module
from quantparams.checkpoint.folder import OpenFile
from quantparams.checkpoint.header import Header, TensorInfo, read_floats, read_header, read_one_float

# Distinct k and v per layer, k the larger on even layers, v on odd ones.
SCALES = {
    0: (0.0152, 0.0113),
    1: (0.0187, 0.0391),
    2: (0.0149, 0.0101),
    3: (0.0201, 0.0625),
}
SHARD1, SHARD2 = shard_names(2)
DECLARED_STATIC = (
    "config.json quantization_config.kv_cache_quant_method declares static KV-cache quantization: calibrate "
    "the KV cache with a producer (llm-compressor, NVIDIA ModelOpt, AMD Quark), or serve without static "
    "scales (the engines use 1.0)"
)


def _reduced(reduce: str, dtype: Dtype = "F32") -> dict[int, float]:
    """The expected layer map: the reduce of k and v, each as the file stores it."""
    picks: dict[str, Callable[[float, float], float]] = {"max": max, "k": lambda k, v: k, "v": lambda k, v: v}
    pick = picks[reduce]
    return {layer: pick(stored(k, dtype), stored(v, dtype)) for layer, (k, v) in SCALES.items()}


def _problems(folder: Path, **kwargs: Any) -> list[str]:
    with pytest.raises(ExtractError) as caught:
        extract_scales(folder, **kwargs)
    assert caught.value.source == str(folder)
    return [str(problem) for problem in caught.value.problems]


def _round_trips(schema: QuantParamSchema, tp_size: int, num_layers: int) -> None:
    data = quantparams.dumps(schema)
    for rank in range(tp_size):
        context = ValidationContext(tp_size, rank, num_layers, schema.model_type)
        assert quantparams.loads(data, context) == schema


# ----------------------------------------------------------------- sound ones


def test_sharded_with_index(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, SCALES, shards=2)
    assert (tmp_path / INDEX_NAME).is_file()
    schema = extract_scales(tmp_path, tp_size=2)
    assert schema.model_type == "llama"
    assert schema.kv_cache.dtype == "float8_e4m3fn"
    assert schema.kv_cache.scaling_factor == {0: _reduced("max"), 1: _reduced("max")}
    # Every rank has the same layers: one read-only map serves them all.
    assert schema.kv_cache.scaling_factor[0] is schema.kv_cache.scaling_factor[1]
    _round_trips(schema, 2, 4)


@pytest.mark.parametrize("reduce", ["max", "k", "v"])
@pytest.mark.parametrize("style", ["k_v", "modelopt"])
def test_reduce_takes_max_k_or_v(tmp_path: Path, reduce: Any, style: Any) -> None:
    write_checkpoint(tmp_path, SCALES, style=style, shards=2)
    schema = extract_scales(tmp_path, reduce=reduce)
    assert schema.kv_cache.scaling_factor == {0: _reduced(reduce)}
    # Both k and v are larger somewhere, so "max" really picks per layer.
    if reduce == "max":
        assert _reduced("max") not in (_reduced("k"), _reduced("v"))


@pytest.mark.parametrize("reduce", ["max", "k", "v"])
def test_single_kv_scale_is_used_as_is(tmp_path: Path, reduce: Any) -> None:
    write_checkpoint(tmp_path, {0: 0.5, 1: 0.03125, 2: 0.75}, style="kv")
    schema = extract_scales(tmp_path, reduce=reduce, tp_size=3)
    assert schema.kv_cache.scaling_factor == {rank: {0: 0.5, 1: 0.03125, 2: 0.75} for rank in range(3)}
    _round_trips(schema, 3, 3)


def test_extract_tells_whether_reduce_played_a_part(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "k_v", SCALES)
    write_checkpoint(tmp_path / "kv", {0: 0.5, 1: 0.25}, style="kv")
    write_legacy_checkpoint(tmp_path / "legacy", {0: {0: 0.5}, 1: {0: 0.25}})
    # One layer with a single kv scale, the other with k and v: reduce makes the second.
    write_checkpoint(
        tmp_path / "mixed",
        {1: (0.5, 0.75)},
        config=config_for(2),
        extra_tensors={scale_name(0, "kv"): np.array(0.25, np.float32)},
    )
    found = {name: extract(tmp_path / name, reduce="k") for name in ("k_v", "kv", "legacy", "mixed")}
    assert {name: extraction.reduced for name, extraction in found.items()} == {
        "k_v": True,
        "kv": False,
        "legacy": False,
        "mixed": True,
    }
    assert found["mixed"].schema.kv_cache.scaling_factor == {0: {0: 0.25, 1: 0.5}}
    # extract_scales is the same extraction's file.
    assert all(extract_scales(tmp_path / name, reduce="k") == e.schema for name, e in found.items())


def test_shards_without_index(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, SCALES, shards=3, index=False)
    assert not (tmp_path / INDEX_NAME).exists()
    assert extract_scales(tmp_path).kv_cache.scaling_factor == {0: _reduced("max")}


def test_without_config_extract_refuses(tmp_path: Path) -> None:
    # What vLLM runs with depends on the quantization config and the architecture.
    write_checkpoint(tmp_path, SCALES, config=None)
    problems = _problems(tmp_path)
    assert problems[0] == (
        "config.json: no config.json: the values vLLM uses depend on the quantization config and the "
        "architecture it declares; put the model's config.json beside the safetensors files"
    )


def test_model_type_argument_overrides_config(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, SCALES)
    assert extract_scales(tmp_path, model_type="mistral").model_type == "mistral"
    untyped = {"num_hidden_layers": 4, "quantization_config": fp8_config()}
    write_checkpoint(tmp_path / "untyped", SCALES, config=untyped)
    assert extract_scales(tmp_path / "untyped").model_type is None
    assert extract_scales(tmp_path / "untyped", model_type="qwen2").model_type == "qwen2"


@pytest.mark.parametrize("dtype", ["F16", "BF16", "F32", "F64"])
@pytest.mark.parametrize("shape", [(), (1,)])
def test_scale_dtypes_and_shapes(tmp_path: Path, dtype: Dtype, shape: tuple[int, ...]) -> None:
    write_checkpoint(tmp_path, SCALES, shards=2, dtype=dtype, shape=shape)
    schema = extract_scales(tmp_path)
    assert schema.kv_cache.scaling_factor == {0: _reduced("max", dtype)}
    _round_trips(schema, 1, 4)


def test_bf16_values_are_exact(tmp_path: Path) -> None:
    # 0.0152 is not a bfloat16: the file keeps 0.01519775390625, and that is
    # what comes out, not the float32 0.0152 nor a value off by rounding.
    write_checkpoint(tmp_path, {0: 0.0152, 1: 2.0**-20, 2: 448.0}, style="kv", dtype="BF16")
    layers = extract_scales(tmp_path).kv_cache.scaling_factor[0]
    assert dict(layers) == {0: 0.01519775390625, 1: 2.0**-20, 2: 448.0}
    with safetensors.safe_open(tmp_path / "model.safetensors", framework="numpy") as file:
        assert file.get_slice(scale_name(0, "kv")).get_dtype() == "BF16"


def test_multimodal_prefix_and_text_config(tmp_path: Path) -> None:
    config = {
        "model_type": "llava",
        "text_config": {"model_type": "llama", "num_hidden_layers": 4},
        "vision_config": {"model_type": "clip_vision_model", "num_hidden_layers": 24},
        "quantization_config": fp8_config(),
    }
    # A vision tower's attention has no KV cache; a scale-like name there is not read.
    vision = {"vision_tower.vision_model.encoder.layers.0.self_attn.k_scale": np.array(9.0, np.float32)}
    write_checkpoint(tmp_path, SCALES, prefix="language_model.", config=config, extra_tensors=vision)
    schema = extract_scales(tmp_path)
    assert schema.model_type == "llama"
    assert schema.kv_cache.scaling_factor == {0: _reduced("max")}


def test_text_config_without_layer_count_falls_back(tmp_path: Path) -> None:
    config = {
        "model_type": "llava",
        "num_hidden_layers": 4,
        "text_config": {"model_type": "llama"},
        "quantization_config": modelopt_flat_config(),
    }
    write_checkpoint(tmp_path, SCALES, prefix="model.language_model.", style="modelopt", config=config)
    schema = extract_scales(tmp_path)
    assert schema.model_type == "llama"
    assert len(schema.kv_cache.scaling_factor[0]) == 4


def test_legacy_per_rank_files(tmp_path: Path) -> None:
    ranks = {0: {0: 0.25, 1: 0.5, 2: 0.125}, 1: {0: 0.75, 1: 1.5, 2: 0.0625}}
    write_legacy_checkpoint(tmp_path, ranks, config=config_for(3))
    schema = extract_scales(tmp_path)
    assert schema.kv_cache.scaling_factor == ranks
    assert extract_scales(tmp_path, tp_size=2) == schema
    _round_trips(schema, 2, 3)


def test_legacy_other_names_and_dtypes(tmp_path: Path) -> None:
    name = "transformer.layers.{layer}.attention.kv_cache_scaling_factor"
    write_legacy_checkpoint(tmp_path, {0: {0: 0.0152, 1: 3.0}}, dtype="BF16", name=name)
    schema = extract_scales(tmp_path, model_type="llama")
    assert schema.kv_cache.scaling_factor == {0: {0: stored(0.0152, "BF16"), 1: 3.0}}


def test_only_scale_tensors_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 1 GiB of weights, as holes in sparse files: real to every reader, free on disk.
    weights = {
        "model.embed_tokens.big": zeros("BF16", (1 << 14, 1 << 14)),
        "lm_head.weight": zeros("F32", (1 << 13, 1 << 14)),
    }
    write_checkpoint(tmp_path, SCALES, shards=3, extra_tensors=weights)
    # A shard the index names for weights only is never opened: this one is not even a safetensors file.
    index = json.loads((tmp_path / INDEX_NAME).read_text())
    index["weight_map"]["model.norm.weight"] = "weights-only.safetensors"
    (tmp_path / INDEX_NAME).write_text(json.dumps(index))
    (tmp_path / "weights-only.safetensors").write_bytes(b"not a safetensors file")

    opened: list[str] = []
    read: list[str] = []

    headers: list[Header] = []

    def spy_header(path: Path, name: str, stream: OpenFile | None = None) -> Header:
        opened.append(name)
        headers.append(read_header(path, name, stream))
        return headers[-1]

    def named(info: TensorInfo) -> list[str]:
        return [name for header in headers for name, one in header.tensors.items() if one == info]

    def spy_floats(header: Header, info: TensorInfo, file: OpenFile) -> tuple[float, ...]:
        read.extend(named(info))
        assert info.end - info.begin <= 8
        return read_floats(header, info, file)

    def spy_one_float(info: TensorInfo, file: OpenFile) -> float | None:
        read.extend(named(info))
        assert info.end - info.begin <= 8
        return read_one_float(info, file)

    monkeypatch.setattr(scan_module, "read_header", spy_header)
    monkeypatch.setattr(scan_module, "read_floats", spy_floats)
    monkeypatch.setattr(scan_module, "read_one_float", spy_one_float)
    schema = extract_scales(tmp_path)
    assert schema.kv_cache.scaling_factor == {0: _reduced("max")}
    assert sorted(opened) == sorted(shard_names(3))
    assert set(read) == {scale_name(layer, kind) for layer in SCALES for kind in ("k", "v")}


def test_default_output_name() -> None:
    assert DEFAULT_OUTPUT_NAME == "kv_cache_scales.json"


# ---------------------------------------------------------------- broken ones


def test_non_scalar_scale(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, {0: 0.5, 1: 0.25}, style="kv", shape=(8,))
    assert _problems(tmp_path) == [
        f'model.safetensors["{scale_name(0, "kv")}"]: expected a per-tensor scale (one value, such as shape [] or [1]), got shape [8]',
        f'model.safetensors["{scale_name(1, "kv")}"]: expected a per-tensor scale (one value, such as shape [] or [1]), got shape [8]',
    ]


def test_scale_of_a_dtype_that_is_not_a_float(tmp_path: Path) -> None:
    extra = {scale_name(1, "kv"): np.array([7, 7], dtype=np.int32)}
    write_checkpoint(tmp_path, {0: 0.5}, style="kv", extra_tensors=extra, config=config_for(2))
    assert _problems(tmp_path) == [
        f'model.safetensors["{scale_name(1, "kv")}"]: expected a scale stored as F16, BF16, F32 or F64, got I32',
        f'model.safetensors["{scale_name(1, "kv")}"]: expected a per-tensor scale (one value, such as shape [] or [1]), got shape [2]',
    ]


def test_gap_in_the_layers(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, {0: 0.5, 1: 0.5, 4: 0.5, 6: 0.5}, style="kv", config=config_for(7))
    assert _problems(tmp_path) == [
        "*.safetensors: vLLM 0.33.0 runs layers 2-3, 5 with k and v at 1.0: no such scale in the checkpoint"
    ]


def test_fewer_layers_than_config(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, SCALES, shards=2, config=config_for(6))
    assert _problems(tmp_path) == [
        f"{INDEX_NAME}: vLLM 0.33.0 runs layers 4-5 with k and v at 1.0: no such scale in the checkpoint"
    ]


def test_layers_that_keep_no_kv_cache(tmp_path: Path) -> None:
    # A hybrid's linear-attention layers have no scale, and the file needs one for every layer.
    config = {**config_for(4), "layer_types": ["full_attention", "linear_attention"] * 2}
    write_checkpoint(tmp_path, {0: (0.5, 0.25), 2: (0.5, 0.25)}, config=config)
    assert inspect_checkpoint(tmp_path).problems == ()
    assert _problems(tmp_path) == [
        "*.safetensors: no KV-cache scale for layers 1, 3 (layers 0..3 each need one: layers 1, 3 keep "
        "no KV cache, and engines that read the file look for attention there)"
    ]


def test_more_layers_than_config(tmp_path: Path) -> None:
    # Layer 3 is an MTP or draft layer: left out, with a note, not refused.
    config = {
        "model_type": "gemma3",
        "text_config": {"num_hidden_layers": 3},
        "quantization_config": fp8_config(),
    }
    write_checkpoint(tmp_path, SCALES, config=config)
    extraction = extract(tmp_path)
    assert extraction.schema.kv_cache.scaling_factor == {
        0: {k: v for k, v in _reduced("max").items() if k < 3}
    }
    assert extraction.left_out == (3,)
    assert extraction.notes == ("layer 3 past num_hidden_layers left out",)


@pytest.mark.parametrize("reduce", ["max", "k", "v"])
def test_only_k_is_k_for_v_under_fp8(tmp_path: Path, reduce: str) -> None:
    # fp8's method settles a v it lacks to k's value (kv_cache.py, process_weights_after_loading).
    write_checkpoint(tmp_path, {0: (0.5, 0.25), 1: (0.5, None)}, config=config_for(2))
    made = extract(tmp_path, reduce=reduce)  # type: ignore[arg-type]
    assert made.schema.kv_cache.scaling_factor == {0: {0: {"max": 0.5, "k": 0.5, "v": 0.25}[reduce], 1: 0.5}}


def test_only_v_keeps_vllm_from_starting_with_an_fp8_cache(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, {0: (0.5, 0.25), 1: (None, 0.125)}, config=config_for(2))
    assert _problems(tmp_path) == [
        "*.safetensors: vLLM 0.33.0: starts with the default --kv-cache-dtype auto, scales unused; "
        "with --kv-cache-dtype fp8 it will not start: AssertionError in kv_cache.py: "
        "assert layer.k_scale > 0.0"
    ]


def test_only_k_under_compressed_tensors_is_v_at_one(tmp_path: Path) -> None:
    # compressed-tensors starts each scale at 1.0 and never copies k into v.
    config = config_for(2, quantization=compressed_tensors_config())
    write_checkpoint(tmp_path, {0: (0.5, 0.25), 1: (0.5, None)}, config=config)
    assert _problems(tmp_path) == [
        "*.safetensors: vLLM 0.33.0 runs layer 1 with v at 1.0: no such scale in the checkpoint"
    ]


def test_only_k_with_reduce_k_is_fine(tmp_path: Path) -> None:
    # Under fp8, vLLM gives v k's value.
    write_checkpoint(tmp_path, {0: (0.5, None), 1: (0.25, None)}, config=config_for(2))
    assert extract_scales(tmp_path, reduce="k").kv_cache.scaling_factor == {0: {0: 0.5, 1: 0.25}}


def test_duplicate_layer_across_shards(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, SCALES, shards=2, index=False)
    # The second shard holds layer 0's k scale again, under a prefix.
    duplicate = f"language_model.{scale_name(0, 'k')}"
    write_safetensors(tmp_path / "model-extra.safetensors", {duplicate: np.array(0.5, np.float32)})
    assert _problems(tmp_path) == [
        f'model-extra.safetensors["{duplicate}"]: duplicate KV-cache scale for layer 0: '
        f'a k scale was already found in {SHARD1}["{scale_name(0, "k")}"]'
    ]


def test_kv_scale_beside_k_and_v(tmp_path: Path) -> None:
    # The single kv scale lands in the first shard, layer 2's k and v in the second.
    extra = {scale_name(2, "kv"): np.array(0.5, np.float32)}
    write_checkpoint(tmp_path, SCALES, shards=2, extra_tensors=extra)
    first = f'{SHARD1}["{scale_name(2, "kv")}"]'
    assert _problems(tmp_path) == [
        f'{SHARD2}["{scale_name(2, kind)}"]: duplicate KV-cache scale for layer 2: '
        f"a kv scale was already found in {first}"
        for kind in ("k", "v")
    ]


@pytest.mark.parametrize(
    ("value", "shown"), [(math.nan, "NaN"), (0.0, "0.0"), (-0.25, "-0.25"), (math.inf, "Infinity")]
)
@pytest.mark.parametrize("dtype", ["F16", "BF16", "F32"])
def test_unsound_scale_values(tmp_path: Path, value: float, shown: str, dtype: Dtype) -> None:
    write_checkpoint(tmp_path, {0: (0.5, 0.5), 1: (0.5, value)}, dtype=dtype)
    assert _problems(tmp_path) == [
        f'model.safetensors["{scale_name(1, "v")}"]: scale must be a finite number > 0, got {shown}'
    ]


def test_every_problem_is_listed(tmp_path: Path) -> None:
    # Layer 5 is past the model's layers, but an MTP layer would run with it: `validate` refuses it too.
    extra = {scale_name(5, "k"): np.zeros((2, 2), np.float32)}
    write_checkpoint(tmp_path, {0: (math.nan, 0.5), 1: (0.5, -1.0), 2: (None, 0.5)}, extra_tensors=extra)
    with pytest.raises(ExtractError) as caught:
        extract_scales(tmp_path)
    assert str(caught.value) == "\n".join(
        [
            f"{tmp_path}: 4 problems:",
            f'  model.safetensors["{scale_name(0, "k")}"]: scale must be a finite number > 0, got NaN',
            f'  model.safetensors["{scale_name(1, "v")}"]: scale must be a finite number > 0, got -1.0',
            f'  model.safetensors["{scale_name(5, "k")}"]: expected a per-tensor scale (one value, such as '
            "shape [] or [1]), got shape [2, 2]",
            "  *.safetensors: vLLM 0.33.0 runs layer 2 with k at 1.0: no such scale in the checkpoint",
        ]
    )


def test_no_scales_at_all(tmp_path: Path) -> None:
    weight = {"model.layers.0.self_attn.k_proj.weight": np.ones((2, 2))}
    write_checkpoint(tmp_path, {}, config=config_for(1), extra_tensors=weight)
    assert _problems(tmp_path) == [
        f"*.safetensors: found no KV-cache scale tensors among the 2 tensors of the file; {DECLARED_STATIC}"
    ]


def test_no_scales_names_the_lookalikes(tmp_path: Path) -> None:
    lookalike = "model.layers.0.self_attn.kv_cache_scaling_factor"
    extra = {lookalike: np.array(0.5, np.float32)}
    write_checkpoint(tmp_path, {}, shards=2, config=config_for(1), extra_tensors=extra)
    assert _problems(tmp_path) == [
        f'{SHARD1}["{lookalike}"]: named like a KV-cache scale, but no engine reads it',
        f"{INDEX_NAME}: found no KV-cache scale tensors among the 2 tensors of its weight_map; "
        f'named like scales, but no engine reads them: {SHARD1}["{lookalike}"]; {DECLARED_STATIC}',
    ]


def test_no_safetensors_files(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config_for(2)))
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x02")
    assert _problems(tmp_path) == ["*.safetensors: no safetensors files in the checkpoint folder"]


def test_index_points_to_a_missing_shard(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, SCALES, shards=2)
    (tmp_path / SHARD2).unlink()
    assert _problems(tmp_path) == [
        f'{SHARD2}: no such file, but {INDEX_NAME} places "{scale_name(2, "k")}" and 3 more scale tensors in it'
    ]


def test_index_names_a_tensor_the_shard_lacks(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, SCALES, shards=2)
    index = json.loads((tmp_path / INDEX_NAME).read_text())
    index["weight_map"][scale_name(4, "kv")] = SHARD1
    (tmp_path / INDEX_NAME).write_text(json.dumps(index))
    assert _problems(tmp_path) == [
        f'{SHARD1}["{scale_name(4, "kv")}"]: no such tensor in the file, but {INDEX_NAME} places it there'
    ]


def test_corrupt_safetensors_header(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, SCALES, shards=2)
    data = bytearray((tmp_path / SHARD2).read_bytes())
    data[8] = ord("[")
    (tmp_path / SHARD2).write_bytes(bytes(data))
    problems = _problems(tmp_path)
    assert problems[0].startswith(f"{SHARD2}: not a readable safetensors file: the header is not JSON: ")
    assert "\n" not in problems[0]


def test_truncated_safetensors_file(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, SCALES, shards=2, index=False)
    (tmp_path / SHARD1).write_bytes((tmp_path / SHARD1).read_bytes()[:-3])
    problems = _problems(tmp_path)
    assert problems[0].startswith(f"{SHARD1}: not a readable safetensors file: ")
    # Without an index its layers are unknown, not missing: the file is the one problem.
    assert problems[1:] == []


def test_corrupt_index_and_config(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, SCALES, shards=2)
    (tmp_path / INDEX_NAME).write_text('{"weight_map": ')
    (tmp_path / "config.json").write_text("[1, 2]")
    problems = _problems(tmp_path)
    assert problems[0] == "config.json: expected a JSON object, got [1,2]"
    assert problems[1].startswith(f"{INDEX_NAME}: not valid JSON: ")
    assert len(problems) == 2
    (tmp_path / INDEX_NAME).write_text('{"weight_map": [1]}')
    (tmp_path / "config.json").write_text("{")
    assert _problems(tmp_path)[0].startswith("config.json: not valid JSON: ")
    assert _problems(tmp_path)[1] == (
        f'{INDEX_NAME}: expected an object with a "weight_map" object mapping tensor names to file names'
    )


def test_config_with_a_bad_layer_count(tmp_path: Path) -> None:
    write_checkpoint(
        tmp_path,
        SCALES,
        config={"model_type": 7, "num_hidden_layers": "4", "quantization_config": fp8_config()},
    )
    assert _problems(tmp_path) == [
        'config.json: num_hidden_layers must be an integer >= 1, got "4"',
        "config.json: model_type must be a string, got 7",
    ]


# --------------------------------------------------------- broken legacy ones


def test_legacy_tp_size_disagrees(tmp_path: Path) -> None:
    write_legacy_checkpoint(tmp_path, {0: {0: 0.5}, 1: {0: 0.5}})
    assert _problems(tmp_path, tp_size=4) == [
        "rank*.safetensors: tp_size is 4 but the checkpoint has per-rank files for TP size 2"
    ]


def test_legacy_missing_rank(tmp_path: Path) -> None:
    write_legacy_checkpoint(tmp_path, {0: {0: 0.5}, 2: {0: 0.5}, 3: {0: 0.5}})
    assert _problems(tmp_path) == [
        "rank*.safetensors: no rank1.safetensors: per-rank files must be rank0..rank3 for TP size 4"
    ]


def test_legacy_layers_disagree_between_ranks(tmp_path: Path) -> None:
    write_legacy_checkpoint(tmp_path, {0: {0: 0.5, 1: 0.5}, 1: {0: 0.5}})
    assert _problems(tmp_path) == [
        "rank1.safetensors: no KV-cache scale for layer 1 "
        "(layers 0..1 each need one: scales were found up to layer 1 in some rank)"
    ]


def test_legacy_rank_without_scales_and_name_without_layer(tmp_path: Path) -> None:
    write_legacy_checkpoint(tmp_path, {0: {0: 0.5}})
    write_legacy_checkpoint(tmp_path, {1: {0: 0.5}}, name="kv_cache_scaling_factor")
    write_safetensors(tmp_path / "rank2.safetensors", {"model.layers.0.mlp.weight": np.ones((2, 2))})
    assert _problems(tmp_path) == [
        'rank1.safetensors["kv_cache_scaling_factor"]: cannot tell the layer: the name has no "layers.N." part',
        "rank2.safetensors: no tensor named like *.kv_cache_scaling_factor",
    ]


def test_legacy_duplicate_layer_and_bad_value(tmp_path: Path) -> None:
    write_legacy_checkpoint(tmp_path, {0: {0: 0.5, 1: -2.0}}, config=config_for(2))
    # A second name for layer 0 in the same file.
    tensors = {
        "model.layers.0.self_attn.kv_cache_scaling_factor": np.array([0.5], np.float32),
        "model.layers.0.attn.kv_cache_scaling_factor": np.array([0.25], np.float32),
        "model.layers.1.self_attn.kv_cache_scaling_factor": np.array([0.25], np.float32),
    }
    write_safetensors(tmp_path / "rank1.safetensors", tensors)
    assert _problems(tmp_path) == [
        'rank0.safetensors["model.layers.1.self_attn.kv_cache_scaling_factor"]: '
        "scale must be a finite number > 0, got -2.0",
        'rank1.safetensors["model.layers.0.self_attn.kv_cache_scaling_factor"]: duplicate KV-cache scale '
        'for layer 0: a kv scale was already found in rank1.safetensors["model.layers.0.attn.kv_cache_scaling_factor"]',
    ]


def test_legacy_files_beside_other_safetensors(tmp_path: Path) -> None:
    write_legacy_checkpoint(tmp_path, {0: {0: 0.5}})
    write_checkpoint(tmp_path, SCALES)
    assert _problems(tmp_path) == [
        "*.safetensors: per-rank files (rank0.safetensors) sit beside other safetensors files "
        "(model.safetensors): cannot tell which layout to read"
    ]


# ------------------------------------------------------ arguments and imports


def test_missing_folder_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        extract_scales(tmp_path / "nowhere")
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        extract_scales(tmp_path / "file")


def test_bad_arguments(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, SCALES)
    with pytest.raises(ValueError, match=r"^tp_size must be an integer >= 1, got 0$"):
        extract_scales(tmp_path, tp_size=0)
    with pytest.raises(ValueError, match=r'^reduce must be "max", "k" or "v", got "min"$'):
        extract_scales(tmp_path, reduce="min")  # type: ignore[arg-type]


def test_extract_error_is_a_quantparam_error(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, {0: 0.5, 2: 0.5}, style="kv", config=None)
    with pytest.raises(QuantParamError) as caught:
        extract_scales(str(tmp_path))
    assert isinstance(caught.value, ExtractError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("module", ["safetensors", "numpy"])
def test_extraction_needs_neither_safetensors_nor_numpy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str
) -> None:
    write_checkpoint(tmp_path, SCALES, dtype="BF16")
    monkeypatch.setitem(sys.modules, module, None)
    assert extract_scales(tmp_path).kv_cache.scaling_factor == {0: _reduced("max", "BF16")}


def test_importing_the_library_imports_neither_safetensors_nor_numpy() -> None:
    code = (
        "import sys, quantparams; assert 'quantparams.checkpoint' not in sys.modules; "
        "quantparams.extract; print([m for m in ('safetensors', 'numpy') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "[]\n"


def test_bf16_helper_writes_what_safetensors_reads(tmp_path: Path) -> None:
    # The hand-built writer is checked against safetensors itself.
    path = write_safetensors(
        tmp_path / "x.safetensors", {"a": bf16([1.5, -2.0]), "b": np.arange(3, dtype=np.float16)}
    )
    with safetensors.safe_open(path, framework="numpy") as file:
        assert file.get_slice("a").get_dtype() == "BF16"
        assert file.get_slice("a").get_shape() == [2]
        assert file.get_tensor("b").tolist() == [0.0, 1.0, 2.0]


# ------------------------------------------------------- absurd layer numbers


def test_a_layer_count_past_any_model(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, SCALES, config=config_for(10_000_000))
    assert _problems(tmp_path) == [
        "config.json: num_hidden_layers is 10000000, more layers than any model has (at most 65536): correct it"
    ]


def test_a_scale_of_a_layer_past_any_model(tmp_path: Path) -> None:
    tensor = "model.layers.50000000.self_attn.k_scale"
    write_checkpoint(tmp_path, SCALES, extra_tensors={tensor: np.array(0.5, np.float32)})
    assert _problems(tmp_path) == [
        f'model.safetensors["{tensor}"]: layer 50000000 is past any model\'s layers (0..65535): '
        "not read as a layer"
    ]


def test_legacy_rank_and_layer_past_any_model(tmp_path: Path) -> None:
    write_legacy_checkpoint(tmp_path, {0: {0: 0.5, 50_000_000: 0.5}, 99_999_999_999: {0: 0.5}})
    assert _problems(tmp_path) == [
        "rank99999999999.safetensors: TP rank 99999999999 is past any TP size's ranks (0..65535): "
        "the file is not read",
        'rank0.safetensors["model.layers.50000000.self_attn.kv_cache_scaling_factor"]: '
        "layer 50000000 is past any model's layers (0..65535): not read as a layer",
    ]
    # Only absurd rank files: nothing is read, and that is the one problem.
    for file in tmp_path.iterdir():
        file.unlink()
    write_legacy_checkpoint(tmp_path, {99_999_999_999: {0: 0.5}})
    assert _problems(tmp_path) == [
        "rank99999999999.safetensors: TP rank 99999999999 is past any TP size's ranks (0..65535): "
        "the file is not read"
    ]


def test_an_index_that_cannot_be_read(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, SCALES)
    (tmp_path / INDEX_NAME).mkdir()
    assert _problems(tmp_path) == [f"{INDEX_NAME}: cannot read: Is a directory"]
