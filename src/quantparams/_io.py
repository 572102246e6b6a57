"""Reading and writing the file: bytes in, bytes out, atomic on disk."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import orjson

from ._convert import document_from_json, document_to_json
from ._errors import ParseError, Problem, QuantParamError
from ._schema import ContextLike, QuantParamSchema

__all__ = ["dump", "dumps", "load", "loads"]

StrPath = str | os.PathLike[str]

# A temporary file beside the target is named so that a person (or a later
# dump) can tell what left it there.
TEMP_SUFFIX = ".quantparams-tmp"


def loads(
    data: bytes | bytearray | memoryview | str,
    context: ContextLike = None,
    *,
    validate: bool = True,
) -> QuantParamSchema:
    """Parse, structure and (unless `validate=False`) check one document."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise ParseError([Problem("$", _parse_message(error, data))]) from None
    schema = document_from_json(obj)
    if validate:
        schema.validate(context)
    return schema


def _parse_message(error: orjson.JSONDecodeError, data: object) -> str:
    # orjson reports bad UTF-8 at position 0; find the real place.
    try:
        if isinstance(data, (bytes, bytearray, memoryview)):
            bytes(data).decode("utf-8")
        elif isinstance(data, str):
            data.encode("utf-8")
        else:
            return f"expected bytes or str to parse, got {type(data).__name__}"
    except (UnicodeDecodeError, UnicodeEncodeError) as bad:
        return f"not valid UTF-8: {bad.reason} at byte {bad.start}"
    return f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno} (char {error.pos})"


def load(path: StrPath, context: ContextLike = None, *, validate: bool = True) -> QuantParamSchema:
    """`loads` on a file's bytes. Problems name the file in `error.source`."""
    with open(path, "rb") as file:
        data = file.read()
    try:
        return loads(data, context, validate=validate)
    except QuantParamError as error:
        error.source = os.fspath(path)
        raise


def dumps(schema: QuantParamSchema) -> bytes:
    """The document as JSON bytes, keys in numeric order.

    Refuses (with `ValidationError`) a document whose scales or types could
    not be read back, such as NaN scales.
    """
    schema.validate()
    return orjson.dumps(document_to_json(schema))


def dump(schema: QuantParamSchema, path: StrPath) -> None:
    """Write the document to `path` atomically.

    The bytes go to a temporary file in the same folder, which is flushed to
    disk and then renamed over `path`: a reader sees the old file or the new
    one, never part of either. On failure the old file is untouched and the
    temporary file removed. An existing file keeps its permission bits.
    """
    data = dumps(schema)
    target = Path(path)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    # 0o666 less the umask, as for any new file; O_EXCL never reuses a name.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            _copy_mode(target, fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)


def _copy_mode(target: Path, fd: int) -> None:
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode & 0o7777)


def _sync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not every platform can open a folder.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
