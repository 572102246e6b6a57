"""The safetensors header reader on broken files, fuzzed, and on a file of many gigabytes."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy
from hypothesis import event, given
from hypothesis import strategies as st

from checkpoints import zeros
from producers import compressed_tensors_config, model_config, write_named
from quantparams import ExtractError, Problem, extract_scales, inspect_checkpoint
from quantparams.checkpoint import folder as folder_module
from quantparams.checkpoint import header as header_module
from quantparams.checkpoint.folder import READ_AHEAD, open_file
from quantparams.checkpoint.header import HeaderError, read_header

SCALES = {
    f"model.layers.{layer}.self_attn.{kind}_scale": 0.25 * (layer + 1) for layer in range(2) for kind in "kv"
}


def _sound_bytes() -> bytes:
    tensors = {name: np.array(value, np.float32) for name, value in SCALES.items()}
    tensors["model.embed_tokens.weight"] = np.ones((4, 4), np.float32)
    return safetensors.numpy.save(tensors)


SOUND = _sound_bytes()
HEADER_LENGTH = struct.unpack("<Q", SOUND[:8])[0]
HEADER = json.loads(SOUND[8 : 8 + HEADER_LENGTH])


def _with_header(header: object, data: bytes | None = None) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + (SOUND[8 + HEADER_LENGTH :] if data is None else data)


def _one_line_problem(tmp_path: Path, data: bytes) -> str:
    """The one problem inspect_checkpoint gives for a checkpoint whose one file holds `data`."""
    folder = write_named(tmp_path, {}, config=model_config(2, compressed_tensors_config()))
    (folder / "model.safetensors").write_bytes(data)
    inspection = inspect_checkpoint(folder)
    [problem] = inspection.problems
    assert problem.path == "model.safetensors"
    assert "\n" not in problem.message
    assert problem.message.startswith("not a readable safetensors file: ")
    with pytest.raises(HeaderError) as caught:
        read_header(folder / "model.safetensors", "model.safetensors")
    assert [str(one) for one in caught.value.problems] == [f"{problem.path}: {problem.message}"]
    return problem.message.removeprefix("not a readable safetensors file: ")


def test_the_sound_file_reads(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(SOUND)
    header = read_header(path, "model.safetensors")
    assert set(header.tensors) == {*SCALES, "model.embed_tokens.weight"}
    with open_file(path) as file:
        assert header_module.read_floats(
            header, header.tensors["model.layers.1.self_attn.v_scale"], file
        ) == (0.5,)


@pytest.mark.parametrize("padding", [0, 16_000, 16_376, 16_377, 100_000])
def test_headers_short_and_long_read_whole(tmp_path: Path, padding: int) -> None:
    # A header shorter than a system read (`READ_AHEAD` bytes) comes with its length, a longer
    # one is read again (16_376 bytes of header with its 8-byte length fill the first read).
    header = {**HEADER, "__metadata__": {"padding": ""}}
    bare = len(json.dumps(header).encode())
    header["__metadata__"] = {"padding": "x" * max(0, padding - bare)}
    path = tmp_path / "model.safetensors"
    path.write_bytes(_with_header(header))
    assert struct.unpack("<Q", path.read_bytes()[:8]) == (max(bare, padding),)
    read = read_header(path, "model.safetensors")
    assert set(read.tensors) == {*SCALES, "model.embed_tokens.weight"}
    with open_file(path) as file:
        assert header_module.read_floats(read, read.tensors["model.layers.1.self_attn.v_scale"], file) == (
            0.5,
        )
    # The same file cut inside its header says how long the header claims to be.
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(HeaderError, match="runs past the end of the"):
        read_header(path, "model.safetensors")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x01\x00", "2 bytes, too short for the 8-byte header length"),
        (struct.pack("<Q", 10**6) + b"{}", "header length 1000000 runs past the end of the 10-byte file"),
        (struct.pack("<Q", 2**40), "header length 1099511627776 is past the 100000000-byte limit"),
        (struct.pack("<Q", 4) + b"\xff\xfe{}", "the header is not UTF-8 (byte 0)"),
        (struct.pack("<Q", 3) + b"[1]", "the header must be a JSON object, got [1]"),
        (struct.pack("<Q", 2) + b'{"', None),
    ],
)
def test_broken_prefixes(tmp_path: Path, data: bytes, reason: str | None) -> None:
    message = _one_line_problem(tmp_path, data)
    if reason is None:
        assert message.startswith("the header is not JSON: ")
    else:
        assert message == reason


def test_broken_entries(tmp_path: Path) -> None:
    name = "model.layers.0.self_attn.k_scale"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"dtype": "F33"}, f'tensor "{name}" has an unknown dtype "F33"'),
        ({"shape": [-1]}, f'tensor "{name}" has a shape that is not a list of sizes: [-1]'),
        ({"data_offsets": [8, 4]}, f'tensor "{name}" has data_offsets that are not [begin, end]: [8,4]'),
        (
            {"data_offsets": [0, 10**9]},
            f'tensor "{name}" has data_offsets [0,1000000000] past the end of the file',
        ),
        ({"shape": [3]}, f'tensor "{name}" holds 4 bytes, but F32 of shape [3] takes 12'),
    ]
    for number, (change, reason) in enumerate(cases):
        header = json.loads(json.dumps(HEADER))
        header[name].update(change)
        assert _one_line_problem(tmp_path / str(number), _with_header(header)) == reason
    header = {**HEADER, name: "F32"}
    assert _one_line_problem(tmp_path / "entry", _with_header(header)) == (
        f'tensor "{name}" must be an object with dtype, shape and data_offsets, got "F32"'
    )


_JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**66), 2**66) | st.floats() | st.text(max_size=4)
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
)
_SIZES = st.integers(0, 9) | st.booleans() | st.floats(0, 9) | _JSON_VALUES


_BITS = {"F32": 32, "BF16": 16, "F8_E4M3": 8, "F4": 4, "I64": 64}


@st.composite
def _entries(draw: st.DrawFn) -> tuple[object, int]:
    """Header entries, with the size of their file: sound ones, each with at most one field
    changed to a near miss or to any JSON at all, and any JSON as the entry itself."""
    if draw(st.integers(0, 9)) == 0:
        return draw(_JSON_VALUES), draw(st.integers(0, 100))
    dtype = draw(st.sampled_from(sorted(_BITS)))
    shape = draw(st.lists(st.integers(0, 5), max_size=3))
    begin = draw(st.integers(0, 40))
    end = begin + (int(np.prod(shape, dtype=object)) * _BITS[dtype] + 7) // 8
    entry: dict[str, object] = {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}
    size = 8 + end + draw(st.integers(-1, 2))
    field = draw(st.sampled_from([None, "dtype", "shape", "data_offsets", "sizes", "begin", "end", "gone"]))
    if field in ("dtype", "shape", "data_offsets"):
        entry[field] = draw(_JSON_VALUES)
    elif field == "sizes":
        entry["shape"] = draw(st.lists(_SIZES, min_size=1, max_size=3))
    elif field in ("begin", "end"):
        offsets: list[object] = [begin, end]
        offsets[field == "end"] = draw(_SIZES | st.integers(-(2**66), 2**66))
        entry["data_offsets"] = offsets
    elif field == "gone":
        del entry[draw(st.sampled_from(sorted(entry)))]
    return entry, size


@given(_entries())
def test_the_quick_entry_check_agrees_with_the_full_one(entry_and_size: tuple[object, int]) -> None:
    entry, size = entry_and_size
    plain = not header_module._unusual({"t": entry}, 8, size)[0]
    try:
        full = header_module._tensor_info("model.safetensors", "t", entry, 8, size)
    except HeaderError:
        full = None
    # The quick check passes only what the full one finds sound; it may leave a sound entry to it.
    assert not plain or full is not None
    if plain:
        # What the header then gives for the entry is what the full check makes of it.
        assert header_module._Entries({"t": entry}, 8)["t"] == full
    event("taken" if plain else "sound, left to the full check" if full is not None else "broken")


@pytest.mark.parametrize(
    ("dtype", "shape"), [("F32", []), ("BF16", [4096, 7168]), ("F4", [4, 5]), ("F8_E4M3", [256, 2048, 7168])]
)
def test_the_quick_entry_check_takes_ordinary_tensors(dtype: str, shape: list[int]) -> None:
    bits = {"F32": 32, "BF16": 16, "F4": 4, "F8_E4M3": 8}[dtype]
    length = (int(np.prod(shape, dtype=object)) * bits + 7) // 8
    entry = {"dtype": dtype, "shape": shape, "data_offsets": [16, 16 + length]}
    assert header_module._unusual({"t": entry}, 8, 24 + length) == ([], False)
    info = header_module._Entries({"t": entry}, 8)["t"]
    assert info == header_module._tensor_info("model.safetensors", "t", entry, 8, 24 + length)


def _mutated(draw: st.DrawFn) -> bytes:
    how = draw(st.sampled_from(["cut", "length", "offsets", "dtype", "garbage", "flip"]))
    if how == "cut":
        return SOUND[: draw(st.integers(0, len(SOUND) - 1))]
    if how == "length":
        return struct.pack("<Q", draw(st.integers(len(SOUND) - 7, 2**64 - 1))) + SOUND[8:]
    header = json.loads(json.dumps(HEADER))
    name = draw(st.sampled_from(sorted(SCALES)))
    if how == "offsets":
        begin = draw(st.integers(-(2**70), 2**70))
        header[name]["data_offsets"] = [begin, draw(st.integers(-(2**70), 2**70) | st.just(begin + 10**6))]
        return _with_header(header)
    if how == "dtype":
        header[name]["dtype"] = draw(st.text(max_size=8) | st.integers() | st.none())
        return _with_header(header)
    if how == "garbage":
        return struct.pack("<Q", HEADER_LENGTH) + draw(
            st.binary(min_size=HEADER_LENGTH, max_size=HEADER_LENGTH)
        )
    data = bytearray(SOUND)
    position = draw(st.integers(8, 8 + HEADER_LENGTH - 1))
    data[position] = draw(st.integers(0, 255))
    return bytes(data)


@given(st.composite(_mutated)())
def test_fuzzed_headers_give_one_line_problems(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "model.safetensors").write_bytes(data)
    (folder / "config.json").write_text(json.dumps(model_config(2, compressed_tensors_config())))
    inspection = inspect_checkpoint(folder)
    assert inspection.report is not None
    for problem in inspection.problems:
        assert "\n" not in problem.message
    try:
        read_header(folder / "model.safetensors", "model.safetensors")
    except HeaderError as error:
        [problem] = error.problems
        assert problem.path == "model.safetensors"
        assert problem in inspection.problems
    problems: list[Problem] = []
    try:
        extract_scales(folder)
    except ExtractError as error:
        problems = error.problems
    # Every line names the file or the folder's files.
    assert all(problem.path.startswith(("model.safetensors", "*.safetensors")) for problem in problems)


def test_a_16_gib_sparse_checkpoint_reads_headers_and_scale_bytes_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = {"model.layers.0.mlp.down_proj.weight": zeros("BF16", (1 << 33,))}
    folder = write_named(
        tmp_path, SCALES, config=model_config(2, compressed_tensors_config()), extra_tensors=weights
    )
    assert (folder / "model.safetensors").stat().st_size > 16 << 30
    # Every shard is read through folder.OpenFile: its reads, and the system reads under them.
    read, read_at = folder_module.OpenFile.read, folder_module.OpenFile._read_at
    asked: list[int] = []
    system: list[int] = []

    def counting(file: folder_module.OpenFile, begin: int, length: int) -> bytes:
        data = read(file, begin, length)
        asked.append(len(data))
        return data

    def counting_system(file: folder_module.OpenFile, begin: int, length: int) -> bytes:
        data = read_at(file, begin, length)
        system.append(len(data))
        return data

    monkeypatch.setattr(folder_module.OpenFile, "read", counting)
    monkeypatch.setattr(folder_module.OpenFile, "_read_at", counting_system)
    inspection = inspect_checkpoint(folder)
    assert inspection.ok
    assert extract_scales(folder).kv_cache.scaling_factor == {0: {0: 0.25, 1: 0.5}}
    # Each of the two checks reads the header's length and the header, then the 4 scales
    # of 4 bytes each; no system read takes more than 64 KiB.
    with open(folder / "model.safetensors", "rb") as file:
        header_bytes = 8 + struct.unpack("<Q", file.read(8))[0]
    assert sorted(asked) == sorted([8, header_bytes - 8, 4, 4, 4, 4] * 2)
    assert 2 <= len(system) <= 2 * 5
    assert all(length <= 1 << 16 for length in system)


def test_an_open_file_reads_at_offsets_and_closes_once(tmp_path: Path) -> None:
    path = tmp_path / "bytes.bin"
    path.write_bytes(bytes(range(10)))
    with open_file(path) as file:
        assert file.size == 10
        assert file.read(4, 3) == bytes([4, 5, 6])
        assert file.read(0, 2) == bytes([0, 1])
        # Fewer bytes where the file ends, none past it: the callers say the file was cut.
        assert file.read(8, 5) == bytes([8, 9])
        assert file.read(12, 1) == b""
        assert file.read(3, 0) == b""
    # Closed by the block; closing again is harmless.
    file.close()
    with pytest.raises(OSError, match="descriptor"):
        file.read(0, 1)


@given(st.lists(st.tuples(st.integers(0, 3 * READ_AHEAD), st.integers(0, 2 * READ_AHEAD)), max_size=12))
def test_an_open_file_reads_what_a_system_read_gives(
    tmp_path_factory: pytest.TempPathFactory, reads: list[tuple[int, int]]
) -> None:
    # What a read keeps of the file serves the next ones exactly as reading again would.
    path = tmp_path_factory.mktemp("reads") / "bytes.bin"
    whole = bytes(range(256)) * (2 * READ_AHEAD // 256 + 3)
    path.write_bytes(whole)
    with open_file(path) as file:
        for begin, length in reads:
            assert file.read(begin, length) == whole[begin : begin + length]
