"""Reading a checkpoint on the Hugging Face Hub by range: configs, shard headers and scale bytes, never a weight.

Through huggingface_hub (the `quantparams[hub]` extra), which brings the
endpoint (`HF_ENDPOINT`), the token (`HF_TOKEN`, `hf auth login`), proxies
and the Hub's error codes. What is read goes into a folder of sparse files:
each needed shard at its full size, its header and its scale tensors' bytes
where they belong and holes elsewhere, so that the local check reads it as
it reads any checkpoint. The folder is temporary and outside the Hugging
Face cache: nothing there could pass for a complete file.

Each shard costs two requests for its header (its length, then the header),
then one per run of adjacent scale tensors; shards are read concurrently.
"""

from __future__ import annotations

import struct
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from ..folder import INDEX_NAME
from ..naming import looks_like_scale, name_scale
from ..scheme import CONFIG_NAME, MODELOPT_NAME
from .target import HubError, HubTarget

__all__ = ["fetch"]

# A tensor larger than this is no scale (the check refuses its shape before reading it).
_LARGEST_SCALE = 1 << 20
# The longest header safetensors itself accepts, and the largest config or index read.
_LARGEST_HEADER = 100_000_000
_LARGEST_FILE = 64 << 20
_CONCURRENT = 32
_TIMEOUT = 10.0


class _Cost:
    """HTTP requests sent (each redirect hop counts) and body bytes received, from many threads."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes_read = 0
        self.lock = threading.Lock()

    def add(self, requests: int = 0, bytes_read: int = 0) -> None:
        with self.lock:
            self.requests += requests
            self.bytes_read += bytes_read


def _hub() -> Any:
    try:
        import huggingface_hub
        import huggingface_hub.constants
        import huggingface_hub.errors
        import huggingface_hub.utils
    except ImportError:
        message = (
            "reading a model from the Hugging Face Hub needs huggingface_hub: pip install 'quantparams[hub]'"
        )
        raise HubError(message) from None
    return huggingface_hub


def fetch(target: HubTarget, folder: Path) -> tuple[int, int, int]:
    """Write what a check of `target` reads into `folder`; (requests, bytes read, checkpoint bytes)."""
    hub = _hub()
    try:
        return _Fetch(hub, target, folder).run()
    except HubError:
        raise
    except hub.errors.GatedRepoError:
        raise HubError(_gated(hub, target)) from None
    except hub.errors.RevisionNotFoundError:
        raise HubError(f"no such revision {target.revision!r} on the Hub") from None
    except hub.errors.RepositoryNotFoundError:
        message = (
            "no such folder here, and no such model on the Hub "
            "(or it is private: log in with `hf auth login` or set HF_TOKEN)"
        )
        raise HubError(message) from None
    except hub.errors.HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        raise HubError(f"the Hub answered HTTP {status}: {str(error).splitlines()[0]}") from None
    except (OSError, hub.errors.HTTPError, *_transport_errors()) as error:
        raise HubError(f"cannot reach the Hub at {hub.constants.ENDPOINT}: {_reason(error)}") from None


def _transport_errors() -> tuple[type[BaseException], ...]:
    try:
        import httpx2
    except ImportError:  # pragma: no cover - huggingface_hub brings it
        return ()
    return (httpx2.TransportError, httpx2.StreamError)


def _reason(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _gated(hub: Any, target: HubTarget) -> str:
    if hub.utils.get_token():
        return "the model is gated, and this token has no access: accept its terms on the model's page"
    return "the model is gated: accept its terms on the model's page, then log in with `hf auth login` or set HF_TOKEN"


class _Fetch:
    def __init__(self, hub: Any, target: HubTarget, folder: Path) -> None:
        self.hub = hub
        self.target = target
        self.folder = folder
        self.cost = _Cost()
        self.endpoint = hub.constants.ENDPOINT
        self.headers = hub.utils.build_hf_headers(library_name="quantparams")
        self.session = hub.utils.get_session()
        # Where each shard's `resolve` URL redirected to (its CDN address): later ranges go there at once.
        self.located: dict[str, str] = {}

    def run(self) -> tuple[int, int, int]:
        api = self.hub.HfApi(endpoint=self.endpoint)
        self.cost.add(requests=1)
        info = api.model_info(
            self.target.repo, revision=self.target.revision, files_metadata=True, timeout=_TIMEOUT
        )
        self.commit = info.sha
        sizes = {sibling.rfilename: sibling.size or 0 for sibling in info.siblings or ()}
        configs = [name for name in (CONFIG_NAME, MODELOPT_NAME, INDEX_NAME) if name in sizes]
        shards = sorted(name for name in sizes if name.endswith(".safetensors") and "/" not in name)
        with ThreadPoolExecutor(_CONCURRENT) as pool:
            for name, data in zip(
                configs, pool.map(lambda name: self._get(name, None, _LARGEST_FILE), configs)
            ):
                (self.folder / name).write_bytes(data)
            needed = self._needed(shards)
            started = time.monotonic()
            for done, _ in enumerate(pool.map(lambda shard: self._shard(shard, sizes[shard]), needed), 1):
                _progress(done, len(needed), started)
        return self.cost.requests, self.cost.bytes_read, sum(sizes[shard] for shard in shards)

    def _needed(self, shards: list[str]) -> list[str]:
        """The shards holding scale tensors: by the index when there is one, else all."""
        index = self.folder / INDEX_NAME
        if not index.exists():
            return shards
        try:
            weight_map = orjson.loads(index.read_bytes()).get("weight_map")
        except (orjson.JSONDecodeError, AttributeError):
            return []
        if not isinstance(weight_map, dict):
            return []
        wanted = {
            file
            for tensor, file in weight_map.items()
            if isinstance(file, str) and (name_scale(tensor, "") is not None or looks_like_scale(tensor))
        }
        return sorted(wanted & set(shards))

    def _shard(self, shard: str, size: int) -> None:
        length = self._get(shard, (0, 7), 8)
        if len(length) != 8:
            raise HubError(f"{shard} is shorter than a safetensors header")
        (count,) = struct.unpack("<Q", length)
        header = b""
        if 0 < count <= min(_LARGEST_HEADER, max(size - 8, 0)):
            header = self._get(shard, (8, 8 + count - 1), count)
        path = self.folder / shard
        with open(path, "wb") as file:
            file.truncate(max(size, 8 + len(header)))
            file.write(length + header)
            for begin, data in self._scales(shard, header, 8 + count, size):
                file.seek(begin)
                file.write(data)

    def _scales(self, shard: str, header: bytes, start: int, size: int) -> Iterator[tuple[int, bytes]]:
        """The bytes of the shard's scale tensors, one request per run of adjacent ones."""
        try:
            entries = orjson.loads(header)
        except orjson.JSONDecodeError:
            return
        if not isinstance(entries, dict):
            return
        spans = []
        for tensor, entry in entries.items():
            offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
            if not (name_scale(tensor, "") is not None or looks_like_scale(tensor)) or not (
                isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
            ):
                continue
            begin, end = start + offsets[0], start + offsets[1]
            if 0 <= end - begin <= _LARGEST_SCALE and begin < end <= size:
                spans.append((begin, end))
        runs: list[list[int]] = []
        for begin, end in sorted(spans):
            if runs and begin <= runs[-1][1]:
                runs[-1][1] = max(runs[-1][1], end)
            else:
                runs.append([begin, end])
        for begin, end in runs:
            yield begin, self._get(shard, (begin, end - 1), end - begin)

    def _get(self, file: str, span: tuple[int, int] | None, most: int) -> bytes:
        """The bytes of `file` (a byte range when `span`), refusing to read more than `most`."""
        # huggingface_hub's `resolve` URL, built here from the endpoint read at the call.
        resolve = f"{self.endpoint}/{self.target.repo}/resolve/{quote(self.commit, safe='')}/{quote(file)}"
        url = self.located.get(file, resolve)
        headers = dict(self.headers)
        if urlsplit(url)[:2] != urlsplit(self.endpoint)[:2]:
            # The token is for the Hub, not for the host it redirects to.
            headers = {key: value for key, value in headers.items() if key.lower() != "authorization"}
        if span is not None:
            headers["Range"] = f"bytes={span[0]}-{span[1]}"
        data = bytearray()
        with self.session.stream(
            "GET", url, headers=headers, follow_redirects=True, timeout=_TIMEOUT
        ) as response:
            self.cost.add(requests=len(response.history) + 1)
            if response.history and response.status_code < 400:
                self.located[file] = str(response.url)
            if response.status_code >= 400:
                response.read()
                self.hub.utils.hf_raise_for_status(response)
            if span is not None and response.status_code != 206:
                message = (
                    f"the server answered a range request for {file} with HTTP "
                    f"{response.status_code}, the whole file: stopped rather than download it"
                )
                raise HubError(message)
            for chunk in response.iter_bytes():
                data += chunk
                self.cost.add(bytes_read=len(chunk))
                if len(data) > most:
                    raise HubError(f"{file} sent more than the {most} bytes asked for: stopped")
        if span is not None and len(data) != span[1] - span[0] + 1:
            raise HubError(f"the connection ended {len(data)} bytes into a read of {file}")
        return bytes(data)


def _progress(done: int, total: int, started: float) -> None:
    """Shards done / total on a terminal's stderr, once the check runs longer than a second."""
    if total > 1 and sys.stderr.isatty() and time.monotonic() - started > 1.0:
        end = "\n" if done == total else ""
        print(f"\rreading shard headers and scales: {done}/{total}", end=end, file=sys.stderr, flush=True)
