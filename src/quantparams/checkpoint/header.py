"""Reading a safetensors file's header, and the bytes of a few small tensors.

The format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
(an object mapping each tensor name to its `dtype`, `shape` and
`data_offsets`, plus an optional `__metadata__`), then the tensors' bytes,
little-endian, offsets counted from the end of the header. Only the header
and the bytes asked for are read, so a file of tens of GB costs a few small
reads; neither numpy nor safetensors is needed.

Every way a file can be broken is a `HeaderError` with a one-line message.
"""

from __future__ import annotations

import functools
import math
import os
import struct
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import attrs
import orjson

from .._errors import Problem, QuantParamError, describe
from .folder import OpenFile, open_file

__all__ = [
    "FLOAT_DTYPES",
    "MAX_HEADER_BYTES",
    "Header",
    "HeaderError",
    "TensorInfo",
    "read_floats",
    "read_header",
    "read_one_float",
]

# safetensors itself refuses headers past 100 MB.
MAX_HEADER_BYTES = 100_000_000
# Bits per element of every dtype safetensors writes.
_DTYPE_BITS = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "C64": 64,
}
# The dtypes a scale may have, with their struct codes (BF16 is widened by hand).
FLOAT_DTYPES = {"F16": "e", "BF16": "", "F32": "f", "F64": "d"}


class HeaderError(QuantParamError):
    """A file that is not a readable safetensors file; one problem, naming the file."""


class TensorInfo(NamedTuple):
    """One tensor's entry in a header, made for the tensors read."""

    dtype: str
    shape: tuple[int, ...]
    begin: int  # absolute offsets in the file
    end: int


class _Entries(Mapping[str, TensorInfo]):
    """A header's tensors by name, each entry already found sound, made a `TensorInfo`
    only when asked for: a check reads a few of a header's thousands of entries."""

    __slots__ = ("_data_start", "_entries")

    def __init__(self, entries: dict[str, Any], data_start: int) -> None:
        self._entries = entries
        self._data_start = data_start

    def __getitem__(self, tensor: str) -> TensorInfo:
        entry = self._entries[tensor]
        begin, end = entry["data_offsets"]
        return TensorInfo(
            entry["dtype"], tuple(entry["shape"]), self._data_start + begin, self._data_start + end
        )

    def __contains__(self, tensor: object) -> bool:
        return tensor in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


@attrs.frozen
class Header:
    path: str
    # As the header lists them.
    tensors: Mapping[str, TensorInfo]


def _broken(name: str, message: str) -> HeaderError:
    return HeaderError([Problem(name, f"not a readable safetensors file: {message}")])


def read_header(path: str | os.PathLike[str], name: str, stream: OpenFile | None = None) -> Header:
    """The header of the file at `path`; `name` is how messages call the file. `stream`, when
    given, is the file already open, and stays open (its scales are read through it next).

    Raises `HeaderError` for a broken file and `OSError` when it cannot be read.
    """
    if stream is None:
        with open_file(path) as file:
            return read_header(path, name, file)
    size = stream.size
    head = stream.read(0, 8)
    if len(head) < 8:
        raise _broken(name, f"{len(head)} bytes, too short for the 8-byte header length")
    (length,) = struct.unpack("<Q", head)
    if length > MAX_HEADER_BYTES:
        raise _broken(name, f"header length {length} is past the {MAX_HEADER_BYTES}-byte limit")
    if 8 + length > size:
        raise _broken(name, f"header length {length} runs past the end of the {size}-byte file")
    data = stream.read(8, length)
    if len(data) < length:
        raise _broken(name, "the file was cut while it was read")
    try:
        # orjson checks the UTF-8 itself; a header it refuses is read again below, to say why.
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        document = _document(name, data)
    if not isinstance(document, dict):
        raise _broken(name, f"the header must be a JSON object, got {describe(document)}")
    data_start = 8 + length
    metadata = document.pop("__metadata__", None)
    # safetensors reads it as text by name, or null.
    if metadata is not None and not (
        isinstance(metadata, dict) and all(type(value) is str for value in metadata.values())
    ):
        raise _broken(
            name, f"__metadata__ must be an object of strings, got {describe(metadata)}; {_REFUSED}"
        )
    unusual, tiled = _unusual(document, data_start, size)
    for tensor in unusual:
        # Raises for a broken entry; some unusual ones are sound.
        _tensor_info(name, tensor, document[tensor], data_start, size)
    if not tiled:
        _tiling(name, document, data_start, size)
    return Header(os.fspath(path), _Entries(document, data_start))


def _document(name: str, data: bytes) -> object:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _broken(name, f"the header is not UTF-8 (byte {error.start})") from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise _broken(name, f"the header is not JSON: {error}") from None


# The most sizes a shape has for `_unusual` to take it: a tensor has a few.
_FEW_SIZES = 8


def _unusual(entries: dict[str, Any], data_start: int, size: int) -> tuple[list[str], bool]:
    """The tensors whose entries are not plainly sound, found in fewer steps than
    `_tensor_info` takes, for it to judge and word: broken ones, and merely unusual ones;
    and whether the entries, in the header's order, tile the data to the end of the file
    (as safetensors writes them), so that `_tiling` would find nothing to say.

    A header lists thousands of tensors, nearly all sound: this is most of the
    time a big checkpoint takes to check.
    """
    unusual = []
    bits_of, product = _DTYPE_BITS, math.prod
    # Where the next tensor begins, while the entries tile the data in their order.
    start, tiled = 0, True
    for tensor, entry in entries.items():
        try:
            shape = entry["shape"]
            begin, end = entry["data_offsets"]
            bits = bits_of[entry["dtype"]]
            # Sizes above 1 are numbers: min compares no other JSON value with one (a list
            # would multiply into a longer list), and true, equal to 1, is not above it. A
            # shape with a 1 in it, or with many sizes, is left to `_tensor_info`.
            sizes = type(shape) is list and len(shape) <= _FEW_SIZES and (not shape or min(shape) > 1)
        except (TypeError, KeyError, ValueError):
            unusual.append(tensor)
            tiled = False
            continue
        # Exact types: math.prod takes floats. Whole bytes that the file holds: then no count
        # overflows either.
        if (
            sizes
            and type(nbits := product(shape) * bits) is int
            and type(begin) is int
            and type(end) is int
            and 0 <= begin <= end
            and data_start + end <= size
            and (end - begin) * 8 == nbits
        ):
            if begin != start:
                tiled = False
            start = end
            continue
        unusual.append(tensor)
        if type(begin) is int and type(end) is int and begin == start:
            start = end
        else:
            tiled = False
    return unusual, tiled and data_start + start == size


def _tiling(name: str, entries: dict[str, Any], data_start: int, size: int) -> None:
    """Raises unless the tensors' bytes, in the order of their offsets, tile the data from its
    first byte to the end of the file: safetensors refuses a file whose tensors leave a gap,
    overlap, or end before the file does, and so does an engine loading it. The entries are
    sound (`_tensor_info`)."""
    spans = sorted((*entry["data_offsets"], tensor) for tensor, entry in entries.items())
    start = 0
    for begin, end, tensor in spans:
        if begin != start:
            where = f"tensor {describe(tensor)} has data_offsets {describe([begin, end])}"
            if begin > start:
                raise _broken(
                    name, f"{where}, leaving bytes {start} to {begin} of the data to no tensor; {_REFUSED}"
                )
            raise _broken(name, f"{where}, which overlap another tensor's bytes (up to {start}); {_REFUSED}")
        start = end
    if data_start + start != size:
        past = size - data_start - start
        last = "its last tensor's" if spans else "its header, which lists no tensors"
        raise _broken(name, f"the file goes on {past} bytes past {last}; {_REFUSED}")


_REFUSED = "safetensors refuses such a file, so an engine cannot load it"


def _tensor_info(name: str, tensor: str, entry: object, data_start: int, size: int) -> TensorInfo:
    where = f"tensor {describe(tensor)}"
    if not isinstance(entry, dict):
        raise _broken(
            name, f"{where} must be an object with dtype, shape and data_offsets, got {describe(entry)}"
        )
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in _DTYPE_BITS:
        raise _broken(name, f"{where} has an unknown dtype {describe(dtype)}")
    if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
        raise _broken(name, f"{where} has a shape that is not a list of sizes: {describe(shape)}")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(type(n) is int for n in offsets)
        and 0 <= offsets[0] <= offsets[1]
    ):
        raise _broken(name, f"{where} has data_offsets that are not [begin, end]: {describe(offsets)}")
    begin, end = data_start + offsets[0], data_start + offsets[1]
    if end > size:
        raise _broken(name, f"{where} has data_offsets {describe(offsets)} past the end of the file")
    # safetensors counts elements and bits in 64 bits, size by size, and refuses what overflows.
    count = 1
    for dimension in shape:
        count *= dimension
        if count >= _COUNTABLE:
            raise _broken(
                name,
                f"{where} has a shape {describe(shape)} of more elements than safetensors counts; {_REFUSED}",
            )
    bits = count * _DTYPE_BITS[dtype]
    if bits >= _COUNTABLE:
        raise _broken(
            name, f"{where} has a shape {describe(shape)} of more bits than safetensors counts; {_REFUSED}"
        )
    if bits % 8:
        raise _broken(
            name,
            f"{where} is {dtype} of shape {describe(shape)}: {bits} bits, not whole bytes; {_REFUSED}",
        )
    if end - begin != bits // 8:
        raise _broken(
            name,
            f"{where} holds {end - begin} bytes, but {dtype} of shape {describe(shape)} takes {bits // 8}",
        )
    return TensorInfo(dtype, tuple(shape), begin, end)


# safetensors counts a tensor's elements and bits as 64-bit unsigned integers.
_COUNTABLE = 1 << 64


def read_floats(header: Header, info: TensorInfo, file: OpenFile) -> tuple[float, ...]:
    """The values of a float tensor `info` of the file, read from its bytes only through
    `file`, the file already open (a shard's header and scales are read through one open)."""
    length = info.end - info.begin
    data = file.read(info.begin, length)
    if len(data) != length:
        raise OSError(f"{header.path}: the file was cut while it was read")
    return _unpacker(info.dtype, length)(data)


@functools.lru_cache(maxsize=64)
def _unpacker(dtype: str, length: int) -> Callable[[bytes], tuple[float, ...]]:
    """What reads `length` bytes of float `dtype` as numbers: a checkpoint's scales share a few."""
    if dtype == "BF16":
        # A bfloat16 is the upper half of the float32 with the same bits.
        widened = struct.Struct(f"<{length // 2}f").unpack

        def bfloat16(data: bytes) -> tuple[float, ...]:
            return widened(b"".join(b"\x00\x00" + data[i : i + 2] for i in range(0, length, 2)))

        return bfloat16
    return struct.Struct(f"<{length * 8 // _DTYPE_BITS[dtype]}{FLOAT_DTYPES[dtype]}").unpack


# A one-value tensor of each float dtype: its bytes, and what reads them.
_ONE_FLOAT = {
    dtype: (_DTYPE_BITS[dtype] // 8, _unpacker(dtype, _DTYPE_BITS[dtype] // 8)) for dtype in FLOAT_DTYPES
}


def read_one_float(info: TensorInfo, file: OpenFile) -> float | None:
    """The value of `info` when it is a float tensor of one value (of any shape of 1s), as
    `read_floats` reads it, in fewer steps; None for any other tensor, or one whose bytes
    cannot be read (`read_floats` says why)."""
    one = _ONE_FLOAT.get(info.dtype)
    # A header's entries are sound: a float tensor of one value is one value's bytes long.
    if one is None or info.end - info.begin != one[0]:
        return None
    size, unpack = one
    try:
        data = file.read(info.begin, size)
    except OSError:
        return None
    if len(data) != size:
        return None
    value: float = unpack(data)[0]
    return value
