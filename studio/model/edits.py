"""The picture being edited on the canvas: pixels, pending extension, brush mask, candidates, undo,
and the step previews of each candidate (for the timeline).

A `Picture` is one state: the committed pixels (`base`), how far the canvas has been grown
beyond them on each side (not yet filled), and the brush mask over the base. Every edit
(extend, crop back, brush, accept) replaces the whole state through the undo stack, and
states never change in place, so undo and redo give back the exact pixels.

While an outpaint or inpaint job is pending or running, and while its candidates wait to be
accepted or discarded, the picture is locked: the job was made from it. Candidates are files
in a temporary place: `keep` moves the accepted one into the gallery, `drop` removes the rest.

Rectangles are the engine's `Rect`, in canvas pixels. `native` is the loaded model's native
side, set once it has loaded; with it `zones` plans what a job would use (the canvas overlay
draws it while a handle is dragged, and a job's step previews of the window alone go there).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QUndoCommand, QUndoStack

from studio.engine.geometry import Rect
from studio.errors import StudioError
from studio.model.pixels import (
    mask_from_qimage,
    mask_to_qimage,
    to_array,
    to_qimage,
    to_rgba_qimage,
)

if TYPE_CHECKING:
    import numpy as np  # imported where used: not on the window's startup path

    from studio.engine.zones import Zones

NO_EXTENSION = (0, 0, 0, 0)
MASK_COLOUR = (255, 84, 84)
MASK_ALPHA = 120
UNDO_LIMIT = 200


@dataclass(frozen=True, eq=False)
class Picture:
    base: np.ndarray  # H x W x 3 uint8, the committed pixels
    extend: tuple[int, int, int, int] = NO_EXTENSION  # left, top, right, bottom, not yet filled
    mask: np.ndarray | None = None  # H x W uint8 over the base, 255 = paint anew; None = nothing painted
    path: str | None = None
    recipe: object = None
    edited: bool = False  # an accepted edit job's result: the generated picture's step frames are not its

    @property
    def size(self) -> tuple[int, int]:
        """The canvas's width and height, extension included."""
        left, top, right, bottom = self.extend
        return self.base.shape[1] + left + right, self.base.shape[0] + top + bottom


@dataclass(frozen=True, eq=False)
class Candidate:
    pixels: np.ndarray  # the whole canvas, filled
    result: object  # the worker's JobResult (path, recipe, seed)
    frames: tuple[QImage, ...] = ()  # its step previews as they came (the model's window), noise first


class _Change(QUndoCommand):
    def __init__(self, edits: Edits, text: str, before: Picture, after: Picture):
        super().__init__(text)
        self._edits, self._before, self._after = edits, before, after

    def redo(self) -> None:
        self._edits._show(self._after)

    def undo(self) -> None:
        self._edits._show(self._before)


class Edits(QObject):
    changed = Signal()
    framesChanged = Signal()  # the step frames of what is shown came or went (not: one of them is shown)
    kept = Signal(object)  # the accepted candidate's result, its file now in the gallery
    refused = Signal(str)  # the accepted candidate could not be kept

    def __init__(self, parent=None):
        super().__init__(parent)
        self.keep: Callable[[object], object] | None = None  # candidate result -> the result kept in the gallery
        self.drop: Callable[[list], None] | None = None  # the results of candidates no one accepted
        self.history = QUndoStack(self)
        self.history.setUndoLimit(UNDO_LIMIT)
        self.picture: Picture | None = None
        self.candidates: list[Candidate] = []
        self.current = 0
        self.job_id: int | None = None
        self.job_kind = ""
        self.expected = 0  # candidates the job will make
        self.native: int | None = None  # the loaded model's native side (see `zones`)
        self._preview: np.ndarray | None = None
        self._job_zones: Zones | None = None  # what the running job uses
        self._preview_whole = False
        self._frames: dict[int, list[QImage]] = {}  # the running job's previews, per image index
        self._live = -1  # the index whose previews arrive now
        self._key: int | None = None
        self._whole_job = False  # the job redraws the whole picture (its previews cover it all)
        self._label = ""  # what the undo stack calls accepting the job's result

    # What is there.
    @property
    def has_image(self) -> bool:
        return self.picture is not None

    @property
    def locked(self) -> bool:
        """A job was made from the picture and has not been accepted, discarded or cancelled."""
        return self.job_id is not None or bool(self.candidates)

    @property
    def extend(self) -> tuple[int, int, int, int]:
        return self.picture.extend if self.picture else NO_EXTENSION

    @property
    def extended(self) -> bool:
        return any(self.extend)

    @property
    def edited(self) -> bool:
        """The picture is an accepted edit job's result (it has no step frames of its own to show)."""
        return self.picture is not None and self.picture.edited

    @property
    def painted(self) -> bool:
        return self.picture is not None and self.picture.mask is not None

    @property
    def size(self) -> tuple[int, int]:
        return self.picture.size if self.picture else (0, 0)

    @property
    def base_rect(self) -> Rect:
        """Where the committed pixels sit on the canvas."""
        if self.picture is None:
            return Rect(0, 0, 0, 0)
        height, width = self.picture.base.shape[:2]
        return Rect(self.extend[0], self.extend[1], width, height)

    @property
    def can_undo(self) -> bool:
        return not self.locked and self.history.canUndo()

    @property
    def can_redo(self) -> bool:
        return not self.locked and self.history.canRedo()

    # The job's input.
    def canvas_pixels(self) -> np.ndarray:
        """The whole canvas, H x W x 3: the base in place, the new area black."""
        import numpy as np

        picture = self._editing()
        width, height = self.size
        canvas = np.zeros((height, width, 3), dtype=np.uint8)
        canvas[self.base_rect.slices] = picture.base
        return canvas

    def job_mask(self) -> np.ndarray:
        """H x W uint8 over the whole canvas: 255 in the new area and wherever the brush painted."""
        import numpy as np

        picture = self._editing()
        width, height = self.size
        mask = np.full((height, width), 255, dtype=np.uint8)
        mask[self.base_rect.slices] = picture.mask if picture.mask is not None else 0
        return mask

    def painted_rect(self) -> Rect | None:
        """The bounding box of the brush mask on the canvas, or None."""
        from studio.engine.edit import mask_bbox

        if self.picture is None or self.picture.mask is None:
            return None
        found = mask_bbox(self.picture.mask)
        return None if found is None else found.translated(self.extend[0], self.extend[1])

    def zones(self, extend: tuple[int, int, int, int] | None = None) -> Zones | None:
        """What a job would use on the canvas grown to `extend` (left, top, right, bottom; the
        picture's own when None): None with nothing to fill, or before a model has loaded."""
        from studio.engine.zones import plan_zones

        if self.picture is None or self.native is None:
            return None
        left, top, right, bottom = self.extend if extend is None else extend
        height, width = self.picture.base.shape[:2]
        painted = self.painted_rect()
        if painted is not None:
            painted = painted.translated(left - self.extend[0], top - self.extend[1])
        return plan_zones(
            (width + left + right, height + top + bottom), Rect(left, top, width, height), self.native, painted
        )

    @property
    def kind(self) -> str:
        return "outpaint" if self.extended else "inpaint"

    def request(self, generate, count: int, fill: str):
        """The EditRequest of a job of `count` candidates on the canvas as it is now, with the prompt
        and settings of `generate` (a GenerateRequest). Raises StudioError when it cannot be made."""
        from studio.engine.edit import EditRequest

        width, height = self.size
        generate = generate.replace(width=width, height=height, count=count)
        return EditRequest(
            generate=generate,
            image=self.canvas_pixels(),
            mask=self.job_mask(),
            fill=fill,
            kind=self.kind,
            source=self._editing().path,
            extend=self.extend,
        )

    # Edits; each is one step on the undo stack. They return False when refused.
    def load(self, pixels: np.ndarray | None, path: str | None = None, recipe=None, key: int | None = None) -> None:
        """Start editing a new picture (opened or generated); `key` names it so showing it again keeps the edits."""
        import numpy as np

        if pixels is not None and key is not None and key == self._key and self.picture is not None:
            self.changed.emit()
            return
        self._key = key
        self._end_job()
        self.history.clear()
        self._show(
            None if pixels is None else Picture(np.ascontiguousarray(pixels, dtype=np.uint8), path=path, recipe=recipe)
        )

    def set_extend(self, left: int, top: int, right: int, bottom: int) -> bool:
        if self.picture is None or self.locked:
            return False
        new = tuple(max(0, int(v)) for v in (left, top, right, bottom))
        old = self.picture.extend
        if new == old:
            return False
        grows = all(n >= o for n, o in zip(new, old))
        shrinks = all(n <= o for n, o in zip(new, old))
        text = "Extend canvas" if grows else "Crop back" if shrinks else "Resize canvas"
        self._push(text, replace(self.picture, extend=new))
        return True

    def stroke(self, points: list[QPointF], radius: float, erase: bool = False) -> bool:
        """Paint (or erase) the mask along `points`, given in canvas pixels."""
        import numpy as np

        if self.picture is None or self.locked or not points:
            return False
        height, width = self.picture.base.shape[:2]
        current = self.picture.mask if self.picture.mask is not None else np.zeros((height, width), np.uint8)
        image = mask_to_qimage(current)
        painter = QPainter(image)
        pen = QPen(QColor(0, 0, 0) if erase else QColor(255, 255, 255))
        pen.setWidthF(max(1.0, 2 * radius))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        origin = QPointF(self.extend[0], self.extend[1])
        local = [p - origin for p in points]
        if len(local) == 1:
            painter.drawPoint(local[0])
        else:
            painter.drawPolyline(local)
        painter.end()
        mask = np.where(mask_from_qimage(image) >= 128, 255, 0).astype(np.uint8)
        if np.array_equal(mask, current):
            return False
        self._push("Erase" if erase else "Brush", replace(self.picture, mask=mask if mask.any() else None))
        return True

    def clear_mask(self) -> bool:
        if self.picture is None or self.locked or self.picture.mask is None:
            return False
        self._push("Clear mask", replace(self.picture, mask=None))
        return True

    def undo(self) -> None:
        if self.can_undo:
            self.history.undo()

    def redo(self) -> None:
        if self.can_redo:
            self.history.redo()

    # The job.
    def begin_job(self, job_id: int, kind: str, count: int = 1, label: str = "") -> None:
        """A job of `count` candidates was submitted from the picture as it is now: an outpaint or
        inpaint, or a job on the whole picture (an upscale: its previews are the whole picture,
        smaller). `label` names the accepted result on the undo stack (default "Accept <kind>")."""
        self.candidates, self.current = [], 0
        self.job_id, self.job_kind, self.expected = job_id, kind, count
        whole = kind not in ("outpaint", "inpaint")
        self._preview, self._job_zones = None, None if whole else self.zones()
        self._whole_job, self._label = whole, label
        self._frames, self._live = {}, -1
        self.changed.emit()
        self.framesChanged.emit()

    def show_preview(self, job_id: int, image: QImage, index: int = 0) -> None:
        """A step preview of the job's image `index`: the whole canvas with the preview already
        blended in (shown as it is), or the model's window alone (drawn into the area the job paints)."""
        if job_id != self.job_id or self.picture is None or image.isNull():
            return
        self._frames.setdefault(index, []).append(image)
        self._live = index
        self._place(image)
        self.changed.emit()
        self.framesChanged.emit()

    def _place(self, image: QImage) -> np.ndarray:
        """Show `image` (a step preview) where it belongs on the canvas; returns the canvas-sized preview."""
        import numpy as np

        width, height = self.size
        whole = Rect(0, 0, width, height)
        self._preview_whole = self._whole_job or (image.width(), image.height()) == whole.size
        rect = whole if self._preview_whole or self._job_zones is None else self._job_zones.context
        scaled = image.scaled(
            rect.width, rect.height, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        preview = np.zeros((height, width, 3), np.uint8)
        preview[rect.slices] = to_array(scaled)
        self._preview = preview
        return preview

    def add_candidate(self, job_id: int, image: QImage, result) -> None:
        if job_id != self.job_id or self.picture is None:
            return
        index = getattr(result, "index", len(self.candidates))
        self.candidates.append(Candidate(to_array(image), result, tuple(self._frames.pop(index, ()))))
        self.current = len(self.candidates) - 1
        self._preview, self._live = None, -1
        self.changed.emit()
        self.framesChanged.emit()

    def end_job(self, job_id: int, state: str) -> None:
        """The job is over: its candidates wait for a choice, or (cancelled, failed) the canvas is as before."""
        if job_id != self.job_id:
            return
        if state == "done" and self.candidates:
            self.job_id, self._preview = None, None
            self.changed.emit()
        else:
            self._end_job()
            self.changed.emit()

    def flip(self, delta: int) -> None:
        if self.candidates:
            self.current = (self.current + delta) % len(self.candidates)
            if self.job_id is None:
                self._preview = None  # a scrubbed step of the last one
            self.changed.emit()
            self.framesChanged.emit()

    # The timeline: the steps of the candidate shown (or of the one being made).
    @property
    def has_frames(self) -> bool:
        """Whether the timeline belongs to this job (rather than to the generated picture)."""
        return self.job_id is not None or bool(self.candidates)

    def _steps(self) -> tuple[list[QImage], np.ndarray | None]:
        """The step previews of what the timeline shows, and the finished pixels after them (if done)."""
        if self._live >= 0 or not self.candidates:
            return self._frames.get(self._live, []), None
        candidate = self.candidates[self.current]
        return list(candidate.frames), candidate.pixels

    def frame_count(self) -> int:
        frames, final = self._steps()
        return len(frames) + (final is not None)

    def show_frame(self, position: int) -> None:
        """Show step `position` on the canvas (the last position of a finished candidate: the candidate)."""
        frames, final = self._steps()
        if 0 <= position < len(frames):
            self._place(frames[position])
            self.changed.emit()
        elif final is not None and position == len(frames):
            self._preview = None
            self.changed.emit()

    def animation_frames(self) -> list[np.ndarray]:
        """Every step of what the timeline shows as whole canvases (H x W x 3), the candidate last."""
        frames, final = self._steps()
        saved = self._preview, self._preview_whole
        out = []
        for frame in frames:
            out.append(self._blended(self._place(frame)))
        self._preview, self._preview_whole = saved
        return out + ([final] if final is not None else [])

    def _blended(self, preview: np.ndarray) -> np.ndarray:
        """The canvas with `preview` in the area the job paints."""
        if self._preview_whole:
            return preview
        pixels = self.canvas_pixels()
        painted = self.job_mask() > 0
        pixels[painted] = preview[painted]
        return pixels

    def accept(self) -> bool:
        """Keep the candidate shown: it becomes the picture (one step on the undo stack)."""
        if not self.candidates or self.job_id is not None or self.picture is None:
            return False
        chosen = self.candidates[self.current]
        result = chosen.result
        if self.keep is not None:
            try:
                result = self.keep(result)
            except StudioError as exc:
                self.refused.emit(str(exc))
                return False
        after = Picture(
            chosen.pixels, path=getattr(result, "path", None), recipe=getattr(result, "recipe", None), edited=True
        )
        text = self._label or (f"Accept {self.job_kind}" if self.job_kind else "Accept")
        self._end_job(kept=chosen)
        self._push(text, after)
        self.kept.emit(result)
        return True

    def discard(self) -> None:
        """Drop the candidates; the canvas is as it was before the job."""
        if self.candidates and self.job_id is None:
            self._end_job()
            self.changed.emit()

    # Showing.
    @property
    def previewing(self) -> bool:
        return self._preview is not None

    @property
    def showing(self) -> Candidate | None:
        return self.candidates[self.current] if self.candidates and self._preview is None else None

    def display(self) -> QImage:
        """The canvas as it should look: a candidate, or the picture with the step preview in the painted area;
        the unfilled new area is transparent."""
        import numpy as np

        if self.picture is None:
            return QImage()
        if self.showing is not None:
            return to_qimage(self.showing.pixels)
        pixels = self.canvas_pixels()
        alpha = np.zeros(pixels.shape[:2], np.uint8)
        alpha[self.base_rect.slices] = 255
        if self._preview is not None:
            pixels = self._blended(self._preview)
            alpha[self.job_mask() > 0] = 255
        if not self.extended and self._preview is None:
            return to_qimage(pixels)
        return to_rgba_qimage(pixels, alpha)

    def mask_overlay(self) -> QImage | None:
        """The brush mask as a translucent tint over the base, or None."""
        import numpy as np

        if self.picture is None or self.picture.mask is None or self.candidates or self._preview is not None:
            return None
        mask = self.picture.mask
        colours = np.empty((*mask.shape, 3), np.uint8)
        colours[...] = MASK_COLOUR
        return to_rgba_qimage(colours, np.where(mask > 0, MASK_ALPHA, 0).astype(np.uint8))

    def image(self) -> QImage:
        """The committed picture alone (what Save as writes)."""
        return to_qimage(self.picture.base) if self.picture is not None else QImage()

    # Inside.
    def _push(self, text: str, after: Picture) -> None:
        self.history.push(_Change(self, text, self._editing(), after))

    def _editing(self) -> Picture:
        """The picture, for what only runs while there is one (the callers check `has_image`)."""
        assert self.picture is not None, "no picture is being edited"
        return self.picture

    def _show(self, picture: Picture | None) -> None:
        was_edited = self.edited
        self.picture = picture
        self.changed.emit()
        if self.edited != was_edited:
            self.framesChanged.emit()

    def _end_job(self, kept: Candidate | None = None) -> None:
        had_frames = self.has_frames
        dropped = [c.result for c in self.candidates if c is not kept]
        if dropped and self.drop is not None:
            self.drop(dropped)
        self.candidates, self.current = [], 0
        self.job_id, self.job_kind, self.expected = None, "", 0
        self._preview, self._job_zones = None, None
        self._whole_job, self._label = False, ""
        self._frames, self._live = {}, -1
        if had_frames:
            self.framesChanged.emit()
