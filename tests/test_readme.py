"""The README's examples run and print what it shows: every `console` block, and the reports snippet."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

import quantparams
from documents import ROOT

README = ROOT / "README.md"
# A line of only "..." stands for output the README leaves out: what follows is not compared.
ELIDED = "..."


@attrs.frozen
class Example:
    command: str
    output: tuple[str, ...]


def _examples(text: str) -> list[Example]:
    examples: list[Example] = []
    for block in re.findall(r"^```console\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL):
        command: str | None = None
        output: list[str] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                if command is not None:
                    examples.append(Example(command, tuple(output)))
                command, output = line[2:], []
            else:
                output.append(line)
        if command is not None:
            examples.append(Example(command, tuple(output)))
    return examples


def _argv(command: str) -> list[str]:
    program, *args = shlex.split(command)
    if program == "quantparams":
        return [sys.executable, "-m", "quantparams", *args]
    assert program == "python", f"README example runs {program!r}, which this test does not know"
    return [sys.executable, *args]


def test_the_readme_has_console_examples() -> None:
    commands = [example.command.split()[:2] for example in _examples(README.read_text())]
    for name in ("validate", "inspect", "diff", "schema", "extract"):
        assert ["quantparams", name] in commands


def test_readme_console_examples(tmp_path: Path) -> None:
    # In a folder of their own, beside a copy of the shipped examples: some write files.
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    for example in _examples(README.read_text()):
        result = subprocess.run(
            _argv(example.command),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        lines = result.stdout.splitlines()
        expected = list(example.output)
        if ELIDED in [line.strip() for line in expected]:
            cut = [line.strip() for line in expected].index(ELIDED)
            expected, lines = expected[:cut], lines[:cut]
        assert lines == expected, example.command


@pytest.mark.parametrize(
    ("text", "examples"),
    [
        ("```console\n$ a\nout\n$ b\n```\n", [Example("a", ("out",)), Example("b", ())]),
        ("```sh\n$ a\n```\n```console\n$ c\n1\n2\n```\n", [Example("c", ("1", "2"))]),
    ],
)
def test_examples_are_read_from_console_blocks_only(text: str, examples: list[Example]) -> None:
    assert _examples(text) == examples


def test_readme_reports_example(monkeypatch: pytest.MonkeyPatch) -> None:
    text = README.read_text()
    start = text.index("```python\n", text.index("### Reports")) + len("```python\n")
    code = text[start : text.index("```\n", start)]
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {"quantparams": quantparams}
    exec(code, namespace)  # noqa: S102 - the README's own snippet
    # What its comments say.
    assert namespace["inspection"].ranks[1].layer_count == 32
    (outlier,) = namespace["inspection"].outliers
    assert (outlier.rank, outlier.layer, outlier.scale, round(outlier.median, 6)) == (
        1,
        1,
        0.009121,
        0.037179,
    )
    assert namespace["difference"].same is False
    assert namespace["difference"].largest == quantparams.ScaleDifference(0, 3, 0.019745, -0.019745, 2.0)
