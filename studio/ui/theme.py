"""A calm dark theme (and a light one on request) for the whole application."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#6c8cff"

_COLOURS = {
    "dark": {
        "window": "#1e1f24",
        "base": "#16171b",
        "alt": "#24262c",
        "text": "#e4e6eb",
        "muted": "#9096a3",
        "button": "#2b2d34",
        "border": "#34363e",
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
        "canvas": "#e2e4e8",
        "error": "#c62828",
    },
}


def colours(name: str) -> dict[str, str]:
    return _COLOURS.get(name, _COLOURS["dark"])


def apply_theme(app: QApplication, name: str = "dark") -> None:
    c = colours(name)
    app.setStyle("Fusion")
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
        QPushButton:disabled {{ color: {c["muted"]}; }}
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
