"""The gallery's grid: thumbnails under day headings, drawn by a delegate, and the drag and
drop that carries an image from it onto the canvas; plus revealing a file in the file manager."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QColor, QDesktopServices, QFont, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QWidget

from studio.model.local_files import file_url, local_path
from studio.model.thumbnail_loader import THUMB_SIDE
from studio.ui.theme import ACCENT

if TYPE_CHECKING:
    from studio.model.gallery_listing import GalleryListing

MIN_CELL = 100  # cells grow from this to fill the grid's width exactly
MAX_CELL = THUMB_SIDE + 8
FILE_MANAGER = "org.freedesktop.FileManager1"
HEADING_HEIGHT = 30
SPACING = 3
STAR = "★"


def image_path_from(mime) -> str | None:
    """The first local image file among dragged URLs, if any."""
    if mime is None or not mime.hasUrls():
        return None
    for url in mime.urls():
        path = local_path(url)
        if path and Path(path).suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):
            return path
    return None


class _DropOpener(QObject):
    """Lets a widget take image files dropped on it (from the gallery or a file manager)."""

    def __init__(self, widget: QWidget, callback):
        super().__init__(widget)
        self.callback = callback
        widget.setAcceptDrops(True)
        widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and image_path_from(event.mimeData()):
            event.acceptProposedAction()
            return True
        if kind == QEvent.Type.Drop:
            path = image_path_from(event.mimeData())
            if path:
                event.acceptProposedAction()
                self.callback(path)
                return True
        return False


def install_drop_opener(widget: QWidget, callback) -> QObject:
    """Make `widget` open image files dropped on it with `callback(path)`."""
    return _DropOpener(widget, callback)


def reveal_in_file_manager(path: str) -> None:
    """Show the file, selected, in the system's file manager (on Linux through the file
    manager's D-Bus service; without one, its folder is opened)."""
    from PySide6.QtCore import QProcess

    if sys.platform == "darwin":
        QProcess.startDetached("open", ["-R", path])
    elif sys.platform.startswith("win"):
        QProcess.startDetached("explorer", [f"/select,{Path(path)}"])
    elif not show_items_over_dbus(path):
        QDesktopServices.openUrl(file_url(os.path.dirname(os.path.abspath(path))))


def show_items_over_dbus(path: str, bus=None) -> bool:
    """Ask the freedesktop FileManager1 service (Nautilus, Dolphin, Nemo, Caja, Thunar...) to show
    the file selected; False when the session bus has no such service. Does not wait for it."""
    from PySide6.QtDBus import QDBusConnection, QDBusMessage

    bus = bus if bus is not None else QDBusConnection.sessionBus()
    if not bus.isConnected():
        return False
    names = bus.interface().registeredServiceNames().value() or []
    if FILE_MANAGER not in names:
        names = bus.interface().activatableServiceNames().value() or []
    if FILE_MANAGER not in names:
        return False
    call = QDBusMessage.createMethodCall(FILE_MANAGER, "/org/freedesktop/FileManager1", FILE_MANAGER, "ShowItems")
    call.setArguments([[bytes(file_url(path).toEncoded().data()).decode("ascii")], ""])
    bus.asyncCall(call)
    return True


class GalleryDelegate(QStyledItemDelegate):
    """Day headings across the grid's width; thumbnails with selection ring and favourite star."""

    def __init__(self, view: GalleryView):
        super().__init__(view)
        self.view = view

    def sizeHint(self, option, index) -> QSize:
        model = self.view.gallery_model
        if model is not None and model.is_heading(index.row()):
            return QSize(max(MIN_CELL, self.view.viewport().width() - 2 * SPACING - 2), HEADING_HEIGHT)
        side = self.view.cell_side()
        return QSize(side, side)

    def paint(self, painter: QPainter, option, index) -> None:
        palette = option.palette
        model = self.view.gallery_model
        if model is None:
            return
        item = model.item(index.row())
        if item is None:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        if model.is_heading(index.row()):
            font = QFont(option.font)
            font.setBold(True)
            painter.setFont(font)
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            text_rect = option.rect.adjusted(4, 6, -4, 0)
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, item.label)
            painter.restore()
            return
        rect = option.rect.adjusted(2, 2, -2, -2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.color(QPalette.ColorRole.AlternateBase))
        painter.drawRoundedRect(rect, 6, 6)
        pixmap = model.thumbnail(item)
        inner = rect.adjusted(2, 2, -2, -2)
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            size = pixmap.size().scaled(inner.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(QPoint(0, 0), size)
            target.moveCenter(inner.center())
            painter.drawPixmap(target, pixmap)
        else:
            broken = model.is_broken(item)
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(inner, Qt.AlignmentFlag.AlignCenter, "cannot show" if broken else "")
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        if selected or hovered:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(QColor(ACCENT), 3 if selected else 1))
            painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 6, 6)
        if item.favourite:
            badge = QRect(rect.right() - 24, rect.top() + 4, 20, 20)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(0, 0, 0, 150))
            painter.drawEllipse(badge)
            painter.setPen(QColor("#ffd24a"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, STAR)
        painter.restore()


class GalleryView(QListView):
    """The grid: wraps left to right, lays out in batches, drags files out."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("galleryGrid")
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(300)
        self.setSpacing(SPACING)
        self.setUniformItemSizes(False)
        self.setMovement(QListView.Movement.Static)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.verticalScrollBar().setSingleStep(24)
        self.setMouseTracking(True)
        self.gallery_model: GalleryListing | None = None
        self.empty_text = "The pictures you make appear here"
        self.setItemDelegate(GalleryDelegate(self))

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        model = self.model()
        if model is not None and model.rowCount() == 0 and self.empty_text:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            area = self.viewport().rect().adjusted(16, 16, -16, -16)
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text)
            painter.end()

    def cell_side(self) -> int:
        """The side of a thumbnail cell: as many columns as fit, widened to fill the row."""
        width = self.viewport().width() - 2 * SPACING - 1
        columns = max(1, width // (MIN_CELL + 2 * SPACING))  # QListView puts the spacing on both sides of a cell
        return max(MIN_CELL, min(MAX_CELL + 24, width // columns - 2 * SPACING))

    def setModel(self, model) -> None:
        self.gallery_model = model  # the delegate asks it directly: no round trip through Qt per cell
        super().setModel(model)

    def visible_rows(self) -> list[int]:
        """Rows whose cells show in the viewport now."""
        model = self.model()
        if model is None or model.rowCount() == 0:
            return []
        area = self.viewport().rect()
        first = self.indexAt(QPoint(SPACING + 4, SPACING + 4))
        start = first.row() if first.isValid() else 0
        rows = []
        for row in range(start, model.rowCount()):
            rect = self.visualRect(model.index(row, 0))
            if rect.top() > area.bottom():
                break
            if rect.intersects(area):
                rows.append(row)
        return rows
