"""The local Hugging Face cache: a model's snapshot, when it holds the files a check needs.

The cache is `HF_HUB_CACHE`, else `HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`
or `~/.cache/huggingface/hub`, laid out as huggingface_hub writes it:
`models--org--name/refs/<branch>` names a commit, and `snapshots/<commit>/` holds links
into `blobs/`. Read with the standard library: no import of huggingface_hub.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import orjson

from .target import HubTarget

__all__ = ["cache_root", "cached_snapshot"]

_COMMIT = re.compile(r"[0-9a-f]{40}")


def cache_root() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base.expanduser() / "huggingface" / "hub"


def cached_snapshot(target: HubTarget) -> Path | None:
    """The snapshot folder of `target` in the local cache, if it holds the config and the shards; else None."""
    org, name = target.repo.split("/", 1)
    entry = cache_root() / f"models--{org}--{name}"
    revision = target.revision or "main"
    commit = revision
    if not _COMMIT.fullmatch(revision):
        try:
            commit = (entry / "refs" / revision).read_text().strip()
        except (OSError, UnicodeDecodeError):
            return None
    snapshot = entry / "snapshots" / commit
    return snapshot if _complete(snapshot) else None


def _complete(snapshot: Path) -> bool:
    """A config, and every shard the index names (or some safetensors file), each a whole file."""
    if not (snapshot / "config.json").is_file():
        return False
    index = snapshot / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = orjson.loads(index.read_bytes()).get("weight_map")
        except (OSError, orjson.JSONDecodeError, AttributeError):
            return False
        if not isinstance(weight_map, dict):
            return False
        return all(isinstance(file, str) and (snapshot / file).is_file() for file in set(weight_map.values()))
    try:
        return any(path.name.endswith(".safetensors") and path.is_file() for path in snapshot.iterdir())
    except OSError:
        return False
