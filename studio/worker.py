"""The worker: one QThread that owns the engine and runs jobs one at a time.

The UI hands it requests and reads back signals that carry plain data only (ints,
strings, QImages, dataclasses). Every finished image is written to the gallery before
it is announced; an outpaint or inpaint candidate goes to a temporary folder instead and
joins the gallery only when accepted (`keep_candidate`). A job can be cancelled at any step;
closing stops the thread.

Closing never waits for what cannot be interrupted (loading a model, encoding a long prompt):
`stop` returns at once, and from then on the thread writes no file and starts no work, so the
process may end while it is still busy.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import queue
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QThread, Signal
from PySide6.QtGui import QImage

from studio.engine.request import GenerateRequest
from studio.model.pixels import to_qimage

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from studio.engine.edit import EditRequest
    from studio.engine.image_request import ImageRequest
    from studio.recipe.schema import Recipe


@dataclass(frozen=True)
class JobResult:
    """One finished, saved image of a job."""

    job_id: int
    index: int
    seed: int
    path: str
    image: QImage = field(repr=False)
    recipe: Recipe = field(repr=False)
    elapsed_s: float = 0.0


_LOAD = object()
_STOP = object()
_ENGINE = object()  # a new engine factory (None: this computer's)


class Worker(QThread):
    modelLoading = Signal(str)
    modelProgress = Signal(str, str, int, int)  # model ref, stage, steps done, steps in all (0: not measurable)
    modelLoaded = Signal(str, object)  # model ref, ModelDefaults
    modelFailed = Signal(str, str)  # model ref, message
    jobStarted = Signal(int, object)  # job id, GenerateRequest or EditRequest (as submitted)
    stepDone = Signal(int, int, int, int, float)  # job id, image index, step, total, seconds for the step
    # job id, image index, step, x0 preview: latent size; for an edit job the whole canvas
    # with the window's preview drawn in place
    previewReady = Signal(int, int, int, QImage)
    imageSaved = Signal(object)  # JobResult
    jobFinished = Signal(int, object)  # job id, warnings tuple
    jobCancelled = Signal(int)
    jobFailed = Signal(int, str)

    def __init__(self, gallery: Path, device: str | None = None, parent=None, engine_factory=None):
        super().__init__(parent)
        self.gallery = Path(gallery)
        self.device = device
        self.engine_factory = engine_factory  # e.g. a RemoteEngine's maker (studio.server_client); None: Engine
        self._inbox: queue.Queue = queue.Queue()
        self._ids = itertools.count(1)
        self._removed: set[int] = set()
        self._cancel = threading.Event()
        self._current: int | None = None
        self._lock = threading.Lock()
        self._stopping = False
        self._writing = threading.Lock()  # held while a finished image is written
        self._candidates: Path | None = None  # the temporary folder of outpaint/inpaint candidates

    # Called from the GUI thread.
    def submit(self, request: GenerateRequest | EditRequest | ImageRequest) -> int:
        """Queue a job: a GenerateRequest, an ImageRequest (img2img, upscale) or an EditRequest
        (outpaint/inpaint; every candidate is saved as a whole canvas, like any image)."""
        job_id = next(self._ids)
        self._inbox.put((job_id, request))
        return job_id

    def load_model(self, ref: str) -> None:
        self._inbox.put((_LOAD, ref))

    def set_engine_factory(self, factory) -> None:
        """Run the jobs after this on another engine (e.g. a server's RemoteEngine; None: this computer's)."""
        self._inbox.put((_ENGINE, factory))

    def remove(self, job_id: int) -> None:
        """Drop a job that has not started yet (a running one is cancelled instead)."""
        with self._lock:
            if self._current == job_id:
                self._cancel.set()
            else:
                self._removed.add(job_id)

    def cancel_current(self) -> None:
        with self._lock:
            if self._current is not None:
                self._cancel.set()

    def stop(self, timeout_ms: int = 2000) -> bool:
        """Cancel the running job, drop the queue and end the thread; True if it ended within
        `timeout_ms`. Once this returns no file is being written, and none will be."""
        with self._writing, self._lock:
            self._stopping = True
            self._cancel.set()
            if self._candidates is not None:  # none was accepted
                shutil.rmtree(self._candidates, ignore_errors=True)
        self._drain()
        self._inbox.put((_STOP, None))
        return self.wait(timeout_ms)

    def keep_candidate(self, result: JobResult) -> JobResult:
        """An accepted outpaint/inpaint candidate: its file moves into the gallery; the result
        names it there. Raises WriteError when it cannot be written (nothing half-written is left)."""
        from studio.errors import WriteError
        from studio.files import os_error_reason, write_atomic
        from studio.gallery.files import new_image_path

        try:
            with open(result.path, "rb") as candidate:  # before a name is claimed in the gallery
                target = new_image_path(self.gallery, result.recipe.request.prompt, result.seed)
                write_atomic(target, candidate)
        except WriteError:
            raise
        except OSError as exc:
            raise WriteError(f"cannot keep the candidate: {os_error_reason(exc)}") from exc
        self.drop_candidates([result])
        return dataclasses.replace(result, path=str(target))

    def drop_candidates(self, results: list[JobResult]) -> None:
        """Candidates no one accepted: their temporary files go."""
        for result in results:
            try:
                os.unlink(result.path)
            except OSError:
                pass

    def _candidate_folder(self) -> Path:
        if self._candidates is None:
            self._candidates = Path(tempfile.mkdtemp(prefix="studio-candidates-"))
        return self._candidates

    def _drain(self) -> None:
        try:
            while True:
                self._inbox.get_nowait()
        except queue.Empty:
            pass

    # The worker thread.
    def run(self) -> None:
        from studio.engine.runner import Engine

        engine = self.engine_factory() if self.engine_factory else Engine(device=self.device)
        while True:
            kind, payload = self._inbox.get()
            if kind is _STOP or self._stopping:
                return
            if kind is _LOAD:
                self._load(engine, payload)
                continue
            if kind is _ENGINE:
                self.engine_factory = payload
                engine = payload() if payload else Engine(device=self.device)
                continue
            with self._lock:
                if self._stopping:
                    return
                if kind in self._removed:
                    self._removed.discard(kind)
                    continue
                self._current = kind
                self._cancel.clear()
            try:
                self._run_job(engine, kind, payload)
            finally:
                with self._lock:
                    self._current = None

    def _load(self, engine, ref: str) -> None:
        from studio.errors import StudioError

        self.modelLoading.emit(ref)

        def progress(step) -> None:
            if not self._stopping:
                self.modelProgress.emit(ref, step.stage, step.done, step.total)

        try:
            model = engine.models.get(ref, on_progress=progress)
        except StudioError as exc:
            self.modelFailed.emit(ref, str(exc))
            return
        except Exception as exc:  # a model that breaks the loader must not end the thread
            log.exception("loading the model %s failed", ref)
            self.modelFailed.emit(ref, f"cannot load {ref}: {exc}")
            return
        self.modelLoaded.emit(ref, model.info.defaults)

    def _run_job(self, engine, job_id: int, request: GenerateRequest) -> None:
        from studio.engine.edit import EditRequest  # numpy: not on the window's startup path
        from studio.engine.events import Cancelled, EditPreview, Failed, Finished, ImageDone, Preview, Started, Step
        from studio.engine.image_request import ImageRequest
        from studio.gallery.files import new_image_path
        from studio.recipe.embed import write_png

        edit = isinstance(request, EditRequest)
        image_job = isinstance(request, ImageRequest)  # img2img or upscale
        # An upscale's result is a candidate too: the window accepts it at once, so undo can take it back.
        candidate = edit or (image_job and request.kind == "upscale")

        def on_event(event) -> None:
            if isinstance(event, Started):
                self.jobStarted.emit(job_id, request)
            elif isinstance(event, Step):
                self.stepDone.emit(job_id, event.index, event.step, event.total, event.step_s)
            elif isinstance(event, Preview):
                rgb = event.canvas_rgb() if isinstance(event, EditPreview) else event.rgb
                self.previewReady.emit(job_id, event.index, event.step, to_qimage(rgb))
            elif isinstance(event, ImageDone):
                result = event.result
                with self._writing:
                    if self._stopping:
                        return
                    folder = self._candidate_folder() if candidate else self.gallery
                    path = new_image_path(folder, request.prompt, result.seed)
                    write_png(path, result.image, result.recipe)
                import numpy as np

                pixels = np.asarray(result.image.convert("RGB"))
                self.imageSaved.emit(
                    JobResult(
                        job_id, result.index, result.seed, str(path), to_qimage(pixels), result.recipe, result.elapsed_s
                    )
                )

        # A failed save (full disk) raises inside on_event and ends the job as Failed.
        run = engine.run_edit if edit else engine.run_image if image_job else engine.run
        final = run(request, on_event, self._cancel)
        if isinstance(final, Finished):
            self.jobFinished.emit(job_id, final.warnings)
        elif isinstance(final, Cancelled):
            self.jobCancelled.emit(job_id)
        elif isinstance(final, Failed):
            self.jobFailed.emit(job_id, final.message)
