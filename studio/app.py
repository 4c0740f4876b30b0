"""The desktop app: the one place that builds the parts and wires them together.

The window appears before anything heavy loads: its frame paints first, then its panels
and the models behind them are built, and only once the canvas has painted does the
worker thread import torch and load the model.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from PySide6 import QtGui, QtWidgets  # classes by attribute: each loads when first used
from PySide6.QtCore import QByteArray, QSize, QTimer
from PySide6.QtWidgets import QApplication

from studio.model.pixels import to_array
from studio.model.session import Session
from studio.paths import data_dir, gallery_dir, log_dir
from studio.resources import APP_ID, icon_path
from studio.ui.main_window import MainWindow
from studio.ui.pyside_imports import quicker_feature_check
from studio.ui.theme import apply_theme
from studio.worker import Worker

if TYPE_CHECKING:  # built after the first paint, and imported there
    from studio.model.document import Document
    from studio.model.edits import Edits
    from studio.model.gallery import GalleryModel
    from studio.model.job_router import JobRouter
    from studio.model.jobs import JobQueue
    from studio.model.models_library import ModelsLibrary
    from studio.model.recent import RecentImages
    from studio.ui.gallery_panel import GalleryPanel
    from studio.ui.models_dialog import ModelsDialog

RECENT_ON_START = 40


class StudioApp:
    """Owns the session, queue, document, worker and window, and connects them."""

    def __init__(self, app: QApplication, data: Path, device: str | None = None):
        quicker_feature_check()  # before torch is imported
        self.app = app
        self.data = data
        self.gallery = gallery_dir(data)
        self.session = Session(data / "settings.json")
        self.session.load()
        self.session.remember_model(self.session["model"])
        from studio.engine.devices import use_offload_setting

        use_offload_setting(self.session["offload"])  # settings.json "offload": model CPU offload on CUDA
        apply_theme(app, self.session["theme"])
        # Built with the panels (see _build); nothing reads them before.
        self.queue: JobQueue
        self.document: Document
        self.edits: Edits
        self.router: JobRouter
        self.models: ModelsLibrary
        self.models_dialog: ModelsDialog | None = None  # built when first opened
        self._built = False
        from studio.model.engine_choice import load_choice

        self.engine_choice = load_choice(data)  # this computer, or a server (Models › Engine…)
        self.worker = Worker(self.gallery, device=device, engine_factory=self.engine_choice.factory())
        self.window = MainWindow(self.session)
        self.window.log_folder = log_dir(data)
        self.window.device_of = self.device_text
        self._job_sizes: dict[int, QSize] = {}  # the size of each generation's picture, for its step previews
        self.gallery_model: GalleryModel | None = None  # built once the window has painted (see _build_gallery)
        self.gallery_panel: GalleryPanel | None = None
        self._save_timer = QTimer(singleShot=True, interval=800)
        self._save_timer.timeout.connect(self.session.save)
        self._loaded_model: str | None = None
        self.recent_images: RecentImages | None = (
            None  # reads the newest gallery images for the strip (see _load_recent)
        )
        self._closed = False
        self.window.closing.connect(self.shutdown)
        self._restore_geometry()

    def _build(self) -> None:
        """The panels and the models behind them, once the window's frame is on screen."""
        if self._built or self._closed:
            return
        from studio.model.document import Document
        from studio.model.edits import Edits
        from studio.model.job_router import JobRouter
        from studio.model.jobs import JobQueue

        self._open_library()
        self.queue, self.document, self.edits = JobQueue(), Document(), Edits()
        self.router = JobRouter(self.worker, self.queue, self.document, self.edits)
        self._built = True
        self.session.start_from_model_defaults(self.session["model"])
        self.window.build()
        self._wire()
        self._restore_state()
        self._show_model_hints()
        self.window.canvas.firstPainted.connect(self._start_worker)
        self.load_model(self.session["model"])  # first in the worker's queue: a job asked for now follows it

    def _wire(self) -> None:
        w, s, q, d, r, worker = self.window, self.session, self.queue, self.document, self.router, self.worker
        w.generateRequested.connect(self.generate)
        w.cancelRequested.connect(r.cancel)
        w.controls.removeJobRequested.connect(r.remove)
        w.controls.reuseSeedRequested.connect(self.reuse_last_seed)
        w.controls.addModelRequested.connect(self.show_models)
        w.modelsRequested.connect(self.show_models)
        w.engineRequested.connect(self.show_engine)
        self._show_engine_status()
        w.openRequested.connect(self.open_image)
        w.saveAsRequested.connect(self.save_as)
        w.exportAnimationRequested.connect(self.export_animation)
        w.reuseRequested.connect(self.reuse_parameters)
        w.themeToggled.connect(lambda light: self._set_theme("light" if light else "dark"))
        w.recent.opened.connect(self.open_path)
        w.grid.chosen.connect(d.select_candidate)
        w.timeline.scrubbed.connect(r.show_frame)
        s.changed.connect(self._session_changed)

        worker.modelLoading.connect(lambda ref: w.show_model_state(f"Loading {model_name(ref)}…", busy=True))
        worker.modelProgress.connect(self._model_progress)
        worker.modelLoaded.connect(self._model_loaded)
        worker.modelFailed.connect(self._model_failed)
        r.started.connect(self._job_started)
        r.ended.connect(w.progress.setFormat)
        r.message.connect(w.show_error)
        r.batchShown.connect(lambda: w.stack.setCurrentWidget(w.grid))
        r.inGallery.connect(self._in_gallery)
        r.framesChanged.connect(self._frames_changed)
        worker.jobStarted.connect(self._note_picture_size)

        q.changed.connect(self._show_queue)
        q.changed.connect(lambda: w.controls.set_running(q.running is not None))
        q.progressChanged.connect(self._progress)
        d.imageChanged.connect(self._document_shown)
        self._wire_edits()
        d.candidatesChanged.connect(lambda: w.grid.set_images([c.image for c in d.candidates]))

    def _wire_edits(self) -> None:
        w, e, canvas = self.window, self.edits, self.window.canvas
        e.changed.connect(self._edits_changed)
        e.history.indexChanged.connect(lambda _: self._edits_changed())
        canvas.extendRequested.connect(self.extend_canvas)
        canvas.stroked.connect(e.stroke)
        canvas.refused.connect(w.show_error)
        canvas.flipRequested.connect(e.flip)
        canvas.zone_planner = e.zones
        canvas.brush_size = self.session["brush_size"]
        w.candidate_bar.flipped.connect(e.flip)
        w.candidate_bar.accepted.connect(e.accept)
        e.refused.connect(w.show_error)
        w.candidate_bar.discarded.connect(e.discard)
        w.edit_bar.toolChanged.connect(canvas.set_tool)
        w.edit_bar.brushSizeChanged.connect(lambda size: setattr(canvas, "brush_size", size))
        w.edit_bar.clearMaskRequested.connect(e.clear_mask)
        w.edit_bar.outpaintRequested.connect(self.edit_job)
        w.edit_bar.inpaintRequested.connect(self.edit_job)
        w.edit_bar.upscaleRequested.connect(self.upscale)
        w.edit_bar.variationsRequested.connect(self.canvas_variations)
        w.undoRequested.connect(e.undo)
        w.redoRequested.connect(e.redo)

    def _build_gallery(self) -> None:
        """The gallery dock, its model and their wiring, then the model's start; after the first
        paint, to open fast."""
        from studio.model.gallery import GalleryModel
        from studio.ui.gallery_grid import install_drop_opener, reveal_in_file_manager
        from studio.ui.gallery_panel import GalleryPanel

        self.gallery_model = model = GalleryModel(self.data)
        self.gallery_panel = panel = GalleryPanel(model)
        self.window.add_gallery(panel)
        state = self.session["window_state"]  # the dock's place, size and visibility
        if state:
            self.window.restoreState(QByteArray.fromBase64(state.encode("ascii")))
        panel.openRequested.connect(self.open_path)
        panel.reuseRequested.connect(self.apply_settings)
        panel.variationsRequested.connect(self.gallery_variations)
        panel.revealRequested.connect(reveal_in_file_manager)
        model.exported.connect(lambda message, where, folder: self.window.show_saved(where, message, folder))
        model.optionsChanged.connect(self._forget_deleted)  # after a delete, an import, a sync that found changes
        self._canvas_drops = install_drop_opener(self.window.canvas, self.open_path)
        model.start()

    def _forget_deleted(self) -> None:
        from studio.model.recent import missing

        self.window.recent.remove(missing(self.window.recent.paths()))

    def apply_settings(self, settings: dict) -> None:
        """Fill the controls from a gallery image's recipe (what Studio can use of it), seed included."""
        for key, value in settings.items():
            self.session.set(key, value)
        if "seed" in settings:
            self.session.set("random_seed", False)

    def start(self) -> None:
        """Show the window; its panels follow its first paint, the worker (and torch) theirs."""
        self.window.firstPainted.connect(lambda: QTimer.singleShot(0, self._build))
        self.window.show()

    def _start_worker(self) -> None:
        if not self.worker.isRunning():
            self.worker.start()  # first: torch takes longest, the gallery is built meanwhile
            self._load_recent()
            self._build_gallery()

    def load_model(self, ref: str) -> None:
        self.window.show_model_state(f"Loading {model_name(ref)}…", busy=True)
        self.worker.load_model(ref)
        self._show_queue()

    def _show_queue(self) -> None:
        """The queue list; while the chosen model loads, its pending jobs say they wait for it."""
        if self._built:
            self.window.controls.set_queue(self.queue.jobs, waiting=self._loaded_model != self.session["model"])

    # What the person asks for.
    def generate(self) -> None:
        """Generate: from the prompt, or (Strength below 100 %) from the canvas picture."""
        from studio.model.image_jobs import generate_request

        self._submit(lambda: generate_request(self.session, self.edits))

    def upscale(self, scale: float) -> None:
        from studio.model.image_jobs import upscale_request

        self._submit(lambda: upscale_request(self.session, self.edits, scale))

    def canvas_variations(self) -> None:
        from studio.model.image_jobs import variations_request

        picture = self.edits.picture
        self._submit(lambda: variations_request(self.session, picture.recipe if picture is not None else None))

    def gallery_variations(self, path: str) -> None:
        from studio.model.image_jobs import variations_request
        from studio.recipe.walker import read_recipe

        self._submit(lambda: variations_request(self.session, read_recipe(path)))

    def _submit(self, make_request) -> None:
        """Queue the job `make_request()` makes, or say in one line why it cannot be made."""
        from studio.errors import StudioError

        try:
            request = make_request()
        except StudioError as exc:
            self.window.show_error(str(exc))
            return
        self.window.show_error("")
        self.router.submit(request)

    # Outpainting and inpainting.
    def extend_canvas(self, left: int, top: int, right: int, bottom: int) -> None:
        """A handle was released: grow (or crop back) the canvas; outpaint at once when 'Auto' is on."""
        self.window.show_error("")
        if self.edits.set_extend(left, top, right, bottom) and self.edits.extended and self.session["auto_outpaint"]:
            self.edit_job()

    def edit_job(self) -> None:
        """Fill the new area and the painted region: one job of N candidates from the prompt box."""
        e = self.edits
        if not e.has_image or e.locked:
            return
        if not e.extended and not e.painted:
            self.window.show_error(
                "Nothing to fill: drag an edge of the canvas outward, or paint a region with the brush"
            )
            return
        from studio.errors import StudioError

        try:
            request = e.request(self.session.request(), int(self.session["candidates"]), self.session["fill"])
        except StudioError as exc:
            self.window.show_error(str(exc))
            return
        self.window.show_error("")
        self.router.submit(request)

    def _document_shown(self) -> None:
        """The document shows another image: a step preview, or a picture to edit from now on."""
        d = self.document
        if d.image.isNull() and self.edits.has_image:  # a generation was cancelled: back to the picture
            self._edits_changed()
        elif d.is_preview:
            self.window.canvas.show_preview(d.image, self._picture_size())
            self._edit_controls()
        elif d.image.isNull():
            self.window.canvas.set_image(d.image)
            self._edit_controls()
        else:
            self.edits.load(to_array(d.image), d.path, d.recipe, key=d.image.cacheKey())

    def _edits_changed(self) -> None:
        e = self.edits
        if not self.document.is_preview:
            floor = e.base_rect if e.has_image and not e.locked else None
            self.window.canvas.set_edit(e.display(), floor, e.mask_overlay())
        self.window.candidate_bar.set_candidates(
            e.current, len(e.candidates), e.expected if e.job_id is not None else 0, e.previewing
        )
        self._edit_controls()

    def _edit_controls(self) -> None:
        e, w = self.edits, self.window
        editable = e.has_image and not e.locked and not self.document.is_preview
        w.edit_bar.set_state(editable, editable and e.extended, editable and e.painted, e.painted)
        can_vary = editable and getattr(e.picture and e.picture.recipe, "kind", "") == "txt2img"
        w.edit_bar.set_image_jobs(editable and not e.extended, can_vary)
        for key, action in w.image_job_actions.items():
            action.setEnabled(can_vary if key == "variations" else editable and not e.extended)
        w.controls.set_canvas_picture(e.has_image)
        for action, able, text, name in (
            (w.undo_action, e.can_undo, e.history.undoText(), "Undo"),
            (w.redo_action, e.can_redo, e.history.redoText(), "Redo"),
        ):
            action.setEnabled(able)
            action.setText(f"&{name} {text}" if able and text else f"&{name}")

    def reuse_last_seed(self) -> None:
        if self.session.last_seed is not None:
            self.session.set("seed", self.session.last_seed)
            self.session.set("random_seed", False)

    def reuse_parameters(self) -> None:
        if self.document.recipe is not None:
            self.session.apply_request(self.document.recipe.request)

    def _open_library(self) -> None:
        """The models library: its names work as model refs in the worker, its checkpoints fill the picker."""
        from studio.engine.draft_decoders import draft_cache, use_draft_training
        from studio.engine.models import use_model_finder, use_resource_finder
        from studio.library.resources import resource_finder
        from studio.model.models_library import ModelsLibrary

        self.models = ModelsLibrary(self.data)
        use_model_finder(self.models.library.finder)
        use_draft_training(draft_cache(self.data), background=True)  # fitted on a model's first job, then cached
        use_resource_finder(resource_finder(self.models.library))  # LoRAs, embeddings, VAEs by name
        self.models.changed.connect(self._library_changed)
        self.models.failed.connect(self.window.show_error)
        self.models.transferEnded.connect(lambda text, ok: self.window.statusBar().showMessage(text, 10000))
        self.models.refresh()

    def _library_changed(self) -> None:
        checkpoints = [e for e in self.models.entries("checkpoints") if not e.problem]
        self.window.controls.set_library(
            [(e.name, f"{e.path}\n{e.description}" if e.description else str(e.path)) for e in checkpoints]
        )
        self.window.controls.set_prompt_library(self.models.entries())  # LoRAs and embeddings in the prompt boxes

    def show_models(self) -> None:
        """Models › Manage models… (and the Add… button beside the picker)."""
        if self.models_dialog is None:
            from studio.ui.models_dialog import ModelsDialog

            self.models_dialog = ModelsDialog(self.models, self.window)
            self.models_dialog.useRequested.connect(lambda name: self.session.set("model", name))
        self.models_dialog.show()
        self.models_dialog.raise_()
        self.models_dialog.activateWindow()

    def show_engine(self) -> None:
        """Models › Engine…: this computer or a server; a new choice applies to the jobs after it."""
        from studio.ui.engine_dialog import EngineDialog

        choice = self.engine_choice
        dialog = EngineDialog(choice.mode, choice.url, choice.token, self.window)
        dialog.checkRequested.connect(lambda url, token: _in_background(_check, url, token, dialog.checked.emit))
        if dialog.exec() == EngineDialog.DialogCode.Accepted:
            self.set_engine(*dialog.values())

    def set_engine(self, mode: str, url: str = "", token: str = "") -> None:
        from studio.model.engine_choice import EngineChoice, save_choice

        self.engine_choice = EngineChoice(mode, url, token)
        save_choice(self.data, self.engine_choice)
        self.worker.set_engine_factory(self.engine_choice.factory())
        self._show_engine_status()
        self.load_model(self.session["model"])  # the model's settings as the new engine has them

    def _show_engine_status(self) -> None:
        from studio.ui.engine_dialog import EngineStatus

        status = getattr(self, "engine_status", None)
        if status is None:
            status = self.engine_status = EngineStatus()
            self.window.statusBar().addPermanentWidget(status)
        choice = self.engine_choice
        status.show_engine(choice.label(), checking=choice.remote)
        if choice.remote:
            _in_background(_check, choice.url, choice.token, status.checked.emit)

    def add_model_folder(self, folder: str) -> None:
        self.session.remember_model(folder)
        self.session.set("model", folder)

    def open_image(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.window, "Open image", str(self.gallery), "Images (*.png *.jpg *.jpeg *.webp)"
        )
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> None:
        """Open the picture at `path` (a str that may hold a name's undecodable bytes) on the canvas."""
        from studio.errors import StudioError
        from studio.model.picture_files import read_picture

        try:
            opened = read_picture(path)
        except StudioError as exc:
            self.window.recent.remove([path])
            self.window.show_error(str(exc))
            return
        self.window.show_error("; ".join(opened.notes))
        self.window.stack.setCurrentWidget(self.window.canvas)
        self.document.open(opened.image, path, opened.recipe)
        if opened.recipe is not None:
            self.session.apply_request(opened.recipe.request)

    def save_as(self) -> None:
        if self.document.image.isNull():
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.window, "Save image as", str(Path.home() / "image.png"), "PNG (*.png)"
        )
        if path:
            self.save_image_to(path)

    def save_image_to(self, path: str) -> None:
        from studio.errors import StudioError
        from studio.model.picture_files import save_picture

        edited = self.edits.picture
        pixels = edited.base if edited is not None else to_array(self.document.image)
        try:
            save_picture(path, pixels, edited.recipe if edited is not None else self.document.recipe)
        except StudioError as exc:
            self.window.show_error(str(exc))
            return
        self.window.show_saved(path)

    def export_animation(self) -> None:
        if self.router.frame_count() < 2:
            self.window.show_error("there are no steps to animate for this image")
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.window, "Export animation", str(Path.home() / "steps.gif"), "GIF (*.gif);;WebP (*.webp)"
        )
        if path:
            self.export_animation_to(path)

    def export_animation_to(self, path: str) -> None:
        from studio.errors import StudioError
        from studio.model.picture_files import save_steps

        frames = self.router.animation_frames()
        height, width = frames[-1].shape[:2]
        try:
            save_steps(path, frames, (width, height))
        except (StudioError, ValueError) as exc:
            self.window.show_error(str(exc))
            return
        self.window.show_saved(path)

    # What the worker reports.
    def _model_progress(self, ref: str, stage: str, done: int, total: int) -> None:
        """A step of the load: "Loading X: text encoder 2/4…" and how far, in the status bar."""
        if ref == self.session["model"] and stage != "ready":  # ready: the loaded model's line follows
            self.window.show_model_state(f"Loading {model_name(ref)}: {stage}…", busy=True, done=done, total=total)

    def _model_loaded(self, ref: str, defaults) -> None:
        self._loaded_model = ref
        self._show_queue()
        if ref != self.session["model"]:
            return  # another model was chosen meanwhile; its load follows
        self.window.show_model_state(f"Model: {model_name(ref)} · ready")
        entry = self.models.entry(ref)
        if entry is not None and not entry.short_hash:  # for the recipes of the images to come
            self.models.hash_model(entry)
        from studio.engine.edit import native_side

        self.edits.native = native_side(defaults)
        self.window.controls.set_model_base(self.edits.native)
        self.session.start_from_model_defaults(ref, defaults)

    def _model_failed(self, ref: str, message: str) -> None:
        """Say why; the model that worked before is chosen again (and loaded again, if the failed load
        had already let it go), so the person can go on with it."""
        previous, self._loaded_model = self._loaded_model, None
        self.window.show_error(message)
        if ref != self.session["model"]:
            return  # another model was chosen meanwhile; its load follows
        if previous is None or previous == ref:
            self.window.show_model_state("No model loaded")
            return
        self.session.set("model", previous)  # reloads it (see _session_changed)

    def _note_picture_size(self, job_id: int, request) -> None:
        if not hasattr(request, "output_size"):  # an image job's own size is exact; its GenerateRequest's is padded
            request = getattr(request, "generate", request)  # an edit job's request holds its GenerateRequest
        width, height = getattr(request, "width", 0), getattr(request, "height", 0)
        shown = {key[0] for key in self.document.frames}
        self._job_sizes = {job: size for job, size in self._job_sizes.items() if job in shown}
        if width and height:
            self._job_sizes[job_id] = QSize(width, height)

    def _picture_size(self) -> QSize:
        """The size of the picture the document's step preview stands for (previews are smaller)."""
        key = self.document.frame_key
        size = self._job_sizes.get(key[0]) if key is not None else None
        return size if size is not None else self.document.image.size()

    def _frames_changed(self) -> None:
        e, d = self.edits, self.document
        previewing = e.previewing if e.has_frames else d.is_preview
        self.window.timeline.set_frames(self.router.frame_count(), final=not previewing)

    def device_text(self) -> str:
        """The device the model runs on, for About; torch is asked only once a model has loaded."""
        if self._loaded_model is None:
            return "chosen when a model has loaded"
        import torch

        from studio.engine.devices import pick_device
        from studio.errors import StudioError

        try:
            device = pick_device(self.worker.device)
        except StudioError as exc:
            return str(exc)
        if device.startswith("cuda"):
            return f"{device} ({torch.cuda.get_device_name(device)})"
        return device

    def _job_started(self, total_steps: int) -> None:
        self.window.stack.setCurrentWidget(self.window.canvas)
        self._progress(0, total_steps, "Starting…")

    def _progress(self, step: int, total: int, text: str) -> None:
        self.window.progress.setRange(0, total)
        self.window.progress.setValue(step)
        self.window.progress.setFormat(text)

    def _in_gallery(self, result) -> None:
        """A generated image, or an accepted candidate, now in the gallery."""
        self.window.recent.add(result.path, result.image, result.recipe.request.prompt)
        if self.gallery_model is not None:
            self.gallery_model.add_file(result.path)

    def _show_model_hints(self) -> None:
        """What the chosen model says it draws, read from its files while its weights load."""
        from studio.model.prompt_vocabulary import model_hints

        self.window.controls.set_model_hints(model_hints(self.session["model"]))

    def _session_changed(self, key: str) -> None:
        self._save_timer.start()
        if key == "model":
            self._show_model_hints()
        if key == "model" and self.session["model"] != self._loaded_model:
            self.session.start_from_model_defaults(self.session["model"])
            self.load_model(self.session["model"])

    def _set_theme(self, name: str) -> None:
        self.session.set("theme", name)
        apply_theme(self.app, name)

    def _restore_geometry(self) -> None:
        geometry = self.session["geometry"]
        if geometry:
            self.window.restoreGeometry(QByteArray.fromBase64(geometry.encode("ascii")))

    def _restore_state(self) -> None:
        state = self.session["window_state"]  # docks: the gallery's place, size and visibility
        if state:
            self.window.restoreState(QByteArray.fromBase64(state.encode("ascii")))

    def _load_recent(self) -> None:
        from studio.model.recent import RecentImages
        from studio.ui.results import THUMB

        if self.gallery.is_dir():
            self.recent_images = RecentImages()
            self.recent_images.ready.connect(self.window.recent.add_older)
            self.recent_images.load(self.gallery, RECENT_ON_START, THUMB)

    def shutdown(self) -> None:
        """Closing, in any state: keep the settings, stop the worker without waiting for what
        cannot be interrupted (it writes nothing more), and stop the background work."""
        if self._closed:
            return
        self._closed = True
        self.worker.blockSignals(True)  # nothing it still reports may reach the closed window
        self.worker.stop(0)
        if self.recent_images is not None:
            self.recent_images.stop(0)
        self.session.set("geometry", self.window.saveGeometry().toBase64().toStdString())
        if self.gallery_model is not None:  # else the saved docks would lose the gallery's place
            self.session.set("window_state", self.window.saveState().toBase64().toStdString())
        self._save_timer.stop()
        self.session.save()
        if self._built:
            self.edits.blockSignals(True)  # the window goes first; nothing may redraw it after
            self.edits.history.blockSignals(True)
        if self.gallery_model is not None:
            self.gallery_model.close()
        if self._built:
            from studio.engine.draft_decoders import use_draft_training
            from studio.engine.models import use_model_finder, use_resource_finder

            self.models.close()
            use_model_finder(None)
            use_resource_finder(None)
            use_draft_training(None)  # and a draft decoder still being fitted stops


def model_name(ref: str) -> str:
    """A model as the status bar names it: the embedded one in words, a library name as it is, a path by its last part."""
    if ref == "embedded":
        return "Studio landscape (embedded)"
    return Path(ref).name or ref


def application(argv: list[str] | None = None) -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app = existing
    else:
        # Qt names the X11 window's WM class after argv[0]; "studio" whatever launched it
        # (the script, python -m, a bundle), so docks group it under studio.desktop.
        app = QApplication([APP_ID, *(sys.argv if argv is None else argv)[1:]])
    app.setApplicationName("Studio")
    app.setDesktopFileName(APP_ID)  # docks and Wayland match the window to studio.desktop by this
    if icon_path().exists():
        app.setWindowIcon(QtGui.QIcon(str(icon_path())))
    return app


def run(studio: StudioApp) -> NoReturn:
    """Show the window and run until it closes; then end the process at once.

    By then the settings are saved, the worker writes nothing more and the gallery's background
    work has stopped. What is left would only cost time: a model load that cannot be interrupted,
    and the interpreter's teardown of torch and Qt (seconds); `os._exit` skips both, with the
    same exit status."""
    studio.start()
    code = studio.app.exec()
    studio.shutdown()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def start_up(data: Path, device: str | None = None, argv: list[str] | None = None) -> StudioApp:
    """What `main` builds: the log first (DATA_DIR/logs, see studio.logs), then the app, whose
    window shows what nobody caught."""
    from studio.logs import setup_logging
    from studio.ui.qt_logging import install_qt_messages, report_uncaught

    setup_logging(data)
    install_qt_messages()
    studio = StudioApp(application(argv), data, device)
    report_uncaught(studio.window)
    return studio


def _check(url: str, token: str) -> str:
    from studio.model.engine_choice import check_server

    return check_server(url, token)


def _in_background(work, *args) -> None:
    """`work(*args[:-1])` on a thread of its own; its answer goes to `args[-1]` (a signal's emit)."""
    import threading

    *given, answer = args
    threading.Thread(target=lambda: answer(work(*given)), daemon=True, name="engine-check").start()


def main(argv: list[str] | None = None, data: str | None = None, device: str | None = None) -> NoReturn:
    return run(start_up(data_dir(data), device, argv))
