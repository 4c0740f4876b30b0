"""A local stand-in for the Hugging Face Hub, for download tests: a real threaded HTTP server on 127.0.0.1.

It serves the folder `root`, where `root/ORG/NAME/` is a model repo and any other file can be
fetched as a plain URL (`/files/PATH`), the way the Hub answers `huggingface_hub`:

- `GET /api/models/ORG/NAME[/revision/REV]`: the repo's commit (`sha`) and files (`siblings`,
  with `size`, and `lfs` for weights); `.../tree/REV` lists them as snapshot_download reads them;
- `HEAD|GET /ORG/NAME/resolve/REV/PATH`: small files straight away (ETag, X-Repo-Commit), weights as
  a redirect to a second port that plays the CDN (X-Linked-Etag, X-Linked-Size), as the Hub's
  LFS files are; errors carry the Hub's X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound,
  GatedRepo);
- every file body honours `Range` (and `If-Range`).

No Xet headers are sent, so `huggingface_hub` never looks for a Xet or CDN host elsewhere.
Faults for tests: `cut` (close the connection after N bytes of a file), `slow` (bytes per second),
`gate` (a repo that needs a token); `log` records every request (method, path, Range, port).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".ckpt", ".bin", ".pt", ".pth", ".onnx", ".msgpack", ".h5")
_PIECE = 4096


@dataclass(frozen=True)
class Request:
    """One request as the server saw it."""

    method: str
    path: str  # without the query
    range: str | None
    port: str  # "hub" or "cdn"
    authorization: str | None


class HubServer:
    """`with HubServer(root) as hub:` serves `root` at `hub.url` (set HF_ENDPOINT to it) until the block ends."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.log: list[Request] = []
        self._lock = threading.Lock()
        self._cuts: dict[str, list[int]] = {}  # path -> [bytes, times]
        self._slow: dict[str, int] = {}
        self._gates: dict[str, str] = {}
        self._hashes: dict[tuple[str, int, int], tuple[str, str]] = {}
        self._stopping = threading.Event()
        self._servers: list[ThreadingHTTPServer] = []

    # --- set-up -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}"

    def file_url(self, path: str) -> str:
        """The plain URL of `root/path`."""
        return f"{self.url}/files/{quote(path)}"

    def cut(self, path: str, after: int, times: int = 1) -> None:
        """The next `times` responses carrying `root/path` end the connection after `after` bytes of body."""
        with self._lock:
            self._cuts[path] = [after, times]

    def slow(self, path: str, bytes_per_s: int | None) -> None:
        """Send `root/path` at `bytes_per_s` (None: full speed again)."""
        with self._lock:
            if bytes_per_s is None:
                self._slow.pop(path, None)
            else:
                self._slow[path] = bytes_per_s

    def gate(self, repo: str, token: str) -> None:
        """`repo` answers 401 without a token and 403 with another one, as a gated repo does."""
        with self._lock:
            self._gates[repo] = token

    def requests(self, method: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.log if method is None or r.method == method]

    def __enter__(self) -> HubServer:
        for port in ("hub", "cdn"):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, port))
            server.daemon_threads = True
            self._servers.append(server)
            threading.Thread(target=server.serve_forever, args=(0.05,), name=f"hub-server-{port}", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()

    # --- what the repos hold ------------------------------------------------------

    def _hashes_of(self, file: Path) -> tuple[str, str]:
        """(git blob sha1, sha256) of a file, cached while it is unchanged."""
        stat = file.stat()
        key = (str(file), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            known = self._hashes.get(key)
        if known is None:
            data = file.read_bytes()
            known = (
                hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
                hashlib.sha256(data).hexdigest(),
            )
            with self._lock:
                self._hashes[key] = known
        return known

    def _repo_files(self, repo: Path) -> list[Path]:
        return sorted(p for p in repo.rglob("*") if p.is_file())

    def _commit(self, repo: Path) -> str:
        digest = hashlib.sha1()
        for file in self._repo_files(repo):
            digest.update(file.relative_to(repo).as_posix().encode() + b"\0" + self._hashes_of(file)[1].encode())
        return digest.hexdigest()

    def _model_info(self, repo_id: str, repo: Path) -> dict:
        siblings = []
        for file in self._repo_files(repo):
            blob, sha256 = self._hashes_of(file)
            size = file.stat().st_size
            entry: dict = {"rfilename": file.relative_to(repo).as_posix(), "size": size, "blobId": blob}
            if file.suffix in LFS_SUFFIXES:
                entry["lfs"] = {"size": size, "sha256": sha256, "pointerSize": 134}
            siblings.append(entry)
        return {
            "_id": repo_id,
            "id": repo_id,
            "modelId": repo_id,
            "sha": self._commit(repo),
            "private": False,
            "gated": repo_id in self._gates and "manual",
            "disabled": False,
            "library_name": "diffusers",
            "tags": [],
            "siblings": siblings,
        }

    def _tree(self, repo: Path, under: str) -> list[dict]:
        """The listing `/api/models/ORG/NAME/tree/REV[/PATH]?recursive=true` answers (snapshot_download reads it)."""
        entries: list[dict] = []
        for path in sorted((repo / under).rglob("*")):
            name = path.relative_to(repo).as_posix()
            if path.is_dir():
                entries.append(
                    {"type": "directory", "oid": hashlib.sha1(name.encode()).hexdigest(), "size": 0, "path": name}
                )
                continue
            blob, sha256 = self._hashes_of(path)
            entry: dict = {"type": "file", "oid": blob, "size": path.stat().st_size, "path": name}
            if path.suffix in LFS_SUFFIXES:
                entry["lfs"] = {"oid": sha256, "size": path.stat().st_size, "pointerSize": 134}
            entries.append(entry)
        return entries


def _handler(hub: HubServer, port: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args) -> None:
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            with hub._lock:
                hub.log.append(
                    Request(self.command, path, self.headers.get("Range"), port, self.headers.get("Authorization"))
                )
            try:
                if port == "cdn":
                    self._cdn(path, body)
                elif path.startswith("/api/models/"):
                    self._api(path[len("/api/models/") :])
                elif path.startswith("/files/"):
                    self._plain(path[len("/files/") :], body)
                else:
                    self._resolve(path.lstrip("/"), body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        # --- routes ---------------------------------------------------------

        def _api(self, rest: str) -> None:
            parts = rest.split("/", 4)
            repo_id = "/".join(parts[:2])
            action = parts[2] if len(parts) >= 4 else None
            if len(parts) not in (2, 4, 5) or action not in (None, "revision", "tree"):
                return self._error(404, "RepoNotFound", "Repository not found")
            revision = parts[3] if action else "main"
            repo = self._repo(repo_id)
            if repo is None or not self._allowed(repo_id) or not self._revision_ok(repo, revision):
                return
            if action == "tree":
                under = parts[4] if len(parts) == 5 else ""
                answer: object = hub._tree(repo, under)
            else:
                answer = hub._model_info(repo_id, repo)
            self._send(200, json.dumps(answer).encode(), "application/json")

        def _resolve(self, rest: str, body: bool) -> None:
            parts = rest.split("/", 4)
            if len(parts) < 5 or parts[2] != "resolve":
                return self._error(404, None, "Not Found")
            repo_id, revision, name = f"{parts[0]}/{parts[1]}", unquote(parts[3]), parts[4]
            repo = self._repo(repo_id)
            if repo is None or not self._allowed(repo_id) or not self._revision_ok(repo, revision):
                return
            commit = hub._commit(repo)
            file = self._inside(repo, name)
            if file is None:
                return self._error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": commit})
            blob, sha256 = hub._hashes_of(file)
            size = file.stat().st_size
            if file.suffix in LFS_SUFFIXES:
                relative = file.relative_to(hub.root).as_posix()
                headers = {
                    "Location": f"{hub.cdn_url}/lfs/{quote(relative)}",
                    "X-Repo-Commit": commit,
                    "X-Linked-Etag": f'"{sha256}"',
                    "X-Linked-Size": str(size),
                    "ETag": f'"{blob}"',
                }
                return self._send(302, b"", "text/plain", headers)
            self._file(file, body, f'"{blob}"', {"X-Repo-Commit": commit})

        def _cdn(self, path: str, body: bool) -> None:
            file = self._inside(hub.root, path[len("/lfs/") :]) if path.startswith("/lfs/") else None
            if file is None:
                return self._error(404, None, "Not Found")
            self._file(file, body, f'"{hub._hashes_of(file)[1]}"')

        def _plain(self, rest: str, body: bool) -> None:
            file = self._inside(hub.root, rest)
            if file is None:
                return self._error(404, None, "Not Found")
            self._file(file, body, f'"{hub._hashes_of(file)[1]}"')

        # --- checks -----------------------------------------------------------

        def _repo(self, repo_id: str) -> Path | None:
            repo = self._inside(hub.root, repo_id, folder=True)
            if repo is None:
                self._error(404, "RepoNotFound", "Repository not found")
            return repo

        def _allowed(self, repo_id: str) -> bool:
            with hub._lock:
                token = hub._gates.get(repo_id)
            given = self.headers.get("Authorization")
            if token is None or given == f"Bearer {token}":
                return True
            status = 401 if given is None else 403
            self._error(status, "GatedRepo", f"Access to model {repo_id} is restricted.")
            return False

        def _revision_ok(self, repo: Path, revision: str) -> bool:
            if revision in ("main", hub._commit(repo)):
                return True
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return False

        @staticmethod
        def _inside(base: Path, relative: str, folder: bool = False) -> Path | None:
            candidate = (base / relative).resolve()
            if not candidate.is_relative_to(hub.root.resolve()) or ".." in Path(relative).parts:
                return None
            ok = candidate.is_dir() if folder else candidate.is_file()
            return candidate if ok else None

        # --- answers ------------------------------------------------------------

        def _error(self, status: int, code: str | None, message: str, extra: dict | None = None) -> None:
            headers = dict(extra or {})
            if code:
                headers["X-Error-Code"] = code
            headers["X-Error-Message"] = message
            self._send(status, json.dumps({"error": message}).encode(), "application/json", headers)

        def _send(self, status: int, data: bytes, kind: str, headers: dict | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _file(self, file: Path, body: bool, etag: str, extra: dict | None = None) -> None:
            size = file.stat().st_size
            start, end = 0, size - 1
            status = 200
            wanted = self.headers.get("Range")
            condition = self.headers.get("If-Range")
            if wanted and (condition is None or condition == etag):
                span = _parse_range(wanted, size)
                if span is None:
                    return self._error(416, None, "Range Not Satisfiable", {"Content-Range": f"bytes */{size}"})
                start, end = span
                status = 206
            self.send_response(status)
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.send_header("ETag", etag)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Last-Modified", formatdate(file.stat().st_mtime, usegmt=True))
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(end - start + 1))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if body:
                self._body(file, start, end)

        def _body(self, file: Path, start: int, end: int) -> None:
            relative = file.relative_to(hub.root.resolve()).as_posix()
            with hub._lock:
                cut = hub._cuts.get(relative)
                limit = None
                if cut is not None and cut[1] > 0:
                    limit = cut[0]
                    cut[1] -= 1
                rate = hub._slow.get(relative)
            sent = 0
            with open(file, "rb") as handle:
                handle.seek(start)
                left = end - start + 1
                while left > 0 and not hub._stopping.is_set():
                    piece = handle.read(min(_PIECE if rate else 1 << 20, left))
                    if limit is not None:
                        piece = piece[: max(0, limit - sent)]
                        if not piece:
                            break
                    self.wfile.write(piece)
                    sent += len(piece)
                    left -= len(piece)
                    if rate:
                        time.sleep(len(piece) / rate)
            if left > 0:  # cut short on purpose: the client sees the body end early
                self.close_connection = True

    return Handler


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """`bytes=START-[END]` within a file of `size` bytes, or None if it cannot be served."""
    if not value.startswith("bytes=") or "," in value:
        return None
    first, _, last = value[len("bytes=") :].partition("-")
    try:
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)
