"""The desktop app driven as a person would: keys, clicks, the real worker and a real (tiny) model."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from studio.model.pixels import to_array
from studio.recipe.walker import read_recipe


def _generate_with_keys(qtbot, studio, prompt: str):
    prompt_box = studio.window.controls.prompt
    assert prompt_box.hasFocus() or studio.window.focusWidget() is prompt_box
    prompt_box.clear()
    qtbot.keyClicks(prompt_box, prompt)
    qtbot.keyClick(prompt_box, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def test_type_prompt_ctrl_enter_watch_it_and_keep_it(qtbot, make_app):
    studio = make_app(steps=5)
    previews, steps = [], []
    studio.worker.previewReady.connect(lambda *args: previews.append(args))
    studio.worker.stepDone.connect(lambda *args: steps.append(args))
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        _generate_with_keys(qtbot, studio, "a red house on the lake")
    qtbot.waitUntil(lambda: studio.window.progress.format() == "Done")
    assert [p[2] for p in previews] == [1, 2, 3, 4, 5]
    assert [s[2:4] for s in steps] == [(k, 5) for k in range(1, 6)]
    assert studio.window.progress.value() == studio.window.progress.maximum() == 5
    files = list(studio.gallery.glob("*.png"))
    assert len(files) == 1
    recipe = read_recipe(files[0])
    assert recipe.request.prompt == "a red house on the lake" and recipe.request.steps == 5
    assert studio.document.path == str(files[0])
    assert studio.window.canvas.image.size().width() == 64
    assert studio.window.recent.count() == 1


def test_progress_text_reads_steps_speed_and_time_left(qtbot, make_app):
    studio = make_app(steps=6)
    texts = []
    studio.queue.progressChanged.connect(lambda step, total, text: texts.append(text))
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        studio.window.controls.generate.click()
    assert texts[0].startswith("Step 1/6 · ") and "s/step" in texts[0] and "left" in texts[0]
    assert texts[-1].startswith("Step 6/6")


def test_escape_cancels_mid_job_and_writes_nothing(qtbot, make_app):
    studio = make_app(steps=150)
    with qtbot.waitSignal(studio.worker.stepDone, timeout=60000):
        studio.window.controls.generate.click()
    with qtbot.waitSignal(studio.worker.jobCancelled, timeout=10000):
        qtbot.keyClick(studio.window.controls.prompt, Qt.Key.Key_Escape)
    assert list(studio.gallery.glob("*")) == [] if studio.gallery.exists() else True
    assert studio.window.progress.format() == "Cancelled"
    assert studio.queue.jobs == []


def test_generate_twice_queues_the_second_job(qtbot, make_app):
    studio = make_app(steps=30)
    finished = []
    studio.worker.jobFinished.connect(lambda job, _: finished.append(job))
    with qtbot.waitSignal(studio.worker.stepDone, timeout=60000):
        studio.window.controls.generate.click()
    studio.window.controls.generate.click()
    assert studio.window.controls.queue.count() == 2
    assert len(studio.queue.pending) == 1
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=120000)
    assert finished == sorted(finished)
    assert len(list(studio.gallery.glob("*.png"))) == 2
    assert studio.window.controls.queue.count() == 0


def test_a_pending_job_can_be_removed(qtbot, make_app):
    studio = make_app(steps=40)
    started = []
    studio.worker.jobStarted.connect(lambda job, _: started.append(job))
    with qtbot.waitSignal(studio.worker.stepDone, timeout=60000):
        studio.window.controls.generate.click()
    studio.window.controls.generate.click()
    queue = studio.window.controls.queue
    queue.item(1).setSelected(True)
    studio.window.controls.remove_job.click()
    assert queue.count() == 1
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=120000):
        pass
    qtbot.wait(300)
    assert len(started) == 1
    assert len(list(studio.gallery.glob("*.png"))) == 1


def test_batch_shows_a_grid_and_a_click_chooses(qtbot, make_app):
    studio = make_app(steps=3, count=4)
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        studio.window.controls.generate.click()
    window = studio.window
    assert window.stack.currentWidget() is window.grid
    assert len(window.grid.buttons) == 4
    qtbot.mouseClick(window.grid.buttons[2], Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is window.canvas
    chosen = studio.document.candidates[2]
    assert studio.document.path == chosen.path
    assert np.array_equal(to_array(window.canvas.image), np.asarray(Image.open(chosen.path).convert("RGB")))


def test_timeline_scrubs_from_noise_to_picture_and_exports(qtbot, make_app, tmp_path):
    studio = make_app(steps=6)
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        studio.window.controls.generate.click()
    slider = studio.window.timeline.slider
    assert studio.window.timeline.isEnabled()
    assert (slider.minimum(), slider.maximum(), slider.value()) == (0, 6, 6)
    frames = studio.document.current_frames
    slider.setValue(0)
    assert studio.window.canvas.image == frames[0]
    assert studio.window.canvas.image.width() == 8  # the step preview, at latent size
    assert studio.window.timeline.label.text() == "Step 1/6"
    slider.setValue(6)
    assert studio.window.canvas.image.width() == 64
    gif = tmp_path / "steps.gif"
    studio.export_animation_to(str(gif))
    with Image.open(gif) as animation:
        assert animation.n_frames == 7 and animation.size == (64, 64)


def test_closing_mid_job_stops_the_worker_and_leaves_no_partial_file(qtbot, make_app):
    studio = make_app(steps=150, count=3)
    with qtbot.waitSignal(studio.worker.stepDone, timeout=60000):
        studio.window.controls.generate.click()
    studio.window.close()
    assert studio.worker.wait(10000)  # how fast: bench/close.py
    leftovers = [p for p in studio.gallery.glob("*")] if studio.gallery.exists() else []
    assert leftovers == []


def test_a_broken_model_shows_a_message_and_the_app_goes_on(qtbot, make_app, tmp_path, tiny_model):
    studio = make_app(steps=2)
    broken = tmp_path / "broken"
    broken.mkdir()
    with qtbot.waitSignal(studio.worker.modelFailed, timeout=30000):
        studio.add_model_folder(str(broken))
    assert studio.window.error.isVisible()
    assert "model_index.json is missing" in studio.window.error.text()
    qtbot.waitUntil(lambda: studio.window.controls.model.currentData() == str(tiny_model), timeout=10000)
    qtbot.waitUntil(lambda: "ready" in studio.window.model_status.text(), timeout=60000)  # the model before is back
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        studio.window.controls.generate.click()
    assert len(list(studio.gallery.glob("*.png"))) == 1


def test_recent_result_reopens_with_its_parameters(qtbot, make_app):
    studio = make_app(steps=3, seed=42)
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        studio.window.controls.generate.click()
    first_path = studio.document.path
    studio.session.set("seed", 7)
    studio.session.set("prompt", "something else")
    item = studio.window.recent.item(0)
    rect = studio.window.recent.visualItemRect(item)
    qtbot.mouseClick(studio.window.recent.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert studio.document.path == first_path
    assert studio.session["seed"] == 42 and studio.session["prompt"] == ""
    assert studio.window.controls.seed.value() == 42


def test_settings_persist_between_runs(qtbot, make_app, tmp_path):
    data = tmp_path / "persist"
    studio = make_app(data=data, steps=3)
    studio.window.controls.steps.setValue(9)
    qtbot.keyClicks(studio.window.controls.prompt, "a lake")
    studio.window.close()
    again = make_app(data=data)
    assert again.session["steps"] == 9 and again.window.controls.steps.value() == 9
    assert again.window.controls.prompt.toPlainText() == "a lake"


def test_bad_size_is_refused_with_a_message(qtbot, make_app):
    studio = make_app()
    studio.session.set("width", 100)
    studio.window.controls.generate.click()
    assert "nearest valid sizes are 96 and 104" in studio.window.error.text()
    assert studio.queue.jobs == []


def test_nothing_clipped_at_1280x800(qtbot, make_app):
    from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QPlainTextEdit, QWidget

    studio = make_app()
    window = studio.window
    window.resize(1280, 800)
    qtbot.wait(50)
    panel = window.controls
    viewport = panel.parentWidget()
    assert panel.width() <= viewport.width()
    kinds = (QAbstractButton, QAbstractSpinBox, QComboBox, QPlainTextEdit)
    for child in panel.findChildren(QWidget):
        if isinstance(child, kinds) and child.isVisible():
            right = child.mapTo(panel, child.rect().topRight()).x()
            assert right <= viewport.width(), f"{child.objectName() or type(child).__name__} is clipped"
    for widget in (window.progress, window.timeline.export, window.recent, window.canvas):
        corner = widget.mapTo(window, widget.rect().bottomRight())
        assert corner.x() <= window.width() and corner.y() <= window.height()


def test_a_failing_job_does_not_stop_the_queue(qtbot, make_app, tmp_path):
    studio = make_app(steps=2)
    bad = studio.session.request().replace(model=str(tmp_path / "no-such-model"))
    failed, finished = [], []
    studio.worker.jobFailed.connect(lambda job, message: failed.append(message))
    studio.worker.jobFinished.connect(lambda job, warnings: finished.append(job))
    studio.queue.add(studio.worker.submit(bad), bad)
    studio.window.controls.generate.click()
    qtbot.waitUntil(lambda: bool(finished), timeout=60000)
    assert len(failed) == 1 and "no-such-model" in failed[0]
    assert studio.queue.running is None and not studio.queue.pending
    assert len(list(studio.gallery.glob("*.png"))) == 1


def test_the_recent_strip_opens_with_the_newest_gallery_images(qtbot, tmp_path, make_app):
    import os

    from studio.testing.gallery_samples import save_studio_png

    gallery = tmp_path / "data" / "gallery"
    gallery.mkdir(parents=True)
    for age, prompt in enumerate(["oldest", "middle", "newest"]):
        save_studio_png(gallery / f"{prompt}.png", prompt, mtime=1_700_000_000 + age)
    (gallery / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    os.utime(gallery / "broken.png", (1_800_000_000, 1_800_000_000))
    studio = make_app(prompt="a fresh one")
    recent = studio.window.recent
    qtbot.waitUntil(lambda: recent.count() == 3, timeout=10000)
    assert [recent.item(row).toolTip() for row in range(3)] == ["newest", "middle", "oldest"]
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        studio.window.controls.generate.click()
    qtbot.waitUntil(lambda: recent.count() == 4)
    assert recent.item(0).toolTip() == "a fresh one" and recent.item(1).toolTip() == "newest"
