# pyright: standard
"""SHA-256 of model files, cached so that each file is read once, and hashed in the background.

A file is read in large blocks into one reused buffer; hashlib releases the GIL while it
hashes a block, so the window stays responsive while a 2-7 GB checkpoint is read.

The cache (DATA_DIR/cache/model-hashes.json) maps a resolved path to its size, its
modification time in nanoseconds and its sha256; a file whose size or time changed is
hashed again. The cache is written atomically and a damaged one is ignored and rebuilt.

A folder model (a diffusers folder, a VAE folder) is hashed as one stream: the bytes of its
weight files (*.safetensors, *.bin, *.ckpt, *.pt, *.pth, hidden files left out) one after the
other, in the order of their paths inside the folder (POSIX form, sorted by code point). Its
size is their total size and its time the newest of theirs.

Short hashes are what AUTOMATIC1111 writes in an image's parameters: sha256[:10] for
checkpoints and VAEs ("Model hash", "VAE hash"), sha256[:12] for LoRAs and embeddings
("Lora hashes", "TI hashes").
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from studio.errors import StudioError

log = logging.getLogger(__name__)

BLOCK = 8 * 1024 * 1024
CACHE_VERSION = 1
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")
SHORT_LENGTH = {"checkpoints": 10, "vae": 10, "loras": 12, "embeddings": 12}

Progress = Callable[[int, int], None]


class HashCancelled(StudioError):
    """Hashing was cancelled before it finished; nothing was cached."""


def short_hash(sha256: str, kind: str = "checkpoints") -> str:
    """The short form of `sha256` for a model of `kind`, as AUTOMATIC1111 prints it."""
    return sha256[: SHORT_LENGTH.get(kind, 10)] if sha256 else ""


def cache_path(data: Path) -> Path:
    return data / "cache" / "model-hashes.json"


def weight_files(folder: Path) -> list[Path]:
    """The weight files of a folder model, in the order its hash reads them."""
    found: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and name.lower().endswith(WEIGHT_SUFFIXES):
                path = Path(root) / name
                found.append((path.relative_to(folder).as_posix(), path))
    return [path for _, path in sorted(found)]


def stamp(path: Path) -> tuple[int, int]:
    """(size, mtime_ns) of a file, or of a folder model's weight files (total size, newest time)."""
    if path.is_dir():
        size = newest = 0
        for file in weight_files(path):
            info = file.stat()
            size += info.st_size
            newest = max(newest, info.st_mtime_ns)
        return size, newest
    info = path.stat()
    return info.st_size, info.st_mtime_ns


def sha256_of(path: Path, progress: Progress | None = None, cancel: threading.Event | None = None) -> str:
    """The sha256 of a file or a folder model (see the module's notes); HashCancelled when `cancel` is set."""
    path = Path(path)
    files = weight_files(path) if path.is_dir() else [path]
    total = sum(f.stat().st_size for f in files)
    digest = hashlib.sha256()
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    done = 0
    for file in files:
        with open(file, "rb", buffering=0) as handle:
            while True:
                if cancel is not None and cancel.is_set():
                    raise HashCancelled(f"hashing {path.name} was cancelled")
                count = handle.readinto(buffer)
                if not count:
                    break
                digest.update(view[:count])
                done += count
                if progress is not None:
                    progress(done, total)
    return digest.hexdigest()


class HashCache:
    """The sha256 of model files by resolved path, valid while size and mtime_ns stay the same."""

    def __init__(self, data: Path):
        self.file = cache_path(Path(data))
        self._lock = threading.Lock()
        self._entries: dict[str, dict] | None = None

    def cached(self, path: Path) -> str | None:
        """The sha256 of `path` when it was hashed at its present size and time; else None."""
        try:
            key = str(Path(path).resolve())
            size, mtime = stamp(Path(path))
        except OSError:
            return None
        with self._lock:
            entry = self._load().get(key)
        if entry and entry.get("size") == size and entry.get("mtime_ns") == mtime:
            sha = entry.get("sha256")
            return sha if isinstance(sha, str) else None
        return None

    def compute(self, path: Path, progress: Progress | None = None, cancel: threading.Event | None = None) -> str:
        """The sha256 of `path`: from the cache, or read now and cached."""
        known = self.cached(path)
        if known:
            return known
        path = Path(path)
        try:
            before = stamp(path)
            sha = sha256_of(path, progress, cancel)
            after = stamp(path)
        except OSError as exc:
            from studio.files import os_error_reason

            raise StudioError(f"cannot hash {path}: {os_error_reason(exc)}") from None
        if before == after:  # a file that changed while it was read is not cached
            self._store(str(path.resolve()), after, sha)
        return sha

    def _load(self) -> dict[str, dict]:
        if self._entries is None:
            self._entries = self._read()
        return self._entries

    def _read(self) -> dict[str, dict]:
        try:
            raw = json.loads(self.file.read_text(encoding="utf-8"))
            entries = raw["entries"] if raw.get("version") == CACHE_VERSION else {}
            return {str(k): v for k, v in entries.items() if isinstance(v, dict)}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
            log.warning("the model hash cache %s is damaged; it is rebuilt", self.file)
            return {}

    def _store(self, key: str, when: tuple[int, int], sha: str) -> None:
        from studio.files import write_atomic

        with self._lock:
            entries = self._read()  # what other processes wrote meanwhile, too
            entries[key] = {"size": when[0], "mtime_ns": when[1], "sha256": sha}
            self._entries = entries
            text = json.dumps({"version": CACHE_VERSION, "entries": entries}, indent=1, sort_keys=True)
            try:
                write_atomic(self.file, text.encode("utf-8"))
            except StudioError as exc:  # a cache: the hash is still returned, only not kept
                log.warning("the model hash cache was not saved: %s", exc)


Done = Callable[[Path, str], None]
Failed = Callable[[Path, str], None]


class BackgroundHasher:
    """Hashes queued paths one at a time on one daemon thread; `done(path, sha256)` after each.

    A path already queued or being hashed is not queued again. `cancel()` drops the queue and
    stops the file being read; `close()` also ends the thread. The callbacks run on the
    hasher's thread (a window hands them to its own thread)."""

    def __init__(self, cache: HashCache, done: Done, failed: Failed | None = None):
        self.cache = cache
        self._done = done
        self._failed = failed
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._cancel = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, path: Path) -> bool:
        """Queue `path` to be hashed; False when it is already queued or being hashed."""
        key = str(Path(path).resolve())
        with self._lock:
            if self._closed or key in self._pending:
                return False
            self._pending.add(key)
            self._idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="model-hasher", daemon=True)
                self._thread.start()
        self._queue.put(Path(path))
        return True

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def cancel(self) -> None:
        """Drop every queued path and stop the one being hashed."""
        with self._lock:
            self._cancel.set()
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    self._pending.discard(str(item.resolve()))
            self._settle()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or being hashed; False when `timeout` ran out first."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        self.cancel()
        with self._lock:
            self._closed = True
            thread = self._thread
        self._queue.put(None)
        if thread is not None:
            thread.join(timeout=5)

    def _settle(self) -> None:
        if not self._pending:
            self._idle.set()

    def _run(self) -> None:
        while True:
            path = self._queue.get()
            if path is None:
                return
            with self._lock:
                self._cancel.clear()
            key = str(path.resolve())
            try:
                sha = self.cache.compute(path, cancel=self._cancel)
            except HashCancelled:
                sha = None
            except Exception as exc:  # a file that vanished or cannot be read: reported, not raised
                sha = None
                log.info("hashing %s failed: %s", path, exc)
                if self._failed is not None:
                    self._call(self._failed, path, str(exc))
            if sha is not None:
                self._call(self._done, path, sha)
            with self._lock:
                self._pending.discard(key)
                self._settle()

    @staticmethod
    def _call(callback: Callable[[Path, str], None], path: Path, text: str) -> None:
        try:
            callback(path, text)
        except Exception:
            log.exception("a hash callback failed for %s", path)
