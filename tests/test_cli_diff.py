"""`quantparams diff`, run as a person runs it."""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cli_process import run_cli
from documents import EXAMPLE, INVALID
from quantparams import KVCacheQuantSchema, QuantParamSchema, diff_schemas
from quantparams._diff import DEFAULT_RTOL, relative_difference
from quantparams.cli import main


def _example() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return document


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document))
    return path


def _doc(
    scaling_factor: dict[str, Any], model_type: str | None = "llama", dtype: str = "float8_e4m3fn"
) -> dict[str, Any]:
    return {"model_type": model_type, "kv_cache": {"dtype": dtype, "scaling_factor": scaling_factor}}


def _diff(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    status = main(["diff", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def modified(tmp_path: Path) -> Path:
    """The example from another calibration run, with a rank more and a layer less."""
    document = _example()
    document["model_type"] = "mistral"
    ranks = document["kv_cache"]["scaling_factor"]
    ranks["0"]["7"] = 0.25
    ranks["1"]["3"] = 0.019746
    ranks["1"]["12"] = 0.002
    del ranks["1"]["31"]
    ranks["2"] = dict(ranks["0"])
    return _write(tmp_path / "modified.json", document)


def test_same_file_as_a_subprocess() -> None:
    result = run_cli("diff", str(EXAMPLE), str(EXAMPLE))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        f"A: {EXAMPLE}\nB: {EXAMPLE}\nsame within rtol 1e-06: 64 shared scales, largest relative difference 0\n"
    )


def test_differences_largest_first(modified: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _diff(capsys, EXAMPLE, modified)
    assert (status, err) == (1, "")
    assert out.splitlines() == [
        f"A: {EXAMPLE}",
        f"B: {modified}",
        'model_type: "llama" in A, "mistral" in B',
        "ranks only in B: 2",
        "layers only in A:",
        "  rank 1: 31",
        "3 of 63 shared scales differ by more than rtol 1e-06, largest first:",
        "  rank  layer         A         B  relative",
        "     1     12  0.045708     0.002     0.956",
        "     0      7    0.0427      0.25     0.829",
        "     1      3  0.019597  0.019746   0.00755",
        "differ: 63 shared scales, largest relative difference 0.956 (rank 1 layer 12)",
    ]


def test_differences_the_other_way_round(modified: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _diff(capsys, modified, EXAMPLE)
    assert status == 1
    lines = out.splitlines()
    assert lines[2:6] == [
        'model_type: "mistral" in A, "llama" in B',
        "ranks only in A: 2",
        "layers only in B:",
        "  rank 1: 31",
    ]
    # The relative difference is symmetric.
    assert "     1     12     0.002  0.045708     0.956" in lines


def test_json(modified: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _diff(capsys, EXAMPLE, modified, "--json")
    assert (status, err) == (1, "")
    assert out.count("\n") == 1
    document = json.loads(out)
    assert list(document) == ["a", "b", "rtol", "same", "differences"]
    assert document["a"] == {"path": str(EXAMPLE), "ok": True, "problems": []}
    assert document["b"] == {"path": str(modified), "ok": True, "problems": []}
    assert document["rtol"] == DEFAULT_RTOL == 1e-6
    assert document["same"] is False
    largest = {
        "rank": 1,
        "layer": 12,
        "a": 0.045708,
        "b": 0.002,
        "relative_difference": (0.045708 - 0.002) / 0.045708,
    }
    assert document["differences"] == {
        "model_type": {"a": "llama", "b": "mistral"},
        "dtype": None,
        "ranks_only_in_a": [],
        "ranks_only_in_b": [2],
        "layers_only_in_a": [{"rank": 1, "layer": 31}],
        "layers_only_in_b": [],
        "scales_compared": 63,
        "largest": largest,
        "scales": [
            largest,
            {"rank": 0, "layer": 7, "a": 0.0427, "b": 0.25, "relative_difference": (0.25 - 0.0427) / 0.25},
            {
                "rank": 1,
                "layer": 3,
                "a": 0.019597,
                "b": 0.019746,
                "relative_difference": (0.019746 - 0.019597) / 0.019746,
            },
        ],
    }


def test_json_when_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _diff(capsys, "--json", EXAMPLE, EXAMPLE)
    assert status == 0
    document = json.loads(out)
    assert document["same"] is True
    assert document["differences"]["scales"] == []
    assert document["differences"]["scales_compared"] == 64
    assert document["differences"]["largest"]["relative_difference"] == 0.0


def test_tolerance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _write(tmp_path / "a.json", _doc({"0": {"0": 1.0, "1": 0.5, "2": 2.0}}))
    # Relative differences 1e-7, 2e-6 and 1e-3.
    b = _write(
        tmp_path / "b.json", _doc({"0": {"0": 1.0 - 1e-7, "1": 0.5 * (1 - 2e-6), "2": 2.0 * (1 - 1e-3)}})
    )
    status, out, _ = _diff(capsys, a, b)
    assert status == 1
    assert "2 of 3 shared scales differ by more than rtol 1e-06, largest first:" in out
    status, out, _ = _diff(capsys, a, b, "--rtol", "0.01")
    assert status == 0
    assert (
        out.splitlines()[-1]
        == "same within rtol 0.01: 3 shared scales, largest relative difference 0.001 (rank 0 layer 2)"
    )
    # The tolerance is a bound that may be reached.
    assert _diff(capsys, a, b, "--rtol", repr(relative_difference(2.0, 2.0 * (1 - 1e-3))))[0] == 0
    status, out, _ = _diff(capsys, a, b, "--rtol", "0")
    assert status == 1
    assert "3 of 3 shared scales differ by more than rtol 0, largest first:" in out


def test_float32_noise_is_within_the_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scales = [0.0152, 0.0187, 0.047805, 0.009121]
    as_float32 = [struct.unpack("f", struct.pack("f", scale))[0] for scale in scales]
    a = _write(tmp_path / "a.json", _doc({"0": {str(i): s for i, s in enumerate(scales)}}))
    b = _write(tmp_path / "b.json", _doc({"0": {str(i): s for i, s in enumerate(as_float32)}}))
    assert as_float32 != scales
    assert _diff(capsys, a, b)[0] == 0


def test_equal_differences_keep_rank_and_layer_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _write(tmp_path / "a.json", _doc({"1": {"1": 1.0, "0": 1.0}, "0": {"0": 1.0, "1": 3.0}}))
    b = _write(tmp_path / "b.json", _doc({"0": {"0": 2.0, "1": 1.0}, "1": {"0": 2.0, "1": 2.0}}))
    document = json.loads(_diff(capsys, a, b, "--json")[1])
    assert [(d["rank"], d["layer"]) for d in document["differences"]["scales"]] == [
        (0, 1),
        (0, 0),
        (1, 0),
        (1, 1),
    ]


def test_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _write(tmp_path / "a.json", _doc({"0": {str(layer): 1.0 for layer in range(30)}}))
    b = _write(tmp_path / "b.json", _doc({"0": {str(layer): 1.0 + layer for layer in range(30)}}))
    lines = _diff(capsys, a, b)[1].splitlines()
    # Twenty by default, largest first.
    assert lines[4].split()[:2] == ["0", "29"]
    assert lines[24:] == [
        "  ... and 9 more (--limit 0 lists all)",
        "differ: 30 shared scales, largest relative difference 0.967 (rank 0 layer 29)",
    ]
    lines = _diff(capsys, a, b, "--limit", "2")[1].splitlines()
    assert lines[6] == "  ... and 27 more (--limit 0 lists all)"
    lines = _diff(capsys, a, b, "--limit", "0")[1].splitlines()
    assert len(lines) == 3 + 1 + 29 + 1
    assert len(json.loads(_diff(capsys, a, b, "--limit", "2", "--json")[1])["differences"]["scales"]) == 29


def test_model_type_and_dtype(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _write(tmp_path / "a.json", _doc({"0": {"0": 0.5}}, model_type=None))
    b = _write(tmp_path / "b.json", _doc({"0": {"0": 0.5}}, dtype="float8_e5m2"))
    status, out, err = _diff(capsys, a, b)
    assert status == 1
    assert out.splitlines()[2:] == [
        'model_type: null in A, "llama" in B',
        'dtype: "float8_e4m3fn" in A, "float8_e5m2" in B',
        "differ: 1 shared scale, largest relative difference 0",
        "invalid: B (problems on stderr)",
    ]
    assert (
        err
        == f"{b}: $.kv_cache.dtype: Loaded scaling factors intended for KV cache dtype = float8_e5m2 rather than float8_e4m3fn!\n"
    )


def test_invalid_but_structured_files_are_compared(capsys: pytest.CaptureFixture[str]) -> None:
    path = INVALID / "unsound-scales.json"
    status, out, err = _diff(capsys, path, path)
    # The same, but not sound: exit 0 is kept for valid files only.
    assert status == 1
    assert out.splitlines()[2:] == [
        "same within rtol 1e-06: 6 shared scales, largest relative difference 0",
        "invalid: A and B (problems on stderr)",
    ]
    assert len(err.splitlines()) == 8
    assert (
        err.splitlines()[0]
        == f'{path}: $.kv_cache.scaling_factor["0"]["1"]: scale must be a finite number > 0, got 0.0'
    )
    document = json.loads(_diff(capsys, path, path, "--json")[1])
    assert document["same"] is True
    assert document["a"]["ok"] is False
    assert len(document["a"]["problems"]) == 4


@pytest.mark.parametrize(
    "name",
    ["truncated", "nan-token", "infinity-token", "not-an-object", "missing-kv-cache", "layer-map-not-object"],
)
def test_file_that_does_not_structure(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    bad = INVALID / f"{name}.json"
    expected_problems = bad.with_suffix(".problems").read_text().splitlines()[1:]
    for a, b in ((bad, EXAMPLE), (EXAMPLE, bad)):
        status, out, err = _diff(capsys, a, b)
        assert (status, out) == (1, "")
        assert err.splitlines() == [f"{bad}: {line}" for line in expected_problems]
        status, out, err2 = _diff(capsys, a, b, "--json")
        assert (status, err2) == (1, err)
        document = json.loads(out)
        assert (document["same"], document["differences"]) == (None, None)
        side = "a" if a == bad else "b"
        assert document[side]["ok"] is False
        assert [f"{p['path']}: {p['message']}" for p in document[side]["problems"]] == expected_problems


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    absent = tmp_path / "absent.json"
    for args in ([EXAMPLE, absent], [absent, EXAMPLE], [absent, tmp_path]):
        status, out, err = _diff(capsys, *args)
        assert (status, out) == (2, "")
        assert f"{absent}: cannot read: No such file or directory\n" in err
    # --json prints its one document on exit 2 too.
    status, out, err = _diff(capsys, absent, EXAMPLE, "--json")
    assert (status, err) == (2, f"{absent}: cannot read: No such file or directory\n")
    assert out.count("\n") == 1
    assert json.loads(out) == {
        "a": {
            "path": str(absent),
            "ok": False,
            "problems": [{"path": "$", "message": "cannot read: No such file or directory"}],
        },
        "b": {"path": str(EXAMPLE), "ok": True, "problems": []},
        "rtol": DEFAULT_RTOL,
        "same": None,
        "differences": None,
    }
    # The other file's problems are still reported.
    truncated = INVALID / "truncated.json"
    for args in ([truncated, absent], [absent, truncated]):
        status, _, err = _diff(capsys, *args)
        assert status == 2
        assert err.splitlines() == [
            f"{absent}: cannot read: No such file or directory",
            f"{truncated}: $: not valid JSON: unexpected end of data at line 1, column 37 (char 36)",
        ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["EXAMPLE"], "the following arguments are required: B"),
        (["EXAMPLE", "EXAMPLE", "EXAMPLE"], "unrecognized arguments: "),
        (["--rtol", "-1", "EXAMPLE", "EXAMPLE"], "argument --rtol: expected a finite number >= 0, got '-1'"),
        (
            ["--rtol", "nan", "EXAMPLE", "EXAMPLE"],
            "argument --rtol: expected a finite number >= 0, got 'nan'",
        ),
        (
            ["--rtol", "inf", "EXAMPLE", "EXAMPLE"],
            "argument --rtol: expected a finite number >= 0, got 'inf'",
        ),
        (["--rtol", "tiny", "EXAMPLE", "EXAMPLE"], "argument --rtol: expected a number, got 'tiny'"),
        (["--limit", "-1", "EXAMPLE", "EXAMPLE"], "argument --limit: expected an integer >= 0, got '-1'"),
        (["--limit", "1.5", "EXAMPLE", "EXAMPLE"], "argument --limit: expected an integer, got '1.5'"),
    ],
)
def test_usage_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["diff", *[str(EXAMPLE) if a == "EXAMPLE" else a for a in args]])
    assert caught.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: quantparams diff ")
    assert f"quantparams diff: error: {message}" in err


def test_relative_difference() -> None:
    assert relative_difference(1.0, 1.0) == 0.0
    assert relative_difference(0.0, -0.0) == 0.0
    assert relative_difference(2.0, 1.0) == relative_difference(1.0, 2.0) == 0.5
    assert relative_difference(0.0, 1e-300) == 1.0
    assert relative_difference(-1.0, 1.0) == 2.0
    # Scale-free: the same ratio at any magnitude.
    assert relative_difference(3e-320, 6e-320) == relative_difference(3e300, 6e300) == 0.5
    # No overflow from finite numbers.
    assert relative_difference(-1.7976931348623157e308, 1.7976931348623157e308) == 2.0
    assert relative_difference(math.inf, math.inf) == 0.0
    assert relative_difference(math.inf, 1.0) == math.inf
    assert relative_difference(math.nan, 1.0) == math.inf
    assert relative_difference(math.nan, math.nan) == math.inf


def test_non_finite_scales_built_in_python() -> None:
    a = QuantParamSchema("llama", KVCacheQuantSchema("float8_e4m3fn", {0: {0: math.nan, 1: 0.5}}))
    difference = diff_schemas(a, a)
    # NaN differs even from itself: a NaN scale is never "the same".
    assert not difference.same
    assert [(d.layer, d.relative) for d in difference.scales] == [(0, math.inf)]


def test_huge_keys_in_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Larger than 64 bits, which orjson cannot write as integers.
    a = _write(tmp_path / "a.json", _doc({"100000000000000000000": {"0": 0.5}}))
    b = _write(tmp_path / "b.json", _doc({"0": {"0": 0.5}}))
    status, out, _ = _diff(capsys, a, b, "--json")
    assert status == 1
    assert out.count("\n") == 1
    assert json.loads(out)["differences"]["ranks_only_in_a"] == [100000000000000000000]
    assert "ranks only in A: 100000000000000000000" in _diff(capsys, a, b)[1].splitlines()


def test_problems_follow_the_comparison_in_one_stream(tmp_path: Path) -> None:
    document = _example()
    document["kv_cache"]["scaling_factor"]["0"]["3"] = -0.019745
    rerun = _write(tmp_path / "rerun.json", document)
    result = subprocess.run(
        [sys.executable, "-m", "quantparams", "diff", str(EXAMPLE), str(rerun)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout.splitlines()[-4:] == [
        "     0      3  0.019745  -0.019745         2",
        "differ: 64 shared scales, largest relative difference 2 (rank 0 layer 3)",
        "invalid: B (problems on stderr)",
        f'{rerun}: $.kv_cache.scaling_factor["0"]["3"]: scale must be a finite number > 0, got -0.019745',
    ]
