"""Finding a checkpoint's safetensors files and which of them holds which tensor.

A folder is read in the first of these layouts that fits:

1. `model.safetensors.index.json`: its `weight_map` says which file holds
   which tensor; only the files that hold scale tensors are opened.
2. Files `rank0.safetensors`, `rank1.safetensors`, ...: the older per-rank
   export (read by `extract` alone).
3. Otherwise every `*.safetensors` file in the folder (`model.safetensors`
   when unsharded).

A Hugging Face cache entry works too: the `models--org--name` folder (the
snapshot that `refs/main` names) or one of its `snapshots/<hash>` folders,
whose files are links into `blobs/`.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
from pathlib import Path

import attrs
import orjson

from .._errors import Problem, describe

__all__ = [
    "INDEX_NAME",
    "Layout",
    "OpenFile",
    "UnreadableCheckpoint",
    "find_layout",
    "open_file",
    "resolve_folder",
    "what_is",
]

INDEX_NAME = "model.safetensors.index.json"
RANK_FILE = re.compile(r"rank([0-9]+)\.safetensors")


class UnreadableCheckpoint(OSError):
    """The folder cannot be read as a checkpoint at all."""


@attrs.frozen
class Layout:
    folder: Path
    # "index", "per-rank" or "files".
    kind: str
    # The safetensors files, by name in the folder, sorted.
    files: tuple[str, ...]
    # For "index": the tensor names the index lists, and their files.
    weight_map: dict[str, str] | None = None

    @property
    def broken_index(self) -> bool:
        return self.kind == "index" and self.weight_map is None

    @property
    def where(self) -> str:
        """Where layer-wide problems are reported."""
        return {"index": INDEX_NAME, "per-rank": "rank*.safetensors"}.get(self.kind, "*.safetensors")


def what_is(path: Path) -> str | None:
    """None for a regular file (or a link to one); else what `path` is, for messages.

    Asked before a file is opened: opening a FIFO would wait for a writer.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            return f"a dangling link (to {os.readlink(path)})"
        return "not there"
    except OSError as error:
        return str(error.strerror or error)
    return None if stat.S_ISREG(mode) else _kind(mode)


# The fewest bytes a system read of a shard takes (`OpenFile`): a dense model's shard
# header comes whole with its length.
READ_AHEAD = 1 << 14
# Without waiting: opening a FIFO for reading waits for a writer.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


class OpenFile:
    """A regular file open for reading at offsets, and its size when it was opened.

    A check opens every shard of a checkpoint for a few small reads: its header, then its
    scales, which a producer writes close together. Each read is a system call, and one of
    `READ_AHEAD` bytes costs about what one of a few bytes does: a read takes at least that
    many, and the next read within them is served from memory.
    """

    __slots__ = ("_descriptor", "_kept", "_kept_at", "size")

    def __init__(self, descriptor: int, size: int) -> None:
        self.size = size
        self._descriptor = descriptor
        # The bytes of the last system read, from offset `_kept_at`.
        self._kept = b""
        self._kept_at = 0

    def read(self, begin: int, length: int) -> bytes:
        """At most `length` bytes from offset `begin`: fewer where the file ends."""
        at = begin - self._kept_at
        if at >= 0 and at + length <= len(self._kept):
            return self._kept[at : at + length]
        data = self._read_at(begin, max(length, READ_AHEAD))
        self._kept, self._kept_at = data, begin
        return data[:length]

    if sys.platform == "win32":

        def _read_at(self, begin: int, length: int) -> bytes:
            os.lseek(self._descriptor, begin, os.SEEK_SET)
            return os.read(self._descriptor, length)

    else:
        # One system call, where seeking first takes two.
        def _read_at(self, begin: int, length: int) -> bytes:
            return os.pread(self._descriptor, length, begin)

    def close(self) -> None:
        self._kept = b""
        if self._descriptor >= 0:
            os.close(self._descriptor)
            self._descriptor = -1

    def __enter__(self) -> OpenFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_file(path: str | os.PathLike[str]) -> OpenFile:
    """`path` open for reading, when it is a regular file (or a link to one).

    Raises `OSError`: `FileNotFoundError` when nothing is there (`what_is` says
    whether a dangling link is), else an error whose `strerror` says what the path is.
    """
    descriptor = os.open(path, _OPEN_FLAGS)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise OSError(errno.EINVAL, f"{_kind(status.st_mode)}, not a file")
        return OpenFile(descriptor, status.st_size)
    except BaseException:
        os.close(descriptor)
        raise


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))
    return next((kind for test, kind in kinds if test(mode)), "a device")


def resolve_folder(path: str | os.PathLike[str]) -> Path:
    """The folder that holds the files: `path`, or the snapshot of a Hugging Face cache entry.

    Raises `UnreadableCheckpoint` (an OSError) when there is no such folder.
    """
    folder = Path(path)
    if not folder.is_dir():
        if not folder.exists():
            raise UnreadableCheckpoint(errno.ENOENT, "No such file or directory", os.fspath(path))
        raise UnreadableCheckpoint(errno.ENOTDIR, "Not a directory", os.fspath(path))
    snapshots = folder / "snapshots"
    if folder.name.startswith("models--") and snapshots.is_dir():
        try:
            revision = (folder / "refs" / "main").read_text().strip()
        except (OSError, UnicodeDecodeError):
            try:
                names = sorted(entry.name for entry in snapshots.iterdir())
            except OSError as error:
                raise UnreadableCheckpoint(error.errno, error.strerror, os.fspath(snapshots)) from None
            if len(names) != 1:
                message = (
                    f"a Hugging Face cache entry without refs/main and with {len(names)} snapshots: name one"
                )
                raise UnreadableCheckpoint(errno.ENOENT, message, os.fspath(path)) from None
            revision = names[0]
        folder = snapshots / revision
        if not folder.is_dir():
            message = f"refs/main names snapshot {revision}, which is not in snapshots/"
            raise UnreadableCheckpoint(errno.ENOENT, message, os.fspath(path))
    return folder


def find_layout(folder: Path, problems: list[Problem]) -> Layout:
    """The layout of the files in `folder`; a broken index is reported in `problems`.

    Raises `UnreadableCheckpoint` when the folder holds no safetensors file.
    """
    # An index that is there but cannot be read (a folder of that name, say) is a problem, not absent.
    if (folder / INDEX_NAME).exists():
        weight_map, files = _weight_map(folder, problems)
        # A broken index says nothing to trust about the files: none is read.
        return Layout(folder, "index", tuple(sorted(files)), weight_map)
    try:
        names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".safetensors") and p.is_file())
    except OSError as error:
        raise UnreadableCheckpoint(error.errno, error.strerror, os.fspath(folder)) from None
    if not names:
        message = "no safetensors files in the checkpoint folder"
        raise UnreadableCheckpoint(errno.ENOENT, message, os.fspath(folder))
    if any(RANK_FILE.fullmatch(name) for name in names):
        return Layout(folder, "per-rank", tuple(names))
    return Layout(folder, "files", tuple(names))


def _inside(file: str) -> bool:
    """Whether `file` names a file in the folder (or below it), not one elsewhere."""
    parts = file.split("/")
    # Some part is more than "" or ".".
    named = parts.count("") + parts.count(".") < len(parts)
    return named and not file.startswith("/") and ".." not in parts


def _weight_map(folder: Path, problems: list[Problem]) -> tuple[dict[str, str] | None, set[str]]:
    """The index's map of tensors to files, and the files it names; None and no files
    when it cannot be read."""
    try:
        document = orjson.loads((folder / INDEX_NAME).read_bytes())
    except OSError as error:
        problems.append(Problem(INDEX_NAME, f"cannot read: {error.strerror or error}"))
        return None, set()
    except orjson.JSONDecodeError as error:
        problems.append(Problem(INDEX_NAME, f"not valid JSON: {error}"))
        return None, set()
    weight_map = document.get("weight_map") if isinstance(document, dict) else None
    if not isinstance(weight_map, dict):
        message = 'expected an object with a "weight_map" object mapping tensor names to file names'
        problems.append(Problem(INDEX_NAME, message))
        return None, set()
    try:
        files = set(weight_map.values())
    except TypeError:
        files = None
    # The entries are sound when the few files they name are; only otherwise is each one judged.
    if files is not None and all(isinstance(file, str) and _inside(file) for file in files):
        return weight_map, files
    found = {}
    for tensor, file in weight_map.items():
        if isinstance(file, str) and _inside(file):
            found[tensor] = file
        else:
            where = f"weight_map[{orjson.dumps(tensor).decode()}]"
            message = f"{where} must be the name of a file in the folder, got {describe(file)}"
            problems.append(Problem(INDEX_NAME, message))
    return found, set(found.values())
