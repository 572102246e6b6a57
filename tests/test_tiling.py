"""A safetensors file's tensors must tile its data: the header reader against safetensors itself.

safetensors, and so every engine loading a checkpoint through it, refuses a
file whose tensors leave a gap in the data, overlap, begin past its first
byte, or end before the file does, whatever order the header lists them in.
`read_header` must refuse exactly those files, and its quick check must come
out as the full one does.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from safetensors import SafetensorError, safe_open

from quantparams.checkpoint import header as header_module
from quantparams.checkpoint.header import HeaderError, read_header

_REFUSED = "safetensors refuses such a file, so an engine cannot load it"
_BITS = {"F32": 32, "F16": 16, "U8": 8, "F6_E2M3": 6, "F4": 4}


@st.composite
def _files(draw: st.DrawFn) -> bytes:
    """A safetensors file whose entries are sound, but for sub-byte tensors not of whole bytes,
    their bytes tiling the data or not."""
    count = draw(st.integers(0, 5))
    kinds = [
        (draw(st.sampled_from(sorted(_BITS))), draw(st.lists(st.integers(0, 3), max_size=2)))
        for _ in range(count)
    ]
    # The bytes in one drawn order, the header's entries in another.
    spans: dict[str, list[int]] = {}
    start = 0
    for number in draw(st.permutations(range(count))):
        dtype, shape = kinds[number]
        # Rounded up to whole bytes, as an FP4 or FP6 tensor of an odd count is not.
        length = -(-math.prod(shape) * _BITS[dtype] // 8)
        spans[f"t{number}"] = [start, start + length]
        start += length
    data_length = start
    change = draw(st.sampled_from(["none", "move one", "move all", "bytes past", "bytes short"]))
    if change == "move one" and spans:
        moved = spans[draw(st.sampled_from(sorted(spans)))]
        shift = draw(st.integers(-moved[0], 8))
        moved[0] += shift
        moved[1] += shift
        data_length = max(data_length, moved[1])
    elif change == "move all":
        shift = draw(st.integers(1, 8))
        spans = {tensor: [begin + shift, end + shift] for tensor, (begin, end) in spans.items()}
        data_length += shift
    elif change == "bytes past":
        data_length += draw(st.integers(1, 8))
    event(change)
    header: dict[str, object] = {}
    for tensor in draw(st.permutations(sorted(spans))):
        dtype, shape = kinds[int(tensor[1:])]
        header[tensor] = {"dtype": dtype, "shape": shape, "data_offsets": spans[tensor]}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    data = bytes(range(256)) * (data_length // 256 + 1)
    if change == "bytes short":
        data_length -= draw(st.integers(1, max(1, data_length)))
    return struct.pack("<Q", len(text)) + text + data[: max(0, data_length)]


def _shard(folder: Path, header: object, data: bytes) -> Path:
    """`folder/model.safetensors`, of `header` and `data`."""
    text = json.dumps(header).encode()
    path = folder / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def _safetensors_opens(path: Path) -> bool:
    try:
        with safe_open(path, framework="numpy") as file:
            file.keys()
    except SafetensorError:
        return False
    return True


def _read(path: Path) -> str | None:
    """The problem `read_header` finds with the file, or None."""
    try:
        read_header(path, "model.safetensors")
    except HeaderError as error:
        [problem] = error.problems
        return problem.message
    return None


@given(_files())
def test_the_header_reader_refuses_what_safetensors_refuses_and_its_quick_check_agrees(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("tiling") / "model.safetensors"
    path.write_bytes(data)
    problem = _read(path)
    assert (problem is None) == _safetensors_opens(path), problem
    event("refused" if problem else "read")
    with pytest.MonkeyPatch.context() as patch:
        # Every entry left to the full check, and the tiling too: the same answer, word for word.
        patch.setattr(header_module, "_unusual", lambda entries, *_: (list(entries), False))
        assert _read(path) == problem


@pytest.mark.parametrize(
    ("spans", "data_length", "message"),
    [
        (
            {"a": [0, 4], "b": [8, 12]},
            12,
            'tensor "b" has data_offsets [8,12], leaving bytes 4 to 8 of the data to no tensor',
        ),
        (
            {"a": [0, 4], "b": [2, 6]},
            6,
            'tensor "b" has data_offsets [2,6], which overlap another tensor\'s bytes (up to 4)',
        ),
        (
            {"a": [4, 8]},
            8,
            'tensor "a" has data_offsets [4,8], leaving bytes 0 to 4 of the data to no tensor',
        ),
        ({"a": [0, 4]}, 7, "the file goes on 3 bytes past its last tensor's"),
        ({}, 2, "the file goes on 2 bytes past its header, which lists no tensors"),
    ],
)
def test_bytes_the_tensors_do_not_tile_are_one_problem(
    tmp_path: Path, spans: dict[str, list[int]], data_length: int, message: str
) -> None:
    header = {tensor: {"dtype": "F32", "shape": [], "data_offsets": span} for tensor, span in spans.items()}
    path = _shard(tmp_path, header, bytes(data_length))
    assert not _safetensors_opens(path)
    assert _read(path) == (
        f"not a readable safetensors file: {message}; safetensors refuses such a file, so an engine cannot load it"
    )


@pytest.mark.parametrize(
    ("dtype", "shape", "length", "message"),
    [
        ("F4", [3], 2, 'tensor "a" is F4 of shape [3]: 12 bits, not whole bytes'),
        (
            "F32",
            [1 << 32, 1 << 32, 0],
            0,
            'tensor "a" has a shape [4294967296,4294967296,0] of more elements than safetensors counts',
        ),
        (
            "F32",
            [1 << 62],
            4,
            'tensor "a" has a shape [4611686018427387904] of more bits than safetensors counts',
        ),
    ],
)
def test_a_shape_safetensors_cannot_count_is_one_problem(
    tmp_path: Path, dtype: str, shape: list[int], length: int, message: str
) -> None:
    header = {"a": {"dtype": dtype, "shape": shape, "data_offsets": [0, length]}}
    path = _shard(tmp_path, header, bytes(length))
    assert not _safetensors_opens(path)
    assert _read(path) == f"not a readable safetensors file: {message}; {_REFUSED}"


def test_long_and_hostile_shapes_are_read_at_no_cost() -> None:
    # safetensors takes any number of sizes, and so does the reader; a list among the sizes
    # is not multiplied into a list of billions.
    entry = {"dtype": "F32", "shape": [1] * 100_000, "data_offsets": [0, 4]}
    assert header_module._tensor_info("model.safetensors", "a", entry, 8, 12).shape == (1,) * 100_000
    hostile = {"dtype": "F32", "shape": [40222, 40222, [None, None]], "data_offsets": [0, 4]}
    assert header_module._unusual({"a": hostile}, 8, 12) == (["a"], False)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (None, None),
        ({"format": "pt"}, None),
        ({"format": 1}, '__metadata__ must be an object of strings, got {"format":1}'),
        (["pt"], '__metadata__ must be an object of strings, got ["pt"]'),
    ],
)
def test_metadata_is_text_by_name(tmp_path: Path, metadata: object, message: str | None) -> None:
    header = {"__metadata__": metadata, "a": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}
    path = _shard(tmp_path, header, bytes(4))
    assert _safetensors_opens(path) == (message is None)
    expected = None if message is None else f"not a readable safetensors file: {message}; {_REFUSED}"
    assert _read(path) == expected
