"""Thumbnails for the gallery grid, loaded off the GUI thread and kept for the rows seen last.

A thumbnail is asked for only when the view paints its row. It is read from the disk
cache, or made (and cached), on a small thread pool, newest request first: what the view
shows now comes before rows scrolled past, and requests beyond PENDING_LIMIT are dropped.
The last PIXMAP_CACHE thumbnails stay in memory. A file that cannot be shown is remembered
as broken and not tried again. Large views (the panel's preview) are made on the same pool.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage, QPixmap

from studio.gallery.index import Row
from studio.gallery.thumbnails import cached_thumbnail, make_thumbnail, thumbnail_key

log = logging.getLogger(__name__)

THUMB_SIDE = 124  # shown in the grid; the disk cache keeps larger ones
PIXMAP_CACHE = 600  # thumbnails held in memory
PENDING_LIMIT = 240  # thumbnail requests kept; older ones (rows scrolled past) are dropped


def qimage_from_pil(image) -> QImage:
    image = image.convert("RGB")
    data = image.tobytes()
    return QImage(data, image.width, image.height, 3 * image.width, QImage.Format.Format_RGB888).copy()


def key_of(row: Row) -> str:
    return thumbnail_key(row.name, row.mtime_ns, row.size)


class _Bridge(QObject):
    """Carries results from pool threads to the GUI thread (queued signals)."""

    thumbnail = Signal(str, QImage)  # thumbnail key, image (null when the file cannot be shown)
    preview = Signal(object, QImage)  # name (a str that may hold undecodable bytes: never a QString), image


class _Run(QRunnable):
    def __init__(self, work):
        super().__init__()
        self.work = work

    def run(self) -> None:
        self.work()


class ThumbnailLoader(QObject):
    loaded = Signal(object)  # the name of an image whose thumbnail arrived (or turned out broken)
    previewReady = Signal(object, QImage)  # name, and the large view asked for with request_preview

    def __init__(self, path_of: Callable[[str], Path], cache: Path, parent: QObject | None = None):
        super().__init__(parent)
        self._path_of = path_of
        self._cache = cache
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()
        self._failed: set[str] = set()
        self._names: dict[str, str] = {}  # thumbnail key -> image name, for keys asked for
        self._pending: deque[tuple[str, Path]] = deque()
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, min(4, QThreadPool.globalInstance().maxThreadCount() - 1)))
        self._loaders = 0
        self._stop = threading.Event()
        self._bridge = _Bridge()
        self._bridge.thumbnail.connect(self._arrived)
        self._bridge.preview.connect(self.previewReady)

    def thumbnail(self, row: Row) -> QPixmap | None:
        """The thumbnail if it is in memory; else None, and it is asked for."""
        key = key_of(row)
        pixmap = self._pixmaps.get(key)
        if pixmap is not None:
            self._pixmaps.move_to_end(key)
            return pixmap
        if key not in self._failed:
            self._names[key] = row.name
            self._request(key, self._path_of(row.name))
        return None

    def is_broken(self, row: Row) -> bool:
        return key_of(row) in self._failed

    def is_ready(self, row: Row) -> bool:
        """Whether the thumbnail is in memory, or cannot be had."""
        key = key_of(row)
        return key in self._pixmaps or key in self._failed

    @property
    def idle(self) -> bool:
        """No thumbnail is waiting to be loaded."""
        return not self._queued

    def request_preview(self, name: str, side: int) -> None:
        """A large view of `name`, made on the pool; arrives as previewReady."""
        path = self._path_of(name)

        def work():
            try:
                image = qimage_from_pil(make_thumbnail(path, side))
            except (OSError, ValueError):  # a broken or too large file: the panel says it cannot be shown
                image = QImage()
            except Exception:
                log.exception("making a large view of %r failed", name)
                image = QImage()
            if not self._stop.is_set():
                self._bridge.preview.emit(name, image)

        if not self._stop.is_set():
            self._pool.start(_Run(work))

    def close(self) -> None:
        """Drop the waiting requests and wait (bounded) for the loads under way."""
        self._stop.set()
        with self._lock:
            self._pending.clear()
        self._pool.clear()
        self._pool.waitForDone(5000)

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
        if start and not self._stop.is_set():
            self._pool.start(_Run(self._load))

    def _load(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if not self._pending:
                    self._loaders -= 1
                    return
                key, path = self._pending.pop()  # newest request first: what the view shows now
            image = self._read(key, path)
            if not image.isNull():
                image = image.scaled(
                    THUMB_SIDE,
                    THUMB_SIDE,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            with self._lock:
                self._queued.discard(key)
            self._bridge.thumbnail.emit(key, image)
        with self._lock:
            self._loaders -= 1

    def _read(self, key: str, path: Path) -> QImage:
        """The thumbnail from the disk cache, made there if missing; made in memory only when
        the cache cannot be written (a read-only folder); null when the file cannot be shown."""
        try:
            try:
                file = cached_thumbnail(path, self._cache, key)
            except OSError:
                return qimage_from_pil(make_thumbnail(path))
            image = QImage(str(file))
            if image.isNull():  # a damaged cache file: make it again
                file.unlink(missing_ok=True)
                image = QImage(str(cached_thumbnail(path, self._cache, key)))
            return image
        except (OSError, ValueError):  # a broken or too large file: drawn as "cannot show"
            return QImage()
        except Exception:
            log.exception("making the thumbnail of %s failed", path)
            return QImage()

    def _arrived(self, key: str, image: QImage) -> None:
        if self._stop.is_set():
            return
        if image.isNull():
            self._failed.add(key)
        else:
            self._pixmaps[key] = QPixmap.fromImage(image)
            while len(self._pixmaps) > PIXMAP_CACHE:
                self._pixmaps.popitem(last=False)
        self.loaded.emit(self._names.pop(key, ""))
