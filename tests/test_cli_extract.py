"""`quantparams extract`, run as a person runs it, on real checkpoints on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import quantparams
from checkpoints import (
    INDEX_NAME,
    config_for,
    scale_name,
    shard_names,
    stored,
    write_checkpoint,
    write_legacy_checkpoint,
    write_safetensors,
)
from cli_process import run_cli
from documents import EXAMPLE, matching
from producers import compressed_tensors_config, model_config, write_named
from quant_configs import fp8_config
from quantparams import ValidationContext
from quantparams import checkpoint as extract_module
from quantparams.checkpoint import DEFAULT_OUTPUT_NAME
from quantparams.cli import main

# Distinct k and v per layer, k the larger on even layers, v on odd ones; all
# exact in float32, so the file holds these very numbers.
# k the larger in layers 0 and 2, v in 1 and 3; no layer far from the others (no outlier warnings).
SCALES = {0: (0.5, 0.25), 1: (0.25, 0.75), 2: (0.875, 0.375), 3: (0.375, 0.875)}
REDUCED = {
    "max": {0: 0.5, 1: 0.75, 2: 0.875, 3: 0.875},
    "k": {0: 0.5, 1: 0.25, 2: 0.875, 3: 0.375},
    "v": {0: 0.25, 1: 0.75, 2: 0.375, 3: 0.875},
}
SHARD1, SHARD2 = shard_names(2)


def _extract(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    status = main(["extract", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def _scales(path: Path) -> dict[int, dict[int, float]]:
    schema = quantparams.load(path)
    return {rank: dict(layers) for rank, layers in schema.kv_cache.scaling_factor.items()}


def _json(out: str) -> dict[str, Any]:
    # One document on one line.
    assert out.count("\n") == 1
    document: dict[str, Any] = json.loads(out)
    return document


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in matching(folder) if path.is_file()}


# ----------------------------------------------------------------- sound ones


def test_sharded_checkpoint_as_a_subprocess(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path / "llama-fp8", SCALES, shards=2)
    assert (checkpoint / INDEX_NAME).is_file()
    result = run_cli("extract", str(checkpoint))
    output = checkpoint / DEFAULT_OUTPUT_NAME
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        f"wrote {output}: model_type llama, dtype float8_e4m3fn, 1 TP rank x 4 layers, "
        "scales 0.5 to 0.875, reduce max\n"
    )
    schema = quantparams.load(output, ValidationContext(1, 0, 4, "llama"))
    assert schema.model_type == "llama"
    assert schema.kv_cache.dtype == "float8_e4m3fn"
    assert schema.kv_cache.scaling_factor == {0: REDUCED["max"]}


def test_default_output_goes_in_the_checkpoint_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = write_checkpoint(tmp_path / "ckpt", SCALES)
    before = set(os.listdir(checkpoint))
    status, out, err = _extract(capsys, checkpoint)
    assert (status, err) == (0, "")
    assert out.startswith(f"wrote {checkpoint / DEFAULT_OUTPUT_NAME}: ")
    # The one new file, and no temporary file beside it.
    assert set(os.listdir(checkpoint)) - before == {DEFAULT_OUTPUT_NAME}
    assert _scales(checkpoint / DEFAULT_OUTPUT_NAME) == {0: REDUCED["max"]}


def test_output_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = write_checkpoint(tmp_path / "ckpt", SCALES)
    output = tmp_path / "out" / "scales.json"
    output.parent.mkdir()
    status, out, err = _extract(capsys, checkpoint, "-o", output)
    assert (status, err) == (0, "")
    assert out == (
        f"wrote {output}: model_type llama, dtype float8_e4m3fn, 1 TP rank x 4 layers, "
        "scales 0.5 to 0.875, reduce max\n"
    )
    assert _scales(output) == {0: REDUCED["max"]}
    assert not (checkpoint / DEFAULT_OUTPUT_NAME).exists()
    # The long spelling does the same.
    other = tmp_path / "out" / "other.json"
    assert _extract(capsys, checkpoint, "--output", other)[0] == 0
    assert other.read_bytes() == output.read_bytes()


def test_existing_output_is_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = write_checkpoint(tmp_path / "ckpt", SCALES)
    output = tmp_path / "scales.json"
    output.write_text("old contents")
    output.chmod(0o640)
    assert _extract(capsys, checkpoint, "-o", output)[0] == 0
    assert _scales(output) == {0: REDUCED["max"]}
    assert output.stat().st_mode & 0o777 == 0o640


def test_tp_size_replicates_the_scales(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = write_checkpoint(tmp_path / "ckpt", SCALES, shards=2)
    output = tmp_path / "tp4.json"
    status, out, err = _extract(capsys, checkpoint, "-o", output, "--tp-size", "4")
    assert (status, err) == (0, "")
    assert "4 TP ranks x 4 layers" in out
    assert _scales(output) == dict.fromkeys(range(4), REDUCED["max"])
    # The file loads as an engine with TP size 4 would load it, for every rank.
    for rank in range(4):
        quantparams.load(output, ValidationContext(4, rank, 4, "llama"))
    assert (
        main(["validate", str(output), "--tp-size", "4", "--num-layers", "4", "--model-type", "llama"]) == 0
    )
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("reduce", ["max", "k", "v"])
@pytest.mark.parametrize("style", ["k_v", "modelopt"])
def test_reduce(tmp_path: Path, capsys: pytest.CaptureFixture[str], reduce: str, style: Any) -> None:
    checkpoint = write_checkpoint(tmp_path / "ckpt", SCALES, style=style)
    output = tmp_path / "scales.json"
    status, out, err = _extract(capsys, checkpoint, "-o", output, "--reduce", reduce)
    assert (status, err) == (0, "")
    assert out.endswith(f", reduce {reduce}\n")
    assert _scales(output) == {0: REDUCED[reduce]}


def test_reduce_on_single_kv_scales(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = write_checkpoint(tmp_path / "ckpt", {0: 0.5, 1: 0.25}, style="kv")
    output = tmp_path / "scales.json"
    status, out, err = _extract(capsys, checkpoint, "-o", output, "--reduce", "k")
    # vLLM's fp8 config keeps an unquantized KV cache unless asked: the file says what it would use then.
    warning = (
        f"{checkpoint}: warning: *.safetensors: vLLM 0.33.0 keeps the KV cache in the model's dtype under "
        "this config unless served with --kv-cache-dtype fp8: these scales are used only then\n"
    )
    assert (status, err) == (0, warning)
    assert out == (
        f"wrote {output}: model_type llama, dtype float8_e4m3fn, 1 TP rank x 2 layers, "
        "scales 0.25 to 0.5, one kv scale per layer, as stored\n"
    )
    status, out, err = _extract(capsys, checkpoint, "-o", output, "--reduce", "k", "--json")
    assert (status, err, _json(out)["reduce"]) == (0, warning, None)
    assert [item["path"] for item in _json(out)["warnings"]] == ["*.safetensors"]
    assert _scales(output) == {0: {0: 0.5, 1: 0.25}}


def test_reduce_keeps_the_stored_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 0.0152 is not exact in BF16: the file holds what the checkpoint holds.
    checkpoint = write_checkpoint(tmp_path / "ckpt", {0: (0.0152, 0.0113), 1: (0.0187, 0.0391)}, dtype="BF16")
    assert _extract(capsys, checkpoint, "--reduce", "k")[0] == 0
    assert _scales(checkpoint / DEFAULT_OUTPUT_NAME) == {
        0: {0: stored(0.0152, "BF16"), 1: stored(0.0187, "BF16")}
    }


def test_model_type_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = write_checkpoint(tmp_path / "ckpt", SCALES, config=config_for(4, "llama"))
    status, out, _ = _extract(capsys, checkpoint, "--model-type", "mistral")
    assert status == 0
    assert out.startswith(f"wrote {checkpoint / DEFAULT_OUTPUT_NAME}: model_type mistral, ")
    assert quantparams.load(checkpoint / DEFAULT_OUTPUT_NAME).model_type == "mistral"


def test_without_config_model_type_is_null_unless_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    untyped = {"num_hidden_layers": 4, "quantization_config": fp8_config()}
    checkpoint = write_checkpoint(tmp_path / "ckpt", SCALES, config=untyped)
    output = checkpoint / DEFAULT_OUTPUT_NAME
    assert _extract(capsys, checkpoint)[0] == 0
    assert quantparams.load(output).model_type is None
    assert _extract(capsys, checkpoint, "--model-type", "qwen2")[0] == 0
    schema = quantparams.load(output)
    assert schema.model_type == "qwen2"
    assert schema.kv_cache.scaling_factor == {0: REDUCED["max"]}


def test_legacy_per_rank_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ranks = {0: {0: 0.25, 1: 0.5, 2: 0.125}, 1: {0: 0.75, 1: 1.5, 2: 0.0625}}
    checkpoint = write_legacy_checkpoint(tmp_path / "ckpt", ranks, config=config_for(3))
    output = checkpoint / DEFAULT_OUTPUT_NAME
    status, out, err = _extract(capsys, checkpoint)
    assert (status, err) == (0, "")
    # Each file holds one kv scale per layer: --reduce plays no part, and the summary says so.
    assert out == (
        f"wrote {output}: model_type llama, dtype float8_e4m3fn, 2 TP ranks x 3 layers, "
        "scales 0.0625 to 1.5, one kv scale per layer, as stored\n"
    )
    assert _scales(output) == ranks
    # --tp-size may name the checkpoint's own TP size.
    output.unlink()
    assert _extract(capsys, checkpoint, "--tp-size", "2")[0] == 0
    assert _scales(output) == ranks


def test_legacy_layout_with_another_tp_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = write_legacy_checkpoint(tmp_path / "ckpt", {0: {0: 0.5}, 1: {0: 0.25}})
    status, out, err = _extract(capsys, checkpoint, "--tp-size", "4")
    assert (status, out) == (1, "")
    assert err == (
        f"{checkpoint}: rank*.safetensors: tp_size is 4 but the checkpoint has per-rank files for TP size 2\n"
    )
    assert not (checkpoint / DEFAULT_OUTPUT_NAME).exists()


# ---------------------------------------------------------------- broken ones


def _only_v_on_layer_1(folder: Path) -> list[str]:
    write_checkpoint(folder, {0: (0.5, 0.25), 1: (None, 0.5), 2: (0.25, 0.5)})
    # compressed-tensors starts each scale at 1.0: a missing k stays 1.0.
    return ["*.safetensors: vLLM 0.33.0 runs layer 1 with k at 1.0: no such scale in the checkpoint"]


def _layer_missing(folder: Path) -> list[str]:
    write_checkpoint(folder, {0: (0.5, 0.25), 1: (0.5, 0.25), 3: (0.5, 0.25)}, config=config_for(4))
    return ["*.safetensors: vLLM 0.33.0 runs layer 2 with k and v at 1.0: no such scale in the checkpoint"]


def _duplicate_layer(folder: Path) -> list[str]:
    write_checkpoint(folder, SCALES, shards=2, index=False)
    duplicate = f"language_model.{scale_name(0, 'k')}"
    write_safetensors(folder / "model-extra.safetensors", {duplicate: np.array(0.5, np.float32)})
    return [
        f'model-extra.safetensors["{duplicate}"]: duplicate KV-cache scale for layer 0: '
        f'a k scale was already found in {SHARD1}["{scale_name(0, "k")}"]'
    ]


def _no_scales(folder: Path) -> list[str]:
    write_checkpoint(
        folder, {}, config=config_for(1), extra_tensors={"lm_head.weight": np.ones((2, 2), np.float32)}
    )
    return [
        "*.safetensors: found no KV-cache scale tensors among the 2 tensors of the file; config.json "
        "quantization_config.kv_cache_quant_method declares static KV-cache quantization: calibrate the KV "
        "cache with a producer (llm-compressor, NVIDIA ModelOpt, AMD Quark), or serve without static scales "
        "(the engines use 1.0)"
    ]


def _unsound_scales(folder: Path) -> list[str]:
    write_checkpoint(folder, {0: (float("nan"), 0.5), 1: (0.5, -1.0)})
    return [
        f'model.safetensors["{scale_name(0, "k")}"]: scale must be a finite number > 0, got NaN',
        f'model.safetensors["{scale_name(1, "v")}"]: scale must be a finite number > 0, got -1.0',
    ]


def _shard_missing(folder: Path) -> list[str]:
    write_checkpoint(folder, SCALES, shards=2)
    (folder / SHARD2).unlink()
    return [
        f'{SHARD2}: no such file, but {INDEX_NAME} places "{scale_name(2, "k")}" '
        "and 3 more scale tensors in it"
    ]


BROKEN: dict[str, Callable[[Path], list[str]]] = {
    "only-v": _only_v_on_layer_1,
    "layer-missing": _layer_missing,
    "duplicate-layer": _duplicate_layer,
    "no-scales": _no_scales,
    "unsound-scales": _unsound_scales,
    "shard-missing": _shard_missing,
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_checkpoint_exits_1_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    checkpoint = tmp_path / "ckpt"
    expected = BROKEN[name](checkpoint)
    before = _files(checkpoint)
    status, out, err = _extract(capsys, checkpoint)
    assert (status, out) == (1, "")
    assert err.splitlines() == [f"{checkpoint}: {line}" for line in expected]
    assert "Traceback" not in err
    # Not even an empty or partial file, nor a temporary one.
    assert _files(checkpoint) == before


def test_broken_checkpoint_leaves_an_existing_output_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tmp_path / "ckpt"
    _only_v_on_layer_1(checkpoint)
    output = checkpoint / DEFAULT_OUTPUT_NAME
    quantparams.dump(quantparams.loads(EXAMPLE.read_bytes()), output)
    before = output.read_bytes()
    mtime = output.stat().st_mtime_ns
    assert _extract(capsys, checkpoint)[0] == 1
    assert output.read_bytes() == before
    assert output.stat().st_mtime_ns == mtime
    assert sorted(os.listdir(checkpoint)) == sorted(["config.json", "model.safetensors", DEFAULT_OUTPUT_NAME])


def test_broken_checkpoint_as_a_subprocess(tmp_path: Path) -> None:
    checkpoint = tmp_path / "ckpt"
    expected = _layer_missing(checkpoint)
    result = run_cli("extract", str(checkpoint), "--json")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"{checkpoint}: {line}" for line in expected]
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert not (checkpoint / DEFAULT_OUTPUT_NAME).exists()


# ------------------------------------------------------ usage and I/O errors


def test_missing_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "nowhere"
    status, out, err = _extract(capsys, folder)
    assert (status, out) == (2, "")
    assert err == f"{folder}: cannot read: No such file or directory\n"
    assert not folder.exists()


def test_missing_folder_as_a_subprocess(tmp_path: Path) -> None:
    folder = tmp_path / "nowhere"
    result = run_cli("extract", str(folder), "--json")
    assert result.returncode == 2
    assert result.stderr == f"{folder}: cannot read: No such file or directory\n"
    # --json prints its one document on exit 2 too.
    document = _json(result.stdout)
    assert (document["ok"], document["summary"]) == (False, None)
    assert document["problems"] == [
        {"path": str(folder), "message": "cannot read: No such file or directory"}
    ]


def test_a_safetensors_file_is_read_as_its_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "model.safetensors"
    write_safetensors(path, {"x": np.ones(2, np.float32)})
    status, out, err = _extract(capsys, path)
    assert (status, out) == (1, "")
    first, *rest = err.splitlines()
    assert first == f"{path} is a file of the checkpoint in {tmp_path}: checking the folder"
    assert rest[0].startswith(f"{tmp_path}: config.json: no config.json")
    assert rest[1].startswith(
        f"{tmp_path}: *.safetensors: found no KV-cache scale tensors among the 1 tensor"
    )


def test_output_that_is_a_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = write_checkpoint(tmp_path / "ckpt", SCALES)
    folder = tmp_path / "out"
    folder.mkdir()
    status, out, err = _extract(capsys, checkpoint, "-o", folder)
    assert (status, out) == (2, "")
    assert err == f"{folder}: cannot write: Is a directory (name a file with -o)\n"
    assert list(folder.iterdir()) == []
    # The default output, when a folder of that name is in the way, too.
    (checkpoint / DEFAULT_OUTPUT_NAME).mkdir()
    status, out, err = _extract(capsys, checkpoint, "--json")
    assert status == 2
    assert err == f"{checkpoint / DEFAULT_OUTPUT_NAME}: cannot write: Is a directory (name a file with -o)\n"
    assert _json(out)["problems"] == [
        {
            "path": str(checkpoint / DEFAULT_OUTPUT_NAME),
            "message": "cannot write: Is a directory (name a file with -o)",
        }
    ]


def test_output_in_a_missing_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = write_checkpoint(tmp_path / "ckpt", SCALES)
    output = tmp_path / "absent" / "scales.json"
    status, out, err = _extract(capsys, checkpoint, "-o", output)
    assert (status, out) == (2, "")
    assert err == f"{output}: cannot write: No such file or directory\n"
    assert not output.parent.exists()


def test_extract_runs_without_safetensors_or_numpy(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path / "ckpt", SCALES, dtype="BF16")
    code = (
        "import sys; sys.modules['safetensors'] = sys.modules['numpy'] = None; "
        "from quantparams.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "extract", str(checkpoint)], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert _scales(checkpoint / DEFAULT_OUTPUT_NAME) == {0: REDUCED["max"]}


def test_value_error_from_the_library_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parser already refuses bad arguments; should one get through, it is
    # still a usage error, not a traceback.
    def refuse(*args: object, **kwargs: object) -> None:
        raise ValueError("tp_size must be an integer >= 1, got 0")

    monkeypatch.setattr(extract_module, "extract", refuse)
    checkpoint = write_checkpoint(tmp_path / "ckpt", SCALES)
    status, out, err = _extract(capsys, checkpoint)
    assert (status, out) == (2, "")
    assert err == "quantparams extract: error: tp_size must be an integer >= 1, got 0\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tp-size", "0"], "argument --tp-size: expected an integer >= 1, got '0'"),
        (["--tp-size", "two"], "argument --tp-size: expected an integer, got 'two'"),
        (["--reduce", "min"], "argument --reduce: invalid choice: 'min' (choose from"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    checkpoint = write_checkpoint(tmp_path / "ckpt", SCALES)
    with pytest.raises(SystemExit) as caught:
        main(["extract", str(checkpoint), *args])
    assert caught.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[-1].startswith(f"quantparams extract: error: {message}")
    assert not (checkpoint / DEFAULT_OUTPUT_NAME).exists()


def test_no_checkpoint_argument_as_a_subprocess() -> None:
    result = run_cli("extract")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == (
        "quantparams extract: error: the following arguments are required: CHECKPOINT_DIR"
    )


# ---------------------------------------------------------------------- --json


def test_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = write_checkpoint(tmp_path / "ckpt", SCALES, shards=2)
    output = tmp_path / "scales.json"
    status, out, err = _extract(capsys, checkpoint, "--json", "-o", output, "--tp-size", "2", "--reduce", "v")
    assert (status, err) == (0, "")
    assert _json(out) == {
        "path": str(checkpoint),
        "output": str(output),
        "reduce": "v",
        "ok": True,
        "problems": [],
        "summary": {
            "model_type": "llama",
            "dtype": "float8_e4m3fn",
            "rank_count": 2,
            "layers_per_rank": [4],
            "min_scale": 0.25,
            "max_scale": 0.875,
        },
        "notes": [],
        "warnings": [],
    }
    assert _scales(output) == dict.fromkeys(range(2), REDUCED["v"])


def test_the_summary_notes_per_head_scales_left_out_layers_and_q_scales(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scales = {
        "model.layers.0.self_attn.q_scale": [0.5, 0.5, 0.5, 0.5],
        "model.layers.0.self_attn.k_scale": [0.25, 0.75],
        "model.layers.0.self_attn.v_scale": [0.5, 0.125],
        "model.layers.1.self_attn.k_scale": [0.25, 0.75],
        "model.layers.1.self_attn.v_scale": [0.5, 0.125],
    }
    checkpoint = write_named(
        tmp_path / "ckpt", scales, config=model_config(1, compressed_tensors_config("attn_head"))
    )
    status, out, err = _extract(capsys, checkpoint)
    assert (status, err) == (0, "")
    assert out == (
        f"wrote {checkpoint / DEFAULT_OUTPUT_NAME}: model_type llama, dtype float8_e4m3fn, 1 TP rank x 1 layers, "
        "scales 0.75 to 0.75, reduce max; per-head scales reduced to their largest; "
        "layer 1 past num_hidden_layers left out; 1 q/prob scale not written: the file has no place for them\n"
    )
    status, out, err = _extract(capsys, checkpoint, "--json")
    assert _json(out)["notes"] == [
        "per-head scales reduced to their largest",
        "layer 1 past num_hidden_layers left out",
        "1 q/prob scale not written: the file has no place for them",
    ]


def test_json_summary_matches_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = write_checkpoint(tmp_path / "ckpt", SCALES, dtype="F16")
    status, out, err = _extract(capsys, checkpoint, "--json")
    assert (status, err) == (0, "")
    summary = _json(out)["summary"]
    assert main(["validate", "--json", str(checkpoint / DEFAULT_OUTPUT_NAME)]) == 0
    assert summary == json.loads(capsys.readouterr().out)["files"][0]["summary"]


def test_json_of_a_broken_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = tmp_path / "ckpt"
    expected = _unsound_scales(checkpoint)
    human = _extract(capsys, checkpoint)
    status, out, err = _extract(capsys, checkpoint, "--json")
    # --json changes stdout only.
    assert (status, err) == (1, human[2])
    document = _json(out)
    assert document == {
        "path": str(checkpoint),
        "output": str(checkpoint / DEFAULT_OUTPUT_NAME),
        "reduce": "max",
        "ok": False,
        "problems": [
            {"path": path, "message": message} for path, message in (line.split(": ", 1) for line in expected)
        ],
        "summary": None,
        "notes": [],
        "warnings": [],
    }
    assert document["problems"][0]["path"] == f'model.safetensors["{scale_name(0, "k")}"]'
    assert not (checkpoint / DEFAULT_OUTPUT_NAME).exists()


def test_json_as_a_subprocess(tmp_path: Path) -> None:
    ranks = {0: {0: 0.25, 1: 0.5}, 1: {0: 0.75, 1: 1.5}}
    checkpoint = write_legacy_checkpoint(tmp_path / "ckpt", ranks, config=config_for(2, "mistral"))
    result = run_cli("extract", "--json", str(checkpoint))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.count("\n") == 1
    document = json.loads(result.stdout)
    assert (document["ok"], document["output"]) == (True, str(checkpoint / DEFAULT_OUTPUT_NAME))
    assert document["summary"]["model_type"] == "mistral"
    assert document["summary"]["rank_count"] == 2
    # Nothing was reduced: the files hold one kv scale per layer.
    assert document["reduce"] is None
    assert _scales(checkpoint / DEFAULT_OUTPUT_NAME) == ranks


# ------------------------------------------------------------------ the rest


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    assert "{validate,inspect,diff,schema,extract}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as caught:
        main(["extract", "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    # The default the help names is the one the command uses.
    assert f"{DEFAULT_OUTPUT_NAME} in CHECKPOINT_DIR" in " ".join(out.split())
    # Nothing extra to install: the command reads the files itself.
    assert "pip install" not in out


def test_other_commands_do_not_import_extract() -> None:
    code = (
        "import sys; from quantparams.cli import main; status = main(sys.argv[1:]); "
        "print([m for m in ('quantparams.checkpoint', 'safetensors', 'numpy') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "validate", str(EXAMPLE)], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines()[-1] == "[]"


def test_a_cache_entry_gets_its_file_in_the_snapshot_and_a_replaced_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    source = write_checkpoint(tmp_path / "source", SCALES)
    entry = tmp_path / "models--org--llama"
    snapshot = entry / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    for file in matching(source):
        os.symlink(file, snapshot / file.name)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text("a" * 40)
    status, out, _ = _extract(capsys, entry)
    assert status == 0
    written = snapshot / "kv_cache_scales.json"
    assert out.startswith(f"wrote {written}: ")
    assert written.is_file()
    assert not (entry / "kv_cache_scales.json").exists()
    status, out, _ = _extract(capsys, entry)
    assert out.startswith(f"wrote {written} (replacing the file there): ")
