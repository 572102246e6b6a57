"""The command line, run as a person runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import quantparams
from cli_process import run_cli
from documents import EXAMPLE, INVALID, VALID
from quantparams.cli import main
from quantparams.cli.files import Engine

SUMMARY = "model_type llama, dtype float8_e4m3fn, 2 TP ranks x 32 layers, scales 0.009121 to 0.052584"


def test_validate_example_as_a_subprocess() -> None:
    result = run_cli("validate", str(EXAMPLE))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"ok  {EXAMPLE}: {SUMMARY}\n"


def test_validate_against_an_engine_checks_every_rank(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["validate", str(EXAMPLE), "--tp-size", "2", "--num-layers", "32", "--model-type", "llama"]) == 0
    )
    assert capsys.readouterr().out == f"ok  {EXAMPLE}: {SUMMARY}\n"


def test_invalid_file_lists_every_problem_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLE), "--tp-size", "3", "--num-layers", "31"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{EXAMPLE}: $.kv_cache.scaling_factor: Loaded dictionary has TP size 2 but LLM engine is "
        "currently running with TP size 3.",
        f'{EXAMPLE}: $.kv_cache.scaling_factor["0"]: KV cache scales map for TP rank 0 is malformed. '
        "Expected 31 layers, got 32.",
        f'{EXAMPLE}: $.kv_cache.scaling_factor["1"]: KV cache scales map for TP rank 1 is malformed. '
        "Expected 31 layers, got 32.",
        f'{EXAMPLE}: $.kv_cache.scaling_factor["2"]: KV cache scales map for TP rank 2 not found.',
    ]


def test_one_rank_only(capsys: pytest.CaptureFixture[str]) -> None:
    path = INVALID / "layer-missing.json"
    assert main(["validate", str(path), "--tp-size", "2", "--num-layers", "3", "--tp-rank", "1"]) == 1
    # Rank 0 has three layers (0, 2, 3): only the rank being loaded is
    # checked layer by layer, as vLLM does.
    assert capsys.readouterr().err.splitlines() == [
        f'{path}: $.kv_cache.scaling_factor["1"]: KV cache scales map for TP rank 1 is malformed. '
        "Expected 3 layers, got 2.",
        f'{path}: $.kv_cache.scaling_factor["1"]["2"]: Could not find KV cache scales for layer 2 in TP rank 1.',
    ]


def test_each_input_is_printed_as_soon_as_it_is_checked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from quantparams.cli import validate as validate_command

    printed_before: list[str] = []
    check = validate_command._check_file

    def checking(source: str, *args: Any) -> Any:
        printed_before.append(capsys.readouterr().out)
        return check(source, *args)

    monkeypatch.setattr(validate_command, "_check_file", checking)
    assert main(["validate", str(EXAMPLE), str(EXAMPLE)]) == 0
    assert printed_before == ["", f"ok  {EXAMPLE}: {SUMMARY}\n"]
    assert capsys.readouterr().out == f"ok  {EXAMPLE}: {SUMMARY}\nall 2 valid\n"


def test_several_files_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    bad = INVALID / "wrong-field-types.json"
    assert main(["validate", str(EXAMPLE), str(bad)]) == 1
    out, err = capsys.readouterr()
    # Several inputs end with a count.
    assert out == f"ok  {EXAMPLE}: {SUMMARY}\n1 of 2 invalid\n"
    assert err.splitlines()[0] == f"{bad}: $.model_type: expected a string or null, got 7"
    assert len(err.splitlines()) == 3


def test_parse_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    path = INVALID / "truncated.json"
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"{path}: $: not valid JSON: unexpected end of data at line 1, column 37 (char 36)\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["validate"],
        ["frobnicate", "x"],
        ["validate", "EXAMPLE", "--tp-size", "two", "--num-layers", "2"],
        ["validate", "EXAMPLE", "--tp-size", "2"],
        ["validate", "EXAMPLE", "--tp-rank", "0"],
        ["validate", "EXAMPLE", "--model-type", "llama"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = run_cli(*[str(EXAMPLE) if a == "EXAMPLE" else a for a in args])
    assert result.returncode == 2
    assert result.stdout == ""
    assert "error:" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path / "absent.json"), str(EXAMPLE))
    assert result.returncode == 2
    assert result.stderr == f"{tmp_path / 'absent.json'}: cannot read: No such file or directory\n"
    assert result.stdout.startswith("ok  ")


def test_folder_instead_of_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path))
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def _json_out(capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    out, err = capsys.readouterr()
    # One document on one line.
    assert out.count("\n") == 1
    document: dict[str, Any] = json.loads(out)
    return document, err


def test_validate_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--json", str(EXAMPLE), "--tp-size", "2", "--num-layers", "32"]) == 0
    document, err = _json_out(capsys)
    assert err == ""
    assert document == {
        "ok": True,
        "files": [
            {
                "path": str(EXAMPLE),
                "ok": True,
                "error": None,
                "problems": [],
                "summary": {
                    "model_type": "llama",
                    "dtype": "float8_e4m3fn",
                    "rank_count": 2,
                    "layers_per_rank": [32],
                    "min_scale": 0.009121,
                    "max_scale": 0.052584,
                },
            }
        ],
    }


def test_validate_json_lists_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = INVALID / "wrong-field-types.json"
    absent = tmp_path / "absent.json"
    assert main(["validate", str(EXAMPLE), str(bad), str(absent)]) == 2
    human_err = capsys.readouterr().err
    assert main(["validate", str(EXAMPLE), str(bad), str(absent), "--json"]) == 2
    document, err = _json_out(capsys)
    # --json changes stdout only.
    assert err == human_err
    assert document["ok"] is False
    assert [(f["path"], f["ok"], f["error"]) for f in document["files"]] == [
        (str(EXAMPLE), True, None),
        (str(bad), False, None),
        (str(absent), False, "cannot read: No such file or directory"),
    ]
    assert document["files"][1]["problems"] == [
        {"path": "$.model_type", "message": "expected a string or null, got 7"},
        {"path": "$.kv_cache.dtype", "message": 'expected a string, got ["float8_e4m3fn"]'},
        {
            "path": "$.kv_cache.scaling_factor",
            "message": "expected an object mapping TP rank to layer scales, got [0.5]",
        },
    ]
    assert document["files"][1]["summary"] is None
    assert document["files"][2]["problems"] == []


# Not JSON, NaN and Infinity tokens, the wrong shape, scales <= 0.
@pytest.mark.parametrize(
    "name", ["truncated", "nan-token", "infinity-token", "not-an-object", "unsound-scales"]
)
def test_validate_json_of_bad_files(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = INVALID / f"{name}.json"
    expected = path.with_suffix(".problems").read_text().splitlines()[1:]
    assert main(["validate", "--json", str(path)]) == 1
    document, err = _json_out(capsys)
    assert err.splitlines() == [f"{path}: {line}" for line in expected]
    (result,) = document["files"]
    assert result["ok"] is False
    assert [f"{p['path']}: {p['message']}" for p in result["problems"]] == expected


def test_validate_json_with_every_rank_checked(capsys: pytest.CaptureFixture[str]) -> None:
    path = INVALID / "layer-missing.json"
    assert main(["validate", str(path), "--tp-size", "2", "--num-layers", "3", "--json"]) == 1
    document, _ = _json_out(capsys)
    assert [p["path"] for p in document["files"][0]["problems"]] == [
        '$.kv_cache.scaling_factor["1"]',
        '$.kv_cache.scaling_factor["0"]["1"]',
        '$.kv_cache.scaling_factor["1"]["2"]',
    ]


def test_validate_json_usage_error_prints_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--json", str(EXAMPLE), "--tp-size", "2"]) == 2
    document, err = _json_out(capsys)
    assert document == {"ok": False, "error": "--tp-size and --num-layers go together"}
    assert err == "quantparams validate: error: --tp-size and --num-layers go together\n"


def test_validate_json_as_a_subprocess() -> None:
    result = run_cli("validate", "--json", str(EXAMPLE))
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout)["files"][0]["ok"] is True


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "{validate,inspect,diff,schema,extract}" in out


def test_unknown_argument_names_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["validate", str(EXAMPLE), "--frobnicate"])
    assert caught.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[-1] == "quantparams validate: error: unrecognized arguments: --frobnicate"


def test_console_script_runs_the_cli_package() -> None:
    from importlib.metadata import entry_points

    (script,) = [point for point in entry_points(group="console_scripts") if point.name == "quantparams"]
    assert script.value == "quantparams.cli:main"
    assert script.load() is main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tp-size", "0", "--num-layers", "32"], "argument --tp-size: expected an integer >= 1, got '0'"),
        (["--tp-size", "-1", "--num-layers", "32"], "argument --tp-size: expected an integer >= 1, got '-1'"),
        (["--tp-size", "2", "--num-layers", "0"], "argument --num-layers: expected an integer >= 1, got '0'"),
        (
            ["--tp-size", "2", "--num-layers", "32", "--tp-rank", "-1"],
            "argument --tp-rank: expected an integer >= 0, got '-1'",
        ),
    ],
)
def test_engine_numbers_below_their_range_are_usage_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["validate", str(EXAMPLE), *args])
    assert caught.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[-1] == f"quantparams validate: error: {message}"


def test_tp_rank_outside_the_tp_size_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLE), "--tp-size", "2", "--num-layers", "32", "--tp-rank", "2"]) == 2
    assert capsys.readouterr() == (
        "",
        "quantparams validate: error: --tp-rank 2 is outside 0..1 for --tp-size 2\n",
    )


@pytest.mark.parametrize("tp_size", [10_000_000, 2**63])
def test_a_huge_tp_size_gets_one_line_for_the_missing_ranks(
    tp_size: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(EXAMPLE), "--tp-size", str(tp_size), "--num-layers", "32"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{EXAMPLE}: $.kv_cache.scaling_factor: Loaded dictionary has TP size 2 but LLM engine is "
        f"currently running with TP size {tp_size}.",
        f"{EXAMPLE}: $.kv_cache.scaling_factor: KV cache scales maps for TP ranks 2-{tp_size - 1} not found "
        f"({tp_size - 2} ranks).",
    ]


def test_every_rank_visits_only_the_ranks_the_file_has() -> None:
    schema = quantparams.load(EXAMPLE)
    engine = Engine(tp_size=2**63, tp_rank=None, num_hidden_layers=32, model_type=None)
    assert [context.tp_rank for context in engine.contexts(schema)] == [0, 1]
    # A file without any of the engine's ranks still gets the checks that concern them all.
    no_ranks = quantparams.load(VALID / "no-ranks.json")
    assert [context.tp_rank for context in engine.contexts(no_ranks)] == [0]


def _all_problems(path: Path, contexts: list[quantparams.ValidationContext]) -> list[quantparams.Problem]:
    found: dict[quantparams.Problem, None] = {}
    for context in contexts:
        try:
            quantparams.load(path, context)
        except quantparams.QuantParamError as error:
            found.update(dict.fromkeys(error.problems))
    return list(found)


@pytest.mark.parametrize("tp_size", [1, 2, 3, 5])
@pytest.mark.parametrize("num_layers", [1, 3, 32])
@pytest.mark.parametrize(
    "path",
    [EXAMPLE, *(INVALID / f"{name}.json" for name in ("layer-missing", "rank-gap", "tp-size-mismatch"))],
    ids=lambda path: path.stem,
)
def test_every_rank_finds_what_checking_each_rank_in_turn_finds(
    path: Path, tp_size: int, num_layers: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # The oracle: one check per rank of the engine, 0..tp_size-1.
    contexts = [quantparams.ValidationContext(tp_size, rank, num_layers) for rank in range(tp_size)]
    expected = [f"{path}: {problem}" for problem in _all_problems(path, contexts)]
    status = main(["validate", str(path), "--tp-size", str(tp_size), "--num-layers", str(num_layers)])
    out, err = capsys.readouterr()
    assert err.splitlines() == expected
    assert (status, out.startswith("ok  ")) == ((1, False) if expected else (0, True))
