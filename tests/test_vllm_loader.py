"""The drop-in for vLLM's kv_cache_scales_loader, on real files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import quantparams
from documents import EXAMPLE
from quantparams import ParseError, ValidationError, kv_cache_scales_loader

# Each test runs on both loading paths (conftest.py).
pytestmark = pytest.mark.usefixtures("loading_path")


def test_returns_the_pairs_of_the_rank() -> None:
    schema = quantparams.load(EXAMPLE)
    for rank in (0, 1):
        pairs = kv_cache_scales_loader(EXAMPLE, rank, 2, 32, "llama")
        assert pairs == list(schema.kv_cache.scaling_factor[rank].items())
        assert [layer for layer, _ in pairs] == list(range(32))
        assert all(type(scale) is float for _, scale in pairs)


def test_model_type_is_optional() -> None:
    assert len(kv_cache_scales_loader(str(EXAMPLE), 1, 2, 32)) == 32


@pytest.mark.parametrize(
    ("args", "logged"),
    [
        (
            (0, 4, 32, "llama"),
            "Loaded dictionary has TP size 2 but LLM engine is currently running with TP size 4.",
        ),
        ((0, 2, 32, "mistral"), "Model type is mistral but loaded scaling factors"),
        ((2, 2, 32, "llama"), "engine context: tp_rank 2 is outside 0..1 for TP size 2"),
        ((0, 2, 40, "llama"), "Expected 40 layers, got 32."),
    ],
)
def test_failure_logs_the_problem_and_returns_nothing(
    args: tuple[int, int, int, str], logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="quantparams"):
        assert kv_cache_scales_loader(EXAMPLE, *args) == []
    error, warning = caplog.records
    assert error.levelno == logging.ERROR
    assert error.name == "quantparams"
    assert str(EXAMPLE) in error.getMessage()
    assert logged in error.getMessage()
    assert warning.levelno == logging.WARNING
    assert warning.getMessage() == (
        f"KV cache scaling factors default to 1.0 for all layers in TP rank {args[0]}: {EXAMPLE} was not used"
    )


def test_missing_file_logs_and_returns_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="quantparams"):
        assert kv_cache_scales_loader(tmp_path / "absent.json", 0, 1, 1) == []
    assert "No such file or directory" in caplog.records[0].getMessage()


def test_strict_raises_instead(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TP size 4"):
        kv_cache_scales_loader(EXAMPLE, 0, 4, 32, strict=True)
    broken = tmp_path / "broken.json"
    broken.write_bytes(b"{")
    with pytest.raises(ParseError) as caught:
        kv_cache_scales_loader(broken, 0, 1, 1, strict=True)
    assert caught.value.source == str(broken)
    with pytest.raises(FileNotFoundError):
        kv_cache_scales_loader(tmp_path / "absent.json", 0, 1, 1, strict=True)
