"""Writing the file: a document out as bytes, and atomically on disk."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from ._format import FP8_DTYPE
from ._load import StrPath
from ._schema import QuantParamSchema

if TYPE_CHECKING:
    from pathlib import Path

_flock: Callable[[int, int], object] | None
try:
    import fcntl
except ImportError:  # Windows
    _flock, _LOCK_EX, _LOCK_NB = None, 0, 0
else:
    _flock, _LOCK_EX, _LOCK_NB = fcntl.flock, fcntl.LOCK_EX, fcntl.LOCK_NB

__all__ = ["TEMP_SUFFIX", "dump", "dumps"]

# A temporary file beside the target is named so that a person (or a later
# dump) can tell what left it there.
TEMP_SUFFIX = ".quantparams-tmp"


def dumps(schema: QuantParamSchema) -> bytes:
    """The document as JSON bytes, keys in numeric order.

    Refuses (with `ValidationError`) a document whose scales or types could
    not be read back, such as NaN scales.
    """
    model_type = schema.model_type
    kv = schema.kv_cache
    dtype = kv.dtype
    # The fast check of validate(), inlined: on a small file the calls of
    # validate() alone would cost a good part of what orjson takes to write
    # it. The map's document form is None unless its scales are sound.
    document = kv.scaling_factor._document_form(model_type, dtype)
    if document is None or dtype != FP8_DTYPE or not (model_type is None or type(model_type) is str):
        schema.validate()  # names every problem, and each of these is one
    return orjson.dumps(document)


def dump(schema: QuantParamSchema, path: StrPath) -> None:
    """Write the document to `path` atomically.

    The bytes go to a temporary file in the same folder, which is flushed to
    disk and then renamed over `path`: a reader sees the old file or the new
    one, never part of either. On failure the old file is untouched and the
    temporary file removed. An existing file keeps its permission bits.
    Temporary files that a killed writer left beside `path` are removed.
    """
    data = dumps(schema)
    # Imported here: pathlib would add to the start-up of every program that only loads.
    from pathlib import Path

    target = Path(path)
    fd, temp = _open_temp(target)
    try:
        try:
            _copy_mode(target, fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            if _flock is not None:
                # Renamed while still locked: unlocked under its temporary
                # name, it would look abandoned to another dump's cleanup.
                os.replace(temp, target)
        finally:
            os.close(fd)
        if _flock is None:
            # Where there are no locks (Windows), an open file cannot be renamed.
            os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)
    _remove_abandoned_temps(target)


# How a writer's temporary file is told from one a killed writer left behind:
# the writer holds an exclusive flock on it from creation until it has been
# renamed, and the kernel drops the lock when the process dies, however it
# dies. So a temporary file whose lock can be taken belongs to no live writer.
# Going by age instead would either wait long before cleaning or, with a short
# wait, delete the file of a writer that is merely slow (a big file, a busy
# disk). Where flock is missing (no fcntl, or a file system without locks)
# only files untouched for an hour are taken to be abandoned.
_ABANDONED_AFTER_SECONDS = 3600.0
_HEX_DIGITS = frozenset("0123456789abcdef")
_TOKEN_LENGTH = 8


def _temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.urandom(_TOKEN_LENGTH // 2).hex()}{TEMP_SUFFIX}")


def _open_temp(target: Path) -> tuple[int, Path]:
    """A new temporary file beside `target`, open for writing and locked."""
    while True:
        temp = _temp_name(target)
        # 0o666 less the umask, as for any new file; O_EXCL never reuses a name.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            if _lock_as_writer(fd, temp):
                return fd, temp
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        os.close(fd)


def _lock_as_writer(fd: int, temp: Path) -> bool:
    """Lock a new temporary file; False if a cleaner removed it first."""
    if _flock is None:
        return True
    try:
        _flock(fd, _LOCK_EX)
    except OSError:
        # No locks on this file system: cleaners there go by age.
        return True
    # Between creating the file and locking it, a cleaner may have locked it
    # and removed its name; writing on would then lose the document.
    try:
        return os.path.samestat(os.fstat(fd), os.stat(temp))
    except FileNotFoundError:
        return False


def _is_temp_for(name: str, prefix: str) -> bool:
    token = name[len(prefix) : -len(TEMP_SUFFIX)]
    return (
        name.startswith(prefix)
        and name.endswith(TEMP_SUFFIX)
        and len(name) == len(prefix) + _TOKEN_LENGTH + len(TEMP_SUFFIX)
        and _HEX_DIGITS.issuperset(token)
    )


def _remove_abandoned_temps(target: Path) -> None:
    """Remove what killed writers left beside `target`; never raises."""
    prefix = f".{target.name}."
    folder = target.parent
    try:
        with os.scandir(folder) as entries:
            names = [
                entry.name
                for entry in entries
                if _is_temp_for(entry.name, prefix) and entry.is_file(follow_symlinks=False)
            ]
    except OSError:
        return
    for name in names:
        _remove_if_abandoned(folder / name)


_OPEN_FLAGS = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def _remove_if_abandoned(temp: Path) -> None:
    fd = -1
    for access in (os.O_RDONLY, os.O_WRONLY):
        try:
            fd = os.open(temp, access | _OPEN_FLAGS)
            break
        except OSError:
            continue
    if fd < 0:
        return
    try:
        info = os.fstat(fd)
        # Removed by name, so the name must still be this file.
        if stat.S_ISREG(info.st_mode) and _is_abandoned(fd, info) and os.path.samestat(info, os.lstat(temp)):
            os.unlink(temp)
    except OSError:
        pass
    finally:
        # Closing drops the lock only after the name is gone.
        os.close(fd)


def _is_abandoned(fd: int, info: os.stat_result) -> bool:
    if _flock is not None:
        try:
            _flock(fd, _LOCK_EX | _LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:
            pass
        else:
            return True
    return time.time() - info.st_mtime > _ABANDONED_AFTER_SECONDS


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
