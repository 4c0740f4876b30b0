"""The canvas: shows one image, zoomed with the wheel, panned by dragging; fit or 1:1.

When editing is on (`set_edit`), it also has handles on its edges and corners that grow or
crop back the canvas, shows the unfilled new area as a checkerboard and, while a handle is
dragged, the zones the job will use; with the brush or eraser it paints the inpainting mask.
It only asks for changes (signals); the edit model decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from studio.engine.geometry import Rect
from studio.ui.handles import CURSORS, HANDLES, Proposal, drag_extension, handle_at
from studio.ui.overlay import (
    BAND_COLOUR,
    CONTEXT_COLOUR,
    NEW_COLOUR,
    checker_brush,
    draw_brush_cursor,
    draw_checker,
    draw_handles,
    draw_legend,
    draw_stroke,
    draw_zones,
    legend_corner,
    legend_size,
)

if TYPE_CHECKING:
    from studio.engine.zones import Zones

MIN_ZOOM, MAX_ZOOM = 0.05, 32.0
EDGE = 24  # widget px: a handle dragged this close to the view's edge (or past it) scrolls the view
MAX_SCROLL = 10  # widget px per 16 ms tick, reached EDGE px past the edge
TOOLS = ("extend", "brush", "eraser")


@dataclass
class _Resize:
    handle: str
    start: QPointF
    extend: tuple[int, int, int, int]
    proposal: Proposal
    fine: bool = True
    scrolled: bool = False


class Canvas(QWidget):
    zoomChanged = Signal(float)
    firstPainted = Signal()
    extendRequested = Signal(int, int, int, int)  # left, top, right, bottom beyond the picture
    stroked = Signal(object, float, bool)  # points (canvas px), radius (canvas px), erase
    refused = Signal(str)
    flipRequested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 200)
        self.setMouseTracking(True)
        self._image = QImage()
        self._size = QSize()  # what the image stands for, in canvas px: a step preview is drawn at its picture's size
        self._zoom = 1.0
        self._offset = QPointF(0, 0)  # of the image's top-left corner, in widget pixels
        self._fit = True
        self._drag_from: QPointF | None = None
        self._painted = False
        self.placeholder = "Type a prompt and press Ctrl+Enter"
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._editing = False  # showing a picture being edited (handles or not), not a plain image
        self._floor: QRect | None = None  # where the committed picture sits; None: not editable now
        self._mask: QImage | None = None
        self.tool = "extend"
        self.brush_size = 32  # diameter, canvas px
        self.zone_planner: Callable[[tuple[int, int, int, int]], Zones | None] | None = None
        self._resize: _Resize | None = None
        self._stroke: list[QPointF] | None = None
        self._hover: str | None = None
        self._pointer: QPointF | None = None
        self._checker = checker_brush()
        self._autoscroll = QTimer(self)
        self._autoscroll.setInterval(16)
        self._autoscroll.timeout.connect(self._scroll_while_dragging)

    @property
    def zoom(self) -> float:
        return self._zoom

    @property
    def image(self) -> QImage:
        return self._image

    def set_image(self, image: QImage) -> None:
        """Show a plain image: not editable."""
        self._editing = False
        self._floor = self._mask = None
        self._resize = self._stroke = self._hover = None
        self._update_cursor()
        self._show(image)

    def show_preview(self, image: QImage, size: QSize) -> None:
        """Show a step preview of the picture being made: `image` (the model's guess, often smaller)
        drawn at the picture's `size` and with the room around it the picture will have, so that the
        view and its zoom stay as they are when the picture arrives. Not editable."""
        self._editing = True
        self._floor = self._mask = None
        self._resize = self._stroke = self._hover = None
        self._update_cursor()
        self._show(image, size)

    def _show(self, image: QImage, size: QSize | None = None) -> None:
        size = size if size is not None and not size.isEmpty() else image.size()
        size_changed = size != self._size
        self._image, self._size = image, size
        if self._fit or size_changed:
            self.fit()
        else:
            self.update()

    def set_edit(self, image: QImage, floor: Rect | None, mask: QImage | None = None) -> None:
        """Show an editable canvas: `floor` is where the committed picture sits in `image` (None: not
        editable now), `mask` the brush mask drawn over it. Growing or cropping keeps the picture still."""
        self._editing = True
        old = self._floor
        rect = None if floor is None else QRect(floor.x, floor.y, floor.width, floor.height)
        shift = None
        if rect is not None and old is not None and rect.size() == old.size() and not self._image.isNull():
            shift = rect.topLeft() - old.topLeft()
        self._floor, self._mask = rect, mask
        if rect is None:
            self._resize = self._stroke = self._hover = None
            self._update_cursor()
        if shift is not None and image.size() != self._size:
            self._image, self._size = image, image.size()
            self._offset -= QPointF(shift) * self._zoom
            if self._fit and not self._fits():
                self.fit()
            else:
                self.update()
        else:
            self._show(image)

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self.tool = tool
        self._hover = None
        self._update_cursor()
        self.update()

    @property
    def editable(self) -> bool:
        return self._floor is not None and not self._image.isNull()

    @property
    def extension(self) -> tuple[int, int, int, int]:
        """How far the canvas reaches beyond the picture: left, top, right, bottom."""
        if self._floor is None:
            return (0, 0, 0, 0)
        f = self._floor
        return (
            f.left(),
            f.top(),
            self._size.width() - f.left() - f.width(),
            self._size.height() - f.top() - f.height(),
        )

    @property
    def dragging(self) -> bool:
        return self._resize is not None

    def image_rect(self) -> QRectF:
        return QRectF(self._offset, self._size.toSizeF() * self._zoom)

    def to_image(self, pos: QPointF) -> QPointF:
        """A widget point in canvas pixels."""
        return (pos - self._offset) / self._zoom

    def floor_rect(self) -> QRectF:
        """Where the committed picture is drawn, in widget px."""
        f = self._floor or QRect(QPoint(0, 0), self._size)
        return QRectF(self._offset + QPointF(f.topLeft()) * self._zoom, f.size().toSizeF() * self._zoom)

    def _margin(self) -> float:
        """Room around a fitted image; more while editing, to leave room for dragging the handles out."""
        return 16 + (0.15 * min(self.width(), self.height()) if self._editing else 0)

    def _fits(self) -> bool:
        rect, margin = self.image_rect(), self._margin() / 2
        return self.rect().toRectF().adjusted(margin, margin, -margin, -margin).contains(rect)

    def fit(self) -> None:
        self._fit = True
        if self._image.isNull():
            self.update()
            return
        margin = self._margin()
        w, h = self._size.width(), self._size.height()
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
        size = self._size.toSizeF() * self._zoom
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
        pos = event.position()
        if event.button() == Qt.MouseButton.LeftButton and self.editable:
            if self.tool == "extend":
                handle = handle_at(self.image_rect(), pos)
                if handle is not None:
                    assert self._floor is not None  # editable
                    extend = self.extension
                    base = (self._floor.width(), self._floor.height())
                    self._resize = _Resize(
                        handle,
                        pos,
                        extend,
                        Proposal(extend, (base[0] + extend[0] + extend[2], base[1] + extend[1] + extend[3])),
                    )
                    self.update()
                    return
            else:
                self._stroke = [self.to_image(pos)]
                self.update()
                return
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            self._drag_from = pos
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        self._pointer = pos
        if self._resize is not None:
            self._resize.fine = not event.modifiers() & Qt.KeyboardModifier.ShiftModifier
            self._propose(self._resize, pos)
            if self._edge_velocity(self._resize, pos).isNull():
                self._autoscroll.stop()
            elif not self._autoscroll.isActive():
                self._autoscroll.start()
        elif self._stroke is not None:
            self._stroke.append(self.to_image(pos))
            self.update()
        elif self._drag_from is not None:
            self._offset += pos - self._drag_from
            self._drag_from = pos
            self._fit = False
            self.update()
        else:
            self._hover = handle_at(self.image_rect(), pos) if self.editable and self.tool == "extend" else None
            self._update_cursor()
            if self.tool != "extend" or self._hover is not None:
                self.update()

    def _propose(self, r: _Resize, pos: QPointF) -> None:
        floor = self._floor
        assert floor is not None  # a drag ends whenever the canvas stops being editable
        delta = (pos - r.start) / self._zoom
        r.proposal = drag_extension(r.extend, r.handle, delta, (floor.width(), floor.height()), r.fine)
        self.update()

    def _edge_velocity(self, r: _Resize, pos: QPointF) -> QPointF:
        """How far the view scrolls per tick for a pointer at `pos` while `r` is dragged: towards the edge
        it is near, faster the closer it gets and the further past; only along the axes the handle moves."""
        sx, sy = HANDLES[r.handle]

        def speed(value: float, length: int, direction: int) -> float:
            if direction < 0 and value < EDGE:
                return -MAX_SCROLL * min(1.0, (EDGE - value) / (2 * EDGE))
            if direction > 0 and value > length - EDGE:
                return MAX_SCROLL * min(1.0, (value - length + EDGE) / (2 * EDGE))
            return 0.0

        return QPointF(speed(pos.x(), self.width(), sx), speed(pos.y(), self.height(), sy))

    def _scroll_while_dragging(self) -> None:
        r, pointer = self._resize, self._pointer
        if r is None or pointer is None:
            self._autoscroll.stop()
            return
        velocity = self._edge_velocity(r, pointer)
        if velocity.isNull():
            self._autoscroll.stop()
            return
        before = r.proposal
        # The picture slides away from the edge and the drag's origin with it, so the handle
        # keeps following the pointer out into the new room.
        self._offset -= velocity
        r.start -= velocity
        r.scrolled = True
        self._fit = False
        self._propose(r, pointer)
        if r.proposal.extend == before.extend and r.proposal.refused:
            self._offset += velocity  # at the largest canvas: no further
            r.start += velocity
            self._propose(r, pointer)
            self._autoscroll.stop()

    def mouseReleaseEvent(self, event) -> None:
        self._autoscroll.stop()
        if self._resize is not None:
            proposal, start, scrolled = self._resize.proposal, self._resize.extend, self._resize.scrolled
            self._resize = None
            self.update()
            if proposal.extend != start:
                self.extendRequested.emit(*proposal.extend)
            if scrolled:  # the picture went out of view on the way: show the whole canvas again
                self.fit()
            if proposal.refused:
                self.refused.emit(proposal.refused)
            return
        if self._stroke is not None:
            points, self._stroke = self._stroke, None
            self.update()
            self.stroked.emit(points, self.brush_size / 2, self.tool == "eraser")
            return
        self._drag_from = None
        self._update_cursor()

    def leaveEvent(self, event) -> None:
        self._pointer = None
        if self.tool != "extend":
            self.update()
        super().leaveEvent(event)

    def event(self, event) -> bool:
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and event.key() == Qt.Key.Key_Escape
            and (self._resize or self._stroke)
        ):
            event.accept()  # Esc ends the drag here rather than cancelling a job
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape and (self._resize or self._stroke):
            self._autoscroll.stop()
            self._resize = self._stroke = None
            self.update()
        elif event.key() in (Qt.Key.Key_Left, Qt.Key.Key_Right) and not event.modifiers():
            self.flipRequested.emit(-1 if event.key() == Qt.Key.Key_Left else 1)
        else:
            super().keyPressEvent(event)

    def _update_cursor(self) -> None:
        if self._hover is not None:
            self.setCursor(CURSORS[self._hover])
        elif self.editable and self.tool != "extend":
            self.setCursor(Qt.CursorShape.CrossCursor)
        else:
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
        if self._resize is not None:
            self._paint_resize(painter, target, self._resize)
            return
        painter.fillRect(target.adjusted(-1, -1, 1, 1), QColor(0, 0, 0, 90))
        if self._image.hasAlphaChannel():
            draw_checker(painter, target, self._checker)
        painter.drawImage(target, self._image)
        if not self.editable:
            return
        if self._mask is not None:
            painter.drawImage(self.floor_rect(), self._mask)
        if self.tool == "extend":
            draw_handles(painter, target, self._hover)
            return
        erase = self.tool == "eraser"
        if self._stroke:
            draw_stroke(
                painter, [self._offset + p * self._zoom for p in self._stroke], self.brush_size * self._zoom, erase
            )
        if self._pointer is not None:
            draw_brush_cursor(painter, self._pointer, self.brush_size * self._zoom / 2, erase)

    def _paint_resize(self, painter: QPainter, target: QRectF, r: _Resize) -> None:
        """A handle is being dragged (`r`): the proposed canvas, its new area and the job's zones."""
        left, top, right, bottom = r.proposal.extend
        floor = self.floor_rect()
        z = self._zoom
        proposed = floor.adjusted(-left * z, -top * z, right * z, bottom * z)
        painter.fillRect(proposed.adjusted(-1, -1, 1, 1), QColor(0, 0, 0, 90))
        draw_checker(painter, proposed, self._checker)
        painter.save()
        painter.setClipRect(proposed)
        painter.drawImage(target, self._image)
        painter.restore()
        width, height = r.proposal.size
        zones = self.zone_planner(r.proposal.extend) if self.zone_planner and any(r.proposal.extend) else None
        if zones is not None:
            draw_zones(painter, zones, proposed.topLeft(), z)
        draw_handles(painter, proposed, r.handle)
        lines: list[tuple[QColor | None, str]] = [(None, f"{width} × {height} px")]
        added = [
            f"{name} +{value}" for name, value in zip(("left", "top", "right", "bottom"), r.proposal.extend) if value
        ]
        lines.append((None, ", ".join(added) if added else "no new area"))
        if zones is not None:
            lines += [(NEW_COLOUR, "New area"), (CONTEXT_COLOUR, "Context the model sees"), (BAND_COLOUR, "Blend band")]
        if r.proposal.refused:
            lines.append((None, "!" + r.proposal.refused))
        size = legend_size(painter, lines)
        draw_legend(painter, legend_corner(self.rect().toRectF(), proposed, size), lines)
