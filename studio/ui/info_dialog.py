"""The window's small information dialogs (About, Keyboard shortcuts), and the versions About shows."""

from __future__ import annotations

import html
import importlib.metadata
import platform

import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from studio import __version__

PACKAGES = ("torch", "diffusers", "transformers")  # read from their metadata: not imported


class InfoDialog(QDialog):
    """Rich text and a Close button (Esc closes it too)."""

    def __init__(self, title: str, text_html: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(True)
        self.text.setHtml(text_html)
        layout.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(440, 380)


def package_version(name: str) -> str:
    """An installed package's version from its metadata: the package itself is not imported."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def about_html(device: str) -> str:
    """About's text: what Studio is, and the versions and device a bug report needs."""
    lines = [f"Studio {__version__}", f"Python {platform.python_version()}"]
    lines += [f"{name} {package_version(name)}" for name in PACKAGES]
    lines.append(f"PySide6 {PySide6.__version__} (Qt {qVersion()})")
    lines.append(f"Device: {device}")
    listed = "<br>".join(html.escape(line) for line in lines)
    return (
        f"<h3>Studio {html.escape(__version__)}</h3>"
        "<p>Turns a sentence into a picture with latent diffusion, and shows every step on the way.</p>"
        f"<p>{listed}</p>"
    )
