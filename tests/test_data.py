"""Every example file under tests/data, each message asserted exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import quantparams
from agreement import LOADERS, Loader, assert_loaders_agree
from documents import INVALID_FILES, VALID_FILES


def _context(path: Path) -> dict[str, Any] | None:
    context_file = path.with_name(path.name.removesuffix(".json") + ".context.json")
    if context_file.exists():
        return dict(json.loads(context_file.read_text()))
    return None


def _expected(path: Path) -> tuple[str, list[str]]:
    lines = path.with_suffix(".problems").read_text(encoding="utf-8").splitlines()
    return lines[0], lines[1:]


def test_every_invalid_file_has_expectations() -> None:
    for path in INVALID_FILES:
        assert path.with_suffix(".problems").exists(), path


@pytest.mark.parametrize("load", LOADERS.values(), ids=list(LOADERS))
@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: p.stem)
def test_valid_file_loads(path: Path, load: Loader) -> None:
    schema = load(path.read_bytes(), _context(path))
    # The values are the file's, read as vLLM reads them.
    raw = json.loads(path.read_text())
    kv = raw["kv_cache"]
    assert schema.model_type == raw["model_type"]
    assert schema.kv_cache.dtype == kv["dtype"]
    assert {r: dict(m) for r, m in schema.kv_cache.scaling_factor.items()} == {
        int(r): {int(layer): float(s) for layer, s in m.items()} for r, m in kv["scaling_factor"].items()
    }


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.stem)
def test_invalid_file_reports_every_problem_exactly(path: Path) -> None:
    kind, lines = _expected(path)
    with pytest.raises(quantparams.QuantParamError) as caught:
        quantparams.load(path, _context(path))
    error = caught.value
    assert type(error).__name__ == kind
    assert [str(p) for p in error.problems] == lines
    assert error.source == str(path)
    # The rendered error names the file and lists every problem.
    text = str(error)
    if len(lines) == 1:
        assert text == f"{path}: {lines[0]}"
    else:
        assert text == f"{path}: {len(lines)} problems:\n" + "\n".join(f"  {line}" for line in lines)


@pytest.mark.parametrize("load", LOADERS.values(), ids=list(LOADERS))
@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.stem)
def test_loads_raises_the_same_without_a_source(path: Path, load: Loader) -> None:
    kind, lines = _expected(path)
    with pytest.raises(quantparams.QuantParamError) as caught:
        load(path.read_bytes(), _context(path))
    assert type(caught.value).__name__ == kind
    assert [str(p) for p in caught.value.problems] == lines
    assert caught.value.source is None


@pytest.mark.parametrize("path", VALID_FILES + INVALID_FILES, ids=lambda p: p.stem)
def test_every_form_of_text_loads_alike_on_both_paths(path: Path) -> None:
    data = path.read_bytes()
    for text in (data, bytearray(data), memoryview(data), data.decode("utf-8", "surrogateescape")):
        assert_loaders_agree(text, _context(path))
        assert_loaders_agree(text, validate=False)
