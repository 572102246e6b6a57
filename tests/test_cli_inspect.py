"""`quantparams inspect`, run as a person runs it."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import quantparams
from cli_process import run_cli
from documents import EXAMPLE, INVALID, VALID
from quantparams import KVCacheQuantSchema, Outlier, QuantParamSchema, inspect_schema
from quantparams.cli import main

EXAMPLE_TABLE = f"""\
file        {EXAMPLE}
model_type  "llama"
dtype       "float8_e4m3fn"
ranks       2: 0-1
layers      32 in every rank: 0-31

rank  layers       min     median       max  outliers
   0      32  0.009189  0.0359865  0.052584         0
   1      32  0.009121   0.037179  0.050764         1

outliers (scale > 4x or < 1/4 of its rank's median):
  rank  layer     scale    median  x median
     1      1  0.009121  0.037179     0.245
"""


def _write(folder: Path, scaling_factor: dict[str, Any], **fields: Any) -> Path:
    document = {
        "model_type": "llama",
        "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": scaling_factor},
    }
    document.update(fields)
    path = folder / "scales.json"
    path.write_text(json.dumps(document))
    return path


def _inspect(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["inspect", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_example_as_a_subprocess() -> None:
    result = run_cli("inspect", str(EXAMPLE))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == EXAMPLE_TABLE


def test_example_table_fits_80_columns(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _inspect(capsys, str(EXAMPLE))
    assert (status, out, err) == (0, EXAMPLE_TABLE, "")
    assert max(len(line) for line in out.splitlines() if not line.startswith("file")) <= 80


def test_example_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _inspect(capsys, str(EXAMPLE), "--json")
    assert (status, err) == (0, "")
    assert out.count("\n") == 1
    document = json.loads(out)
    assert list(document) == ["path", "ok", "problems", "report"]
    assert document["path"] == str(EXAMPLE)
    assert document["ok"] is True
    assert document["problems"] == []
    report = document["report"]
    assert list(report) == [
        "model_type",
        "dtype",
        "rank_count",
        "rank_gaps",
        "reference_rank",
        "reference_layers",
        "layer_gaps",
        "layer_sets_differ",
        "outlier_factor",
        "ranks",
        "outliers",
    ]
    assert report["model_type"] == "llama"
    assert report["dtype"] == "float8_e4m3fn"
    assert report["rank_count"] == 2
    assert report["rank_gaps"] == report["layer_gaps"] == []
    assert report["reference_rank"] == 0
    assert report["reference_layers"] == list(range(32))
    assert report["layer_sets_differ"] is False
    assert report["outlier_factor"] == 4.0
    rank_1 = json.loads(EXAMPLE.read_text())["kv_cache"]["scaling_factor"]["1"].values()
    assert report["ranks"][1] == {
        "rank": 1,
        "layer_count": 32,
        "min": 0.009121,
        "median": statistics.median(rank_1),
        "max": 0.050764,
        "outlier_count": 1,
        "missing_layers": [],
        "extra_layers": [],
    }
    assert report["outliers"] == [
        {
            "rank": 1,
            "layer": 1,
            "scale": 0.009121,
            "median": statistics.median(rank_1),
            "ratio": 0.009121 / statistics.median(rank_1),
        }
    ]


def test_median_of_an_even_count_is_the_mean_of_the_middle_two(tmp_path: Path) -> None:
    path = _write(tmp_path, {"0": {"0": 0.4, "1": 0.1, "2": 0.3, "3": 0.2}})
    stats = inspect_schema(_load(path)).ranks[0]
    assert (stats.min, stats.median, stats.max) == (0.1, 0.25, 0.4)


def _load(path: Path) -> QuantParamSchema:
    return quantparams.load(path, validate=False)


def test_outliers_are_beyond_four_times_the_median_either_way(tmp_path: Path) -> None:
    # Median 1.0: exactly 4x and 1/4 are not outliers, just past them are.
    layers = {"0": 1.0, "1": 1.0, "2": 1.0, "3": 4.0, "4": 0.25, "5": 4.0001, "6": 0.2499, "7": 1.0, "8": 1.0}
    path = _write(tmp_path, {"0": layers})
    inspection = inspect_schema(_load(path))
    assert inspection.outliers == (Outlier(0, 5, 4.0001, 1.0), Outlier(0, 6, 0.2499, 1.0))
    assert inspection.ranks[0].outlier_count == 2


def test_odd_ranks_and_layers_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(
        tmp_path,
        {
            "5": {"0": 0.5, "3": 0.5, "4": 0.5, "9": 3.0},
            "0": {"0": 0.5, "1": 0.5, "3": 0.5},
            "2": {"3": 0.5, "1": 0.5, "0": 0.5},
            "100000000000000000000": {},
        },
    )
    status, out, err = _inspect(capsys, str(path))
    assert (status, err) == (0, "")
    assert out.splitlines()[3:] == [
        "ranks       4: 0, 2, 5, 100000000000000000000",
        "            missing 1, 3-4, 6-99999999999999999999",
        "layers      3 in 2 of 4 ranks: 0-1, 3",
        "            missing 2",
        "",
        "                 rank  layers  min  median  max  outliers",
        "                    0       3  0.5     0.5  0.5         0",
        "                    2       3  0.5     0.5  0.5         0",
        "                    5       4  0.5     0.5    3         1",
        "100000000000000000000       0    -       -    -         0",
        "",
        "layer sets that differ from rank 0's:",
        "  rank 5: missing 1; extra 4, 9",
        "  rank 100000000000000000000: missing 0-1, 3",
        "",
        "outliers (scale > 4x or < 1/4 of its rank's median):",
        "  rank  layer  scale  median  x median",
        "     5      9      3     0.5         6",
    ]
    report = json.loads(_inspect(capsys, str(path), "--json")[1])["report"]
    assert report["rank_gaps"] == [[1, 1], [3, 4], [6, 99999999999999999999]]
    assert report["layer_gaps"] == [[2, 2]]
    assert report["layer_sets_differ"] is True
    assert [(r["rank"], r["missing_layers"], r["extra_layers"]) for r in report["ranks"]] == [
        (0, [], []),
        (2, [], []),
        (5, [1], [4, 9]),
        (100000000000000000000, [0, 1, 3], []),
        # No statistics for a rank without layers.
    ]
    assert report["ranks"][3]["median"] is None


def test_the_layer_set_most_ranks_share_is_the_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Rank 0 is the odd one out: it is named, not the three others.
    full = {str(layer): 0.5 for layer in range(4)}
    path = _write(tmp_path, {"0": {**full, "4": 0.5}, "1": full, "2": full, "3": full})
    out = _inspect(capsys, str(path))[1]
    assert "layers      4 in 3 of 4 ranks: 0-3" in out
    assert "layer sets that differ from rank 1's:\n  rank 0: extra 4\n" in out


def test_long_lists_are_cut(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    every = {str(layer): 0.5 for layer in range(400)}
    even = {str(layer): 0.5 for layer in range(0, 400, 2)}
    # Thirty outliers, all listed in --json, twenty in the table.
    spiky = {str(layer): (50.0 if layer % 2 else 0.5) for layer in range(61)}
    path = _write(tmp_path, {"0": even, "1": every, "2": every, "3": spiky})
    status, out, _ = _inspect(capsys, str(path))
    assert status == 0
    lines = out.splitlines()
    assert "  rank 0: missing 1, 3, 5, 7, 9, 11, 13, 15, 17, ... (200 in all)" in lines
    assert "  rank 3: missing 61-399" in lines
    assert lines[-1] == "  ... and 10 more (--limit 0 shows all)"
    assert max(len(line) for line in lines[1:]) <= 80
    report = json.loads(_inspect(capsys, str(path), "--json")[1])["report"]
    assert len(report["outliers"]) == 30


def test_a_long_rank_table_is_cut(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, {str(rank): {"0": 0.5, "1": 0.5} for rank in range(1400)})
    status, out, err = _inspect(capsys, str(path))
    assert (status, err) == (0, "")
    lines = out.splitlines()
    header = lines.index("rank  layers  min  median  max  outliers")
    assert lines[header + 1 : header + 22] == [
        *(f"{rank:4}       2  0.5     0.5  0.5         0" for rank in range(20)),
        "... and 1380 more (--limit 0 shows all)",
    ]
    assert len(lines) < 40
    report = json.loads(_inspect(capsys, str(path), "--json")[1])["report"]
    assert [stats["rank"] for stats in report["ranks"]] == list(range(1400))


def test_no_ranks(capsys: pytest.CaptureFixture[str]) -> None:
    path = VALID / "no-ranks.json"
    status, out, err = _inspect(capsys, str(path))
    assert (status, err) == (0, "")
    assert out.splitlines()[1:] == ['model_type  "llama"', 'dtype       "float8_e4m3fn"', "ranks       none"]
    report = json.loads(_inspect(capsys, str(path), "--json")[1])["report"]
    assert (report["rank_count"], report["ranks"], report["reference_rank"]) == (0, [], None)


def test_unsound_file_is_shown_then_its_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, {"0": {"0": 0.5, "1": -0.25, "2": 0, "3": 0.5}}, model_type=None)
    status, out, err = _inspect(capsys, str(path))
    assert status == 1
    assert out.splitlines()[1] == "model_type  null"
    assert "   0       4  -0.25    0.25  0.5         2" in out.splitlines()
    assert err.splitlines() == [
        f'{path}: $.kv_cache.scaling_factor["0"]["1"]: scale must be a finite number > 0, got -0.25',
        f'{path}: $.kv_cache.scaling_factor["0"]["2"]: scale must be a finite number > 0, got 0.0',
    ]
    status, out, err2 = _inspect(capsys, str(path), "--json")
    assert (status, err2) == (1, err)
    document = json.loads(out)
    assert document["ok"] is False
    assert document["problems"] == [
        {
            "path": '$.kv_cache.scaling_factor["0"]["1"]',
            "message": "scale must be a finite number > 0, got -0.25",
        },
        {
            "path": '$.kv_cache.scaling_factor["0"]["2"]',
            "message": "scale must be a finite number > 0, got 0.0",
        },
    ]
    assert document["report"]["ranks"][0]["min"] == -0.25


def test_wrong_dtype_is_shown_and_reported(capsys: pytest.CaptureFixture[str]) -> None:
    path = INVALID / "wrong-dtype.json"
    status, out, err = _inspect(capsys, str(path))
    assert status == 1
    assert 'dtype       "float16"' in out.splitlines()
    assert err == (
        f"{path}: $.kv_cache.dtype: Loaded scaling factors intended for KV cache dtype = float16 "
        "rather than float8_e4m3fn!\n"
    )


# The messages are the library's, as its data files pin them.
@pytest.mark.parametrize("name", ["truncated", "nan-token", "not-utf8", "not-an-object", "wrong-field-types"])
def test_file_that_does_not_structure(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    first_problem = (INVALID / f"{name}.problems").read_text().splitlines()[1]
    path = INVALID / f"{name}.json"
    status, out, err = _inspect(capsys, str(path))
    assert (status, out) == (1, "")
    assert err.splitlines()[0] == f"{path}: {first_problem}"
    assert "Traceback" not in err
    status, out, err2 = _inspect(capsys, str(path), "--json")
    assert (status, err2) == (1, err)
    document = json.loads(out)
    assert document["ok"] is False
    assert document["report"] is None
    assert (
        f"{path}: {document['problems'][0]['path']}: {document['problems'][0]['message']}"
        == err.splitlines()[0]
    )


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent.json"
    status, out, err = _inspect(capsys, str(path))
    assert (status, out, err) == (2, "", f"{path}: cannot read: No such file or directory\n")
    status, out, err = _inspect(capsys, str(path), "--json")
    assert (status, err) == (2, f"{path}: cannot read: No such file or directory\n")
    assert out.count("\n") == 1
    assert json.loads(out) == {
        "path": str(path),
        "ok": False,
        "problems": [{"path": "$", "message": "cannot read: No such file or directory"}],
        "report": None,
    }


def test_folder_instead_of_file(tmp_path: Path) -> None:
    result = run_cli("inspect", str(tmp_path))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(f"{tmp_path}: cannot read: ")


@pytest.mark.parametrize("args", [[], ["a.json", "b.json"], ["--tp-size", "2", "EXAMPLE"]])
def test_usage_errors(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["inspect", *[str(EXAMPLE) if a == "EXAMPLE" else a for a in args]])
    assert caught.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "quantparams inspect: error:" in err


def test_non_finite_scales_built_in_python_are_left_out() -> None:
    # A file cannot hold them (they are not JSON), but a document built in Python can.
    schema = QuantParamSchema(
        "llama", KVCacheQuantSchema("float8_e4m3fn", {0: {0: math.nan, 1: 0.5, 2: math.inf}})
    )
    inspection = inspect_schema(schema)
    stats = inspection.ranks[0]
    assert (stats.layer_count, stats.min, stats.median, stats.max) == (3, 0.5, 0.5, 0.5)
    assert inspection.outliers == ()


def test_broken_pipe_is_quiet(tmp_path: Path) -> None:
    # Big enough to fill a pipe's buffer before the reader goes away.
    path = _write(tmp_path, {str(rank): {"0": 0.5} for rank in range(5000)})
    process = subprocess.Popen(
        [sys.executable, "-m", "quantparams", "inspect", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()
    err = process.stderr.read()
    process.stderr.close()
    assert process.wait() == 2
    assert err == b""


def test_problems_follow_the_table_in_one_stream() -> None:
    path = INVALID / "unsound-scales.json"
    result = subprocess.run(
        [sys.executable, "-m", "quantparams", "inspect", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"file        {path}"
    assert lines[-4:] == [
        f"{path}: {line}" for line in path.with_suffix(".problems").read_text().splitlines()[1:]
    ]
