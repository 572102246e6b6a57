"""Checkpoints named by their Hugging Face Hub model id: `org/name` or `org/name@revision`.

The local Hugging Face cache comes first, when its snapshot of the revision
holds the files a check needs; then the Hub (unless `HF_HUB_OFFLINE=1`),
read by range through huggingface_hub (`remote.py`), which is imported only
then.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .cache import cache_root, cached_snapshot
from .target import HubError, HubRead, HubTarget, hub_target

__all__ = ["HubError", "HubRead", "HubTarget", "cache_root", "hub_target", "opened"]


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _size(snapshot: Path) -> int:
    """The bytes of the snapshot's safetensors files that are there."""
    total = 0
    for path in snapshot.iterdir():
        if path.name.endswith(".safetensors"):
            with contextlib.suppress(OSError):
                total += path.stat().st_size
    return total


@contextlib.contextmanager
def opened(target: HubTarget) -> Iterator[tuple[Path, HubRead]]:
    """A folder holding what a check of `target` reads, and what reading it cost; raises `HubError`."""
    snapshot = cached_snapshot(target)
    if snapshot is not None:
        yield snapshot, HubRead("cache", 0, 0, _size(snapshot))
        return
    if _offline():
        message = (
            f"not in the local Hugging Face cache ({cache_root()}), and HF_HUB_OFFLINE=1 "
            "keeps quantparams off the Hub"
        )
        raise HubError(message)
    from .remote import fetch

    with tempfile.TemporaryDirectory(prefix="quantparams-hub-") as folder:
        requests, bytes_read, size = fetch(target, Path(folder))
        yield Path(folder), HubRead("hub", requests, bytes_read, size)
