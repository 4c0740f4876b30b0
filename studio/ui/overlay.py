"""What the canvas draws over the picture while editing: checkerboard, handles, zones, brush."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
)

from studio.engine.geometry import Rect
from studio.ui.handles import HANDLES, handle_point

if TYPE_CHECKING:
    from studio.engine.zones import Zones  # numpy: not on the window's startup path

CHECK = 8  # widget px per checkerboard square
HANDLE = 8
NEW_COLOUR = QColor(108, 140, 255)
CONTEXT_COLOUR = QColor(235, 235, 240)
BAND_COLOUR = QColor(255, 168, 56)
REFUSED_COLOUR = QColor(255, 110, 110)


def checker_brush(light: bool = False) -> QBrush:
    a, b = (QColor("#d9dbe0"), QColor("#c4c7ce")) if light else (QColor("#3a3c44"), QColor("#2c2e34"))
    tile = QPixmap(2 * CHECK, 2 * CHECK)
    tile.fill(a)
    painter = QPainter(tile)
    painter.fillRect(0, 0, CHECK, CHECK, b)
    painter.fillRect(CHECK, CHECK, CHECK, CHECK, b)
    painter.end()
    return QBrush(tile)


def draw_checker(painter: QPainter, rect: QRectF, brush: QBrush) -> None:
    painter.save()
    painter.setBrushOrigin(rect.topLeft())
    painter.fillRect(rect, brush)
    painter.restore()


def draw_handles(painter: QPainter, rect: QRectF, hovered: str | None) -> None:
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setPen(QPen(QColor(255, 255, 255, 90), 1, Qt.PenStyle.DashLine))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRect(rect)
    for name in HANDLES:
        point = handle_point(rect, name)
        side = HANDLE + (4 if name == hovered else 0)
        box = QRectF(point.x() - side / 2, point.y() - side / 2, side, side)
        painter.setPen(QPen(QColor(20, 22, 28), 1.5))
        painter.setBrush(NEW_COLOUR if name == hovered else QColor(250, 250, 252))
        painter.drawRoundedRect(box, 2, 2)
    painter.restore()


def draw_zones(painter: QPainter, zones: Zones, origin: QPointF, zoom: float) -> None:
    """The three zones of the job, from canvas px to widget px."""

    def widget(rect: Rect) -> QRectF:
        return QRectF(origin.x() + rect.x * zoom, origin.y() + rect.y * zoom, rect.width * zoom, rect.height * zoom)

    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
    context = widget(zones.context)
    painter.fillRect(context, QColor(CONTEXT_COLOUR.red(), CONTEXT_COLOUR.green(), CONTEXT_COLOUR.blue(), 22))
    new_fill = QColor(NEW_COLOUR)
    new_fill.setAlpha(70)
    for rect in zones.new:
        painter.fillRect(widget(rect), new_fill)
    band = QBrush(QColor(BAND_COLOUR.red(), BAND_COLOUR.green(), BAND_COLOUR.blue(), 120), Qt.BrushStyle.BDiagPattern)
    band_fill = QColor(BAND_COLOUR)
    band_fill.setAlpha(55)
    for rect in zones.band:
        painter.fillRect(widget(rect), band_fill)
        painter.fillRect(widget(rect), band)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(NEW_COLOUR, 1.5))
    for rect in zones.new:
        painter.drawRect(widget(rect))
    pen = QPen(CONTEXT_COLOUR, 1.5, Qt.PenStyle.DashLine)
    painter.setPen(pen)
    painter.drawRect(context.adjusted(0.5, 0.5, -0.5, -0.5))
    painter.restore()


def _legend_font(painter: QPainter) -> QFont:
    font = QFont(painter.font())
    font.setPointSizeF(max(8.0, font.pointSizeF() - 0.5))
    return font


def legend_size(painter: QPainter, lines: list[tuple[QColor | None, str]]) -> QSizeF:
    metrics = QFontMetrics(_legend_font(painter))
    line_h = metrics.height() + 4
    return QSizeF(max(metrics.horizontalAdvance(text) for _, text in lines) + 34, line_h * len(lines) + 10)


def legend_corner(area: QRectF, avoid: QRectF, size: QSizeF, margin: float = 10) -> QPointF:
    """The corner of `area` where a legend of `size` hides least of `avoid`."""
    corners = [
        QPointF(area.left() + margin, area.top() + margin),
        QPointF(area.right() - margin - size.width(), area.top() + margin),
        QPointF(area.left() + margin, area.bottom() - margin - size.height()),
        QPointF(area.right() - margin - size.width(), area.bottom() - margin - size.height()),
    ]

    def hidden(corner: QPointF) -> float:
        overlap = QRectF(corner, size).intersected(avoid)
        return overlap.width() * overlap.height()

    return min(corners, key=hidden)


def draw_legend(painter: QPainter, corner: QPointF, lines: list[tuple[QColor | None, str]]) -> None:
    """A small box of coloured swatches and labels, top-left at `corner`; a None colour is plain text."""
    painter.save()
    painter.setFont(_legend_font(painter))
    metrics = painter.fontMetrics()
    line_h = metrics.height() + 4
    box = QRectF(corner, legend_size(painter, lines))
    width = box.width()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(16, 17, 21, 215))
    painter.drawRoundedRect(box, 6, 6)
    y = box.top() + 5
    for colour, text in lines:
        x = box.left() + 10
        if colour is not None:
            painter.fillRect(QRectF(x, y + line_h / 2 - 6, 12, 12), colour)
            x += 20
        painter.setPen(REFUSED_COLOUR if colour is None and text.startswith("!") else QColor(235, 236, 240))
        painter.drawText(QRectF(x, y, width, line_h), Qt.AlignmentFlag.AlignVCenter, text.lstrip("!"))
        y += line_h
    painter.restore()


def draw_brush_cursor(painter: QPainter, centre: QPointF, radius: float, erase: bool) -> None:
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(QColor(0, 0, 0, 160), 3))
    painter.drawEllipse(centre, radius, radius)
    painter.setPen(QPen(QColor(255, 255, 255, 230), 1.2, Qt.PenStyle.DashLine if erase else Qt.PenStyle.SolidLine))
    painter.drawEllipse(centre, radius, radius)
    painter.restore()


def draw_stroke(painter: QPainter, points: list[QPointF], width: float, erase: bool) -> None:
    """The stroke being painted, in widget px."""
    if not points:
        return
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    colour = QColor(20, 20, 24, 150) if erase else QColor(255, 84, 84, 120)
    pen = QPen(colour, max(1.0, width), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    path = QPainterPath(points[0])
    for point in points[1:]:
        path.lineTo(point)
    if len(points) == 1:
        painter.drawPoint(points[0])
    else:
        painter.drawPath(path)
    painter.restore()
