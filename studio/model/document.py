"""The document on the canvas: the image shown, the batch's candidates, and the step frames."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

if TYPE_CHECKING:
    from studio.recipe.schema import Recipe


class Document(QObject):
    imageChanged = Signal()
    candidatesChanged = Signal()
    framesChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.image: QImage = QImage()
        self.path: str | None = None
        self.recipe: Recipe | None = None
        self.is_preview = False
        self.candidates: list = []  # JobResults of the latest batch
        self.frames: dict[tuple[int, int], list[QImage]] = {}  # (job, image) -> previews per step
        self.frame_key: tuple[int, int] | None = None

    def show_preview(self, job_id: int, index: int, step: int, image: QImage) -> None:
        """A step preview arrives: keep it as a frame and show it for the image being made."""
        key = (job_id, index)
        self.frames.setdefault(key, []).append(image)
        if len(self.frames) > 64:  # keep the frames of recent images only
            self.frames.pop(next(iter(self.frames)))
        self.frame_key = key
        self.image, self.is_preview = image, True
        self.imageChanged.emit()
        self.framesChanged.emit()

    def start_batch(self) -> None:
        self.candidates = []
        self.candidatesChanged.emit()

    def add_result(self, result) -> None:
        self.candidates.append(result)
        self.frames.setdefault((result.job_id, result.index), []).append(result.image)
        self.candidatesChanged.emit()
        self.open(result.image, result.path, result.recipe, frame_key=(result.job_id, result.index))

    def open(self, image: QImage, path: str | None = None, recipe: Recipe | None = None, frame_key=None) -> None:
        self.image, self.path, self.recipe, self.is_preview = image, path, recipe, False
        self.frame_key = frame_key
        self.imageChanged.emit()
        self.framesChanged.emit()

    def select_candidate(self, position: int) -> None:
        result = self.candidates[position]
        self.open(result.image, result.path, result.recipe, frame_key=(result.job_id, result.index))

    @property
    def current_frames(self) -> list[QImage]:
        return self.frames.get(self.frame_key, []) if self.frame_key else []

    def show_frame(self, position: int) -> None:
        frames = self.current_frames
        if 0 <= position < len(frames):
            self.image = frames[position]
            self.is_preview = position < len(frames) - 1
            self.imageChanged.emit()
