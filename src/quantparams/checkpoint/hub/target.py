"""A Hugging Face Hub model id where a checkpoint folder is expected, and what reading it cost."""

from __future__ import annotations

import os
import re

import attrs

__all__ = ["HubError", "HubRead", "HubTarget", "hub_target"]

# `org/name` or `org/name@revision` (a branch, a tag or a commit).
_HUB_ID = re.compile(r"(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(?P<revision>[\w][\w./-]*))?")


class HubError(Exception):
    """A Hub model that cannot be read: the one line a person acts on."""


@attrs.frozen
class HubTarget:
    repo: str
    # None: the default branch.
    revision: str | None = None

    def __str__(self) -> str:
        return self.repo if self.revision is None else f"{self.repo}@{self.revision}"


@attrs.frozen
class HubRead:
    """Where a Hub model was read from, and what it cost."""

    # "cache" (the local Hugging Face cache) or "hub".
    source: str
    requests: int
    bytes_read: int
    # The size of the checkpoint's safetensors files.
    checkpoint_bytes: int

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "requests": self.requests,
            "bytes_read": self.bytes_read,
            "checkpoint_bytes": self.checkpoint_bytes,
        }

    def text(self) -> str:
        if self.source == "cache":
            return f"read from the local Hugging Face cache ({_size(self.checkpoint_bytes)} checkpoint)"
        requests = f"{self.requests} request{'s' if self.requests != 1 else ''}"
        return f"read {_size(self.bytes_read)} of a {_size(self.checkpoint_bytes)} checkpoint in {requests}"


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} bytes"
    value = count / 1000
    for unit in ("KB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def hub_target(path: str | os.PathLike[str]) -> HubTarget | None:
    """The Hub model `path` names, when it is `org/name[@revision]` and no such local path exists."""
    text = os.fspath(path)
    if os.path.lexists(text):
        return None
    match = _HUB_ID.fullmatch(text)
    if match is None:
        return None
    return HubTarget(match["repo"], match["revision"])
