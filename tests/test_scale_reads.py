"""Reading a scale tensor's values: the quick read of a one-value scale against the full one.

`scan.sound_per_tensor` takes the common case, a one-value float scale that
is finite and > 0, in fewer steps than `scan.scale_values`, which words
every problem. It may only answer what the full read answers with no
problem, and must leave the rest to it; a whole check comes out the same
with the quick read or without it.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkpoints import Raw, write_safetensors
from producers import compressed_tensors_config, model_config
from quantparams import Problem, inspect_checkpoint
from quantparams.checkpoint import scan as scan_module
from quantparams.checkpoint.folder import open_file
from quantparams.checkpoint.header import read_header

_CODES = {"F16": "e", "F32": "f", "F64": "d"}
_SIZES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I32": 4, "F8_E4M3": 1, "U8": 1}
_VALUES = st.floats(width=16) | st.sampled_from([0.0, -0.0, -1.0, 1.0, 0.02, math.nan, math.inf, -math.inf])


def _bytes_of(dtype: str, values: list[float]) -> bytes:
    if dtype in _CODES:
        return struct.pack(f"<{len(values)}{_CODES[dtype]}", *values)
    if dtype == "BF16":
        return b"".join(struct.pack("<f", value)[2:] for value in values)
    return bytes(range(len(values) * _SIZES[dtype]))


@st.composite
def _tensors(draw: st.DrawFn) -> Raw:
    dtype = draw(st.sampled_from(sorted(_SIZES)))
    shape = tuple(draw(st.sampled_from([(), (1,), (1, 1, 1), (2,), (8,), (8, 1, 1), (1, 2), (0,)])))
    count = math.prod(shape)
    return Raw(dtype, shape, _bytes_of(dtype, draw(st.lists(_VALUES, min_size=count, max_size=count))))


@given(_tensors(), st.sampled_from([None, 2, 8]))
def test_the_quick_read_answers_only_what_the_full_read_answers_without_a_problem(
    tmp_path_factory: pytest.TempPathFactory, tensor: Raw, heads: int | None
) -> None:
    path = write_safetensors(tmp_path_factory.mktemp("read") / "model.safetensors", {"t": tensor})
    header = read_header(path, "model.safetensors")
    info = header.tensors["t"]
    with open_file(path) as file:
        quick = scan_module.sound_per_tensor(info, file)
        problems: list[Problem] = []
        full = scan_module.scale_values(problems, "t", header, info, heads, "num_key_value_heads", file)
    if quick is not None:
        assert (full, problems) == ((quick, True), [])
    elif full is not None and full[1]:
        # Left to the full read: a sound scale of one value per head.
        assert len(full[0]) > 1


def test_a_one_value_scale_takes_the_quick_read(tmp_path: Path) -> None:
    for dtype, shape in (("F32", ()), ("BF16", (1,)), ("F16", (1, 1, 1)), ("F64", ())):
        path = write_safetensors(
            tmp_path / f"{dtype}.safetensors", {"t": Raw(dtype, shape, _bytes_of(dtype, [0.5]))}
        )
        header = read_header(path, path.name)
        with open_file(path) as file:
            assert scan_module.sound_per_tensor(header.tensors["t"], file) == (0.5,)


def _folders(tmp_path: Path) -> list[Path]:
    """Checkpoints whose scales are sound, broken, per head, and of every float dtype."""
    cases: dict[str, dict[str, Raw]] = {
        "sound": {
            "k": Raw("F32", (), _bytes_of("F32", [0.02])),
            "v": Raw("BF16", (1,), _bytes_of("BF16", [0.03])),
        },
        "unsound": {
            "k": Raw("F32", (), _bytes_of("F32", [math.nan])),
            "v": Raw("F16", (), _bytes_of("F16", [0.0])),
        },
        "per head": {
            "k": Raw("F32", (8, 1, 1), _bytes_of("F32", [0.5] * 8)),
            "v": Raw("F64", (8,), _bytes_of("F64", [0.25] * 8)),
        },
        "wrong": {
            "k": Raw("I32", (), _bytes_of("I32", [1.0])),
            "v": Raw("F32", (3,), _bytes_of("F32", [1.0] * 3)),
        },
    }
    folders = []
    for label, scales in cases.items():
        folder = tmp_path / label.replace(" ", "-")
        folder.mkdir()
        tensors = {
            f"model.layers.{layer}.self_attn.{kind}_scale": raw
            for layer in range(3)
            for kind, raw in scales.items()
        }
        write_safetensors(folder / "model.safetensors", tensors)
        config = model_config(3, compressed_tensors_config(), heads=8, kv_heads=8)
        (folder / "config.json").write_text(json.dumps(config))
        folders.append(folder)
    return folders


def test_a_check_comes_out_the_same_without_the_quick_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders = _folders(tmp_path)
    quick = [
        json.dumps(inspect_checkpoint(folder, engines=("vllm", "sglang")).to_json()) for folder in folders
    ]
    taken: list[bool] = []
    read = scan_module.sound_per_tensor

    def spy(*arguments: object) -> tuple[float] | None:
        answer = read(*arguments)  # type: ignore[arg-type]
        taken.append(answer is not None)
        return None

    monkeypatch.setattr(scan_module, "sound_per_tensor", spy)
    full = [
        json.dumps(inspect_checkpoint(folder, engines=("vllm", "sglang")).to_json()) for folder in folders
    ]
    # As JSON text: a NaN read twice is not equal to itself.
    assert full == quick
    # Both ways were taken: the comparison covers the quick read and the full one.
    assert set(taken) == {True, False}
