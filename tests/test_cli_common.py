"""What every command shares: --version, --help, --max-bytes, - for standard input, --json on exit 2."""

from __future__ import annotations

import ast
import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import quantparams
from cli_process import run_cli
from documents import EXAMPLE, EXAMPLES, INVALID, ROOT, matching
from quantparams.cli import main

SUMMARY = "model_type llama, dtype float8_e4m3fn, 2 TP ranks x 32 layers, scales 0.009121 to 0.052584"
COMMANDS = ["validate", "inspect", "diff", "schema", "extract"]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """main(args) as the process would end: its exit status, stdout and stderr."""
    try:
        status = main(list(args))
    except SystemExit as exit:
        status = exit.code if isinstance(exit.code, int) else 1
    out, err = capsys.readouterr()
    return status, out, err


def _one_document(out: str) -> dict[str, Any]:
    assert out.count("\n") == 1
    document: dict[str, Any] = json.loads(out)
    return document


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "--version") == (0, f"quantparams {quantparams.__version__}\n", "")


def test_arguments_default_to_the_process_arguments(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["quantparams", "validate", str(EXAMPLE)])
    assert main() == 0
    assert capsys.readouterr().out == f"ok  {EXAMPLE}: {SUMMARY}\n"


def test_version_as_a_subprocess() -> None:
    result = run_cli("--version")
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"quantparams {quantparams.__version__}\n",
        "",
    )


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_help_states_the_exit_codes_and_an_example(
    command: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, *([] if command is None else [command]), "--help")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    exit_status = " ".join(
        lines[lines.index(next(line for line in lines if line.startswith("exit status:"))) :]
    )
    for code in ("0 ", "1 " if command != "schema" else "", "2 "):
        assert code in exit_status
    example = lines[lines.index("example:") + 2]
    assert example.startswith(f"  quantparams {command or 'validate'} ")


# The help's examples run on the repository's own files.
@pytest.mark.parametrize("command", COMMANDS)
def test_help_examples_run(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = _run(capsys, command, "--help")[1]
    lines = out.splitlines()
    words = shlex.split(lines[lines.index("example:") + 2])
    if ">" in words:
        words = words[: words.index(">")]
    # In a folder of its own, beside the shipped examples: extract writes a file.
    (tmp_path / "examples").symlink_to(EXAMPLES)
    monkeypatch.chdir(tmp_path)
    status, out, err = _run(capsys, *words[1:])
    # The diff example compares a file with its broken rerun.
    assert status == (1 if command == "diff" else 0), err
    assert out


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "--tp-size", "0", "--num-layers", "32", "EXAMPLE"],
        ["validate", "--tp-size", "-1", "--num-layers", "32", "EXAMPLE"],
        ["validate", "--tp-size", "2", "--num-layers", "0", "EXAMPLE"],
        ["validate", "--max-bytes", "-1", "EXAMPLE"],
        ["validate", "--tp-rank", "0", "EXAMPLE"],
        ["inspect", "--max-bytes", "lots", "EXAMPLE"],
        ["diff", "--rtol", "-1", "EXAMPLE", "EXAMPLE"],
        ["extract", "--tp-size", "0", "EXAMPLE"],
        ["inspect"],
        ["validate", "EXAMPLE", "--frobnicate"],
        ["frobnicate"],
        [],
    ],
)
def test_json_usage_errors_print_one_document(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    argv = [str(EXAMPLE) if arg == "EXAMPLE" else arg for arg in args]
    status, out, err = _run(capsys, *argv)
    assert (status, out) == (2, "")
    # --json anywhere, even as argparse's abbreviation of it, asks for the document.
    for with_flag in ([*argv, "--json"], ["--json", *argv], [*argv, "--js"]):
        status, out, err = _run(capsys, *with_flag)
        assert status == 2
        assert _one_document(out) == {"ok": False, "error": err.splitlines()[-1].split(": error: ", 1)[1]}


def test_json_usage_error_as_a_subprocess() -> None:
    result = run_cli("validate", "--json", "--tp-size", "0", "--num-layers", "2", str(EXAMPLE))
    assert result.returncode == 2
    assert json.loads(result.stdout) == {
        "ok": False,
        "error": "argument --tp-size: expected an integer >= 1, got '0'",
    }
    assert result.stderr.splitlines()[-1] == (
        "quantparams validate: error: argument --tp-size: expected an integer >= 1, got '0'"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "--json", "INVALID"],
        ["inspect", "--json", "INVALID"],
        ["diff", "--json", "EXAMPLE", "INVALID"],
        ["validate", "--json", "--tp-rank", "0", "EXAMPLE"],
        ["inspect", "--json", "--frobnicate", "EXAMPLE"],
    ],
)
def test_with_json_in_one_stream_the_document_comes_last(args: list[str]) -> None:
    invalid = INVALID / "unsound-scales.json"
    argv = [{"EXAMPLE": str(EXAMPLE), "INVALID": str(invalid)}.get(arg, arg) for arg in args]
    result = subprocess.run(
        [sys.executable, "-m", "quantparams", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    *messages, document = result.stdout.splitlines()
    assert result.returncode in (1, 2)
    assert messages
    assert not any(line.startswith("{") for line in messages)
    assert isinstance(json.loads(document), dict)


def test_a_file_named_after_dash_dash_is_not_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "validate", "--", "--json")
    assert (status, out) == (2, "")
    assert err == "--json: cannot read: No such file or directory\n"


# --max-bytes, on every command that reads files.


def test_max_bytes_refuses_a_larger_file(capsys: pytest.CaptureFixture[str]) -> None:
    size = EXAMPLE.stat().st_size
    for args in (["validate", str(EXAMPLE)], ["inspect", str(EXAMPLE)], ["diff", str(EXAMPLE), str(EXAMPLE)]):
        status, out, err = _run(capsys, *args, "--max-bytes", str(size - 1))
        assert (status, out) == (1, "")
        assert err.startswith(f"{EXAMPLE}: $: ")
        # The library's own check, with the limit the command was given.
        with pytest.raises(quantparams.FileTooLargeError) as caught:
            quantparams.load(EXAMPLE, max_bytes=size - 1)
        assert err.splitlines()[0] == f"{EXAMPLE}: {caught.value.problems[0]}"
        assert _run(capsys, *args, "--max-bytes", str(size))[0] == 0


def test_max_bytes_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "inspect", "--json", "--max-bytes", "10", str(EXAMPLE))
    assert status == 1
    document = _one_document(out)
    assert (document["ok"], document["report"]) == (False, None)
    assert [problem["path"] for problem in document["problems"]] == ["$"]


# - reads standard input.


def test_validate_reads_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _stdin(monkeypatch, EXAMPLE.read_bytes())
    assert _run(capsys, "validate", "-", "--tp-size", "2", "--num-layers", "32") == (
        0,
        f"ok  <stdin>: {SUMMARY}\n",
        "",
    )


def test_validate_names_standard_input_in_problems(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = INVALID / "unsound-scales.json"
    expected = path.with_suffix(".problems").read_text().splitlines()[1:]
    _stdin(monkeypatch, path.read_bytes())
    status, out, err = _run(capsys, "validate", "--json", "-", str(EXAMPLE))
    assert status == 1
    assert err.splitlines() == [f"<stdin>: {line}" for line in expected]
    document = _one_document(out)
    assert [(f["path"], f["ok"]) for f in document["files"]] == [("<stdin>", False), (str(EXAMPLE), True)]


def test_inspect_reads_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _run(capsys, "inspect", str(EXAMPLE))[1]
    _stdin(monkeypatch, EXAMPLE.read_bytes())
    status, out, err = _run(capsys, "inspect", "-")
    assert (status, err) == (0, "")
    assert out == expected.replace(f"file        {EXAMPLE}", "file        <stdin>")


def test_diff_reads_standard_input_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _stdin(monkeypatch, EXAMPLE.read_bytes())
    status, out, _ = _run(capsys, "diff", "-", str(EXAMPLE))
    assert status == 0
    assert out.splitlines()[0] == "A: <stdin>"
    for args in (["validate", "-", "-"], ["diff", "-", "-"]):
        status, out, err = _run(capsys, *args)
        assert (status, out) == (2, "")
        assert err.endswith("error: standard input (-) can be read only once\n")


def test_max_bytes_on_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = EXAMPLE.read_bytes()
    _stdin(monkeypatch, data)
    status, out, err = _run(capsys, "validate", "-", "--max-bytes", str(len(data) - 1))
    assert (status, out) == (1, "")
    assert err == (
        f"<stdin>: $: standard input holds more than {len(data) - 1} bytes; pass a larger --max-bytes N to read it\n"
    )
    _stdin(monkeypatch, data)
    assert _run(capsys, "validate", "-", "--max-bytes", str(len(data)))[0] == 0


def test_standard_input_as_a_subprocess() -> None:
    for command in ("validate", "inspect"):
        result = subprocess.run(
            [sys.executable, "-m", "quantparams", command, "-"],
            input=EXAMPLE.read_bytes(),
            capture_output=True,
            check=False,
        )
        assert (result.returncode, result.stderr) == (0, b"")
        assert b"<stdin>" in result.stdout


def test_standard_input_that_is_closed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    status, out, err = _run(capsys, "inspect", "-", "--json")
    assert (status, err) == (2, "<stdin>: cannot read: standard input is closed\n")
    assert _one_document(out)["problems"] == [
        {"path": "$", "message": "cannot read: standard input is closed"}
    ]


def test_a_file_named_dash_is_read_as_dot_slash_dash(tmp_path: Path) -> None:
    (tmp_path / "-").write_bytes(EXAMPLE.read_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "quantparams", "validate", "./-"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert (result.returncode, result.stdout) == (0, f"ok  ./-: {SUMMARY}\n")


def test_the_command_line_uses_only_the_public_names_of_the_library() -> None:
    # What it needs of the library, users can reach too: `quantparams` and `quantparams.checkpoint`.
    for source in matching(ROOT / "src" / "quantparams" / "cli", "*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level > 1:
                assert node.level == 2, source.name
                assert node.module in (None, "checkpoint"), (source.name, node.module)
