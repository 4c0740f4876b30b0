"""The gallery model the panel uses: the listing, kept up to date with the folder, and the
changes a person makes (favourites, delete with undo, trash, import, export).

The listing (studio.model.gallery_listing) comes from the gallery index at once, a cache,
so the first screen does not wait for the disk. The long jobs run on one background task
runner (studio.model.gallery_tasks), one at a time: bringing the index up to date with the
files (on opening, whenever the folder changes, after a damaged index), importing and
exporting. This session's deletes can be undone in turn, newest first.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QTimer, Signal

from studio.errors import StudioError
from studio.files import os_error_reason
from studio.gallery.files import display_name
from studio.gallery.store import Gallery, ImportReport, SyncReport
from studio.model.gallery_listing import (  # noqa: F401  (the roles are part of this model's face)
    COUNT_ROLE,
    FAVOURITE_ROLE,
    KIND_ROLE,
    NAME_ROLE,
    ROW_ROLE,
    DayHeading,
    GalleryListing,
    group_by_day,
)
from studio.model.gallery_tasks import Task, TaskRunner
from studio.model.gallery_undo import DeleteStack

WATCH_DELAY_MS = 400
SYNC_DELAY_MS = 300  # the first sync waits for the first screen when the index already lists images


class GalleryModel(GalleryListing):
    exportFinished = Signal(str)  # a message for the person
    # After exportFinished, when files were written: the message, where they went, whether into a folder.
    exported = Signal(str, str, bool)
    importFinished = Signal(str, object)  # a message for the person, the names imported (a list)
    synced = Signal()  # a sync of the index with the files has finished

    def __init__(self, data: Path, parent=None):
        # The background sync verifies the index and rebuilds it if need be.
        super().__init__(Gallery(data, verify=False, rebuild=False), parent)
        self.data_dir = Path(data)
        self.tasks = TaskRunner("gallery-tasks", self)
        self.tasks.failed.connect(self.statusChanged)
        self._undo = DeleteStack()
        self._background: Gallery | None = None  # the sync's own connection, on the runner's thread
        self._syncing = False
        self._sync_again = False
        self._sync_said = ""  # what the sync last put in the status line; it clears only its own words
        self._said_unsaved = False  # a read-only folder or a full disk is said once
        self._watcher: QFileSystemWatcher | None = None
        self._watch_timer = QTimer(self, singleShot=True, interval=WATCH_DELAY_MS)
        self._watch_timer.timeout.connect(self.sync)
        self.skipped: list[tuple[str, str]] = []

    # Starting, stopping, keeping up with the folder.
    def start(self) -> None:
        """Show what the index knows now, then bring it up to date and watch the folder."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # a read-only data folder: the sync says so
        self.refresh(first_page=True)
        self._watcher = QFileSystemWatcher([str(self.folder)], self)
        self._watcher.directoryChanged.connect(lambda _: self._watch_timer.start())
        if self._items:
            QTimer.singleShot(SYNC_DELAY_MS, self.sync)
        else:
            self.sync()

    def close(self) -> None:
        """Stop the background work and wait for it (bounded); the model is done afterwards."""
        if self._closed:
            return
        self._watch_timer.stop()
        if self._watcher is not None:
            self._watcher.removePaths(self._watcher.directories())
        ended = self.tasks.shutdown(5.0)
        super().close()
        self.gallery.close()
        if self._background is not None and ended:  # else the runner's thread may still be using it
            self._background.close()

    def sync(self) -> None:
        """Bring the index up to date with the files in the background (once at a time)."""
        if self._closed:
            return
        if self._syncing:
            self._sync_again = True
            return
        self._syncing = True
        self.tasks.submit(
            "update the gallery index",
            self._sync_in_background,
            done=self._synced,
            failed=self._synced,
            progress=lambda done, todo: self._say_sync(f"Indexing… {done:,} of {todo:,} new images"),
        )

    def _sync_in_background(self, task: Task) -> SyncReport:
        background = self._background
        first = background is None
        if background is None:
            background = self._background = Gallery(self.data_dir)
            background.purge_trash()  # batches deleted more than 30 days ago
        report = background.sync(progress=task.report, stop=task.stop)
        if first and not task.cancelled:
            background.prune_thumbnails()  # of images gone since the last session
        return report

    def _synced(self, report: SyncReport | str) -> None:
        self._syncing = False
        if self._closed:
            return
        if isinstance(report, SyncReport):
            if report.rebuilt and not report.unsaved:  # the index was damaged and made anew under this connection
                self.gallery.close()
                self.gallery = Gallery(self.data_dir, verify=False, rebuild=False)
            try:
                self.skipped = self.gallery.skipped()
            except StudioError:
                self.skipped = []
            if report.changed or report.rebuilt:
                self.refresh()
                self.optionsChanged.emit()
            if report.unsaved and not self._said_unsaved:
                self._said_unsaved = True
                self.statusChanged.emit(
                    f"{report.unsaved[:1].upper()}{report.unsaved[1:]}: changes to the gallery cannot be saved"
                )
            self._say_sync(self._skipped_line())
        else:
            self._say_sync(report)
        self.synced.emit()
        if self._sync_again:
            self._sync_again = False
            self.sync()

    def _queried(self) -> None:
        if self.gallery.needs_sync:  # it was damaged and started afresh: read the files again
            self.sync()

    def _say_sync(self, text: str) -> None:
        if text != self._sync_said:
            self._sync_said = text
            self.statusChanged.emit(text)

    def _skipped_line(self) -> str:
        if not self.skipped:
            return ""
        names = "; ".join(f"{display_name(n)}: {why}" for n, why in self.skipped[:5])
        more = f"; and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
        count = len(self.skipped)
        return f"{count} file{'s' if count != 1 else ''} skipped: {names}{more}"

    def add_file(self, path: str | Path) -> None:
        """A file just saved into the gallery folder: list it at once."""
        try:
            self.gallery.add_files([path])
        except StudioError as exc:
            self.statusChanged.emit(str(exc))
            return
        self.refresh()
        self.optionsChanged.emit()

    # Changes a person makes.
    def set_favourite(self, names: list[str], favourite: bool) -> None:
        try:
            self.gallery.set_favourite(names, favourite)
        except StudioError as exc:
            self.statusChanged.emit(str(exc))
        self.refresh()

    def delete(self, names: list[str]):
        """Move the images to the trash; returns the batch, which `undo_delete` takes back."""
        try:
            batch = self.gallery.delete(names)
        except StudioError as exc:
            self.statusChanged.emit(str(exc))
            return None
        except OSError as exc:  # the trash cannot be made: nothing has moved
            self.statusChanged.emit(f"cannot move the images to the trash: {os_error_reason(exc)}")
            return None
        self._undo.push(batch)
        self.refresh()
        self.optionsChanged.emit()
        return batch

    def can_undo(self) -> bool:
        """Whether a delete of this session is left to undo."""
        return bool(self._undo)

    def undo_delete(self, batch=None) -> list[str]:
        """Put back the newest delete not yet undone (or `batch`); returns the names put back."""
        taken = self._undo.pop(batch)
        batch = batch if batch is not None else taken
        if batch is None:
            return []
        return self._put_back(lambda: self.gallery.restore(batch), "undo the delete")

    def restore_trash(self) -> list[str]:
        """Put back every image in the trash; returns their names."""
        self._undo.clear()
        return self._put_back(self.gallery.restore_trash, "restore the trash")

    def _put_back(self, restore, what: str) -> list[str]:
        try:
            names = restore()
        except (StudioError, OSError) as exc:
            self.statusChanged.emit(f"cannot {what}: {exc}")
            return []
        self.refresh()
        self.optionsChanged.emit()
        return names

    def empty_trash(self) -> int:
        """Delete for good every image in the trash; returns how many."""
        self._undo.clear()
        try:
            return self.gallery.purge_trash(days=0)
        except OSError as exc:
            self.statusChanged.emit(f"cannot empty the trash: {exc}")
            return 0

    def trash_count(self) -> int:
        return self.gallery.trash.count()

    # Import and export, in the background.
    def export(self, names: list[str], target: str | Path, suffix: str | None = None) -> None:
        """Export in the background (one file, or many into a folder); ends with exportFinished."""
        from studio.gallery.export import export_format, export_image
        from studio.gallery.trash import free_name

        target = Path(target)
        jobs = []
        into_folder = not (len(names) == 1 and suffix is None)  # else `target` is the file the person chose
        if not into_folder:
            jobs.append((self.path(names[0]), target, self.info(names[0])))
        else:
            for name in names:
                jobs.append((self.path(name), target / (Path(name).stem + (suffix or ".png")), self.info(name)))
        try:
            for _, destination, _ in jobs:
                export_format(destination)
        except StudioError as exc:
            self.exportFinished.emit(str(exc))
            return

        def work(task: Task):
            written, errors = 0, []
            for source, destination, info in jobs:
                if task.cancelled:
                    break
                try:
                    export_image(source, free_name(destination) if into_folder else destination, info)
                    written += 1
                except StudioError as exc:
                    errors.append(str(exc))
            return written, errors

        self.tasks.submit(
            "export the images",
            work,
            done=lambda result: self._exported(result[0], result[1], str(target), into_folder),
            failed=self.exportFinished.emit,
        )

    def _exported(self, written: int, errors, target: str, into_folder: bool) -> None:
        message = f"Exported {written} image(s)"
        if errors:
            message += f"; {len(errors)} failed: {errors[0]}"
        self.exportFinished.emit(message)
        if written:
            self.exported.emit(message, target, into_folder)

    def import_paths(self, paths) -> None:
        """Copy image files and folders of images into the gallery in the background; ends with importFinished."""
        paths = [str(p) for p in paths]

        def work(task: Task):
            try:
                gallery = Gallery(self.data_dir, verify=False)  # its own connection: this is another thread
                try:
                    return gallery.import_paths(paths, progress=task.report, stop=task.stop), ""
                finally:
                    gallery.close()
            except OSError as exc:
                return ImportReport(), str(exc)

        if not self._closed:
            self.tasks.submit(
                "import the images",
                work,
                done=lambda result: self._imported(*result),
                failed=lambda message: self._imported(ImportReport(), message),
                progress=lambda done, todo: self.statusChanged.emit(f"Importing… {done:,} of {todo:,}"),
            )

    def _imported(self, report: ImportReport, error: str) -> None:
        if self._closed:
            return
        self.refresh()
        self.optionsChanged.emit()
        parts = [f"Imported {len(report.imported)} image{'s' if len(report.imported) != 1 else ''}"]
        if report.duplicates:
            parts.append(f"{len(report.duplicates)} already in the gallery")
        if report.skipped:
            shown = "; ".join(f"{display_name(Path(name).name)}: {why}" for name, why in report.skipped[:3])
            more = f"; and {len(report.skipped) - 3} more" if len(report.skipped) > 3 else ""
            parts.append(f"{len(report.skipped)} skipped: {shown}{more}")
        if error:
            parts.append(f"stopped: {error}")
        self.importFinished.emit(" · ".join(parts), list(report.imported))
