"""Reading the file: bytes or a path in, a checked document out."""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from ._errors import FileTooLargeError, Problem, QuantParamError
from ._fast import load_fast
from ._schema import ContextLike, QuantParamSchema

__all__ = ["DEFAULT_MAX_BYTES", "StrPath", "load", "loads"]

StrPath = str | os.PathLike[str]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""The largest file `load` reads unless told otherwise: 64 MiB, many times
the file of hundreds of TP ranks of a thousand layers each."""

_READ_CHUNK = 1024 * 1024


def loads(
    data: bytes | bytearray | memoryview | str,
    context: ContextLike = None,
    *,
    validate: bool = True,
) -> QuantParamSchema:
    """Parse, structure and (unless `validate=False`) check one document.

    `data` that is not bytes-like or a str is a programming error, not bad
    input: `TypeError`, as in the json module and tomli.
    """
    if type(data) is not bytes and type(data) is not str:  # the usual two first: a small file notices
        if not isinstance(data, (bytes, bytearray, memoryview, str)):
            raise TypeError(f"loads expects bytes, bytearray, memoryview or str, got {type(data).__name__}")
        if type(data) is memoryview:
            data = data.tobytes()
    # The fast path reads the usual sound document; whatever it declines the
    # precise loader reads, naming every problem.
    schema = load_fast(data, context, validate)
    if schema is None:
        # Imported when first needed: a program that reads sound files never does.
        from ._precise import load_precise

        schema = load_precise(data, context, validate=validate)
    return schema


def load(
    path: StrPath,
    context: ContextLike = None,
    *,
    validate: bool = True,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> QuantParamSchema:
    """`loads` on a file's bytes. Problems name the file in `error.source`.

    A file larger than `max_bytes` (64 MiB unless told; None for no limit)
    raises `FileTooLargeError` without being read into memory.
    """
    if max_bytes is not None:
        if not isinstance(max_bytes, int) or isinstance(max_bytes, bool):
            raise TypeError(f"max_bytes must be an int or None, got {type(max_bytes).__name__}")
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
    source = os.fspath(path)
    with open(path, "rb") as file:
        data = _read_at_most(file, max_bytes, source)
    try:
        return loads(data, context, validate=validate)
    except QuantParamError as error:
        error.source = source
        raise


def _read_at_most(file: BinaryIO, max_bytes: int | None, source: str) -> bytes:
    if max_bytes is None:
        return file.read()
    info = os.fstat(file.fileno())
    regular = stat.S_ISREG(info.st_mode)
    if regular and info.st_size > max_bytes:
        raise _too_large(source, max_bytes, info.st_size)
    # The size is only a hint: a file still growing, a pipe or a device can
    # hold more, so reading itself stops one byte past the limit.
    want = min(info.st_size if regular else _READ_CHUNK, max_bytes) + 1
    chunks: list[bytes] = []
    total = 0
    while chunk := file.read(want):
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(source, max_bytes, None)
        want = min(_READ_CHUNK, max_bytes + 1 - total)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(source: str, max_bytes: int, size: int | None) -> FileTooLargeError:
    limit = f"the {_size_text(max_bytes)} limit (max_bytes={max_bytes})"
    if size is None:
        found = f"file holds more than {limit}"
    else:
        exact = f" ({size} bytes)" if size >= 1024 else ""
        found = f"file is {_size_text(size)}{exact}, larger than {limit}"
    how = "pass a larger max_bytes= to load(), or --max-bytes N to the quantparams command"
    return FileTooLargeError([Problem("$", f"{found}; to read it, {how}")], source)


def _size_text(size: int) -> str:
    if size < 1024:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = size / 1024
    unit = 0
    while value >= 1024 and unit < len(_SIZE_UNITS) - 1:
        value /= 1024
        unit += 1
    number = f"{value:.0f}" if value.is_integer() else f"{value:.1f}"
    return f"{number} {_SIZE_UNITS[unit]}"


_SIZE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")
