"""The gallery as a list model: images newest first under day headings, thumbnails loaded lazily.

Rows are day headings and images. The listing comes from the gallery index at once (a
cache, so the first screen does not wait for the disk), and a background job brings the
index up to date with the files, again whenever the folder changes (a folder watch) or
the worker saves an image. Thumbnails are asked for only when the view paints a row;
they are read from the disk cache, or made, on a thread pool, newest request first, and
kept in memory for the rows seen last. Nothing here blocks the GUI thread on image I/O.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QAbstractListModel, QMimeData, QModelIndex, QObject, QRunnable, Qt, QThreadPool, QTimer, Signal
from PySide6.QtCore import QFileSystemWatcher
from PySide6.QtGui import QImage, QPixmap

from studio.errors import StudioError
from studio.gallery.files import display_name
from studio.gallery.index import Row
from studio.recipe.walker import ImageInfo
from studio.gallery.store import Gallery, ImportReport, SyncReport
from studio.gallery.thumbnails import cached_thumbnail, make_thumbnail, thumbnail_key
from studio.model.local_files import file_url

KIND_ROLE = Qt.ItemDataRole.UserRole + 1  # "day" or "image"
NAME_ROLE = Qt.ItemDataRole.UserRole + 2
FAVOURITE_ROLE = Qt.ItemDataRole.UserRole + 3
ROW_ROLE = Qt.ItemDataRole.UserRole + 4
COUNT_ROLE = Qt.ItemDataRole.UserRole + 5  # images under a day heading

THUMB_SIDE = 124  # shown in the grid; the disk cache keeps larger ones
PIXMAP_CACHE = 600  # thumbnails held in memory
PENDING_LIMIT = 240  # thumbnail requests kept; older ones (rows scrolled past) are dropped
WATCH_DELAY_MS = 400
FIRST_PAGE = 300  # rows listed at once on opening; the rest once the first screen's thumbnails are in
REST_DELAY_MS = 250  # ... or after this long, whichever comes first
AFTER_FIRST_SCREEN_MS = 30
SYNC_DELAY_MS = 300  # the first sync waits for the first screen when the index already lists images


@dataclass(frozen=True)
class DayHeading:
    day: date
    count: int

    @property
    def label(self) -> str:
        today = date.today()
        if self.day == today:
            name = "Today"
        elif self.day == today - timedelta(days=1):
            name = "Yesterday"
        elif self.day.year == today.year:
            name = f"{self.day:%A} {self.day.day} {self.day:%B}"
        else:
            name = f"{self.day.day} {self.day:%B %Y}"
        return f"{name} · {self.count}"


def _keys(items: list) -> list:
    return [item.day if type(item) is DayHeading else item[0] for item in items]  # a date, or an image name


def group_by_day(rows: list[Row]) -> list:
    """Rows (newest first) with a heading before each day's images."""
    out: list = []
    current: date | None = None
    day_starts = float("inf")  # local midnight of the current day: rows at or after it share the day
    start = 0
    for row in rows:
        if row[1] < day_starts:
            moment = datetime.fromtimestamp(row[1])
            day = moment.date()
            day_starts = moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
            if day != current:
                if current is not None:
                    out[start] = DayHeading(current, len(out) - start - 1)
                start = len(out)
                out.append(None)
                current = day
        out.append(row)
    if current is not None:
        out[start] = DayHeading(current, len(out) - start - 1)
    return out


def qimage_from_pil(image) -> QImage:
    image = image.convert("RGB")
    data = image.tobytes()
    return QImage(data, image.width, image.height, 3 * image.width, QImage.Format.Format_RGB888).copy()


class _Bridge(QObject):
    """Carries results from pool threads to the GUI thread (queued signals)."""

    thumbnail = Signal(str, QImage)  # thumbnail key, image (null when the file cannot be shown)
    preview = Signal(object, QImage)  # name (a str that may hold undecodable bytes: never a QString), image
    synced = Signal(object)  # SyncReport, or a message when the index could not be updated
    progress = Signal(int, int)
    exported = Signal(int, object)  # files written, error messages
    importing = Signal(int, int)  # files done, files in all
    imported = Signal(object, str)  # ImportReport, and a message when the import stopped on an error


class _Task(QRunnable):
    def __init__(self, work):
        super().__init__()
        self.work = work

    def run(self) -> None:
        self.work()


class GalleryModel(QAbstractListModel):
    countChanged = Signal(int)  # images listed (after filters)
    statusChanged = Signal(str)  # indexing progress, skipped files
    optionsChanged = Signal()  # the models and sizes to filter by changed
    previewReady = Signal(object, QImage)  # name, and a large view of it asked for with request_preview
    exportFinished = Signal(str)  # a message for the person
    importFinished = Signal(str, object)  # a message for the person, the names imported (a list)
    synced = Signal()  # a sync of the index with the files has finished

    def __init__(self, data: Path, parent=None):
        super().__init__(parent)
        self.data_dir = Path(data)
        self.gallery = Gallery(self.data_dir, verify=False, rebuild=False)  # the background sync verifies and rebuilds it
        self.folder = self.gallery.folder
        self._items: list = []
        self._positions: dict[str, int] = {}  # image name -> row
        self._names: dict[str, str] = {}  # thumbnail key -> image name, for keys asked for
        self._filters: dict = {}
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()
        self._failed: set[str] = set()
        self._pending: deque[tuple[str, Path]] = deque()
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, min(4, QThreadPool.globalInstance().maxThreadCount() - 1)))
        self._loaders = 0
        self._stop = threading.Event()
        self._bridge = _Bridge()
        self._bridge.thumbnail.connect(self._thumbnail_loaded)
        self._bridge.preview.connect(self.previewReady)
        self._bridge.synced.connect(self._synced)
        self._sync_said = ""  # what the sync last put in the status line; it clears only its own words
        self._bridge.progress.connect(lambda done, todo: self._say_sync(f"Indexing… {done:,} of {todo:,} new images"))
        self._bridge.exported.connect(self._exported)
        self._bridge.importing.connect(lambda done, todo: self.statusChanged.emit(f"Importing… {done:,} of {todo:,}"))
        self._bridge.imported.connect(self._imported)
        self._background: Gallery | None = None
        self._syncing = False
        self._sync_again = False
        self._watcher: QFileSystemWatcher | None = None
        self._watch_timer = QTimer(self, singleShot=True, interval=WATCH_DELAY_MS)
        self._watch_timer.timeout.connect(self.sync)
        self._closed = False
        self._said_unsaved = False  # a read-only folder or a full disk is said once
        self._rest_timer = QTimer(self, singleShot=True, interval=REST_DELAY_MS)
        self._rest_timer.timeout.connect(self._list_the_rest)
        self._rest_pending = False
        self.skipped: list[tuple[str, str]] = []

    # Qt model interface.
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._items):
            return None
        item = self._items[index.row()]
        if isinstance(item, DayHeading):
            if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
                return item.label
            if role == KIND_ROLE:
                return "day"
            if role == COUNT_ROLE:
                return item.count
            return None
        if role == KIND_ROLE:
            return "image"
        if role == NAME_ROLE:
            return item.name
        if role == ROW_ROLE:
            return item
        if role == FAVOURITE_ROLE:
            return item.favourite
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnail(item)
        if role == Qt.ItemDataRole.ToolTipRole:
            seed = "" if item.seed is None else f"\nseed {item.seed}"
            return f"{item.prompt or '(no recipe)'}\n{item.width}×{item.height}{seed}"
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return item.prompt or display_name(item.name)
        return None

    def flags(self, index: QModelIndex):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if isinstance(self._items[index.row()], DayHeading):
            return Qt.ItemFlag.ItemIsEnabled
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes) -> QMimeData:
        mime = QMimeData()
        names = [self.name_at(i.row()) for i in sorted(indexes, key=lambda i: i.row())]
        mime.setUrls([file_url(self.path(n)) for n in names if n])
        return mime

    def supportedDragActions(self):
        return Qt.DropAction.CopyAction

    # Rows.
    def name_at(self, row: int) -> str | None:
        item = self._items[row] if 0 <= row < len(self._items) else None
        return item.name if isinstance(item, Row) else None

    def is_heading(self, row: int) -> bool:
        return 0 <= row < len(self._items) and type(self._items[row]) is DayHeading

    def item(self, row: int):
        """The DayHeading or Row at `row` (for the delegate, without a round trip through Qt)."""
        return self._items[row] if 0 <= row < len(self._items) else None

    def row_of(self, name: str) -> int:
        return self._positions.get(name, -1)

    def image_count(self) -> int:
        return sum(1 for item in self._items if isinstance(item, Row))

    def path(self, name: str) -> Path:
        return self.gallery.path(name)

    def info(self, name: str) -> ImageInfo | None:
        return self.gallery.info(name)

    def entry(self, name: str) -> Row | None:
        row = self.row_of(name)
        return self._items[row] if row >= 0 else None

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
        self._closed = True
        self._stop.set()
        self._watch_timer.stop()
        if self._watcher is not None:
            self._watcher.removePaths(self._watcher.directories())
        with self._lock:
            self._pending.clear()
        self._pool.clear()
        self._pool.waitForDone(5000)
        self.gallery.close()
        if self._background is not None:
            self._background.close()

    def sync(self) -> None:
        """Bring the index up to date with the files in the background (once at a time)."""
        if self._closed:
            return
        if self._syncing:
            self._sync_again = True
            return
        self._syncing = True
        self._pool.start(_Task(self._sync_in_background))

    def _sync_in_background(self) -> None:
        try:
            first = self._background is None
            if first:
                self._background = Gallery(self.data_dir)
                self._background.purge_trash()  # batches deleted more than 30 days ago
            report = self._background.sync(progress=self._bridge.progress.emit, stop=self._stop)
            if first and not self._stop.is_set():
                self._background.prune_thumbnails()  # of images gone since the last session
        except StudioError as exc:
            report = str(exc)
        except Exception as exc:  # never let the pool thread die with an exception
            report = f"cannot update the gallery index: {exc}"
        if not self._stop.is_set():
            self._bridge.synced.emit(report)

    def _synced(self, report) -> None:
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
                self.statusChanged.emit(f"{report.unsaved[:1].upper()}{report.unsaved[1:]}: changes to the gallery cannot be saved")
            self._say_sync(self._status())
        else:
            self._say_sync(str(report))
        self.synced.emit()
        if self._sync_again:
            self._sync_again = False
            self.sync()

    def _say_sync(self, text: str) -> None:
        if text != self._sync_said:
            self._sync_said = text
            self.statusChanged.emit(text)

    def _status(self) -> str:
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

    # Filters and listing.
    def set_filters(self, search: str = "", model: str | None = None, size: tuple[int, int] | None = None,
                    favourites: bool = False, since: float | None = None) -> None:
        filters = {"search": search, "model": model, "size": size, "favourites": favourites, "since": since}
        if filters != self._filters:
            self._filters = filters
            self.refresh()

    @property
    def filters(self) -> dict:
        return dict(self._filters)

    def models(self) -> list[str]:
        try:
            return self.gallery.models()
        except StudioError:
            return []

    def sizes(self) -> list[tuple[int, int]]:
        try:
            return self.gallery.sizes()
        except StudioError:
            return []

    def refresh(self, first_page: bool = False, rest: bool = False) -> None:
        """Query the index again and change only the rows that differ (selection and scroll stay).

        With `first_page`, the newest rows are listed first and the rest once the thumbnails
        of the first screen have arrived, so the first screen does not wait for a long listing.
        """
        if self._closed:
            return
        self._rest_pending = False
        self._rest_timer.stop()
        try:
            rows = self.gallery.query(**self._filters, limit=FIRST_PAGE if first_page else None)
        except Exception as exc:
            self.statusChanged.emit(f"cannot read the gallery index: {exc}")
            rows = []
        if self.gallery.needs_sync:  # it was damaged and started afresh: read the files again
            self.sync()
        if first_page and len(rows) == FIRST_PAGE:
            self._apply(group_by_day(rows))  # the last heading's count is made right by the full listing
            self._rest_pending = True
            self._rest_timer.start()
            return
        self._apply(group_by_day(rows))
        self.countChanged.emit(len(rows))
        if first_page or rest:
            self.optionsChanged.emit()

    def _list_the_rest(self) -> None:
        if self._rest_pending and not self._closed:
            self.refresh(rest=True)

    @property
    def listing_complete(self) -> bool:
        return not self._rest_pending

    def _apply(self, new: list) -> None:
        old = self._items
        if not old:
            if new:
                self.beginInsertRows(QModelIndex(), 0, len(new) - 1)
                self._items = new
                self.endInsertRows()
                self._positions = {item[0]: i for i, item in enumerate(new) if type(item) is Row}
            return
        old_keys, new_keys = _keys(old), _keys(new)
        start = 0
        limit = min(len(old), len(new))
        while start < limit and old_keys[start] == new_keys[start]:
            start += 1
        end = 0
        while end < limit - start and old_keys[-1 - end] == new_keys[-1 - end]:
            end += 1
        if start < len(old) - end:
            self.beginRemoveRows(QModelIndex(), start, len(old) - end - 1)
            self._items = old[:start] + old[len(old) - end :]
            self.endRemoveRows()
        if start < len(new) - end:
            self.beginInsertRows(QModelIndex(), start, len(new) - end - 1)
            self._items = self._items[:start] + new[start : len(new) - end] + self._items[start:]
            self.endInsertRows()
        changed = [i for i in range(len(new)) if i < len(self._items) and self._items[i] != new[i]]
        self._items = new
        self._positions = {item[0]: i for i, item in enumerate(new) if type(item) is Row}
        if changed:
            self.dataChanged.emit(self.index(changed[0]), self.index(changed[-1]))

    # Thumbnails.
    def thumbnail(self, row: Row) -> QPixmap | None:
        key = thumbnail_key(row.name, row.mtime_ns, row.size)
        pixmap = self._pixmaps.get(key)
        if pixmap is not None:
            self._pixmaps.move_to_end(key)
            return pixmap
        if key not in self._failed:
            self._names[key] = row.name
            self._request(key, self.path(row.name))
        return None

    def is_broken(self, row: Row) -> bool:
        return thumbnail_key(row.name, row.mtime_ns, row.size) in self._failed

    def _request(self, key: str, path: Path) -> None:
        with self._lock:
            if key in self._queued:
                return
            self._queued.add(key)
            self._pending.append((key, path))
            while len(self._pending) > PENDING_LIMIT:
                old, _ = self._pending.popleft()
                self._queued.discard(old)
            start = self._loaders < self._pool.maxThreadCount()
            if start:
                self._loaders += 1
        if start and not self._closed:
            self._pool.start(_Task(self._load_thumbnails))

    def _load_thumbnails(self) -> None:
        cache = self.gallery.thumbnails
        while not self._stop.is_set():
            with self._lock:
                if not self._pending:
                    self._loaders -= 1
                    return
                key, path = self._pending.pop()  # newest request first: what the view shows now
            image = QImage()
            try:
                file = cached_thumbnail(path, cache, key)
                image = QImage(str(file))
                if image.isNull():  # a damaged cache file: make it again
                    file.unlink(missing_ok=True)
                    image = QImage(str(cached_thumbnail(path, cache, key)))
            except Exception:
                try:  # the cache cannot be written (a read-only folder): made in memory only
                    image = qimage_from_pil(make_thumbnail(path))
                except Exception:
                    image = QImage()
            if not image.isNull():
                image = image.scaled(THUMB_SIDE, THUMB_SIDE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            with self._lock:
                self._queued.discard(key)
            self._bridge.thumbnail.emit(key, image)
        with self._lock:
            self._loaders -= 1

    def _thumbnail_loaded(self, key: str, image: QImage) -> None:
        if self._closed:
            return
        if image.isNull():
            self._failed.add(key)
        else:
            self._pixmaps[key] = QPixmap.fromImage(image)
            while len(self._pixmaps) > PIXMAP_CACHE:
                self._pixmaps.popitem(last=False)
        position = self._positions.get(self._names.pop(key, ""), -1)
        if position >= 0:
            index = self.index(position)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])
        if self._rest_pending and self._rest_timer.isActive() and not self._queued:  # the first screen is complete
            self._rest_timer.start(AFTER_FIRST_SCREEN_MS)  # time to paint it first

    def thumbnails_ready(self, rows: list[int]) -> bool:
        """Whether every image among these rows has its thumbnail in memory (or cannot have one)."""
        for position in rows:
            item = self._items[position]
            if isinstance(item, Row):
                key = thumbnail_key(item.name, item.mtime_ns, item.size)
                if key not in self._pixmaps and key not in self._failed:
                    return False
        return True

    def request_preview(self, name: str, side: int) -> None:
        """A large view of `name`, made off the GUI thread; arrives as previewReady."""
        path = self.path(name)

        def work():
            try:
                image = qimage_from_pil(make_thumbnail(path, side))
            except Exception:
                image = QImage()
            if not self._stop.is_set():
                self._bridge.preview.emit(name, image)

        if not self._closed:
            self._pool.start(_Task(work))

    # Changes a person makes.
    def set_favourite(self, names: list[str], favourite: bool) -> None:
        try:
            self.gallery.set_favourite(names, favourite)
        except StudioError as exc:
            self.statusChanged.emit(str(exc))
        self.refresh()

    def delete(self, names: list[str]):
        """Move the images to the trash; returns the batch to pass to `undo_delete`."""
        try:
            batch = self.gallery.delete(names)
        except StudioError as exc:
            self.statusChanged.emit(str(exc))
            return None
        self.refresh()
        self.optionsChanged.emit()
        return batch

    def undo_delete(self, batch) -> list[str]:
        return self._put_back(lambda: self.gallery.restore(batch), "undo the delete")

    def restore_trash(self) -> list[str]:
        """Put back every image in the trash; returns their names."""
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
        try:
            return self.gallery.purge_trash(days=0)
        except OSError as exc:
            self.statusChanged.emit(f"cannot empty the trash: {exc}")
            return 0

    def trash_count(self) -> int:
        return self.gallery.trash.count()

    def export(self, names: list[str], target: str | Path, suffix: str | None = None) -> None:
        """Export in the background (one file, or many into a folder); ends with exportFinished."""
        from studio.gallery.export import export_format, export_image
        from studio.gallery.trash import free_name

        target = Path(target)
        jobs = []
        if len(names) == 1 and suffix is None:
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

        def work():
            written, errors = 0, []
            for source, destination, info in jobs:
                try:
                    export_image(source, free_name(destination) if len(jobs) > 1 else destination, info)
                    written += 1
                except StudioError as exc:
                    errors.append(str(exc))
            self._bridge.exported.emit(written, errors)

        self._pool.start(_Task(work))

    def import_paths(self, paths) -> None:
        """Copy image files and folders of images into the gallery in the background; ends with importFinished."""
        paths = [str(p) for p in paths]

        def work():
            report, error = ImportReport(), ""
            try:
                gallery = Gallery(self.data_dir, verify=False)  # its own connection: this is another thread
                try:
                    report = gallery.import_paths(paths, progress=self._bridge.importing.emit, stop=self._stop)
                finally:
                    gallery.close()
            except (StudioError, OSError) as exc:
                error = str(exc)
            if not self._stop.is_set():
                self._bridge.imported.emit(report, error)

        if not self._closed:
            self._pool.start(_Task(work))

    def _imported(self, report, error: str) -> None:
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

    def _exported(self, written: int, errors) -> None:
        message = f"Exported {written} image(s)"
        if errors:
            message += f"; {len(errors)} failed: {errors[0]}"
        self.exportFinished.emit(message)
