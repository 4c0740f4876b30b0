"""Jobs made from a picture, in the window on the real worker and the tiny model: img2img from the
canvas picture (Strength below 100 %), Upscale ×1.5 / ×2 with undo and cancel, Variations from
the gallery or the canvas, and pictures dropped on the canvas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from studio.engine.image_request import ImageRequest
from studio.engine.request import GenerateRequest
from studio.model.pixels import to_array
from studio.model.session import Session
from studio.recipe.walker import read_recipe


@pytest.fixture(scope="module")
def tiny_model():
    """These tests run on the real embedded model (few steps; make_app's `tiny_model`)."""
    return "embedded"


def _picture(tmp_path: Path, width=72, height=56, name="source.png") -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(1)
    y = np.linspace(0, 1, height)[:, None, None]
    x = np.linspace(0, 1, width)[None, :, None]
    pixels = np.clip(rng.integers(0, 256, 3) * (1 - y) + 60 * np.sin(6 * x) + 90, 0, 255).astype(np.uint8)
    path = tmp_path / name
    Image.fromarray(pixels).save(path)
    return path, pixels


def _started(studio) -> list:
    requests: list = []
    studio.worker.jobStarted.connect(lambda _job, request: requests.append(request))
    return requests


def _gallery_files(studio) -> list[Path]:
    return sorted(studio.gallery.glob("*.png"))


# img2img from the canvas picture.


def test_strength_below_100_makes_a_new_picture_from_the_canvas_picture(qtbot, make_app, tmp_path):
    studio = make_app(steps=4, prompt="a green valley")
    path, pixels = _picture(tmp_path)
    studio.open_path(str(path))
    controls = studio.window.controls
    assert controls.strength.isEnabled()
    assert "text to image" in controls.strength_note.text().lower()
    controls.strength_box.setValue(60)
    assert studio.session["strength"] == 0.6
    assert controls.strength_note.text() == "from the canvas picture"
    requests = _started(studio)
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        controls.generate.click()
    (request,) = requests
    assert isinstance(request, ImageRequest) and request.kind == "img2img"
    assert request.strength == 0.6 and request.source == str(path)
    assert np.array_equal(request.image, pixels)
    assert request.prompt == "a green valley"
    saved = _gallery_files(studio)
    assert len(saved) == 1
    recipe = read_recipe(saved[0])
    assert recipe is not None and recipe.kind == "img2img" and recipe.extra["strength"] == 0.6
    with Image.open(saved[0]) as image:
        assert image.size == (72, 56)
    assert studio.document.path == str(saved[0])
    shown = to_array(studio.window.canvas.image)
    assert shown.shape == (56, 72, 3) and not np.array_equal(shown, pixels)
    assert np.array_equal(studio.edits.picture.base, shown)  # the new picture is the one to go on from


def test_at_100_percent_generate_stays_text_to_image(qtbot, make_app, tmp_path):
    studio = make_app(steps=2)
    path, _ = _picture(tmp_path)
    studio.open_path(str(path))
    assert studio.session["strength"] == 1.0
    requests = _started(studio)
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        studio.window.controls.generate.click()
    (request,) = requests
    assert isinstance(request, GenerateRequest)
    recipe = read_recipe(_gallery_files(studio)[0])
    assert recipe is not None and recipe.kind == "txt2img"


def test_strength_is_disabled_with_an_empty_canvas_and_is_kept(qtbot, make_app, tmp_path):
    studio = make_app(strength=0.45)
    assert studio.window.isActiveWindow()  # no label of the panel ever showed as a window of its own
    controls = studio.window.controls
    assert controls.strength_box.value() == 45
    assert not controls.strength.isEnabled() and not controls.strength_box.isEnabled()
    assert controls.strength_note.text() == "Text to image (no picture on the canvas)"
    requests = _started(studio)
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        controls.generate.click()
    assert isinstance(requests[0], GenerateRequest)  # nothing on the canvas: text to image
    assert controls.strength.isEnabled()  # now there is a picture to start from
    controls.strength_box.setValue(30)
    studio.window.close()
    assert json.loads((tmp_path / "data" / "settings.json").read_text())["strength"] == 0.3


def test_a_bad_saved_strength_keeps_the_default(tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"strength": 3, "upscale_strength": -1, "variation_strength": 0.5}))
    session = Session(settings)
    session.load()
    assert session["strength"] == 1.0 and session["upscale_strength"] == 0.2
    assert session["variation_strength"] == 0.5


def _drop_file(widget, path: Path) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    point = QPointF(widget.width() / 2, widget.height() / 2)
    enter = QDragEnterEvent(
        point.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(point, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return drop.isAccepted()


def test_a_png_file_dropped_on_the_canvas_opens_there(qtbot, make_app, tmp_path):
    studio = make_app()
    path, pixels = _picture(tmp_path, name="from the file manager.png")
    assert _drop_file(studio.window.canvas, path)
    assert studio.document.path == str(path)
    assert np.array_equal(studio.edits.picture.base, pixels)
    assert studio.window.controls.strength.isEnabled()


# Upscale.


def test_upscale_x2_doubles_the_picture_joins_the_gallery_and_undo_restores(qtbot, make_app, tmp_path):
    studio = make_app(steps=4)
    path, pixels = _picture(tmp_path, 64, 48)
    studio.open_path(str(path))
    window, edits = studio.window, studio.edits
    bar = window.edit_bar
    assert bar.upscale.isEnabled() and bar.upscale_strength.value() == 20
    requests = _started(studio)
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=120000):
        bar.upscale_actions[2.0].trigger()
    (request,) = requests
    assert isinstance(request, ImageRequest) and request.kind == "upscale"
    assert request.scale == 2.0 and request.strength == 0.2
    qtbot.waitUntil(lambda: len(_gallery_files(studio)) == 1, timeout=10000)
    saved = _gallery_files(studio)[0]
    with Image.open(saved) as image:
        assert image.size == (128, 96)
    recipe = read_recipe(saved)
    assert recipe is not None and recipe.kind == "upscale" and recipe.extra["scale"] == 2.0
    assert edits.size == (128, 96) and not edits.locked
    assert to_array(window.canvas.image).shape == (96, 128, 3)
    assert window.undo_action.isEnabled() and window.undo_action.text() == "&Undo Upscale ×2"
    assert window.recent.paths()[0] == str(saved)
    window.undo_action.trigger()
    assert edits.size == (64, 48) and np.array_equal(to_array(window.canvas.image), pixels)
    window.redo_action.trigger()
    assert edits.size == (128, 96)


def test_cancel_during_an_upscale_leaves_the_picture_and_the_gallery_as_they_were(qtbot, make_app, tmp_path):
    studio = make_app(steps=150)
    path, pixels = _picture(tmp_path, 160, 160)  # ×1.5: 240 px a side, 9 tiles of the model's 128
    studio.open_path(str(path))
    window = studio.window
    window.edit_bar.upscale_strength.setValue(100)
    progress: list = []
    studio.queue.progressChanged.connect(lambda step, total, text: progress.append((step, total)))
    with qtbot.waitSignal(studio.worker.previewReady, timeout=60000):
        window.edit_bar.upscale_actions[1.5].trigger()
    qtbot.waitUntil(lambda: bool(progress), timeout=20000)
    assert progress[-1][1] == 9 * 150  # the steps of all tiles together
    assert window.canvas.image.size().width() == 160  # previews show on the picture in place
    with qtbot.waitSignal(studio.worker.jobCancelled, timeout=30000):
        qtbot.keyClick(window.controls.prompt, Qt.Key.Key_Escape)
    assert studio.edits.size == (160, 160) and not studio.edits.locked
    assert np.array_equal(to_array(window.canvas.image), pixels)
    assert _gallery_files(studio) == [] and not window.undo_action.isEnabled()
    assert window.progress.format() == "Cancelled"


# Variations.


def _variations_checked(studio, source_seed: int, count: int) -> None:
    results = studio.document.candidates
    assert len(results) == count
    seeds = [r.recipe.request.variation_seed for r in results]
    assert seeds == list(range(seeds[0], seeds[0] + count))
    for result in results:
        request = result.recipe.request
        assert request.seed == source_seed and request.variation_strength == 0.25
        assert result.recipe.kind == "txt2img"
    assert studio.window.stack.currentWidget() is studio.window.grid
    assert len(studio.window.grid.buttons) == count


def test_variations_of_a_gallery_picture_fill_the_candidates_grid(qtbot, make_app):
    studio = make_app(steps=2, seed=321, prompt="a lake under a moon")
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        studio.window.controls.generate.click()
    panel = studio.gallery_panel
    name = _gallery_files(studio)[0].name
    qtbot.waitUntil(lambda: panel.model.row_of(name) >= 0, timeout=20000)
    panel.select_names([name])
    menu = panel.context_menu()
    (action,) = [a for a in menu.actions() if a.text() == "Variations"]
    assert action.isEnabled()
    requests = _started(studio)
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        action.trigger()
    (request,) = requests
    assert isinstance(request, GenerateRequest) and request.count == 4 and request.variation_strength == 0.25
    assert request.prompt == "a lake under a moon" and request.seed == 321
    _variations_checked(studio, 321, 4)
    qtbot.waitUntil(lambda: len(_gallery_files(studio)) == 5, timeout=10000)
    recipe = read_recipe(_gallery_files(studio)[-1])
    assert recipe is not None


def test_variations_of_the_canvas_picture_use_the_batch_count(qtbot, make_app):
    studio = make_app(steps=2, seed=77, count=1)
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        studio.window.controls.generate.click()
    studio.session.set("count", 3)
    studio.window.edit_bar.variation_strength.setValue(25)
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        studio.window.edit_bar.variations.click()
    _variations_checked(studio, 77, 3)


def test_variations_of_a_picture_without_a_recipe_say_why_not(qtbot, make_app, tmp_path):
    studio = make_app()
    path, _ = _picture(tmp_path)
    studio.open_path(str(path))
    assert not studio.window.edit_bar.variations.isEnabled()
    studio.canvas_variations()
    assert "recipe" in studio.window.error.text()
    assert studio.queue.jobs == []


def test_the_edit_menu_offers_the_upscales_and_variations(make_app, tmp_path):
    studio = make_app()
    edit = studio.window.menuBar().actions()[1].menu()
    texts = [a.text().replace("&", "") for a in edit.actions()]
    assert "Upscale ×1.5" in texts and "Upscale ×2" in texts and "Variations" in texts
    actions = studio.window.image_job_actions
    assert not any(a.isEnabled() for a in actions.values())  # nothing on the canvas yet
    path, _ = _picture(tmp_path)
    studio.open_path(str(path))
    assert actions[1.5].isEnabled() and actions[2.0].isEnabled()
    assert not actions["variations"].isEnabled()  # a picture without a recipe
