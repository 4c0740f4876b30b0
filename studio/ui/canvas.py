"""The canvas: shows one image, zoomed with the wheel, panned by dragging; fit or 1:1."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

MIN_ZOOM, MAX_ZOOM = 0.05, 32.0


class Canvas(QWidget):
    zoomChanged = Signal(float)
    firstPainted = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 200)
        self.setMouseTracking(True)
        self._image = QImage()
        self._zoom = 1.0
        self._offset = QPointF(0, 0)  # of the image's top-left corner, in widget pixels
        self._fit = True
        self._drag_from: QPointF | None = None
        self._painted = False
        self.placeholder = "Type a prompt and press Ctrl+Enter"

    @property
    def zoom(self) -> float:
        return self._zoom

    @property
    def image(self) -> QImage:
        return self._image

    def set_image(self, image: QImage) -> None:
        size_changed = image.size() != self._image.size()
        self._image = image
        if self._fit or size_changed:
            self.fit()
        else:
            self.update()

    def image_rect(self) -> QRectF:
        return QRectF(self._offset, self._image.size().toSizeF() * self._zoom)

    def fit(self) -> None:
        self._fit = True
        if self._image.isNull():
            self.update()
            return
        margin = 16
        w, h = self._image.width(), self._image.height()
        zoom = min((self.width() - 2 * margin) / w, (self.height() - 2 * margin) / h)
        self._set_zoom(max(MIN_ZOOM, min(MAX_ZOOM, zoom)))
        self._centre()

    def actual_size(self) -> None:
        self._fit = False
        self._set_zoom(1.0)
        self._centre()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        if self._image.isNull():
            return
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        old = self._zoom
        new = max(MIN_ZOOM, min(MAX_ZOOM, old * factor))
        image_point = (anchor - self._offset) / old
        self._fit = False
        self._set_zoom(new)
        self._offset = anchor - image_point * new
        self.update()

    def _set_zoom(self, zoom: float) -> None:
        if zoom != self._zoom:
            self._zoom = zoom
            self.zoomChanged.emit(zoom)

    def _centre(self) -> None:
        size = self._image.size().toSizeF() * self._zoom
        self._offset = QPointF((self.width() - size.width()) / 2, (self.height() - size.height()) / 2)
        self.update()

    def resizeEvent(self, event) -> None:
        if self._fit:
            self.fit()
        super().resizeEvent(event)

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_by(1.15**steps, event.position())
        event.accept()

    def mousePressEvent(self, event) -> None:
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            self._drag_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event) -> None:
        if self._drag_from is not None:
            self._offset += event.position() - self._drag_from
            self._drag_from = event.position()
            self._fit = False
            self.update()

    def mouseReleaseEvent(self, event) -> None:
        self._drag_from = None
        self.unsetCursor()

    def mouseDoubleClickEvent(self, event) -> None:
        self.fit()

    def paintEvent(self, event) -> None:
        self._paint()
        if not self._painted:
            self._painted = True
            self.firstPainted.emit()

    def _paint(self) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Base).darker(115))
        if self._image.isNull():
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        target = self.image_rect()
        painter.fillRect(target.adjusted(-1, -1, 1, 1), QColor(0, 0, 0, 90))
        painter.drawImage(target, self._image)
