"""Small things the window got wrong: outpaint candidates in the gallery, deleted images in the
recent strip, and a guidance value that was not the model's until it had loaded."""

from __future__ import annotations

import os
import tempfile

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from studio.engine.models import resolve_model
from studio.model.session import DEFAULTS
from studio.testing.gallery_samples import save_studio_png

from .window_app import window_app  # noqa: F401  (a fixture)


def strip(recent) -> list[str]:
    return [recent.item(row).data(Qt.ItemDataRole.UserRole) for row in range(recent.count())]


def _outpaint(qtbot, studio):
    studio.extend_canvas(0, 0, 16, 0)
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=120000):
        studio.edit_job()
    assert len(studio.edits.candidates) == 2


def test_only_the_accepted_candidate_joins_the_gallery(qtbot, window_app, tmp_path, monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    studio = window_app(steps=2, candidates=2)
    studio.open_path(str(save_studio_png(tmp_path / "picture.png", "a lake", width=64, height=64)))
    _outpaint(qtbot, studio)
    assert not list(studio.gallery.glob("*.png"))  # candidates wait in a temporary place
    candidates = [c.result.path for c in studio.edits.candidates]
    studio.window.candidate_bar.discard.click()
    assert not list(studio.gallery.glob("*.png")) and not any(os.path.exists(p) for p in candidates)

    _outpaint(qtbot, studio)
    chosen = studio.edits.candidates[studio.edits.current].pixels
    studio.window.candidate_bar.accept.click()
    kept = list(studio.gallery.glob("*.png"))
    assert len(kept) == 1 and np.array_equal(np.asarray(Image.open(kept[0]).convert("RGB")), chosen)
    assert studio.edits.picture.path == str(kept[0])
    assert strip(studio.window.recent) == [str(kept[0])]
    assert studio.gallery_model.row_of(kept[0].name) >= 0
    assert [p for p in temp.rglob("*") if p.is_file()] == []  # the other candidate went


def test_a_deleted_image_leaves_the_recent_strip(qtbot, window_app):
    studio = window_app(steps=2)
    for _ in range(2):
        with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
            studio.window.controls.generate.click()
    recent = studio.window.recent
    newest, older = strip(recent)
    studio.gallery_model.delete([newest.rsplit("/", 1)[-1]])
    assert strip(recent) == [older]
    os.remove(older)  # deleted behind Studio's back, then clicked
    recent.opened.emit(older)
    assert strip(recent) == [] and "no such file" in studio.window.error.text()


def test_guidance_shows_the_model_default_before_the_model_loads(qtbot, window_app, tiny_model):
    defaults = resolve_model(str(tiny_model)).defaults
    assert (defaults.guidance_scale, defaults.steps) != (DEFAULTS["guidance_scale"], DEFAULTS["steps"])
    studio = window_app(
        wait_for_model=False, defaults_for="", steps=DEFAULTS["steps"], guidance_scale=DEFAULTS["guidance_scale"]
    )
    loaded = []
    studio.worker.modelLoaded.connect(lambda *_: loaded.append(1))
    qtbot.waitUntil(lambda: studio.window.built, timeout=30000)
    controls = studio.window.controls
    shown = (controls.guidance.value(), controls.steps.value())
    assert not loaded  # what was shown before the model loaded
    assert shown == (defaults.guidance_scale, defaults.steps)
    with qtbot.waitSignal(studio.worker.modelLoaded, timeout=60000):
        pass
    assert (controls.guidance.value(), controls.steps.value()) == shown
