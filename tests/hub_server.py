"""A Hugging Face Hub-shaped HTTP server on localhost, for the tests that read models by their id.

It serves the endpoints huggingface_hub calls, read from its source:
`GET /api/models/{repo}[/revision/{rev}]` (JSON with `sha` and `siblings`,
with sizes under `?blobs=true`); `GET /{repo}/resolve/{rev}/{path}`, which
answers small files with 200 and `X-Repo-Commit` / `ETag`, and LFS files
(`*.safetensors`) with a 302 to a CDN path carrying `X-Linked-Size`; the CDN
answers `Range: bytes=a-b` with 206 and `Content-Range`. Errors carry the
Hub's `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`,
`GatedRepo`). Each repo is a folder of real files on disk (sparse where a
test wants a many-gigabyte shard), and every byte range served is recorded.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import attrs

__all__ = ["HubServer", "hub_server"]

TOKEN = "hf_test_token"  # noqa: S105 - the test server's token


@attrs.define
class HubServer:
    root: Path
    url: str = ""
    # (file, first byte, last byte) of every ranged read of a shard, in order.
    served: list[tuple[str, int, int]] = attrs.Factory(list)
    requests: int = 0
    gated: set[str] = attrs.Factory(set)
    # Answer ranged reads with the whole file (200), as a server that ignores Range does.
    ignore_range: bool = False
    # Close the connection after this many bytes of a shard's header read.
    drop_header_after: int | None = None
    # Seconds added to every request, as a network's round trip (the benchmark's).
    delay: float = 0.0
    lock: threading.Lock = attrs.Factory(threading.Lock)

    def commit(self, repo: str) -> str:
        return hashlib.sha1(repo.encode()).hexdigest()  # noqa: S324 - a fake commit id

    def repo_folder(self, repo: str) -> Path | None:
        folder = self.root / repo
        return folder if folder.is_dir() and repo.count("/") == 1 else None


def _handler(server: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def do_GET(self) -> None:
            self._answer(head=False)

        def _error(self, status: int, code: str, message: str = "") -> None:
            body = json.dumps({"error": message or code}).encode()
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message or code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, document: object) -> None:
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _answer(self, head: bool) -> None:
            with server.lock:
                server.requests += 1
            if server.delay:
                time.sleep(server.delay)
            path = unquote(urlsplit(self.path).path)
            api = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/(.+))?", path)
            if api:
                return self._info(api[1], api[2])
            resolve = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if resolve:
                return self._resolve(resolve[1], resolve[2], resolve[3], head)
            cdn = re.fullmatch(r"/cdn/([^/]+/[^/]+)/(.+)", path)
            if cdn:
                return self._cdn(cdn[1], cdn[2], head)
            return self._error(404, "EntryNotFound")

        def _revision_ok(self, repo: str, revision: str | None) -> bool:
            return revision in (None, "main", server.commit(repo))

        def _info(self, repo: str, revision: str | None) -> None:
            folder = server.repo_folder(repo)
            if folder is None:
                return self._error(404, "RepoNotFound", "Repository not found")
            if not self._revision_ok(repo, revision):
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            siblings = [
                {"rfilename": file.name, "size": file.stat().st_size, "blobId": f"{len(file.name):040x}"}
                for file in sorted(folder.iterdir())
            ]
            return self._json({"id": repo, "sha": server.commit(repo), "siblings": siblings})

        def _resolve(self, repo: str, revision: str, name: str, head: bool) -> None:
            folder = server.repo_folder(repo)
            if folder is None:
                return self._error(401, "RepoNotFound", "Repository not found")
            if repo in server.gated and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._error(401, "GatedRepo", f"Access to model {repo} is restricted.")
            if not self._revision_ok(repo, revision):
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            file = folder / name
            if not file.is_file():
                return self._error(404, "EntryNotFound", f"{name} does not exist")
            commit = server.commit(repo)
            if name.endswith(".safetensors"):
                self.send_response(302)
                self.send_header("Location", f"{server.url}/cdn/{repo}/{name}")
                self.send_header("X-Linked-Size", str(file.stat().st_size))
                self.send_header("X-Linked-Etag", f'"{commit}"')
                self.send_header("X-Repo-Commit", commit)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            body = file.read_bytes()
            self.send_response(200)
            self.send_header("X-Repo-Commit", commit)
            self.send_header("ETag", f'"{hashlib.sha1(body).hexdigest()}"')  # noqa: S324 - a fake blob id
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)
            return None

        def _cdn(self, repo: str, name: str, head: bool) -> None:
            folder = server.repo_folder(repo)
            file = None if folder is None else folder / name
            if file is None or not file.is_file():
                return self._error(404, "EntryNotFound")
            size = file.stat().st_size
            asked = re.fullmatch(r"bytes=([0-9]+)-([0-9]+)", self.headers.get("Range", ""))
            if asked is None or server.ignore_range:
                return self._whole(file, size, head)
            first, last = int(asked[1]), min(int(asked[2]), size - 1)
            if first >= size:
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            with server.lock:
                server.served.append((name, first, last))
            with open(file, "rb") as stream:
                stream.seek(first)
                body = stream.read(last - first + 1)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if head:
                return None
            if server.drop_header_after is not None and first == 8:
                self.wfile.write(body[: server.drop_header_after])
                self.wfile.flush()
                self.close_connection = True
                return None
            self.wfile.write(body)
            return None

        def _whole(self, file: Path, size: int, head: bool) -> None:
            with server.lock:
                server.served.append((file.name, 0, size - 1))
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if head:
                return
            try:
                with open(file, "rb") as stream:
                    while chunk := stream.read(1 << 16):
                        self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


@contextmanager
def hub_server(root: Path) -> Iterator[HubServer]:
    """A running server over the repos in `root` (`root/org/name/<files>`)."""
    server = HubServer(root)
    http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    http.daemon_threads = True
    server.url = f"http://127.0.0.1:{http.server_address[1]}"
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        http.shutdown()
        http.server_close()
        thread.join()
