# pyright: standard
"""The gallery as one object: its folder of images, the index over them, favourites and trash.

Everything the window and the command line do to the gallery goes through `Gallery`:
bringing the index up to date with the files, listing and searching, favourites,
delete with undo, import and export. One `Gallery` per thread (it holds an SQLite
connection).
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from studio.errors import StudioError, WriteError
from studio.files import os_error_reason, write_atomic
from studio.gallery.export import export_format, export_image
from studio.gallery.favourites import Favourites
from studio.gallery.files import display_name, fit_name, remove_leftovers
from studio.gallery.index import (
    FileStamp,
    GalleryIndex,
    IndexDamaged,
    IndexWriteError,
    Row,
    is_gallery_file,
    list_folder,
)
from studio.gallery.thumbnails import prune, thumbnail_key
from studio.gallery.trash import Trash, TrashBatch, free_name
from studio.paths import favourites_path, gallery_dir, gallery_index_path, thumbnail_dir, trash_dir
from studio.recipe.walker import IMAGE_SUFFIXES, ImageInfo, Unreadable, inspect_file

log = logging.getLogger("studio.gallery")

BATCH = 250  # files indexed per transaction


class GalleryError(StudioError):
    """A gallery action cannot be done (a missing folder, a name that is not in the gallery)."""


@dataclass
class SyncReport:
    added: int = 0
    removed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # newly skipped: (name, reason)
    seen: int = 0
    rebuilt: bool = False  # the index was started afresh (missing, damaged or from another version)
    unsaved: str = ""  # why the index cannot be saved (a read-only folder, a full disk); "" when it can

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.skipped)


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


class Gallery:
    def __init__(self, data: str | os.PathLike, verify: bool = True, rebuild: bool = True, create: bool = True):
        """`verify=False` skips reading the whole index to check it (for a quick first screen).
        Damage found while reading starts the index afresh; with `rebuild` the files are read
        again at once, else `needs_sync` asks the caller to sync (off the GUI thread).
        `create=False` makes nothing on disk where DATA_DIR does not exist (to list it)."""
        self.data = Path(data)
        self.folder = gallery_dir(self.data)
        self.thumbnails = thumbnail_dir(self.data)
        self.rebuild = rebuild
        self.needs_sync = False
        self.index = GalleryIndex(
            gallery_index_path(self.data), self.folder, verify=verify, create=create or self.data.is_dir()
        )
        self.trash = Trash(trash_dir(self.data))
        self.favourites = Favourites(favourites_path(self.data))
        self._read(lambda: self.index.set_favourites(self.favourites.names))

    @property
    def unsaved(self) -> str:
        """Why changes to the index are not saved (a read-only folder, a full disk); "" when they are."""
        return self.index.unsaved

    def _read(self, work):
        """`work()` on the index; damage found on the way starts the index afresh, and the
        files are read again (see `rebuild`) before `work` runs once more."""
        try:
            return work()
        except IndexDamaged as exc:
            self._recover(exc)
            return work()

    def _recover(self, exc: IndexDamaged) -> None:
        self._reset(exc)
        if self.rebuild:
            self.sync()
        else:
            self.needs_sync = True

    def close(self) -> None:
        self.index.close()

    def path(self, name: str) -> Path:
        return self.folder / name

    # Keeping the index true to the files.
    def sync(
        self, progress: Callable[[int, int], None] | None = None, stop: threading.Event | None = None
    ) -> SyncReport:
        """Read new and changed files, forget vanished ones; `progress(done, todo)` per batch.
        A damaged index is started afresh and every file read again."""
        try:
            return self._sync(progress, stop)
        except IndexDamaged as exc:
            self._reset(exc)
            return self._sync(progress, stop)

    def _reset(self, exc: IndexDamaged) -> None:
        log.warning("gallery: %s; rebuilding it from the images", exc)
        self.index.reset()
        self.index.set_favourites(self.favourites.names)  # kept apart from the index, in their own file

    def _sync(self, progress, stop) -> SyncReport:
        self.needs_sync = False
        report = SyncReport(rebuilt=self.index.rebuilt, unsaved=self.index.unsaved)
        self.index.rebuilt = False
        try:
            on_disk = list_folder(self.folder)
        except OSError as exc:
            log.warning(
                "gallery: cannot read the gallery folder %s: %s; listing what the index knows",
                display_name(str(self.folder)),
                os_error_reason(exc),
            )
            return report
        known = self.index.stamps()
        gone = [n for n in known if n not in on_disk]
        todo = sorted((n for n, s in on_disk.items() if known.get(n) != s), reverse=True)  # newest names first
        report.seen = len(on_disk)
        if gone:
            with self.index.batch():
                self.index.remove(gone)
            report.removed = len(gone)
        for start in range(0, len(todo), BATCH):
            if stop is not None and stop.is_set():
                break
            chunk = todo[start : start + BATCH]
            results = [(name, on_disk[name], inspect_file(self.folder / name)) for name in chunk]
            with self.index.batch():
                for name, stamp, info in results:
                    self._record(name, stamp, info, report)
            if progress is not None:
                progress(min(start + BATCH, len(todo)), len(todo))
        if not self.unsaved:
            remove_leftovers(self.folder)
        return report

    def _record(self, name: str, stamp: FileStamp, info: ImageInfo | Unreadable, report: SyncReport) -> None:
        if isinstance(info, Unreadable):
            log.warning("gallery: skipped %s: %s", name, info.reason)
            self.index.put_skipped(name, stamp, info.reason)
            report.skipped.append((name, info.reason))
            return
        for note in info.notes:
            log.warning("gallery: %s: %s", name, note)
        self.index.put(name, stamp, info)
        report.added += 1

    def add_files(self, paths) -> SyncReport:
        """Index these files of the gallery folder now (a new image from the worker)."""
        report = SyncReport()
        try:
            with self.index.batch():
                for path in paths:
                    path = Path(path)
                    if path.parent.resolve() != self.folder.resolve() or not is_gallery_file(path.name):
                        continue
                    try:
                        st = path.stat()
                    except OSError:
                        continue
                    self._record(path.name, FileStamp(st.st_mtime_ns, st.st_size), inspect_file(path), report)
        except IndexDamaged as exc:
            self._recover(exc)  # the files are read again with all the others
        return report

    def prune_thumbnails(self) -> int:
        if self.unsaved:
            return 0
        keep = {thumbnail_key(n, s.mtime_ns, s.size) for n, s in self._read(self.index.stamps).items()}
        return prune(self.thumbnails, keep)

    # Reading.
    def query(self, **filters) -> list[Row]:
        return self._read(lambda: self.index.query(**filters))

    def info(self, name: str) -> ImageInfo | None:
        return self._read(lambda: self.index.info(name))

    def models(self) -> list[str]:
        return self._read(self.index.models)

    def sizes(self) -> list[tuple[int, int]]:
        return self._read(self.index.sizes)

    def skipped(self) -> list[tuple[str, str]]:
        return self._read(self.index.skipped)

    # Favourites.
    def set_favourite(self, names, favourite: bool) -> None:
        self.favourites.set(names, favourite)
        self._read(lambda: self.index.set_favourites(self.favourites.names))

    # Delete, undo, trash.
    def delete(self, names) -> TrashBatch:
        """Move the images to the trash and out of the listing; undo with `restore`."""
        batch = self.trash.move([self.path(n) for n in names])
        try:
            with self.index.batch():
                self.index.remove([source.name for source, _ in batch.items])
        except IndexDamaged as exc:
            self._recover(exc)
        except IndexWriteError:  # the files moved all the same: keep the undo; the next sync mends the index
            log.warning("the gallery index could not be updated after a delete", exc_info=True)
        return batch

    def restore(self, batch: TrashBatch) -> list[str]:
        restored = self.trash.restore(batch)
        try:
            self.add_files(restored)
        except IndexWriteError:  # the files are back all the same; the next sync indexes them
            log.warning("the gallery index could not be updated after a restore", exc_info=True)
        return [p.name for p in restored]

    def restore_trash(self) -> list[str]:
        """Put back every image in the trash, from any session (those gone from the manifest
        come back into the gallery folder)."""
        restored = self.trash.restore_all(self.folder)
        self.add_files(restored)
        return [p.name for p in restored]

    def purge_trash(self, days: float | None = None) -> int:
        """Empty trash batches older than `days` (30 by default; 0 or less empties it all)."""
        removed = self.trash.purge() if days is None else self.trash.purge(days)
        if removed:
            try:
                present = set(list_folder(self.folder))
            except OSError:
                return removed
            gone = {n for n in self.favourites.names if n not in present}
            trashed = {p.name for b in self.trash.batches() for p in b.iterdir()}
            if gone - trashed:
                self.set_favourite(gone - trashed, False)
        return removed

    # Import and export.
    def import_folder(
        self, source: str | os.PathLike, progress: Callable[[int, int], None] | None = None
    ) -> ImportReport:
        """Copy the readable images under `source` into the gallery (atomically), and index them."""
        source = Path(source)
        if not source.is_dir():
            raise GalleryError(f"cannot import {source}: not a folder")
        if source.resolve() == self.folder.resolve():
            raise GalleryError(f"{source} is the gallery folder itself")
        return self.import_paths([source], progress)

    def import_paths(
        self, paths, progress: Callable[[int, int], None] | None = None, stop: threading.Event | None = None
    ) -> ImportReport:
        """Copy the readable images among `paths` (image files, and the images anywhere under
        folders) into the gallery, each atomically, and index them; a file named on its own
        that is not an image is reported as skipped. Stops between files when `stop` is set."""
        files: list[Path] = []
        report = ImportReport()
        home = self.folder.resolve()
        for path in map(Path, paths):
            if path.is_dir():
                if path.resolve() != home:
                    files += sorted(p for p in path.rglob("*") if _importable(p))
            elif _importable(path):
                files.append(path)
            else:
                report.skipped.append((str(path), "not an image file" if path.exists() else "no such file"))
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GalleryError(f"cannot import into {display_name(str(self.folder))}: {os_error_reason(exc)}") from exc
        for done, file in enumerate(files, 1):
            if stop is not None and stop.is_set():
                break
            if file.parent.resolve() == home:
                report.duplicates.append(str(file))
                continue
            info = inspect_file(file)
            if isinstance(info, Unreadable):
                log.warning("gallery: not imported %s: %s", display_name(str(file)), info.reason)
                report.skipped.append((str(file), info.reason))
            else:
                target = self.folder / fit_name(file.name)
                if target.exists() and _same_bytes(file, target):
                    report.duplicates.append(str(file))
                else:
                    try:
                        target = copy_new(file, target)
                    except WriteError as exc:
                        if _stops_every_write(exc):
                            raise
                        log.warning("gallery: not imported %s: %s", display_name(str(file)), exc)
                        report.skipped.append((str(file), str(exc)))
                    else:
                        self.add_files([target])
                        report.imported.append(target.name)
            if progress is not None:
                progress(done, len(files))
        return report

    def export(self, names, target: str | os.PathLike, fmt_suffix: str | None = None) -> list[Path]:
        """One image to a file, or many into a folder (with `fmt_suffix` such as '.jpg')."""
        names = list(names)
        target = Path(target)
        if len(names) == 1 and fmt_suffix is None:
            return [export_image(self.path(names[0]), target, self.info(names[0]))]
        suffix = fmt_suffix or ".png"
        export_format(f"x{suffix}")
        written = []
        for name in names:
            destination = free_name(target / (Path(name).stem + suffix))
            written.append(export_image(self.path(name), destination, self.info(name)))
        return written


def _importable(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _same_bytes(a: Path, b: Path) -> bool:
    import filecmp

    try:
        return filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def copy_new(source: Path, target: Path) -> Path:
    """Copy a file to `target`, or `name-2.ext`, ... whichever no file holds, claimed atomically
    (another writer's file is never replaced); a crash leaves nothing or the whole copy. Keeps its times."""
    while True:
        candidate = free_name(target)
        try:
            with open(source, "rb") as stream:
                return write_atomic(candidate, stream, times_from=source, exclusive=True)
        except FileExistsError:
            continue  # taken since free_name looked: the next one
        except (OSError, WriteError) as exc:
            cause = exc.__cause__ if isinstance(exc, WriteError) else exc
            reason = os_error_reason(cause) if isinstance(cause, OSError) else str(exc)
            raise WriteError(f"cannot copy {display_name(source.name)} into the gallery: {reason}") from exc


def _stops_every_write(exc: WriteError) -> bool:
    """A full or read-only disk (or a file size limit): every further copy would fail the same way."""
    cause = exc.__cause__
    while isinstance(cause, WriteError) or (cause is not None and not isinstance(cause, OSError)):
        cause = cause.__cause__
    return isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)
