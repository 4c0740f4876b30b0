"""Outpainting and inpainting in the window, driven with real mouse events on the canvas."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from studio.app import array_from_qimage
from studio.engine.request import MAX_SIDE
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
    assert np.array_equal(array_from_qimage(canvas.image), pixels)
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


def test_the_overlay_shows_while_dragging(qtbot, make_app, tmp_path):
    studio, _ = opened(make_app, tmp_path)
    canvas = studio.window.canvas
    start = handle_point(canvas.image_rect(), "right").toPoint()
    qtbot.mousePress(canvas, LEFT, Qt.KeyboardModifier.NoModifier, start)
    _move(canvas, start + QPoint(round(30 * canvas.zoom), 0))
    assert canvas.dragging
    zones = studio.plan_zones(96, 64, (0, 0, 32, 0))
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
    window.edit_bar.size.setValue(8)

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
