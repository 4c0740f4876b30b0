"""A calm dark theme (and a light one on request) for the whole application.

Qt's Fusion style draws the rest, with two changes (`StudioStyle`): checkbox and radio button
indicators with a border that stands out from the background, and, on the dark theme, its dark standard icons
(a file dialog's arrows) drawn light.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle, QStyleFactory

ACCENT = "#6c8cff"
ACCENT_DIM = "rgba(108, 140, 255, 70)"  # the accent of a checked button that is disabled

_COLOURS = {
    "dark": {
        "window": "#1e1f24",
        "base": "#16171b",
        "alt": "#24262c",
        "text": "#e4e6eb",
        "muted": "#9096a3",
        "button": "#2b2d34",
        "border": "#34363e",
        "indicator": "#868c99",  # a checkbox's border: 3:1 or more against window and base
        "canvas": "#121316",
        "error": "#ff7a7a",
    },
    "light": {
        "window": "#f3f4f6",
        "base": "#ffffff",
        "alt": "#eceef2",
        "text": "#1d1f24",
        "muted": "#5c6270",
        "button": "#e6e8ec",
        "border": "#cfd3da",
        "indicator": "#767c8a",
        "canvas": "#e2e4e8",
        "error": "#c62828",
    },
}


def contrast(a: QColor, b: QColor) -> float:
    """The WCAG contrast ratio of two colours: 1 (the same) to 21 (black on white)."""
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _luminance(colour: QColor) -> float:
    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(colour.redF()) + 0.7152 * linear(colour.greenF()) + 0.0722 * linear(colour.blueF())


def colours(name: str) -> dict[str, str]:
    return _COLOURS.get(name, _COLOURS["dark"])


class StudioStyle(QProxyStyle):
    """Fusion, with checkbox and radio indicators that stand out and, on the dark theme, light standard icons."""

    def __init__(self, theme: str):
        super().__init__(QStyleFactory.create("Fusion"))
        self.set_theme(theme)

    def set_theme(self, theme: str) -> None:
        self.colours = colours(theme)
        self.dark = theme != "light"
        self._icons: dict[QStyle.StandardPixmap, QIcon] = {}

    def drawPrimitive(self, element, option, painter, widget=None) -> None:
        if element in (
            QStyle.PrimitiveElement.PE_IndicatorCheckBox,
            QStyle.PrimitiveElement.PE_IndicatorItemViewItemCheck,
        ):
            draw_check_indicator(painter, QRectF(option.rect), option.state, self.colours)
        elif element == QStyle.PrimitiveElement.PE_IndicatorRadioButton:
            draw_radio_indicator(painter, QRectF(option.rect), option.state, self.colours)
        else:
            super().drawPrimitive(element, option, painter, widget)

    def standardIcon(self, standardIcon, option=None, widget=None) -> QIcon:
        icon = super().standardIcon(standardIcon, option, widget)
        if not self.dark or icon.isNull():
            return icon
        if standardIcon not in self._icons:
            self._icons[standardIcon] = lightened(icon)
        return self._icons[standardIcon]


def _begin_indicator(painter: QPainter, rect: QRectF, state, c: dict[str, str], filled: bool) -> tuple[QRectF, float]:
    """Save the painter and set it up for an indicator's frame: the accent when `filled` or
    hovered, the theme's indicator border otherwise, half see-through when disabled. Returns
    the square to draw in (centred in `rect`, inset half a pixel) and its side."""
    enabled = bool(state & QStyle.StateFlag.State_Enabled)
    hovered = bool(state & QStyle.StateFlag.State_MouseOver) and enabled
    border = QColor(ACCENT if filled or hovered else c["indicator"])
    fill = QColor(ACCENT if filled else c["base"])
    if not enabled:
        border.setAlphaF(0.5)
        fill.setAlphaF(0.5 if filled else 1.0)
    side = min(rect.width(), rect.height())
    box = QRectF(0, 0, side, side)
    box.moveCenter(rect.center())
    box.adjust(0.5, 0.5, -0.5, -0.5)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setPen(QPen(border, 1.0))
    painter.setBrush(fill)
    return box, side


def draw_check_indicator(painter: QPainter, rect: QRectF, state, c: dict[str, str]) -> None:
    """A rounded box: the theme's indicator border when off, the accent filled with a tick when on."""
    on = bool(state & QStyle.StateFlag.State_On)
    filled = on or bool(state & QStyle.StateFlag.State_NoChange)
    box, side = _begin_indicator(painter, rect, state, c, filled)
    painter.drawRoundedRect(box, 3, 3)
    if filled:
        mark = QPen(QColor("#ffffff"), max(1.5, side / 8))
        mark.setCapStyle(Qt.PenCapStyle.RoundCap)
        mark.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(mark)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        x, y, w, h = box.x(), box.y(), box.width(), box.height()
        if on:
            tick = QPainterPath(QPointF(x + 0.24 * w, y + 0.52 * h))
            tick.lineTo(x + 0.43 * w, y + 0.72 * h)
            tick.lineTo(x + 0.77 * w, y + 0.30 * h)
            painter.drawPath(tick)
        else:
            painter.drawLine(QPointF(x + 0.27 * w, y + 0.5 * h), QPointF(x + 0.73 * w, y + 0.5 * h))
    painter.restore()


def draw_radio_indicator(painter: QPainter, rect: QRectF, state, c: dict[str, str]) -> None:
    """A circle: the theme's indicator border when off, the accent with a white dot when on."""
    on = bool(state & QStyle.StateFlag.State_On)
    circle, side = _begin_indicator(painter, rect, state, c, on)
    painter.drawEllipse(circle)
    if on:
        dot = QRectF(0, 0, side * 0.4, side * 0.4)
        dot.moveCenter(circle.center())
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#ffffff"))
        painter.drawEllipse(dot)
    painter.restore()


def lightened(icon: QIcon) -> QIcon:
    """`icon` with its dark grey and black pixels turned light (colours kept), for a dark background."""
    import numpy as np

    out = QIcon()
    for size in icon.availableSizes() or [QPixmap(16, 16).size()]:
        image = icon.pixmap(size).toImage().convertToFormat(QImage.Format.Format_ARGB32)
        width, height = image.width(), image.height()
        rows = np.frombuffer(image.constBits(), np.uint8).reshape(height, image.bytesPerLine())
        pixels = rows[:, : width * 4].reshape(height, width, 4).copy()  # B, G, R, A
        rgb = pixels[..., :3].astype(np.int16)
        grey_and_dark = (rgb.max(axis=2) - rgb.min(axis=2) < 48) & (rgb.max(axis=2) < 140)
        pixels[..., :3][grey_and_dark] = (235 - rgb[grey_and_dark] // 2).astype(np.uint8)
        light = QImage(pixels.data, width, height, width * 4, QImage.Format.Format_ARGB32).copy()
        out.addPixmap(QPixmap.fromImage(light))
    return out


_style: StudioStyle | None = None  # the application's style; owned by the application once set


def apply_theme(app: QApplication, name: str = "dark") -> None:
    global _style
    c = colours(name)
    if _style is None or not shiboken6.isValid(_style):
        _style = StudioStyle(name)
        app.setStyle(_style)
    else:
        _style.set_theme(name)
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: c["window"],
        QPalette.ColorRole.WindowText: c["text"],
        QPalette.ColorRole.Base: c["base"],
        QPalette.ColorRole.AlternateBase: c["alt"],
        QPalette.ColorRole.Text: c["text"],
        QPalette.ColorRole.Button: c["button"],
        QPalette.ColorRole.ButtonText: c["text"],
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: c["alt"],
        QPalette.ColorRole.ToolTipText: c["text"],
        QPalette.ColorRole.PlaceholderText: c["muted"],
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)
    app.setStyleSheet(
        f"""
        QWidget {{ font-size: 10pt; }}
        QPlainTextEdit, QLineEdit, QComboBox {{
            border: 1px solid {c["border"]}; border-radius: 6px; padding: 4px 6px; background: {c["base"]};
        }}
        QPlainTextEdit:focus, QLineEdit:focus, QSpinBox:focus, QDoubleSpinBox:focus, QComboBox:focus {{
            border-color: {ACCENT};
        }}
        QPushButton, QToolButton {{
            border: 1px solid {c["border"]}; border-radius: 6px; padding: 5px 10px; background: {c["button"]};
        }}
        QPushButton:hover, QToolButton:hover {{ border-color: {ACCENT}; }}
        QFileDialog QToolButton {{ padding: 2px; }}
        QPushButton#statusButton {{ padding: 0px 8px; }}
        QPushButton:disabled, QToolButton:disabled {{ color: {c["muted"]}; border-color: {c["alt"]}; }}
        QPushButton#generate {{ background: {ACCENT}; color: white; font-weight: 600; border: none; padding: 8px; }}
        QPushButton#generate:hover {{ background: #7d9aff; }}
        QLabel#section {{ color: {c["muted"]}; font-size: 9pt; font-weight: 600; }}
        QLabel#error {{ color: {c["error"]}; }}
        QListWidget {{ border: 1px solid {c["border"]}; border-radius: 6px; background: {c["base"]}; }}
        QProgressBar {{ border: 1px solid {c["border"]}; border-radius: 6px; text-align: center; background: {c["base"]}; height: 18px; }}
        QProgressBar::chunk {{ background: {ACCENT}; border-radius: 5px; }}
        QScrollArea {{ border: none; }}
        QStatusBar {{ color: {c["muted"]}; }}
        """
    )
