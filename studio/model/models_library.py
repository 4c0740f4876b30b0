"""The models library as the window sees it: a listing that follows the library, and the long work on it
(adding, downloading, hashing) on background threads, so a 2-7 GB copy or hash never holds the window.

Three task runners keep the kinds of work from waiting on each other: the listing (and removals,
which change it), transfers (adds and downloads, one at a time, in the order asked), and hashing
(one model at a time). What they report comes back on the GUI thread as signals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from studio.model.gallery_tasks import Task, TaskRunner

if TYPE_CHECKING:
    from studio.library.catalog import Library, LibraryEntry

log = logging.getLogger(__name__)

REPORT_EVERY_S = 0.1  # progress reports of a copy, at most this often


@dataclass(frozen=True)
class Transfer:
    """Where an add or a download stands."""

    what: str  # "Adding model.safetensors", "Downloading org/name"
    done: int  # bytes
    total: int | None  # bytes; None while unknown
    bytes_per_s: float = 0.0
    eta_s: float | None = None
    file: str = ""  # the file on its way (a download of a folder)


class _Rate:
    """Speed and time left of a copy, from the bytes done and the clock; reports at most every REPORT_EVERY_S."""

    def __init__(self) -> None:
        self.start = self.last = time.monotonic()

    def due(self, done: int, total: int) -> bool:
        now = time.monotonic()
        if done < total and now - self.last < REPORT_EVERY_S:
            return False
        self.last = now
        return True

    def transfer(self, what: str, done: int, total: int) -> Transfer:
        elapsed = time.monotonic() - self.start
        speed = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / speed if speed > 0 else None
        return Transfer(what, done, total, speed, eta)


class ModelsLibrary(QObject):
    """The library's entries (`entries`), refreshed in the background, and the work that changes it."""

    changed = Signal()  # the entries (or which ones are being hashed) changed
    progress = Signal(object)  # Transfer of the running add or download
    transferEnded = Signal(str, bool)  # what happened ("Added x", the reason it failed, "Cancelled"), success
    added = Signal(object)  # LibraryEntry: an add or a download that finished
    failed = Signal(str)  # a one-line message for anything else that failed

    def __init__(self, data: Path, parent: QObject | None = None):
        super().__init__(parent)
        from studio.library.catalog import Library

        self.data = Path(data)
        self.library: Library = Library(self.data)
        self._entries: list[LibraryEntry] = []
        self._folders: list[Path] = []
        self._listing = TaskRunner("models-listing", self)
        self._transfers = TaskRunner("models-transfers", self)
        self._hashes = TaskRunner("models-hashing", self)
        for runner in (self._listing, self._transfers, self._hashes):
            runner.failed.connect(self.failed)
        self._refresh_waiting = False
        self._running: list[Task] = []  # adds and downloads asked for and not yet ended
        self._hashing: dict[Path, Task] = {}
        self._unhashable: set[Path] = set()
        self._hash_all = False
        self._closed = False

    # The listing

    def entries(self, kind: str | None = None) -> list[LibraryEntry]:
        return [e for e in self._entries if kind is None or e.kind == kind]

    def entry(self, name: str, kind: str = "checkpoints") -> LibraryEntry | None:
        return next((e for e in self._entries if e.name == name and e.kind == kind), None)

    def folders(self) -> list[Path]:
        """The extra folders read in place, as of the last listing."""
        return list(self._folders)

    def is_hashing(self, entry: LibraryEntry) -> bool:
        return entry.path in self._hashing

    def refresh(self) -> None:
        """Read the library again in the background; `changed` follows when anything differs."""
        if self._refresh_waiting or self._closed:
            return
        self._refresh_waiting = True

        def read(task: Task) -> tuple[list[LibraryEntry], list[Path]]:
            self._refresh_waiting = False  # a change from now on needs a listing of its own
            return self.library.entries(), self.library.folders()

        self._listing.submit("read the models library", read, done=self._listed)

    def _listed(self, result: tuple[list[LibraryEntry], list[Path]]) -> None:
        entries, folders = result
        if entries != self._entries or folders != self._folders:
            self._entries, self._folders = entries, folders
            self.changed.emit()
        if self._hash_all:
            self.hash_missing()

    # Hashing

    def hash_missing(self) -> None:
        """Hash every usable model the cache has no hash for (one at a time, in the background), now and
        after each listing from now on."""
        self._hash_all = True
        for entry in self._entries:
            if not entry.short_hash and not entry.problem:
                self.hash_model(entry)

    def hash_model(self, entry: LibraryEntry) -> None:
        """Hash one model in the background (once: the cache keeps it); the listing shows it after."""
        if entry.path in self._hashing or entry.path in self._unhashable or self._closed:
            return

        def hashed(_sha: str) -> None:
            self._hashing.pop(entry.path, None)
            self.refresh()

        def refused(message: str) -> None:
            log.info("hashing %s failed: %s", entry.path, message)
            self._hashing.pop(entry.path, None)
            self._unhashable.add(entry.path)
            self.changed.emit()

        task = self._hashes.submit(
            f"hash {entry.name}", lambda task: self.library.hash_now(entry, cancel=task.stop), hashed, refused
        )
        if task is not None:
            self._hashing[entry.path] = task
            self.changed.emit()

    # Adding, downloading, removing

    @property
    def transferring(self) -> bool:
        return bool(self._running)

    def add(self, source: Path, link: bool = False) -> None:
        """Copy (or link) a model file or folder into the library, in the background."""
        source = Path(source)
        what = f"{'Linking' if link else 'Adding'} {source.name}"

        def work(task: Task) -> LibraryEntry:
            rate = _Rate()
            task.report(Transfer(what, 0, None))

            def copied(done: int, total: int) -> None:
                if rate.due(done, total):
                    task.report(rate.transfer(what, done, total))

            return self.library.add(source, link=link, progress=copied, cancel=task.stop)

        self._transfer(f"add {source.name}", work, lambda entry: f"Added {entry.name}")

    def download(self, source: str) -> None:
        """Download a Hugging Face repo, a file of one, or a URL into the library, in the background."""
        source = source.strip()
        if not source:
            self.transferEnded.emit("Type a Hugging Face repo id (org/name) or a URL to download", False)
            return
        what = f"Downloading {source}"

        def work(task: Task) -> LibraryEntry:
            from studio.errors import ModelError
            from studio.library.download import conversion_note, download

            task.report(Transfer(what, 0, None))

            def arrived(p) -> None:
                task.report(Transfer(what, p.done_bytes, p.total_bytes, p.bytes_per_s, p.eta_s, p.file))

            path = download(source, self.data, progress=arrived, cancel=task.stop)
            note = conversion_note(path)
            if note is not None:
                raise ModelError(note)
            entry = self.library.find(str(path))
            if entry is None:
                raise ModelError(f"{path} was downloaded but the library does not list it")
            return entry

        self._transfer(f"download {source}", work, lambda entry: f"Downloaded {entry.name}")

    def _transfer(self, what: str, work: Callable[[Task], Any], said: Callable[[Any], str]) -> None:
        task: Task | None = None

        def ended() -> None:
            if task in self._running:
                self._running.remove(task)

        def done(entry: LibraryEntry) -> None:
            ended()
            self.transferEnded.emit(said(entry), True)
            self.added.emit(entry)
            self.refresh()

        def failed(message: str) -> None:
            ended()
            self.transferEnded.emit(message, False)
            self.refresh()

        task = self._transfers.submit(what, work, done, failed, self.progress.emit)
        if task is not None:
            self._running.append(task)

    def cancel(self) -> None:
        """Stop the running add or download and drop those waiting; what was half-copied is removed
        (a download keeps what arrived, hidden, so that the same download resumes it)."""
        if not self._running:
            return
        for task in self._running:
            task.cancel()
        self._running.clear()
        self.transferEnded.emit("Cancelled", False)
        self.refresh()

    def remove(self, entry: LibraryEntry) -> None:
        """Take a model out of the library in the background (a copy goes to the trash, a link is deleted)."""

        def work(task: Task) -> Path:
            return self.library.remove(entry.name, entry.kind)

        self._listing.submit(f"remove {entry.name}", work, lambda _: self.refresh(), self._refused)

    # What the person chose, and the extra folders: small files, written at once

    def set_defaults(self, entry: LibraryEntry, prediction: str | None = None, **values: Any) -> None:
        """Save defaults (steps, guidance_scale, scheduler, width, height; None: the model's own) and,
        for a checkpoint, the prediction ("v", "epsilon", or None: what the file says).
        Raises StudioError with the reason when a value is refused."""
        if values:
            self.library.set_defaults(entry.name, **values)
        if entry.kind == "checkpoints" and prediction != entry.prediction:
            self.library.set_prediction(str(entry.path), prediction)
        self.refresh()

    def add_folder(self, folder: Path) -> None:
        """Read an AUTOMATIC1111, ComfyUI or plain models folder in place. Raises StudioError."""
        self.library.add_folder(folder)
        self.refresh()

    def remove_folder(self, folder: Path) -> None:
        """Stop reading a folder (nothing in it changes). Raises StudioError."""
        self.library.remove_folder(folder)
        self.refresh()

    def _refused(self, message: str) -> None:
        self.failed.emit(message)
        self.refresh()

    def close(self, timeout: float = 2.0) -> None:
        """Stop all background work (a copy removes what it half-copied); nothing is reported afterwards."""
        self._closed = True
        for runner in (self._transfers, self._hashes, self._listing):
            runner.shutdown(timeout)
