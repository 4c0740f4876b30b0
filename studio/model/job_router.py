"""The job router: where each of the worker's reports goes, and what the timeline shows.

A job is a generation (its images become the document's batch and join the gallery; an
img2img job from the canvas picture and Variations are generations too) or an edit of the
picture on the canvas: an outpaint or inpaint (its candidates wait on the picture until one
is accepted), or an upscale (its one result is accepted as soon as the job ends, one step on
the picture's undo stack). The router submits them, remembers which each job is from submit
to its end, and hands every report of the worker (start, step, preview, saved image, end) to
the job queue, the document or the edit model. What the window shows of it (the progress
bar, a message, the grid of a batch) it says through its own signals.

The timeline belongs to the edit while an edit job runs or its candidates wait, and to the
generated picture otherwise; an accepted edit's result has no steps to show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

if TYPE_CHECKING:
    import numpy as np

    from studio.model.document import Document
    from studio.model.edits import Edits
    from studio.model.jobs import JobQueue


class JobRouter(QObject):
    started = Signal(int)  # a job began: its steps, all its images together
    ended = Signal(str)  # no job runs any more; how the last one ended: "Done", "Cancelled", "Failed"
    message = Signal(str)  # a job failed, or its prompt was cut: what to tell the person
    batchShown = Signal()  # a generation of several images finished: time to show them side by side
    inGallery = Signal(object)  # a JobResult whose file is now in the gallery (generated, or an accepted candidate)
    framesChanged = Signal()  # the timeline's frames came or went

    def __init__(self, worker, queue: JobQueue, document: Document, edits: Edits, parent=None):
        """`worker` is the Worker (its signals and submit, remove, cancel_current, keep_candidate,
        drop_candidates)."""
        super().__init__(parent)
        self.worker, self.queue, self.document, self.edits = worker, queue, document, edits
        self._edit_jobs: set[int] = set()
        self._upscales: set[int] = set()  # edit jobs whose result is accepted at once
        worker.jobStarted.connect(self._started)
        worker.stepDone.connect(queue.step)
        worker.previewReady.connect(self._preview)
        worker.imageSaved.connect(self._saved)
        worker.jobFinished.connect(self._finished)
        worker.jobCancelled.connect(lambda job_id: self._ended(job_id, "cancelled"))
        worker.jobFailed.connect(self._failed)
        edits.keep, edits.drop = worker.keep_candidate, worker.drop_candidates
        edits.kept.connect(self.inGallery)
        document.framesChanged.connect(self.framesChanged)
        edits.framesChanged.connect(self.framesChanged)

    def is_edit(self, job_id: int) -> bool:
        return job_id in self._edit_jobs

    # What the person asks for.
    def submit(self, request) -> int:
        """Queue a GenerateRequest, an ImageRequest (img2img, upscale) or an EditRequest (the
        last two made from the edit model's picture as it is now)."""
        from studio.engine.edit import EditRequest

        job_id = self.worker.submit(request)
        if isinstance(request, EditRequest):
            self._edit_jobs.add(job_id)
            self.queue.add(job_id, request.generate)
            self.edits.begin_job(job_id, request.kind, request.count)
        elif getattr(request, "kind", "") == "upscale":
            self._edit_jobs.add(job_id)
            self._upscales.add(job_id)
            self.queue.add(job_id, request)
            self.edits.begin_job(job_id, "upscale", 1, label=f"Upscale ×{request.scale:g}")
        else:
            self.queue.add(job_id, request)
        return job_id

    def remove(self, job_id: int) -> None:
        """Drop a pending job; a running one is cancelled (and ends as such)."""
        self.worker.remove(job_id)
        self.queue.remove(job_id)
        running = self.queue.running
        if job_id in self._edit_jobs and (running is None or running.job_id != job_id):
            self._edit_jobs.discard(job_id)
            self._upscales.discard(job_id)
            self.edits.end_job(job_id, "cancelled")

    def cancel(self) -> None:
        """Stop the running job; with none running, drop an edit's waiting candidates."""
        if self.queue.running is not None:
            self.worker.cancel_current()
        elif self.edits.candidates:
            self.edits.discard()

    # The timeline.
    def frame_count(self) -> int:
        e = self.edits
        if e.has_frames:
            return e.frame_count()
        return 0 if e.edited else len(self.document.current_frames)

    def show_frame(self, position: int) -> None:
        if self.edits.has_frames:
            self.edits.show_frame(position)
        elif not self.edits.edited:
            self.document.show_frame(position)

    def animation_frames(self) -> list[np.ndarray]:
        """Every step of what the timeline shows, as H x W x 3 pictures, the finished one last."""
        from studio.model.pixels import to_array

        if self.edits.has_frames:
            return self.edits.animation_frames()
        return [] if self.edits.edited else [to_array(f) for f in self.document.current_frames]

    # What the worker reports.
    def _started(self, job_id: int, request) -> None:
        self.queue.start(job_id)
        if job_id not in self._edit_jobs:
            self.document.start_batch()
        # An image job runs only its strength's share of the steps (its step reports then give all its tiles').
        steps = getattr(request, "denoise_steps", None)
        request = getattr(request, "generate", request)  # an edit or image job's request holds its GenerateRequest
        self.started.emit((request.steps if steps is None else steps) * request.count)

    def _preview(self, job_id: int, index: int, step: int, image: QImage) -> None:
        if job_id in self._edit_jobs:
            self.edits.show_preview(job_id, image, index)
        else:
            self.document.show_preview(job_id, index, step, image)

    def _saved(self, result) -> None:
        if result.job_id in self._edit_jobs:
            self.edits.add_candidate(result.job_id, result.image, result)
        else:
            self.document.add_result(result)
            self.inGallery.emit(result)

    def _finished(self, job_id: int, warnings) -> None:
        edit = job_id in self._edit_jobs
        upscale = job_id in self._upscales
        self._ended(job_id, "done")
        if upscale:
            self.edits.accept()  # the upscaled picture replaces the one it was made from (undo goes back)
        if warnings:
            self.message.emit("; ".join(warnings))
        if len(self.document.candidates) > 1 and not edit:
            self.batchShown.emit()

    def _failed(self, job_id: int, message: str) -> None:
        self._ended(job_id, "failed")
        self.message.emit(message)

    def _ended(self, job_id: int, state: str) -> None:
        self.queue.end(job_id, state)
        if self.queue.running is None:
            self.ended.emit(state.capitalize())
        if job_id in self._edit_jobs:
            self._edit_jobs.discard(job_id)
            self._upscales.discard(job_id)
            self.edits.end_job(job_id, state)
        elif state == "cancelled" and self.document.candidates:  # back to the last image made
            last = self.document.candidates[-1]
            self.document.open(last.image, last.path, last.recipe, frame_key=(last.job_id, last.index))
        elif state == "cancelled":
            self.document.open(QImage())
