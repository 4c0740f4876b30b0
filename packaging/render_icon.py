"""Render Studio's SVG icon to the PNG the desktop entry installs (hicolor 256x256) and the
bundles use. Run after changing studio/assets/icons/studio.svg:

    python packaging/render_icon.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parents[1] / "studio" / "assets" / "icons"
SIZE = 256


def main() -> int:
    app = QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(ICONS / "studio.svg"))
    if not renderer.isValid():
        print(f"cannot read {ICONS / 'studio.svg'}", file=sys.stderr)
        return 1
    image = QImage(SIZE, SIZE, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    out = ICONS / f"studio-{SIZE}.png"
    if not image.save(str(out)):
        print(f"cannot write {out}", file=sys.stderr)
        return 1
    print(out)
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
