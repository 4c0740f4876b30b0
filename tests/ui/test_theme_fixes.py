"""Three faults seen in the real window on the dark theme: disabled tool buttons that look
enabled, radio buttons whose unchecked circle hardly shows, and a timeline that keeps the
previous picture's steps after an upscale or an accepted outpaint."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QRadioButton, QStyle, QStyleOptionButton

from studio.engine.request import GenerateRequest
from studio.model.session import Session
from studio.ui.edit_bar import EditBar
from studio.ui.results import Timeline
from studio.ui.theme import apply_theme, colours, contrast


@pytest.fixture
def dark(qapp):
    apply_theme(qapp, "dark")
    yield colours("dark")


def strongest(image: QImage, background: QColor, rect=None) -> float:
    """The highest contrast of any pixel of `image` (within `rect`) against `background`."""
    left, top = (rect.left(), rect.top()) if rect is not None else (0, 0)
    right = rect.right() if rect is not None else image.width() - 1
    bottom = rect.bottom() if rect is not None else image.height() - 1
    return max(
        contrast(image.pixelColor(x, y), background) for x in range(left, right + 1) for y in range(top, bottom + 1)
    )


# 1. Disabled tool buttons
def test_disabled_tool_buttons_look_dimmer_than_enabled_ones(qtbot, dark):
    bar = EditBar(Session())
    qtbot.addWidget(bar)
    bar.resize(900, 80)
    bar.show()
    qtbot.waitExposed(bar)
    background = QColor(dark["button"])
    for button in (bar.tool_buttons["extend"], bar.tool_buttons["brush"], bar.upscale, bar.variations):
        button.setEnabled(True)
        enabled = strongest(button.grab().toImage(), background)
        button.setEnabled(False)
        disabled = strongest(button.grab().toImage(), background)
        assert enabled >= 7.0, f"{button.text()}: enabled text {enabled:.2f}:1"  # as before: the theme's text
        assert disabled <= 0.6 * enabled, f"{button.text()}: disabled {disabled:.2f}:1 vs enabled {enabled:.2f}:1"


# 2. Radio buttons
def test_dark_radio_indicator_stands_out_from_the_window(qtbot, dark):
    box = QRadioButton("This computer")
    qtbot.addWidget(box)
    box.resize(160, 30)
    box.show()
    qtbot.waitExposed(box)
    background = QColor(dark["window"])
    option = QStyleOptionButton()
    box.initStyleOption(option)
    rect = box.style().subElementRect(QStyle.SubElement.SE_RadioButtonIndicator, option, box)
    for checked in (False, True):
        box.setChecked(checked)
        best = strongest(box.grab().toImage(), background, rect)
        assert best >= 3.0, f"checked={checked}: the indicator's strongest pixel has contrast {best:.2f}:1"


# 3. The timeline after an edit is accepted
@pytest.fixture
def shown(qtbot, tmp_path):
    """A router (on a worker that is never started) whose timeline is a Timeline, as in the app."""
    from studio.model.document import Document
    from studio.model.edits import Edits
    from studio.model.job_router import JobRouter
    from studio.model.jobs import JobQueue
    from studio.worker import Worker

    router = JobRouter(Worker(tmp_path / "gallery"), JobQueue(), Document(), Edits())
    router.edits.keep = lambda result: result
    timeline = Timeline()
    qtbot.addWidget(timeline)
    router.framesChanged.connect(lambda: timeline.set_frames(router.frame_count()))
    return router, timeline


def _image(colour) -> QImage:
    image = QImage(64, 64, QImage.Format.Format_RGB32)
    image.fill(colour)
    return image


def _generate(router) -> None:
    """Job 1: three step previews and the finished picture, as the worker reports them."""
    from studio.recipe.schema import Recipe
    from studio.worker import JobResult

    request = GenerateRequest(prompt="a house", seed=1, steps=3, model="tiny", width=64, height=64)
    worker = router.worker
    worker.jobStarted.emit(1, request)
    for step in range(3):
        worker.previewReady.emit(1, 0, step, _image(Qt.GlobalColor.darkGray))
    image = _image(Qt.GlobalColor.darkCyan)
    worker.imageSaved.emit(JobResult(1, 0, 1, "/nowhere/1.png", image, Recipe(request=request, model_name="tiny")))
    worker.jobFinished.emit(1, [])
    router.edits.load(np.full((64, 64, 3), 90, np.uint8), "/nowhere/1.png", key=image.cacheKey())


def _edit(router, job_id: int, kind: str, size=(64, 64)) -> None:
    edits = router.edits
    edits.begin_job(job_id, kind, 1)
    for _ in range(2):
        edits.show_preview(job_id, _image(Qt.GlobalColor.gray), 0)
    pixels = np.full((size[1], size[0], 3), 200, np.uint8)

    class Result:
        index, path, recipe = 0, f"/nowhere/{job_id}.png", None

    edits.add_candidate(job_id, _image(Qt.GlobalColor.white), Result())
    edits.candidates[-1] = type(edits.candidates[-1])(pixels, Result(), edits.candidates[-1].frames)
    edits.end_job(job_id, "done")
    assert edits.accept()


@pytest.mark.parametrize("kind", ["upscale", "outpaint"])
def test_the_timeline_forgets_the_previous_pictures_steps_after_an_accepted_edit(shown, kind):
    router, timeline = shown
    _generate(router)
    assert timeline.label.text() == "Final (3 steps)"
    _edit(router, 2, kind, (128, 128) if kind == "upscale" else (96, 64))
    assert router.frame_count() == 0
    assert "Final" not in timeline.label.text() and "Step" not in timeline.label.text()
    assert not timeline.isEnabled()
    router.edits.undo()  # the generated picture again: its steps again
    assert timeline.label.text() == "Final (3 steps)"
    router.edits.redo()
    assert router.frame_count() == 0 and "Final" not in timeline.label.text()


def test_no_label_when_the_picture_has_no_steps(qtbot):
    timeline = Timeline()
    qtbot.addWidget(timeline)
    timeline.set_frames(0)
    assert timeline.label.text() == ""
    timeline.set_frames(4)
    assert timeline.label.text() == "Final (3 steps)"
