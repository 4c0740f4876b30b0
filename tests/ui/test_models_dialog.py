"""The Models dialog, the model picker and model loading in the window, on a real library in a tmp DATA_DIR."""

from __future__ import annotations

from studio.engine.checkpoints import pack_header


def test_a_model_that_fails_to_load_leaves_the_previous_one_selected_and_usable(qtbot, make_app, tmp_path, tiny_model):
    studio = make_app(steps=2)
    broken = tmp_path / "not-a-model.safetensors"
    broken.write_bytes(pack_header({"encoder.down.0.weight": ("F16", (2, 2))}))
    with qtbot.waitSignal(studio.worker.modelFailed, timeout=30000):
        studio.window.controls.model.addItem("not-a-model", str(broken))  # as if the picker offered it
        studio.window.controls.model.setCurrentIndex(studio.window.controls.model.count() - 1)
    assert "not a Stable Diffusion checkpoint" in studio.window.error.text()
    qtbot.waitUntil(lambda: studio.window.controls.model.currentData() == str(tiny_model), timeout=10000)
    assert studio.session["model"] == str(tiny_model)
    qtbot.waitUntil(lambda: "ready" in studio.window.model_status.text(), timeout=30000)
    assert "not a Stable Diffusion checkpoint" in studio.window.error.text()  # the reason stays on screen
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        studio.window.controls.generate.click()
    assert len(list(studio.gallery.glob("*.png"))) == 1


def test_loading_says_which_model_with_a_busy_indicator(qtbot, make_app, tiny_model):
    studio = make_app(steps=2)
    assert not studio.window.model_busy.isVisible()
    studio.window.controls.model.setCurrentIndex(studio.window.controls.model.findData("embedded"))
    assert studio.window.model_status.text() == "Loading Studio landscape (embedded)…"
    assert studio.window.model_busy.isVisible() and studio.window.model_busy.maximum() == 0
    qtbot.waitUntil(lambda: "ready" in studio.window.model_status.text(), timeout=60000)
    assert not studio.window.model_busy.isVisible()
