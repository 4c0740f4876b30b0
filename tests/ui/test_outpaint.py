"""Outpainting and inpainting in the window, driven with real mouse events on the canvas."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from studio.engine.request import MAX_SIDE
from studio.model.pixels import to_array
from studio.ui.handles import HANDLES, handle_point

LEFT = Qt.MouseButton.LeftButton


def _move(canvas, pos: QPoint, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """A mouse move with the left button held (QTest's moves carry no buttons or modifiers)."""
    event = QMouseEvent(QEvent.Type.MouseMove, QPointF(pos), QPointF(canvas.mapToGlobal(pos)), LEFT, LEFT, modifiers)
    QApplication.sendEvent(canvas, event)


def drag(qtbot, canvas, start: QPoint, end: QPoint, shift: bool = False) -> None:
    modifiers = Qt.KeyboardModifier.ShiftModifier if shift else Qt.KeyboardModifier.NoModifier
    qtbot.mousePress(canvas, LEFT, modifiers, start)
    for k in (1, 2, 3):
        _move(canvas, start + (end - start) * k / 3, modifiers)
    qtbot.mouseRelease(canvas, LEFT, modifiers, end)


def drag_handle(qtbot, canvas, name: str, image_px: float, shift: bool = False) -> None:
    """Drag a handle outward (negative: inward) by about `image_px` pixels of the picture."""
    sx, sy = HANDLES[name]
    start = handle_point(canvas.image_rect(), name).toPoint()
    step = image_px * canvas.zoom
    drag(qtbot, canvas, start, start + QPoint(round(sx * step), round(sy * step)), shift)


def picture(tmp_path, width=64, height=64, seed=0, name="source.png"):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    path = tmp_path / name
    Image.fromarray(pixels).save(path)
    return path, pixels


def opened(make_app, tmp_path, **settings):
    studio = make_app(**settings)
    path, pixels = picture(tmp_path)
    studio.open_path(str(path))
    assert studio.edits.has_image
    return studio, pixels


# The edit model alone, without widgets.


def test_the_edit_model_locks_while_a_job_is_out_and_discard_restores(qapp):
    from PySide6.QtGui import QColor, QImage

    from studio.model.edits import Edits
    from studio.model.pixels import to_qimage

    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    edits = Edits()
    edits.load(pixels, key=1)
    assert edits.set_extend(0, 0, 0, 16) and edits.size == (64, 80)
    before = edits.display()
    assert before.hasAlphaChannel() and before.pixelColor(0, 70).alpha() == 0
    edits.begin_job(7, "outpaint")
    assert edits.locked and not edits.set_extend(0, 0, 0, 32) and not edits.can_undo
    preview = QImage(8, 10, QImage.Format.Format_RGB888)
    preview.fill(QColor(10, 200, 30))
    edits.show_preview(8, preview)  # another job's preview: ignored
    assert edits.display() == before
    edits.show_preview(7, preview)
    shown = edits.display()
    assert shown.pixelColor(5, 75) == QColor(10, 200, 30) and shown.pixelColor(5, 5) == before.pixelColor(5, 5)
    filled = np.zeros((80, 64, 3), np.uint8)
    edits.add_candidate(7, to_qimage(filled), None)
    edits.end_job(7, "done")
    assert edits.locked and edits.job_id is None and len(edits.candidates) == 1
    edits.discard()
    assert not edits.locked and edits.display() == before
    edits.load(pixels, key=1)  # the same picture shown again keeps the edits
    assert edits.extend == (0, 0, 0, 16) and edits.can_undo
    edits.begin_job(9, "outpaint")
    edits.load(pixels[:32], key=2)  # another picture: the job's results no longer belong here
    edits.add_candidate(9, to_qimage(filled), None)
    assert edits.candidates == [] and not edits.locked and not edits.can_undo and edits.size == (64, 32)


def test_each_candidate_keeps_its_steps_for_the_timeline(qapp):
    from PySide6.QtGui import QColor, QImage

    from studio.model.edits import Edits
    from studio.model.pixels import to_qimage

    def solid(rgb, width=8, height=10):
        image = QImage(width, height, QImage.Format.Format_RGB888)
        image.fill(QColor(*rgb))
        return image

    class Result:  # what the worker's JobResult tells the edit model: which image of the job it is
        def __init__(self, index):
            self.index = index

    pixels = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    edits = Edits()
    edits.load(pixels, key=1)
    edits.set_extend(0, 0, 0, 16)
    assert not edits.has_frames
    edits.begin_job(3, "outpaint", count=2)
    assert edits.has_frames and edits.frame_count() == 0
    finals = [np.full((80, 64, 3), 40 * (k + 1), np.uint8) for k in range(2)]
    for index, colours in enumerate((((200, 0, 0), (0, 200, 0)), ((0, 0, 200), (200, 200, 0), (0, 200, 200)))):
        for colour in colours:
            edits.show_preview(3, solid(colour), index)
        assert edits.frame_count() == len(colours)  # the one being made, live
        edits.add_candidate(3, to_qimage(finals[index]), Result(index))
    edits.end_job(3, "done")
    assert edits.current == 1 and edits.frame_count() == 4  # three steps, then the candidate
    edits.show_frame(0)
    shown = edits.display()
    assert shown.pixelColor(5, 75) == QColor(0, 0, 200) and shown.pixelColor(5, 5).getRgb()[:3] == tuple(
        int(v) for v in pixels[5, 5]
    )
    edits.show_frame(3)
    assert np.array_equal(to_array(edits.display()), finals[1])
    frames = edits.animation_frames()
    assert len(frames) == 4 and np.array_equal(frames[-1], finals[1])
    assert tuple(frames[1][75, 5]) == (200, 200, 0) and np.array_equal(frames[1][: 64 - 8], pixels[: 64 - 8])
    edits.show_frame(1)
    edits.flip(1)  # the other candidate: its own two steps, shown finished
    assert edits.frame_count() == 3 and np.array_equal(to_array(edits.display()), finals[0])
    edits.discard()
    assert not edits.has_frames and edits.frame_count() == 0


# Growing and cropping the canvas.


def test_each_handle_grows_the_canvas_by_the_snapped_amount(qtbot, make_app, tmp_path):
    studio, _ = opened(make_app, tmp_path)
    canvas, edits = studio.window.canvas, studio.edits
    expected = [0, 0, 0, 0]
    for name, (sx, sy) in HANDLES.items():
        drag_handle(qtbot, canvas, name, 19)  # 19 px snaps to 16
        if sx:
            expected[0 if sx < 0 else 2] += 16
        if sy:
            expected[1 if sy < 0 else 3] += 16
        assert edits.extend == tuple(expected), name
        assert edits.size == (64 + expected[0] + expected[2], 64 + expected[1] + expected[3])
        assert canvas.image.size().toTuple() == edits.size
    assert canvas.image.hasAlphaChannel()  # the new area is drawn as a checkerboard
    assert edits.history.count() == 8


def test_shift_snaps_to_64(qtbot, make_app, tmp_path):
    studio, _ = opened(make_app, tmp_path)
    drag_handle(qtbot, studio.window.canvas, "right", 40, shift=True)
    assert studio.edits.extend == (0, 0, 64, 0)
    drag_handle(qtbot, studio.window.canvas, "bottom-left", 20, shift=True)
    assert studio.edits.extend == (0, 0, 64, 0)  # 20 px is nearer 0 than 64
    drag_handle(qtbot, studio.window.canvas, "bottom-left", 35, shift=True)
    assert studio.edits.extend == (64, 0, 64, 64)
    prompt = studio.window.controls.prompt  # Ctrl+Z in the prompt box undoes typing, not the canvas
    prompt.setFocus()
    qtbot.keyClicks(prompt, "hills")
    qtbot.keyClick(prompt, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert prompt.toPlainText() == "" and studio.edits.extend == (64, 0, 64, 64)


def test_dragging_back_in_crops_back_but_never_into_the_picture(qtbot, make_app, tmp_path):
    studio, pixels = opened(make_app, tmp_path)
    canvas, edits = studio.window.canvas, studio.edits
    drag_handle(qtbot, canvas, "top", 33)
    assert edits.extend == (0, 32, 0, 0)
    drag_handle(qtbot, canvas, "top", -9)
    assert edits.extend == (0, 24, 0, 0)
    assert edits.history.undoText() == "Crop back"
    drag_handle(qtbot, canvas, "top", -60)
    assert edits.extend == (0, 0, 0, 0)
    assert np.array_equal(to_array(canvas.image), pixels)
    drag_handle(qtbot, canvas, "left", -20)  # inward from the picture's own edge: nothing happens
    assert edits.extend == (0, 0, 0, 0) and edits.size == (64, 64)


def test_growth_past_the_engine_maximum_is_refused_with_a_message(qtbot, make_app, tmp_path):
    studio, _ = opened(make_app, tmp_path)
    canvas = studio.window.canvas
    canvas.zoom_by(0.01)
    drag_handle(qtbot, canvas, "right", 6000)
    width, height = studio.edits.size
    assert width == MAX_SIDE and height == 64
    assert studio.window.error.isVisible() and "at most 4096 px a side" in studio.window.error.text()


def test_dragging_a_handle_past_the_view_edge_scrolls_the_view_and_keeps_growing(qtbot, make_app, tmp_path):
    studio, _ = opened(make_app, tmp_path)
    canvas = studio.window.canvas
    start = handle_point(canvas.image_rect(), "right").toPoint()
    past_edge = QPoint(canvas.width() + 20, start.y())
    pointer_only = (past_edge.x() - start.x()) / canvas.zoom  # what the pointer's travel alone asks for
    assert 0 < start.x() < canvas.width() - 24 and pointer_only > 0
    left_before, top_before = canvas.image_rect().left(), canvas.image_rect().top()
    qtbot.mousePress(canvas, LEFT, Qt.KeyboardModifier.NoModifier, start)
    _move(canvas, past_edge)
    qtbot.waitUntil(lambda: canvas.image_rect().left() < left_before - 100, timeout=5000)
    assert canvas.image_rect().top() == top_before  # the right handle scrolls sideways only
    qtbot.mouseRelease(canvas, LEFT, Qt.KeyboardModifier.NoModifier, past_edge)
    right = studio.edits.extend[2]
    assert right > pointer_only + 32, (right, pointer_only)
    assert canvas.rect().toRectF().contains(canvas.image_rect())  # released: the whole canvas in view
    placed = canvas.image_rect()
    qtbot.wait(100)
    assert canvas.image_rect() == placed  # and it stays put


def test_the_overlay_shows_while_dragging(qtbot, make_app, tmp_path):
    studio, _ = opened(make_app, tmp_path)
    canvas = studio.window.canvas
    start = handle_point(canvas.image_rect(), "right").toPoint()
    qtbot.mousePress(canvas, LEFT, Qt.KeyboardModifier.NoModifier, start)
    _move(canvas, start + QPoint(round(30 * canvas.zoom), 0))
    assert canvas.dragging
    zones = studio.edits.zones((0, 0, 32, 0))
    assert zones is not None and zones.new and zones.context and zones.band
    drawn = canvas.grab().toImage()
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)  # Esc drops the drag
    assert not canvas.dragging and studio.edits.extend == (0, 0, 0, 0)
    assert drawn != canvas.grab().toImage()


# The brush.


def test_brush_paints_the_mask_and_the_eraser_takes_it_off(qtbot, make_app, tmp_path):
    studio, _ = opened(make_app, tmp_path)
    window, canvas, edits = studio.window, studio.window.canvas, studio.edits
    qtbot.mouseClick(window.edit_bar.tool_buttons["brush"], LEFT)
    assert canvas.tool == "brush"
    window.edit_bar.size_slider.setValue(8)

    def at(x, y):
        return (canvas.image_rect().topLeft() + QPointF(x, y) * canvas.zoom).toPoint()

    drag(qtbot, canvas, at(10, 20), at(50, 20))
    assert edits.painted
    mask = edits.picture.mask
    assert mask[20, 10] == mask[20, 30] == mask[20, 50] == 255
    assert mask[20, 60] == 0 and mask[40, 30] == 0 and mask[10, 30] == 0
    assert window.edit_bar.inpaint.isEnabled() and not window.edit_bar.outpaint.isEnabled()
    qtbot.mouseClick(window.edit_bar.tool_buttons["eraser"], LEFT)
    drag(qtbot, canvas, at(30, 12), at(30, 28))
    erased = edits.picture.mask
    assert erased[20, 30] == 0 and erased[20, 10] == 255
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(edits.picture.mask, mask)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(edits.picture.mask, erased)
    window.edit_bar.clear.click()
    assert not edits.painted and not window.edit_bar.inpaint.isEnabled()


def test_nothing_to_fill_says_so(qtbot, make_app, tmp_path):
    studio, _ = opened(make_app, tmp_path)
    studio.edit_job()
    assert "Nothing to fill" in studio.window.error.text()
    assert studio.queue.jobs == []


# Jobs on the real (tiny) model.


def _with_recipe(tmp_path, prompt: str):
    from studio.engine.request import GenerateRequest
    from studio.recipe.embed import write_png
    from studio.recipe.schema import Recipe

    path, pixels = picture(tmp_path, name="with-recipe.png")
    write_png(path, Image.fromarray(pixels), Recipe(GenerateRequest(prompt=prompt, width=64, height=64), "tiny"))
    return path, pixels


def _band(studio) -> int:
    from studio.engine.edit import plan_window

    return plan_window(studio.edits.job_mask(), studio.edits.native).band


def _grown(region: np.ndarray, by: int) -> np.ndarray:
    """`region` grown by `by` pixels in every direction (a square, so it holds any round band too)."""
    padded = np.pad(region, by)
    out = np.zeros_like(region)
    height, width = region.shape
    for dy in range(2 * by + 1):
        for dx in range(2 * by + 1):
            out |= padded[dy : dy + height, dx : dx + width]
    return out


def test_outpaint_candidates_accept_undo_redo(qtbot, make_app, tmp_path):
    studio = make_app(steps=2)
    path, pixels = _with_recipe(tmp_path, "a green valley")
    studio.open_path(str(path))
    window, canvas, edits = studio.window, studio.window.canvas, studio.edits
    assert window.controls.prompt.toPlainText() == "a green valley"  # the image's own prompt
    drag_handle(qtbot, canvas, "right", 33)
    assert edits.extend == (0, 0, 32, 0) and window.edit_bar.outpaint.isEnabled()
    band, zoom = _band(studio), canvas.zoom
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=120000):
        window.edit_bar.outpaint.click()
    assert canvas.zoom == zoom  # the view holds still while the job runs
    assert len(edits.candidates) == 3  # the default
    assert window.candidate_bar.isVisible() and window.candidate_bar.label.text() == "Candidate 3 of 3"
    assert not canvas.editable and not window.undo_action.isEnabled()
    for candidate in edits.candidates:
        assert candidate.pixels.shape == (64, 96, 3)
        assert np.array_equal(candidate.pixels[:, : 64 - band], pixels[:, : 64 - band])  # untouched outside the band
        recipe = candidate.result.recipe
        assert recipe.kind == "outpaint" and recipe.request.prompt == "a green valley"
    new_areas = [c.pixels[:, 64:].astype(int) for c in edits.candidates]
    assert np.abs(new_areas[0] - new_areas[1]).mean() > 1 and np.abs(new_areas[1] - new_areas[2]).mean() > 1

    timeline, steps = window.timeline, len(edits.candidates[2].frames)
    assert steps >= 2 and timeline.isEnabled() and timeline.slider.maximum() == steps
    assert timeline.label.text() == f"Final ({steps} steps)"
    timeline.slider.setValue(0)  # back to the first step of the candidate shown
    first = to_array(canvas.image.convertToFormat(QImage.Format.Format_RGB888))
    assert not np.array_equal(first[:, 64:], edits.candidates[2].pixels[:, 64:])
    assert np.array_equal(
        first[:, : 64 - band], pixels[:, : 64 - band]
    )  # the picture stays; the steps fill the new area
    timeline.slider.setValue(steps)
    assert np.array_equal(to_array(canvas.image), edits.candidates[2].pixels)
    animation = tmp_path / "outpaint.gif"
    studio.export_animation_to(str(animation))
    with Image.open(animation) as gif:
        assert gif.n_frames == steps + 1 and gif.size == (96, 64)

    shown = [to_array(canvas.image)]
    canvas.setFocus()
    for _ in range(3):
        qtbot.keyClick(canvas, Qt.Key.Key_Right)
        shown.append(to_array(canvas.image))
    assert edits.current == 2
    for k, position in enumerate((2, 0, 1, 2)):
        assert np.array_equal(shown[k], edits.candidates[position].pixels)
    qtbot.mouseClick(window.candidate_bar.previous, LEFT)
    chosen = edits.candidates[1].pixels
    qtbot.mouseClick(window.candidate_bar.accept, LEFT)
    assert not window.candidate_bar.isVisible()
    assert edits.size == (96, 64) and edits.extend == (0, 0, 0, 0)
    assert np.array_equal(to_array(canvas.image), chosen)
    assert window.undo_action.text() == "&Undo Accept outpaint"

    canvas.setFocus()
    undo, redo = (
        Qt.KeyboardModifier.ControlModifier,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    qtbot.keyClick(canvas, Qt.Key.Key_Z, undo)
    assert edits.extend == (0, 0, 32, 0)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, undo)
    assert edits.size == (64, 64) and np.array_equal(to_array(canvas.image), pixels)
    assert not window.undo_action.isEnabled()
    qtbot.keyClick(canvas, Qt.Key.Key_Z, redo)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, redo)
    assert np.array_equal(to_array(canvas.image), chosen)
    saved = tmp_path / "saved.png"
    studio.save_image_to(str(saved))
    assert np.array_equal(np.asarray(Image.open(saved).convert("RGB")), chosen)


def test_cancel_restores_the_canvas_exactly(qtbot, make_app, tmp_path):
    studio, pixels = opened(make_app, tmp_path, steps=150)
    window, canvas, edits = studio.window, studio.window.canvas, studio.edits
    drag_handle(qtbot, canvas, "left", 17)
    drag_handle(qtbot, canvas, "top", 17)
    before = canvas.image.copy()
    with qtbot.waitSignal(studio.worker.previewReady, timeout=60000):
        window.edit_bar.outpaint.click()
    qtbot.waitUntil(lambda: canvas.image != before)
    during = canvas.image.convertToFormat(before.format())
    shown, band = to_array(during), _band(studio)
    assert np.array_equal(
        shown[16 + band :, 16 + band :], pixels[band:, band:]
    )  # the preview shows in the new area and band only
    assert not np.array_equal(shown[16:, 16:], pixels)
    assert during.pixelColor(3, 3).alpha() == 255 and before.pixelColor(3, 3).alpha() == 0
    assert window.progress.format().startswith("Image 1/3 · Step")
    with qtbot.waitSignal(studio.worker.jobCancelled, timeout=20000):
        qtbot.keyClick(window.controls.prompt, Qt.Key.Key_Escape)
    assert canvas.image == before
    assert edits.candidates == [] and not edits.locked and edits.extend == (16, 16, 0, 0)
    assert canvas.editable and window.edit_bar.outpaint.isEnabled()
    assert window.progress.format() == "Cancelled"


def test_auto_outpaints_on_release_and_stays_on(qtbot, make_app, tmp_path):
    studio, _pixels = opened(make_app, tmp_path, steps=2, candidates=2)
    window = studio.window
    qtbot.mouseClick(window.edit_bar.auto, LEFT, pos=QPoint(4, window.edit_bar.auto.height() // 2))
    assert studio.session["auto_outpaint"]
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=120000):
        drag_handle(qtbot, window.canvas, "bottom", 17)
    assert len(studio.edits.candidates) == 2
    assert studio.edits.candidates[0].pixels.shape == (80, 64, 3)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)  # with no job running, Esc discards
    assert studio.edits.candidates == [] and studio.edits.extend == (0, 0, 0, 16)
    studio.window.close()
    again = make_app(data=tmp_path / "data")
    assert again.session["auto_outpaint"] and again.window.edit_bar.auto.isChecked()
    assert again.window.edit_bar.candidates.value() == 2


def test_brush_inpainting_changes_only_the_masked_region_and_band(qtbot, make_app, tmp_path):
    studio, pixels = opened(make_app, tmp_path, steps=2, candidates=1)
    window, canvas, edits = studio.window, studio.window.canvas, studio.edits
    qtbot.mouseClick(window.edit_bar.tool_buttons["brush"], LEFT)
    window.edit_bar.size_slider.setValue(10)

    def at(x, y):
        return (canvas.image_rect().topLeft() + QPointF(x, y) * canvas.zoom).toPoint()

    drag(qtbot, canvas, at(20, 30), at(44, 34))
    mask = edits.picture.mask > 0
    band = _band(studio)
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=120000):
        window.edit_bar.inpaint.click()
    assert edits.candidates[0].result.recipe.kind == "inpaint"
    qtbot.mouseClick(window.candidate_bar.accept, LEFT)
    after = edits.picture.base
    assert after.shape == pixels.shape and not edits.painted
    changed = np.any(after != pixels, axis=2)
    assert not changed[~_grown(mask, band)].any()
    assert changed[mask].mean() > 0.5
    edits.undo()
    assert np.array_equal(edits.picture.base, pixels) and np.array_equal(edits.picture.mask > 0, mask)
