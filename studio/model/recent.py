"""The newest gallery images for the strip of recent results, read off the GUI thread.

Decoding a few dozen full-size PNGs (an SDXL picture takes tens of milliseconds) would
stall the window just after it appears, so a short-lived thread reads them, shrinks each
to a thumbnail and hands the whole list back at once through a queued signal.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecentImage:
    path: str
    thumbnail: QImage
    prompt: str


class RecentImages(QObject):
    """`ready` carries the newest readable images of a folder (RecentImage, newest first)."""

    ready = Signal(object)  # a list; its paths stay Python strs

    def __init__(self, parent=None):
        super().__init__(parent)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def load(self, folder: Path, count: int, side: int) -> None:
        self._thread = threading.Thread(
            target=self._read, args=(Path(folder), count, side), name="recent-images", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Nothing is delivered after this; waits a little for the reading to end."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _read(self, folder: Path, count: int, side: int) -> None:
        from studio.errors import StudioError
        from studio.model.picture_files import read_picture

        found = []
        for path in newest_pngs(folder, count):
            if self._stopped.is_set():
                return
            try:
                picture = read_picture(path, side)  # a FIFO or a bomb named .png is refused unread
            except StudioError as exc:
                log.info("recent: %s", exc)
                continue
            recipe = picture.recipe
            found.append(RecentImage(str(path), picture.image, recipe.request.prompt if recipe else ""))
        if not self._stopped.is_set():
            self.ready.emit(found)


def newest_pngs(folder: Path, count: int) -> list[Path]:
    """The `count` most recently modified PNGs directly in `folder`, newest first."""
    stamped = []
    try:
        for path in folder.glob("*.png"):
            try:
                stamped.append((path.stat().st_mtime_ns, path.name, path))
            except OSError:
                continue
    except OSError:
        return []
    stamped.sort(reverse=True)
    return [path for _, _, path in stamped[:count]]


def missing(paths: list[str]) -> list[str]:
    """Those of `paths` that no longer name a file (deleted, moved to the trash)."""
    return [path for path in paths if not Path(path).is_file()]
