"""inspect_checkpoint on checkpoints written in each producer's naming and config."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import quantparams
from checkpoints import INDEX_NAME
from documents import matching
from producers import (
    PRODUCERS,
    compressed_tensors_config,
    fp8_config,
    model_config,
    modelopt_quant_config,
    quark_config,
    write_named,
)
from quantparams import CheckpointInspection, inspect_checkpoint
from quantparams.checkpoint import folder as folder_module
from recorded_names import recorded

LAYERS = 3
NO_SCHEME = (
    "config.json quantization_config.kv_cache_scheme, export.kv_cache_group or kv_cache_quant_method, "
    "or hf_quant_config.json kv_cache_quant_algo"
)

# (producer naming, the config it comes with, its family, hf_quant_config.json)
SOUND: dict[str, tuple[str, dict[str, Any] | None, str, dict[str, Any] | None]] = {
    "llm-compressor": ("llm-compressor", compressed_tensors_config(), "compressed-tensors", None),
    "quark": ("quark", quark_config(), "quark", None),
    "fp8-output-scale": ("llm-compressor-old", fp8_config(), "fp8", None),
    "modelopt": ("modelopt", None, "modelopt", modelopt_quant_config()),
    "fused-qkv": ("fused-qkv", compressed_tensors_config(), "compressed-tensors", None),
    "fused-qkqkv": ("fused-qkqkv", fp8_config(), "fp8", None),
    "nemotron-h": ("nemotron-h", compressed_tensors_config(), "compressed-tensors", None),
    "hunyuan": ("hunyuan", fp8_config(), "fp8", None),
    "legacy-kv": ("legacy-kv", fp8_config(), "fp8", None),
}


def _scale(layer: int, kind: str) -> float:
    return {"q": 0.5, "k": 0.25, "v": 0.125, "prob": 1.5, "kv": 0.375}[kind] * (layer + 1)


def _write(
    folder: Path, producer: str, config: dict[str, Any] | None, layers: int = LAYERS, **kw: Any
) -> Path:
    names = PRODUCERS[producer]
    scales = {
        tensor.format(layer=layer): _scale(layer, kind)
        for layer in range(layers)
        for kind, tensor in names.items()
    }
    return write_named(folder, scales, config=model_config(LAYERS, config), **kw)


def _messages(problems: tuple[quantparams.Problem, ...]) -> list[str]:
    return [f"{problem.path}: {problem.message}" for problem in problems]


@pytest.mark.parametrize("name", sorted(SOUND))
def test_each_producers_sound_checkpoint(tmp_path: Path, name: str) -> None:
    producer, config, family, modelopt = SOUND[name]
    folder = _write(tmp_path, producer, config, modelopt=modelopt)
    inspection = inspect_checkpoint(folder)
    # vLLM's fp8 and Quark configs leave `--kv-cache-dtype auto` unquantized (only ModelOpt's
    # `resolve_kv_cache_dtype_string` and compressed-tensors' Attention.__init__ turn it to fp8).
    unquantized = (
        "*.safetensors: vLLM 0.33.0 keeps the KV cache in the model's dtype under this config unless "
        "served with --kv-cache-dtype fp8: these scales are used only then"
    )
    expected = [unquantized] if family in ("fp8", "quark") else []
    assert (inspection.problems, _messages(inspection.warnings)) == ((), expected)
    assert inspection.ok
    [vllm, _] = inspection.engines
    assert (vllm.starts, vllm.kv_cache_method, len(vllm.layers)) == (True, family, LAYERS)
    v_source = "k" if producer == "legacy-kv" else "checkpoint"
    assert {(layer.k.source, layer.v.source) for layer in vllm.layers} == {("checkpoint", v_source)}
    report = inspection.report
    assert report is not None
    assert (report.model_type, report.num_hidden_layers) == ("llama", LAYERS)
    assert report.kv_cache_scheme is not None
    assert report.kv_cache_scheme.config == family
    assert [layer.layer for layer in report.layers] == list(range(LAYERS))
    for layer in report.layers:
        for kind in ("q", "k", "v", "prob"):
            entry = getattr(layer, kind)
            source = "kv" if kind in ("k", "v") and "kv" in PRODUCERS[producer] else kind
            if source not in PRODUCERS[producer]:
                assert entry is None
                continue
            tensor = PRODUCERS[producer][source].format(layer=layer.layer)
            assert (entry.file, entry.tensor, entry.dtype, entry.shape) == (
                "model.safetensors",
                tensor,
                "F32",
                (),
            )
            assert entry.values == (_scale(layer.layer, source),)
            pair = recorded(tensor, family)
            assert pair is not None, tensor
            assert entry.vllm_name == pair[0]
            assert entry.vllm_name is not None


def test_the_json_document(tmp_path: Path) -> None:
    folder = _write(tmp_path, "legacy-kv", fp8_config(), shards=2)
    document = inspect_checkpoint(folder).to_json()
    assert list(document) == ["path", "ok", "problems", "warnings", "report", "engines"]
    assert (document["path"], document["ok"], document["problems"]) == (str(folder), True, [])
    report = document["report"]
    assert list(report) == ["model_type", "num_hidden_layers", "kv_cache_scheme", "layers"]
    assert report["kv_cache_scheme"] == {
        "config": "fp8",
        "source": "config.json quantization_config.kv_cache_quant_method",
        "strategy": "tensor",
        "dynamic": False,
    }
    first = report["layers"][0]
    kv = {
        "file": "model-00001-of-00002.safetensors",
        "tensor": "model.layers.0.self_attn.kv_scale",
        "dtype": "F32",
        "shape": [],
        "values": [0.375],
        "vllm_name": "model.layers.0.self_attn.attn.k_scale",
    }
    # A fused kv_scale fills both k and v.
    assert first == {"layer": 0, "scales": {"q": None, "k": kv, "v": kv, "prob": None}}
    assert json.loads(json.dumps(document)) == document
    # vLLM maps the fused kv_scale to k (base_config.py, get_cache_scale_mapper), and
    # BaseKVCacheMethod.process_weights_after_loading (kv_cache.py) gives v k's value.
    [vllm, sglang] = document["engines"]
    assert {key: vllm[key] for key in ("engine", "release", "starts", "failure", "kv_cache_method")} == {
        "engine": "vllm",
        "release": "0.33.0",
        "starts": True,
        "failure": None,
        "kv_cache_method": "fp8",
    }
    assert list(vllm) == [
        "engine",
        "release",
        "starts",
        "failure",
        "kv_cache_method",
        "layers",
        "failure_with_fp8_cache",
        "transformers_backend",
    ]
    assert (vllm["failure_with_fp8_cache"], vllm["transformers_backend"]) == (None, None)
    default = {"value": 1.0, "from": "default", "tensor": None, "per_head": None}
    tensor = "model.layers.0.self_attn.kv_scale"
    assert vllm["layers"][0] == {
        "layer": 0,
        "q": default,
        "k": {"value": 0.375, "from": "checkpoint", "tensor": tensor, "per_head": None},
        "v": {"value": 0.375, "from": "k", "tensor": tensor, "per_head": None},
        "prob": default,
    }
    assert [layer["layer"] for layer in vllm["layers"]] == [0, 1, 2]
    assert (sglang["engine"], sglang["release"], sglang["layers"][2]["v"]["from"]) == (
        "sglang",
        "0.5.23",
        "k",
    )


def test_output_scale_names_under_compressed_tensors_stop_vllm(tmp_path: Path) -> None:
    # CompressedTensorsConfig keeps the base cache-scale mapper (base_config.py), which
    # leaves `k_proj.output_scale` as it is; the stacked rename makes it qkv_proj's, a
    # parameter no such module has, and AutoWeightsLoader._load_module (models/utils.py)
    # raises: the suffix is not one a quantization config lets it ignore.
    folder = _write(tmp_path, "llm-compressor-old", compressed_tensors_config(), layers=1)
    inspection = inspect_checkpoint(folder)
    assert _messages(inspection.problems) == [
        'model.safetensors["model.layers.0.self_attn.k_proj.output_scale"]: vLLM 0.33.0: will not start: '
        "ValueError in utils.py: There is no module or parameter named "
        "'model.layers.0.self_attn.qkv_proj.output_scale' in the model"
    ]
    assert inspection.report is not None
    assert inspection.report.layers[0].k is not None
    assert inspection.report.layers[0].k.vllm_name is None
    assert inspection.engines[0].layers == ()


def test_a_layer_without_scales_and_k_without_v(tmp_path: Path) -> None:
    scales = {
        "model.layers.0.self_attn.k_scale": 0.5,
        "model.layers.0.self_attn.v_scale": 0.5,
        "model.layers.1.self_attn.k_scale": 0.5,
    }
    # CompressedTensorsKVCacheMethod.create_weights (compressed_tensors.py) starts each
    # scale at torch.ones and nothing copies k into v.
    folder = write_named(tmp_path, scales, config=model_config(3, compressed_tensors_config()))
    assert _messages(inspect_checkpoint(folder).problems) == [
        "*.safetensors: vLLM 0.33.0 runs layer 2 with k and v at 1.0: no such scale in the checkpoint",
        "*.safetensors: vLLM 0.33.0 runs layer 1 with v at 1.0: no such scale in the checkpoint",
    ]
    # Under fp8, BaseKVCacheMethod.process_weights_after_loading (kv_cache.py) gives v k's value.
    folder = write_named(tmp_path / "fp8", scales, config=model_config(3, fp8_config()))
    assert _messages(inspect_checkpoint(folder).problems) == [
        "*.safetensors: vLLM 0.33.0 runs layer 2 with k and v at 1.0: no such scale in the checkpoint",
    ]


def test_a_tensor_named_like_a_scale_that_no_engine_reads(tmp_path: Path) -> None:
    scales = {
        "model.layers.0.self_attn.kv_scale": 0.5,
        "model.layers.0.self_attn.kv_cache_scaling_factor": 0.5,
    }
    folder = write_named(tmp_path, scales, config=model_config(1, fp8_config()))
    assert _messages(inspect_checkpoint(folder).problems) == [
        'model.safetensors["model.layers.0.self_attn.kv_cache_scaling_factor"]: '
        "named like a KV-cache scale, but no engine reads it"
    ]


def test_a_second_fused_scale_of_a_layer_is_one_problem(tmp_path: Path) -> None:
    scales = {
        "model.layers.0.self_attn.kv_scale": 0.5,
        "language_model.model.layers.0.self_attn.kv_scale": 0.25,
    }
    folder = write_named(tmp_path, scales, config=model_config(1, fp8_config()))
    assert _messages(inspect_checkpoint(folder).problems) == [
        'model.safetensors["model.layers.0.self_attn.kv_scale"]: duplicate KV-cache scale for layer 0: '
        'a kv scale was already found in model.safetensors["language_model.model.layers.0.self_attn.kv_scale"]'
    ]


def test_a_tensors_problem_carries_its_layer(tmp_path: Path) -> None:
    scales = {
        "model.layers.0.self_attn.k_scale": 0.5,
        "model.layers.0.self_attn.v_scale": 0.5,
        "model.layers.1.self_attn.k_scale": 0.5,
        "model.layers.1.self_attn.v_scale": -1.0,
        "model.layers.12.self_attn.kv_cache_scaling_factor": 0.5,
    }
    folder = write_named(tmp_path, scales, config=model_config(13, compressed_tensors_config()))
    problems = inspect_checkpoint(folder).problems
    layers = {problem.path: problem.layer for problem in problems}
    assert layers['model.safetensors["model.layers.1.self_attn.v_scale"]'] == 1
    assert layers['model.safetensors["model.layers.12.self_attn.kv_cache_scaling_factor"]'] == 12
    # What concerns the whole folder comes last, and names no one layer.
    assert problems[-1].layer is None
    assert [problem.layer for problem in problems[:-1]] == [1, 12]


@pytest.mark.parametrize(
    ("value", "shown"), [(math.nan, "NaN"), (0.0, "0.0"), (-2.0, "-2.0"), (math.inf, "Infinity")]
)
def test_unsound_values(tmp_path: Path, value: float, shown: str) -> None:
    scales = {"model.layers.0.self_attn.k_scale": 0.5, "model.layers.0.self_attn.v_scale": value}
    folder = write_named(tmp_path, scales, config=model_config(1, compressed_tensors_config()))
    assert _messages(inspect_checkpoint(folder).problems) == [
        f'model.safetensors["model.layers.0.self_attn.v_scale"]: scale must be a finite number > 0, got {shown}'
    ]


def test_a_dtype_that_is_not_a_float_and_a_shape_that_fits_nothing(tmp_path: Path) -> None:
    import numpy as np

    extra = {
        "model.layers.0.self_attn.k_scale": np.array([3], np.int32),
        "model.layers.0.self_attn.v_scale": np.ones(3, np.float32),
    }
    folder = write_named(
        tmp_path, {}, config=model_config(1, compressed_tensors_config()), extra_tensors=extra
    )
    inspection = inspect_checkpoint(folder)
    assert _messages(inspection.problems) == [
        'model.safetensors["model.layers.0.self_attn.k_scale"]: expected a scale stored as F16, BF16, F32 or F64, got I32',
        'model.safetensors["model.layers.0.self_attn.v_scale"]: expected a per-tensor scale (one value, such as shape [] or [1]) '
        "or one per head (shape [2] or [2, 1, 1]: config.json num_key_value_heads is 2), got shape [3]",
    ]
    assert inspection.report is not None
    assert inspection.report.layers[0].v is not None
    assert inspection.report.layers[0].v.values == ()


def test_per_head_scales_against_the_declared_strategy(tmp_path: Path) -> None:
    per_head = {
        "model.layers.0.self_attn.q_scale": [0.5, 0.25, 0.75, 1.0],
        "model.layers.0.self_attn.k_scale": [0.5, 0.25],
        "model.layers.0.self_attn.v_scale": [0.125, 0.375],
    }
    heads = write_named(
        tmp_path / "heads", per_head, config=model_config(1, compressed_tensors_config("attn_head"))
    )
    inspection = inspect_checkpoint(heads)
    assert inspection.ok
    # compressed_tensors.py `_tp_aware_loader`: q is reduced by max over each KV head's
    # query heads; process_weights_after_loading gives the backend the largest.
    [view] = [view.layers[0] for view in inspection.engines if view.engine == "vllm"]
    assert (view.q.per_head, view.q.value, view.k.per_head, view.k.value) == (
        (0.5, 1.0),
        1.0,
        (0.5, 0.25),
        0.5,
    )
    assert inspection.report is not None
    layer = inspection.report.layers[0]
    assert layer.q is not None
    assert layer.k is not None
    assert (layer.q.shape, layer.q.values, layer.k.values) == ((4,), (0.5, 0.25, 0.75, 1.0), (0.5, 0.25))

    declared_tensor = write_named(
        tmp_path / "tensor", per_head, config=model_config(1, compressed_tensors_config())
    )
    declared_heads = write_named(
        tmp_path / "head",
        {"model.layers.0.self_attn.k_scale": 0.5, "model.layers.0.self_attn.v_scale": 0.5},
        config=model_config(1, compressed_tensors_config("attn_head")),
    )
    # Per tensor, the parameter holds one value: default_weight_loader (weight_utils.py) asserts.
    assert _messages(inspect_checkpoint(declared_tensor).problems) == [
        'model.safetensors["model.layers.0.self_attn.k_scale"]: vLLM 0.33.0: will not start: AssertionError '
        "in weight_utils.py: Attempted to load weight (torch.Size([2])) into parameter (torch.Size([1]))"
    ]
    # One value under attn_head fills every head (`_tp_aware_loader` copies it into each).
    inspection = inspect_checkpoint(declared_heads)
    assert inspection.ok
    assert inspection.engines[0].layers[0].k.value == 0.5


def test_a_prob_scale_under_compressed_tensors_stops_vllm(tmp_path: Path) -> None:
    # CompressedTensorsKVCacheMethod.create_weights makes no prob parameter, and
    # AutoWeightsLoader ignores only q, k and v suffixes (base_config.py).
    scales = {"model.layers.0.self_attn.k_scale": 0.5, "model.layers.0.self_attn.v_scale": 0.5}
    scales["model.layers.0.self_attn.attn.prob_scale"] = 0.5
    folder = write_named(tmp_path, scales, config=model_config(1, compressed_tensors_config("attn_head")))
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["LlamaForCausalLM"]}))
    assert _messages(inspect_checkpoint(folder).problems) == [
        'model.safetensors["model.layers.0.self_attn.attn.prob_scale"]: vLLM 0.33.0: will not start: '
        "ValueError in utils.py: There is no module or parameter named 'layers.0.self_attn.attn.prob_scale' "
        "in LlamaModel"
    ]


@pytest.mark.parametrize(
    ("config", "modelopt", "source"),
    [
        (compressed_tensors_config(), None, "config.json quantization_config.kv_cache_scheme"),
        (quark_config(), None, "config.json quantization_config.export.kv_cache_group"),
        (fp8_config(), None, "config.json quantization_config.kv_cache_quant_method"),
        (None, modelopt_quant_config(), "hf_quant_config.json quantization.kv_cache_quant_algo"),
    ],
)
def test_a_declared_static_scheme_without_scales(
    tmp_path: Path, config: dict[str, Any] | None, modelopt: dict[str, Any] | None, source: str
) -> None:
    folder = write_named(tmp_path, {}, config=model_config(2, config), modelopt=modelopt)
    [problem] = _messages(inspect_checkpoint(folder).problems)
    assert problem.startswith("*.safetensors: found no KV-cache scale tensors among the 1 tensor of the file")
    assert f"; {source} declares static KV-cache quantization: calibrate the KV cache" in problem


def test_a_dynamic_scheme_needs_no_scales(tmp_path: Path) -> None:
    folder = write_named(tmp_path, {}, config=model_config(2, compressed_tensors_config(dynamic=True)))
    assert inspect_checkpoint(folder).ok


def test_warnings(tmp_path: Path) -> None:
    ones = {f"model.layers.{layer}.self_attn.kv_scale": 1.0 for layer in range(4)}
    # fp8 without a declared KV-cache scheme: Fp8Config still gives Attention its KV-cache method.
    folder = write_named(tmp_path, ones, config=model_config(2, {"quant_method": "fp8"}))
    inspection = inspect_checkpoint(folder)
    assert inspection.ok
    assert _messages(inspection.warnings) == [
        "*.safetensors: every KV-cache scale is exactly 1.0: an uncalibrated export?",
        f"*.safetensors: the checkpoint has KV-cache scales, but no config declares a KV-cache scheme ({NO_SCHEME})",
        "*.safetensors: layers 2-3 past config.json num_hidden_layers = 2 (MTP or draft layers?): "
        "reported, not checked as model layers",
        "*.safetensors: vLLM 0.33.0 keeps the KV cache in the model's dtype under this config unless "
        "served with --kv-cache-dtype fp8: these scales are used only then",
    ]
    assert inspection.report is not None
    assert [layer.layer for layer in inspection.report.layers] == [0, 1, 2, 3]


def test_mtp_layers_are_not_checked_as_model_layers(tmp_path: Path) -> None:
    # Layer 2 is an MTP layer with a k scale only: reported, not a problem.
    scales = {f"model.layers.{layer}.self_attn.{kind}_scale": 0.5 for layer in range(2) for kind in "kv"}
    scales["model.layers.2.self_attn.k_scale"] = 0.25
    folder = write_named(tmp_path, scales, config=model_config(2, compressed_tensors_config()))
    inspection = inspect_checkpoint(folder)
    assert inspection.ok
    assert [warning.message.split(" past")[0] for warning in inspection.warnings] == ["layer 2"]


def test_an_index_that_points_outside_the_folder(tmp_path: Path) -> None:
    folder = _write(tmp_path / "ckpt", "legacy-kv", fp8_config(), shards=2)
    index = json.loads((folder / INDEX_NAME).read_text())
    index["weight_map"]["model.layers.0.self_attn.kv_scale"] = "../elsewhere.safetensors"
    (folder / INDEX_NAME).write_text(json.dumps(index))
    assert _messages(inspect_checkpoint(folder).problems)[0] == (
        f'{INDEX_NAME}: weight_map["model.layers.0.self_attn.kv_scale"] must be the name of a file in the folder, '
        'got "../elsewhere.safetensors"'
    )


@given(
    st.lists(st.sampled_from(["a.safetensors", "..", ".", "", "sub", "...", "\\"]), max_size=4).map("/".join)
)
def test_an_index_file_name_is_inside_the_folder_as_a_path_says(file: str) -> None:
    path = PurePosixPath(file)
    inside = bool(path.parts) and not path.is_absolute() and ".." not in path.parts
    assert folder_module._inside(file) == inside


def test_unreadable_folders_have_no_report(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "empty").mkdir()
    for folder, reason in [
        (tmp_path / "nowhere", "No such file or directory"),
        (tmp_path / "file", "Not a directory"),
        (tmp_path / "empty", "no safetensors files in the checkpoint folder"),
    ]:
        inspection = inspect_checkpoint(folder)
        assert inspection == CheckpointInspection(
            str(folder), (quantparams.Problem(str(folder), reason),), (), None
        )
        assert inspection.to_json()["report"] is None
        assert not inspection.ok


def _hf_cache(root: Path, source: Path) -> Path:
    """`source`'s files as a Hugging Face cache entry: blobs, a snapshot of links to them, refs/main."""
    entry = root / "models--org--llama-fp8"
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = entry / "snapshots" / revision
    (entry / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for number, file in enumerate(matching(source)):
        blob = entry / "blobs" / f"{number:064x}"
        blob.write_bytes(file.read_bytes())
        os.symlink(os.path.relpath(blob, snapshot), snapshot / file.name)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(revision)
    return entry


def test_a_hugging_face_cache_snapshot(tmp_path: Path) -> None:
    source = _write(tmp_path / "source", "modelopt", None, modelopt=modelopt_quant_config(), shards=2)
    entry = _hf_cache(tmp_path / "hub", source)
    [snapshot] = (entry / "snapshots").iterdir()
    assert (snapshot / INDEX_NAME).is_symlink()
    expected = inspect_checkpoint(source)
    assert expected.ok
    for folder in (entry, snapshot):
        inspection = inspect_checkpoint(folder)
        assert (inspection.ok, inspection.report) == (True, expected.report)
    # Without refs/main, the one snapshot there is.
    (entry / "refs" / "main").unlink()
    assert inspect_checkpoint(entry).report == expected.report
    (entry / "refs" / "main").write_text("feedface")
    [problem] = inspect_checkpoint(entry).problems
    assert problem.message == "refs/main names snapshot feedface, which is not in snapshots/"


def test_a_vision_towers_scales_are_not_the_language_models(tmp_path: Path) -> None:
    config = {"model_type": "llava", "text_config": model_config(1, compressed_tensors_config())}
    scales = {
        "language_model.model.layers.0.self_attn.k_scale": 0.5,
        "language_model.model.layers.0.self_attn.v_scale": 0.5,
        "vision_tower.vision_model.encoder.layers.0.self_attn.k_scale": 0.5,
    }
    write_named(tmp_path, scales, config=config)
    inspection = inspect_checkpoint(tmp_path)
    assert _messages(inspection.problems) == []
    assert _messages(inspection.warnings) == [
        "*.safetensors: 1 scale tensors of vision_tower.vision_model.encoder.layers, a vision, audio or MTP "
        "tower: reported apart, not checked as the language model's layers"
    ]
    assert inspection.report is not None
    assert [layer.layer for layer in inspection.report.layers] == [0]


def test_a_layer_count_and_a_layer_past_any_model(tmp_path: Path) -> None:
    config = model_config(10_000_000, compressed_tensors_config())
    scales = {f"model.layers.0.self_attn.{kind}_scale": 0.5 for kind in "kv"}
    folder = write_named(tmp_path / "count", scales, config=config)
    assert _messages(inspect_checkpoint(folder).problems) == [
        "config.json: num_hidden_layers is 10000000, more layers than any model has (at most 65536): correct it"
    ]
    scales["model.layers.50000000.self_attn.k_scale"] = 0.5
    folder = write_named(tmp_path / "layer", scales, config=model_config(1, compressed_tensors_config()))
    assert _messages(inspect_checkpoint(folder).problems) == [
        'model.safetensors["model.layers.50000000.self_attn.k_scale"]: '
        "layer 50000000 is past any model's layers (0..65535): not read as a layer"
    ]


def test_an_index_that_cannot_be_read(tmp_path: Path) -> None:
    folder = _write(tmp_path, "legacy-kv", fp8_config())
    (folder / INDEX_NAME).mkdir()
    inspection = inspect_checkpoint(folder)
    assert _messages(inspection.problems) == [f"{INDEX_NAME}: cannot read: Is a directory"]


def test_a_refs_main_that_is_not_text(tmp_path: Path) -> None:
    source = _write(tmp_path / "source", "modelopt", None, modelopt=modelopt_quant_config())
    entry = _hf_cache(tmp_path / "hub", source)
    (entry / "refs" / "main").write_bytes(b"\xff\xfe\x80 not utf-8")
    # As without refs/main: the one snapshot there is.
    inspection = inspect_checkpoint(entry)
    assert (inspection.ok, inspection.report) == (True, inspect_checkpoint(source).report)


def test_snapshots_that_cannot_be_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _write(tmp_path / "source", "modelopt", None, modelopt=modelopt_quant_config())
    entry = _hf_cache(tmp_path / "hub", source)
    (entry / "refs" / "main").unlink()
    snapshots = entry / "snapshots"
    listed = Path.iterdir

    # A folder that cannot be listed, as a non-root user gets from chmod 0 (root reads any folder).
    def denied(self: Path) -> Any:
        if self == snapshots:
            raise PermissionError(13, "Permission denied", str(self))
        return listed(self)

    monkeypatch.setattr(Path, "iterdir", denied)
    inspection = inspect_checkpoint(entry)
    assert _messages(inspection.problems) == [f"{entry}: Permission denied"]
    assert inspection.report is None


@pytest.mark.parametrize("index", [True, False])
def test_one_unreadable_shard_is_one_problem(tmp_path: Path, index: bool) -> None:
    # k and v of each layer in different shards: the readable half is not judged alone.
    scales = {f"model.layers.{n}.self_attn.{kind}_scale": 0.5 for kind in "kv" for n in range(4)}
    folder = write_named(tmp_path, scales, config=model_config(4, compressed_tensors_config()), shards=2)
    shard = folder / "model-00002-of-00002.safetensors"
    shard.write_bytes(shard.read_bytes()[:100])
    if not index:
        (folder / INDEX_NAME).unlink()
    [problem] = inspect_checkpoint(folder).problems
    assert problem.path == "model-00002-of-00002.safetensors"
    with pytest.raises(quantparams.ExtractError) as caught:
        quantparams.extract(folder)
    assert [problem.path for problem in caught.value.problems] == ["model-00002-of-00002.safetensors"]


def test_an_outlier_and_a_lone_one_are_warnings(tmp_path: Path) -> None:
    # The scale file's rule (_format.OUTLIER_FACTOR), per kind across layers.
    scales = {f"model.layers.{n}.self_attn.{kind}_scale": 0.02 for n in range(8) for kind in "kv"}
    scales["model.layers.5.self_attn.k_scale"] = 20.0
    scales["model.layers.6.self_attn.v_scale"] = 1.0
    folder = write_named(tmp_path / "ct", scales, config=model_config(8, compressed_tensors_config()))
    inspection = inspect_checkpoint(folder)
    assert inspection.ok
    assert _messages(inspection.warnings) == [
        'model.safetensors["model.layers.5.self_attn.k_scale"]: the k scale of layer 5 is 20.0, 1e+03x the '
        "median 0.02 of the other layers' k scales: a calibration error?",
        'model.safetensors["model.layers.6.self_attn.v_scale"]: the v scale of layer 6 is 1.0, 50x the '
        "median 0.02 of the other layers' v scales: a calibration error?",
    ]
    # Close to the others, a 1.0 is still the default an uncalibrated layer gets.
    near = dict.fromkeys(scales, 0.5)
    near["model.layers.2.self_attn.k_scale"] = 1.0
    folder = write_named(tmp_path / "near", near, config=model_config(8, compressed_tensors_config()))
    assert _messages(inspect_checkpoint(folder).warnings) == [
        'model.safetensors["model.layers.2.self_attn.k_scale"]: the k scale of layer 2 is exactly 1.0, the '
        "default of an uncalibrated layer, while the median of the k scales is 0.5"
    ]
    # ModelOpt clamps its scales to at least 1.0: its 1.0s are not uncalibrated.
    modelopt = {
        name.replace("self_attn.k_scale", "self_attn.k_proj.k_scale").replace(
            "self_attn.v_scale", "self_attn.v_proj.v_scale"
        ): value
        for name, value in near.items()
    }
    folder = write_named(tmp_path / "mo", modelopt, config=model_config(8), modelopt=modelopt_quant_config())
    assert inspect_checkpoint(folder).warnings == ()


def test_a_deepseek_sized_moe_layout_reads_only_the_scales_shards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import quantparams.checkpoint.scan as scan
    from layouts import write_layout

    count = write_layout(tmp_path / "moe", layers=61, shards=163, experts=256)
    assert count > 90_000
    opened: list[str] = []
    read = scan.read_header  # type: ignore[attr-defined]

    def recording(path: Any, name: str, *stream: Any) -> Any:
        opened.append(name)
        return read(path, name, *stream)

    monkeypatch.setattr(scan, "read_header", recording)
    inspection = inspect_checkpoint(tmp_path / "moe")
    assert inspection.ok
    index = json.loads((tmp_path / "moe" / INDEX_NAME).read_text())["weight_map"]
    holding = {file for tensor, file in index.items() if tensor.endswith(("k_scale", "v_scale"))}
    assert sorted(opened) == sorted(holding)
    assert len(inspection.engines[0].layers) == 61
