"""The gallery's listing as a Qt list model: images newest first under day headings, filtered.

Rows are day headings and images, as the gallery index lists them for the filters set.
Opening lists the newest FIRST_PAGE rows at once and the rest once the first screen's
thumbnails are in (or after REST_DELAY_MS), so a long gallery does not hold up the first
paint. A new listing changes only the rows that differ, so selection and scroll stay.
Thumbnails come from a ThumbnailLoader, asked for as the view paints each row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QAbstractListModel, QMimeData, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap

from studio.errors import StudioError
from studio.gallery.files import display_name
from studio.gallery.index import Row
from studio.gallery.store import Gallery
from studio.model.local_files import file_url
from studio.model.thumbnail_loader import ThumbnailLoader
from studio.recipe.walker import ImageInfo

log = logging.getLogger(__name__)

KIND_ROLE = Qt.ItemDataRole.UserRole + 1  # "day" or "image"
NAME_ROLE = Qt.ItemDataRole.UserRole + 2
FAVOURITE_ROLE = Qt.ItemDataRole.UserRole + 3
ROW_ROLE = Qt.ItemDataRole.UserRole + 4
COUNT_ROLE = Qt.ItemDataRole.UserRole + 5  # images under a day heading

FIRST_PAGE = 300  # rows listed at once on opening; the rest once the first screen's thumbnails are in
REST_DELAY_MS = 250  # ... or after this long, whichever comes first
AFTER_FIRST_SCREEN_MS = 30


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


class GalleryListing(QAbstractListModel):
    countChanged = Signal(int)  # images listed (after filters)
    statusChanged = Signal(str)  # a line for the person: progress, skipped files, what went wrong
    optionsChanged = Signal()  # the models and sizes to filter by changed
    previewReady = Signal(object, QImage)  # name, and a large view of it asked for with request_preview

    def __init__(self, gallery: Gallery, parent=None):
        super().__init__(parent)
        self.gallery = gallery
        self.folder = gallery.folder
        self._items: list = []
        self._positions: dict[str, int] = {}  # image name -> row
        self._filters: dict = {}
        self._closed = False
        self.thumbnail_loader = ThumbnailLoader(lambda name: self.gallery.path(name), gallery.thumbnails, self)
        self.thumbnail_loader.loaded.connect(self._thumbnail_loaded)
        self.thumbnail_loader.previewReady.connect(self.previewReady)
        self._rest_timer = QTimer(self, singleShot=True, interval=REST_DELAY_MS)
        self._rest_timer.timeout.connect(self._list_the_rest)
        self._rest_pending = False

    # Qt model interface.
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 (Qt's own signature)
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

    # Filters and listing.
    def set_filters(
        self,
        search: str = "",
        model: str | None = None,
        size: tuple[int, int] | None = None,
        favourites: bool = False,
        since: float | None = None,
    ) -> None:
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
        except StudioError as exc:
            self.statusChanged.emit(f"cannot read the gallery index: {exc}")
            rows = []
        except Exception as exc:
            log.exception("listing the gallery failed")
            self.statusChanged.emit(f"cannot read the gallery index: {exc}")
            rows = []
        self._queried()
        if first_page and len(rows) == FIRST_PAGE:
            self._apply(group_by_day(rows))  # the last heading's count is made right by the full listing
            self._rest_pending = True
            self._rest_timer.start()
            return
        self._apply(group_by_day(rows))
        self.countChanged.emit(len(rows))
        if first_page or rest:
            self.optionsChanged.emit()

    def _queried(self) -> None:
        """Called after each query of the index (the gallery model syncs a damaged one)."""

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
        return self.thumbnail_loader.thumbnail(row)

    def is_broken(self, row: Row) -> bool:
        return self.thumbnail_loader.is_broken(row)

    def thumbnails_ready(self, rows: list[int]) -> bool:
        """Whether every image among these rows has its thumbnail in memory (or cannot have one)."""
        return all(self.thumbnail_loader.is_ready(item) for item in map(self.item, rows) if isinstance(item, Row))

    def request_preview(self, name: str, side: int) -> None:
        """A large view of `name`, made off the GUI thread; arrives as previewReady."""
        if not self._closed:
            self.thumbnail_loader.request_preview(name, side)

    def _thumbnail_loaded(self, name: str) -> None:
        if self._closed:
            return
        position = self._positions.get(name, -1)
        if position >= 0:
            index = self.index(position)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])
        if (
            self._rest_pending and self._rest_timer.isActive() and self.thumbnail_loader.idle
        ):  # the first screen is complete
            self._rest_timer.start(AFTER_FIRST_SCREEN_MS)  # time to paint it first

    def close(self) -> None:
        """Stop listing and loading thumbnails (bounded wait); the model is done afterwards."""
        self._closed = True
        self._rest_timer.stop()
        self.thumbnail_loader.close()
