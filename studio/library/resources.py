# pyright: standard
"""The engine's resource finder: LoRAs, embeddings and VAEs by their library names.

`resource_finder(library)` is what `studio.engine.models.use_resource_finder` takes: called
with a kind ("loras", "embeddings", "vae") and a name as a prompt or a setting writes it, it
gives the file (or folder) and its short hash as AUTOMATIC1111 writes it, or None when the
library has no such model. Names are matched as the library matches them (exactly, then
without regard to case when that is unambiguous). A file the hash cache does not know yet
is hashed at once when it is small; a large one is queued for a background hasher and its
short hash is "" until that is done, so a job never waits for a multi-gigabyte read.
"""

from __future__ import annotations

import threading
from pathlib import Path

from studio.errors import StudioError
from studio.library.catalog import Library
from studio.library.hashes import BackgroundHasher, short_hash
from studio.paths import model_kind_dir

HASH_AT_ONCE = 64 * 1024 * 1024  # files up to this size are hashed on the calling thread
RESOURCE_KINDS = ("loras", "embeddings", "vae")


class ResourceFinder:
    """Finds LoRAs, embeddings and VAEs in a library; any thread."""

    def __init__(self, library: Library):
        self.library = library
        self._hasher: BackgroundHasher | None = None
        self._lock = threading.Lock()

    def __call__(self, kind: str, name: str) -> tuple[Path, str] | None:
        if kind not in RESOURCE_KINDS:
            return None
        entry = self.library.find(name, kind)
        if entry is None:
            return None
        sha = entry.sha256 or self._hash(entry.path, entry.size)
        return entry.path, short_hash(sha, kind)

    def folder(self, kind: str) -> Path:
        """The library's own folder of `kind`, for messages."""
        return model_kind_dir(self.library.data, kind)

    def close(self) -> None:
        with self._lock:
            hasher, self._hasher = self._hasher, None
        if hasher is not None:
            hasher.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background hashes queued so far; False when `timeout` ran out first."""
        with self._lock:
            hasher = self._hasher
        return hasher.wait(timeout) if hasher is not None else True

    def _hash(self, path: Path, size: int) -> str:
        if path.is_file() and size <= HASH_AT_ONCE:
            try:
                return self.library.hash_now(path)
            except StudioError:  # unreadable now: the engine says why when it opens the file
                return ""
        with self._lock:
            if self._hasher is None:
                self._hasher = BackgroundHasher(self.library.cache, done=lambda path, sha: None)
            hasher = self._hasher
        hasher.submit(path)
        return ""


def resource_finder(library: Library) -> ResourceFinder:
    """A finder for `use_resource_finder` over `library`."""
    return ResourceFinder(library)
