"""`quantparams validate DIR` and `inspect DIR`, run as a person runs them, on checkpoints on disk."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cli_process import run_cli
from producers import compressed_tensors_config, model_config, write_named
from quantparams import inspect_checkpoint
from quantparams.cli import main

SCHEME = "compressed-tensors, static, per tensor (config.json quantization_config.kv_cache_scheme)"


def _sound(folder: Path, layers: int = 2) -> Path:
    scales = {
        f"model.layers.{n}.self_attn.{kind}_scale": 0.25 * (1 + n % 2) for n in range(layers) for kind in "kv"
    }
    return write_named(folder, scales, config=model_config(layers, compressed_tensors_config()))


def _broken(folder: Path) -> Path:
    scales = {
        "model.layers.0.self_attn.k_scale": 0.5,
        "model.layers.0.self_attn.v_scale": math.nan,
        "model.layers.2.self_attn.kv_scale": 0.5,
    }
    return write_named(folder, scales, config=model_config(2, compressed_tensors_config()))


BROKEN_STDERR = [
    'model.safetensors["model.layers.0.self_attn.v_scale"]: scale must be a finite number > 0, got NaN',
    "*.safetensors: vLLM 0.33.0 runs layer 1 with k and v at 1.0: no such scale in the checkpoint",
    "warning: *.safetensors: layer 2 past config.json num_hidden_layers = 2 (MTP or draft layers?): "
    "reported, not checked as model layers",
]


class _Run:
    """`quantparams *args` run in this process, as `main` runs it."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., _Run]:
    def run(*args: str) -> _Run:
        status = main(list(args))
        out, err = capsys.readouterr()
        return _Run(status, out, err)

    return run


def test_validate_a_sound_checkpoint_as_a_subprocess(tmp_path: Path) -> None:
    folder = _sound(tmp_path / "ckpt")
    result = run_cli("validate", str(folder))
    assert (result.returncode, result.stderr) == (0, "")
    assert (
        result.stdout
        == f'ok  {folder}: checkpoint, model_type "llama", 2 attention layers, k and v scales in 2 layers '
        f"from 0.25 to 0.5, KV-cache scheme {SCHEME}\n"
    )


def test_validate_a_broken_checkpoint(tmp_path: Path, cli: Any) -> None:
    folder = _broken(tmp_path / "ckpt")
    result = cli("validate", str(folder))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [f"{folder}: {line}" for line in BROKEN_STDERR]


def test_warnings_leave_the_exit_status(tmp_path: Path, cli: Any) -> None:
    # An fp8 config that declares no KV-cache scheme: Fp8Config still gives Attention its method.
    config = model_config(1, {"quant_method": "fp8"})
    folder = write_named(tmp_path / "ckpt", {"model.layers.0.self_attn.kv_scale": 1.0}, config=config)
    result = cli("validate", str(folder))
    assert result.returncode == 0
    assert result.stdout.startswith(f"ok  {folder}: ")
    warnings = result.stderr.splitlines()
    assert len(warnings) == 3
    assert all(line.startswith(f"{folder}: warning: *.safetensors: ") for line in warnings)


def test_validate_json_gives_the_file_document_plus_warnings(tmp_path: Path, cli: Any) -> None:
    sound, broken = _sound(tmp_path / "sound"), _broken(tmp_path / "broken")
    result = cli("validate", "--json", str(sound), str(broken))
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False
    first, second = document["files"]
    assert first == {
        "path": str(sound),
        "ok": True,
        "error": None,
        "problems": [],
        "warnings": [],
        "summary": {"model_type": "llama", "num_hidden_layers": 2, "layers_with_k_and_v": 2},
    }
    assert (second["ok"], second["error"], second["summary"]) == (False, None, None)
    assert [f"{p['path']}: {p['message']}" for p in second["problems"]] == BROKEN_STDERR[:2]
    assert [f"warning: {p['path']}: {p['message']}" for p in second["warnings"]] == BROKEN_STDERR[2:]


def test_inspect_json_is_the_library_document(tmp_path: Path, cli: Any) -> None:
    folder = _broken(tmp_path / "ckpt")
    result = cli("inspect", "--json", str(folder))
    assert result.returncode == 1
    assert result.stdout.count("\n") == 1
    expected = inspect_checkpoint(folder).to_json()
    # JSON has no NaN: the stored NaN is written as null.
    expected["report"]["layers"][0]["scales"]["v"]["values"] = [None]
    for engine in expected["engines"]:
        engine["layers"][0]["v"]["value"] = None
    assert json.loads(result.stdout) == expected


def test_inspect_text_and_long_tables_cut_to_20(tmp_path: Path, cli: Any) -> None:
    folder = _sound(tmp_path / "ckpt", layers=30)
    result = cli("inspect", str(folder))
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        f"checkpoint         {folder}",
        'model_type         "llama"',
        "num_hidden_layers  30",
        f"KV-cache scheme    {SCHEME}",
        "",
    ]
    assert lines[5:9] == [
        "vLLM 0.33.0: starts; k and v from the checkpoint in 30 of 30 attention layers; q 1.0 in all 30 "
        "(not in the checkpoint); prob 1.0",
        "",
        "the values vLLM 0.33.0 uses, by attention layer (default: not from the checkpoint):",
        "layer     k     v            q         prob",
    ]
    assert lines[9] == "    0  0.25  0.25  1.0 default  1.0 default"
    assert lines[29:33] == [
        "... and 10 more (--limit 0 shows all)",
        "",
        "the scales stored in the checkpoint:",
        "layer     k     v  q  prob",
    ]
    assert lines[33] == "    0  0.25  0.25  -     -"
    assert lines[53] == "... and 10 more (--limit 0 shows all)"
    assert lines[55:] == [
        "tensors (first layer with each) and the vLLM parameter each becomes:",
        '  k: model.safetensors["model.layers.0.self_attn.k_scale"] -> model.layers.0.self_attn.attn.k_scale',
        '  v: model.safetensors["model.layers.0.self_attn.v_scale"] -> model.layers.0.self_attn.attn.v_scale',
    ]


def test_an_unreadable_folder_exits_2_with_one_document(tmp_path: Path, cli: Any) -> None:
    (tmp_path / "empty").mkdir()
    folder = str(tmp_path / "empty")
    result = cli("inspect", "--json", folder)
    assert result.returncode == 2
    assert json.loads(result.stdout) == {
        "path": folder,
        "ok": False,
        "problems": [{"path": folder, "message": "no safetensors files in the checkpoint folder"}],
        "warnings": [],
        "report": None,
        "engines": [],
    }
    assert result.stderr == f"{folder}: cannot read: no safetensors files in the checkpoint folder\n"
    result = cli("validate", "--json", folder)
    assert result.returncode == 2
    [entry] = json.loads(result.stdout)["files"]
    assert (entry["ok"], entry["error"], entry["problems"]) == (
        False,
        "no safetensors files in the checkpoint folder",
        [],
    )


def test_engine_flags_do_not_apply_to_a_folder(tmp_path: Path, cli: Any) -> None:
    folder = _sound(tmp_path / "ckpt")
    result = cli("validate", "--tp-size", "2", "--num-layers", "2", str(folder))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"quantparams validate: error: {folder} is a checkpoint folder, checked against its own config: "
        "leave out --tp-size and --num-layers\n"
    )


def test_inspect_text_of_per_head_unreadable_and_missing_scales(tmp_path: Path, cli: Any) -> None:
    import numpy as np

    scales = {
        "model.layers.0.self_attn.k_scale": [0.25, 0.75],
        "model.layers.0.self_attn.v_scale": [0.5, 0.5],
    }
    extra = {"model.layers.1.self_attn.kv_scale": np.array(1, np.int32)}
    config = model_config(2, compressed_tensors_config("attn_head"))
    folder = write_named(tmp_path / "ckpt", scales, config=config, extra_tensors=extra)
    result = cli("inspect", str(folder))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[7:11] == [
        "the values vLLM 0.33.0 uses, by attention layer (default: not from the checkpoint):",
        "layer                      k                     v            q         prob",
        "    0  0.75 (max of 2 heads)  0.5 (max of 2 heads)  1.0 default  1.0 default",
        "    1            1.0 default           1.0 default  1.0 default  1.0 default",
    ]
    assert lines[13:16] == [
        "layer                  k                 v  q  prob",
        "    0  2 heads, max 0.75  2 heads, max 0.5  -     -",
        "    1             unread            unread  -     -",
    ]
    bare = write_named(tmp_path / "bare", {"model.embed_tokens.extra": 0.5})
    result = cli("inspect", str(bare))
    assert result.returncode == 1
    assert result.stdout.splitlines()[2:6] == [
        "num_hidden_layers  -",
        "KV-cache scheme    none declared",
        "",
        "layers             none with scales",
    ]


def test_inspect_limit(tmp_path: Path, cli: Any) -> None:
    folder = _sound(tmp_path / "ckpt", layers=30)
    lines = cli("inspect", "--limit", "0", str(folder)).stdout.splitlines()
    assert not any(line.startswith("... and") for line in lines)
    assert "   29   0.5   0.5  -     -" in lines
    lines = cli("inspect", "--limit", "3", str(folder)).stdout.splitlines()
    assert lines.count("... and 27 more (--limit 0 shows all)") == 2


@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_a_file_of_a_checkpoint_checks_its_folder(tmp_path: Path, cli: Any, name: str) -> None:
    folder = _sound(tmp_path / "ckpt")
    for command in ("validate", "inspect"):
        result = cli(command, str(folder / name))
        assert result.returncode == 0, result.stderr
        assert (
            result.stderr == f"{folder / name} is a file of the checkpoint in {folder}: checking the folder\n"
        )
    assert cli("validate", str(folder / name)).stdout.startswith(f"ok  {folder}: checkpoint")
    result = cli("extract", str(folder / name), "-o", str(tmp_path / "out.json"))
    assert result.returncode == 0
    assert (tmp_path / "out.json").is_file()
    result = cli("diff", str(folder / name), str(folder))
    assert result.returncode == 0
    assert result.stderr == f"{folder / name} is a file of the checkpoint in {folder}: checking the folder\n"


@pytest.mark.parametrize("kind", ["fifo", "directory", "dangling"])
def test_a_shard_that_cannot_be_read_exits_2_and_says_what_it_is(tmp_path: Path, cli: Any, kind: str) -> None:
    import os

    folder = _sound(tmp_path / "ckpt")
    shard = folder / "model-00002-of-00002.safetensors"
    if kind == "fifo":
        os.mkfifo(shard)
        what = "a FIFO"
    elif kind == "directory":
        shard.mkdir()
        what = "a directory"
    else:
        shard.symlink_to(folder / "gone.safetensors")
        what = f"a dangling link (to {folder / 'gone.safetensors'})"
    index = {"metadata": {}, "weight_map": {"model.layers.1.self_attn.k_scale": shard.name}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    for command in ("validate", "inspect"):
        result = cli(command, str(folder))
        assert result.returncode == 2, command
        assert f"{folder}: {shard.name}: cannot read: {what}, not a file" in result.stderr.splitlines()
    result = cli("extract", str(folder), "-o", str(tmp_path / "out.json"))
    assert result.returncode == 2


def test_extract_of_an_empty_folder_exits_2(tmp_path: Path, cli: Any) -> None:
    (tmp_path / "empty").mkdir()
    result = cli("extract", str(tmp_path / "empty"), "-o", str(tmp_path / "out.json"))
    assert result.returncode == 2
    assert "no safetensors files in the checkpoint folder" in result.stderr


def test_the_same_problem_of_many_layers_is_one_line(tmp_path: Path, cli: Any) -> None:
    scales = {f"model.layers.{n}.self_attn.{kind}_scale": 0.25 for n in range(40) for kind in "kv"}
    for n in (*range(3, 30), 33):
        scales[f"model.layers.{n}.self_attn.v_scale"] = -1.0
    folder = write_named(tmp_path / "ckpt", scales, config=model_config(40, compressed_tensors_config()))
    result = cli("validate", str(folder))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f'{folder}: model.safetensors["model.layers.N.self_attn.v_scale"] (layers 3-29, 33): '
        "scale must be a finite number > 0, got -1.0"
    ]
    # --json keeps one entry per problem.
    document = json.loads(cli("validate", "--json", str(folder)).stdout)
    assert len(document["files"][0]["problems"]) == 28


def test_diff_says_why_a_checkpoint_cannot_be_read(tmp_path: Path, cli: Any) -> None:
    (tmp_path / "empty").mkdir()
    result = cli("diff", str(tmp_path / "empty"), str(_sound(tmp_path / "a")))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"{tmp_path / 'empty'}: cannot read: no safetensors files in the checkpoint folder"
    ]


def test_diff_of_checkpoint_folders_and_of_a_folder_and_a_file(tmp_path: Path, cli: Any) -> None:
    a = _sound(tmp_path / "a", layers=4)
    scales = {
        f"model.layers.{n}.self_attn.{kind}_scale": 0.25 * (1 + n % 2) for n in range(4) for kind in "kv"
    }
    scales["model.layers.2.self_attn.v_scale"] = 0.3
    b = write_named(tmp_path / "b", scales, config=model_config(4, compressed_tensors_config()))
    assert cli("diff", str(a), str(a)).returncode == 0
    result = cli("diff", str(b), str(a))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "(scales as vLLM uses them; against a file, the larger of k and v)"
    v = lines.index("v scales:")
    assert "same within rtol 1e-06: 4 shared scales, largest relative difference 0" in lines[:v]
    assert lines[v + 3] == "1 of 4 shared scales differ by more than rtol 1e-06, largest first:"
    document = json.loads(cli("diff", "--json", str(b), str(a)).stdout)
    assert (document["same"], list(document["differences"])) == (False, ["k", "v"])
    assert [(item["layer"], item["a"], item["b"]) for item in document["differences"]["v"]["scales"]] == [
        (2, pytest.approx(0.3), 0.25)
    ]
    # Against a file: one scale per layer, the larger of k and v, as extract writes it.
    assert cli("extract", str(a), "-o", str(tmp_path / "a.json")).returncode == 0
    result = cli("diff", str(a), str(tmp_path / "a.json"))
    assert result.returncode == 0
    assert "one scale per layer:" in result.stdout.splitlines()
    document = json.loads(cli("diff", "--json", str(b), str(tmp_path / "a.json")).stdout)
    assert list(document["differences"]) == ["kv"]
    assert document["differences"]["kv"]["scales"][0]["layer"] == 2
