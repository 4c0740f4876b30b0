"""The canvas: fit, 1:1, zoom about the cursor, pan by dragging."""

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage

from studio.ui.canvas import Canvas


def _canvas(qtbot, image_size=(128, 64)):
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(800, 600)
    canvas.show()
    qtbot.waitExposed(canvas)
    image = QImage(*image_size, QImage.Format.Format_RGB888)
    image.fill(QColor(200, 100, 50))
    canvas.set_image(image)
    return canvas


def test_small_images_are_fitted_and_scaled_up(qtbot):
    canvas = _canvas(qtbot)
    rect = canvas.image_rect()
    assert abs(rect.width() - (800 - 32)) < 1  # limited by width: 128 x 64 is wider than 800 x 600
    assert abs(rect.center().x() - 400) < 1 and abs(rect.center().y() - 300) < 1
    assert canvas.zoom > 5


def test_actual_size_and_fit(qtbot):
    canvas = _canvas(qtbot)
    canvas.actual_size()
    assert canvas.zoom == 1.0 and canvas.image_rect().width() == 128
    canvas.fit()
    assert canvas.zoom > 5


def test_zoom_keeps_the_point_under_the_cursor(qtbot):
    canvas = _canvas(qtbot)
    anchor = QPointF(300, 280)
    before = (anchor - canvas.image_rect().topLeft()) / canvas.zoom
    canvas.zoom_by(2.0, anchor)
    after = (anchor - canvas.image_rect().topLeft()) / canvas.zoom
    assert abs(before.x() - after.x()) < 1e-6 and abs(before.y() - after.y()) < 1e-6


def test_drag_pans(qtbot):
    canvas = _canvas(qtbot)
    start = canvas.image_rect().topLeft()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(400, 300))
    qtbot.mouseMove(canvas, QPoint(450, 280))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(450, 280))
    moved = canvas.image_rect().topLeft() - start
    assert (round(moved.x()), round(moved.y())) == (50, -20)


def test_a_new_image_of_another_size_is_fitted_again(qtbot):
    canvas = _canvas(qtbot)
    canvas.zoom_by(3.0)
    tall = QImage(64, 256, QImage.Format.Format_RGB888)
    tall.fill(QColor(0, 0, 0))
    canvas.set_image(tall)
    assert abs(canvas.image_rect().height() - (600 - 32)) < 1
