"""`load` refuses files past its size limit before reading them."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import quantparams
from quantparams import DEFAULT_MAX_BYTES, FileTooLargeError, ParseError

# Each test runs on both loading paths (conftest.py).
pytestmark = pytest.mark.usefixtures("loading_path")

SOUND = b'{"model_type":"llama","kv_cache":{"dtype":"float8_e4m3fn","scaling_factor":{"0":{"0":0.5}}}}'


def _too_large(path: Path, **kwargs: object) -> FileTooLargeError:
    with pytest.raises(FileTooLargeError) as caught:
        quantparams.load(path, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_default_limit_refuses_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    # A sparse file: 64 MiB + 1 byte on paper, nothing on disk. Reading it
    # would take the time and memory the limit exists to save.
    with path.open("wb") as file:
        file.truncate(DEFAULT_MAX_BYTES + 1)
    error = _too_large(path)
    assert isinstance(error, ParseError)
    assert error.source == str(path)
    assert [str(p) for p in error.problems] == [
        "$: file is 64.0 MiB (67108865 bytes), larger than the 64 MiB limit (max_bytes=67108864); "
        "to read it, pass a larger max_bytes= to load(), or --max-bytes N to the quantparams command"
    ]


def test_limit_is_inclusive(tmp_path: Path) -> None:
    path = tmp_path / "scales.json"
    path.write_bytes(SOUND)
    assert quantparams.load(path, max_bytes=len(SOUND)).model_type == "llama"
    error = _too_large(path, max_bytes=len(SOUND) - 1)
    assert str(error) == (
        f"{path}: $: file is {len(SOUND)} bytes, larger than the "
        f"{len(SOUND) - 1} bytes limit (max_bytes={len(SOUND) - 1}); to read it, pass a larger max_bytes= to load(), or --max-bytes N to the quantparams command"
    )
    assert quantparams.load(path, max_bytes=None).model_type == "llama"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_stream_is_cut_off_one_byte_past_the_limit(tmp_path: Path) -> None:
    # A pipe has no size to look at first: reading stops at the limit.
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    written: list[int] = []

    def feed() -> None:
        with fifo.open("wb") as pipe:
            try:
                for _ in range(64):
                    pipe.write(b" " * 65536)
                    written.append(65536)
            except BrokenPipeError:
                pass

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        error = _too_large(fifo, max_bytes=100_000)
    finally:
        writer.join(timeout=10)
    assert [str(p) for p in error.problems] == [
        "$: file holds more than the 97.7 KiB limit (max_bytes=100000); to read it, pass a larger max_bytes= to load(), or --max-bytes N to the quantparams command"
    ]
    assert sum(written) < 64 * 65536  # the reader stopped early; the rest was never sent


@pytest.mark.parametrize(
    ("value", "kind"), [(-1, ValueError), ("1000", TypeError), (True, TypeError), (1.5, TypeError)]
)
def test_bad_limits_are_programming_errors(tmp_path: Path, value: object, kind: type[Exception]) -> None:
    path = tmp_path / "scales.json"
    path.write_bytes(SOUND)
    with pytest.raises(kind, match="max_bytes"):
        quantparams.load(path, max_bytes=value)  # type: ignore[arg-type]
