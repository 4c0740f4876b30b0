"""Issue 16's finish list, widget by widget: About, the save confirmation, the dark theme's
checkboxes and dialog icons, the way back to the candidates, the canvas during previews, the
timeline's label and the queue list."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest
from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QCheckBox, QDialogButtonBox, QFileDialog, QStyle, QToolButton

from studio import __version__
from studio.engine.geometry import Rect
from studio.engine.request import GenerateRequest
from studio.model.jobs import Job
from studio.model.session import Session
from studio.ui.canvas import Canvas
from studio.ui.controls import Controls
from studio.ui.main_window import MainWindow
from studio.ui.results import Timeline
from studio.ui.theme import apply_theme, colours, contrast

pytestmark = pytest.mark.qt_log_ignore(  # the offscreen platform, with top-level dialogs
    "This plugin does not support propagateSizeHints", "This plugin does not support raise"
)


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(Session(tmp_path / "settings.json"))
    qtbot.addWidget(w)
    w.build()
    return w


@pytest.fixture
def dark(qapp):
    apply_theme(qapp, "dark")
    yield colours("dark")


def image(width: int, height: int, colour=Qt.GlobalColor.darkCyan) -> QImage:
    picture = QImage(width, height, QImage.Format.Format_RGB32)
    picture.fill(colour)
    return picture


# About
def test_about_has_a_close_button_and_the_versions(qtbot, window):
    window.device_of = lambda: "cuda:0 (NVIDIA H200)"
    window.show_about()
    dialog = window.about_dialog
    assert dialog.isVisible()
    text = dialog.text.toPlainText()
    assert f"Studio {__version__}" in text
    assert f"torch {importlib.metadata.version('torch')}" in text
    assert f"diffusers {importlib.metadata.version('diffusers')}" in text
    assert "cuda:0 (NVIDIA H200)" in text
    buttons = dialog.findChild(QDialogButtonBox)
    close = buttons.button(QDialogButtonBox.StandardButton.Close)
    assert close is not None and close.isVisible()
    qtbot.mouseClick(close, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()


def test_about_does_not_import_torch(tmp_path):
    """The versions come from the installed packages' metadata: opening About loads neither library."""
    script = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from studio.model.session import Session\n"
        "from studio.ui.main_window import MainWindow\n"
        f"w = MainWindow(Session({str(tmp_path / 'settings.json')!r}))\n"
        "w.show_about()\n"
        "print('torch' in sys.modules, 'diffusers' in sys.modules, 'torch' in w.about_dialog.text.toPlainText())\n"
    )
    env = {"QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["False", "False", "True"]


# Saving says so, with a way to the folder
def test_a_save_says_so_and_shows_the_folder(qtbot, window, tmp_path):
    window.show()
    opened: list[QUrl] = []
    window.open_url = lambda url: opened.append(url) or True
    target = tmp_path / "out" / "sunset.png"
    window.show_saved(str(target))
    assert "sunset.png" in window.statusBar().currentMessage()
    assert window.show_folder_button.isVisible()
    qtbot.mouseClick(window.show_folder_button, Qt.MouseButton.LeftButton)
    assert opened == [QUrl.fromLocalFile(str(tmp_path / "out"))]
    window.show_saved(str(tmp_path / "many"), "Exported 3 images into many", folder=True)
    qtbot.mouseClick(window.show_folder_button, Qt.MouseButton.LeftButton)
    assert opened[-1] == QUrl.fromLocalFile(str(tmp_path / "many"))
    assert window.statusBar().currentMessage() == "Exported 3 images into many"


def test_the_show_in_folder_button_goes_with_its_message(qtbot, window, tmp_path):
    window.show()
    window.show_saved(str(tmp_path / "a.png"))
    window.statusBar().showMessage("something else")
    assert not window.show_folder_button.isVisible()


# The dark theme
def test_dark_checkbox_indicator_stands_out_from_the_window(qtbot, dark):
    box = QCheckBox("Auto")
    qtbot.addWidget(box)
    box.resize(120, 30)
    box.show()
    qtbot.waitExposed(box)
    background = QColor(dark["window"])
    for checked in (False, True):
        box.setChecked(checked)
        grab = box.grab().toImage()
        option_rect = indicator_rect(box)
        best = max(
            contrast(grab.pixelColor(x, y), background)
            for x in range(option_rect.left(), option_rect.right() + 1)
            for y in range(option_rect.top(), option_rect.bottom() + 1)
        )
        assert best >= 3.0, f"checked={checked}: the indicator's strongest pixel has contrast {best:.2f}:1"


def indicator_rect(box: QCheckBox):
    from PySide6.QtWidgets import QStyleOptionButton

    option = QStyleOptionButton()
    box.initStyleOption(option)
    return box.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, option, box)


def test_theme_colours_give_the_indicator_border_3_to_1(qapp):
    for name in ("dark", "light"):
        c = colours(name)
        assert contrast(QColor(c["indicator"]), QColor(c["window"])) >= 3.0
        assert contrast(QColor(c["indicator"]), QColor(c["base"])) >= 3.0


def test_dark_file_dialog_icons_are_whole_and_visible(qtbot, dark):
    dialog = QFileDialog(None, "Save image as")
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    button = dialog.findChild(QToolButton, "toParentButton")
    assert button is not None
    grab = button.grab().toImage()
    background = grab.pixelColor(grab.width() // 2, 3)
    inked = [
        (x, y)
        for x in range(grab.width())
        for y in range(grab.height())
        if contrast(grab.pixelColor(x, y), background) >= 3.0
    ]
    assert inked, "the icon does not stand out from its button"
    xs, ys = [x for x, _ in inked], [y for _, y in inked]
    assert max(xs) - min(xs) >= 6 and max(ys) - min(ys) >= 6, "the icon is squeezed"


def test_dark_standard_icons_stand_out(qtbot, dark):
    style = qtbot_app_style()
    background = QColor(dark["button"])
    for icon in (QStyle.StandardPixmap.SP_FileDialogToParent, QStyle.StandardPixmap.SP_ArrowBack):
        pixels = style.standardIcon(icon).pixmap(16, 16).toImage()
        opaque = [
            pixels.pixelColor(x, y) for x in range(16) for y in range(16) if pixels.pixelColor(x, y).alpha() > 200
        ]
        assert opaque and max(contrast(c, background) for c in opaque) >= 3.0, icon


def qtbot_app_style():
    from PySide6.QtWidgets import QApplication

    return QApplication.style()


# The way back to the candidates
def test_candidates_button_shows_the_grid_again(qtbot, window):
    window.show()
    button = window.candidates_button
    window.grid.set_images([image(64, 64)])
    assert not button.isVisible()
    window.grid.set_images([image(64, 64)] * 3)
    assert button.isVisible() and button.text() == "Candidates (3)"
    window.grid.chosen.emit(1)  # one chosen: the canvas shows it
    assert window.stack.currentWidget() is window.canvas
    assert button.isVisible()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is window.grid
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # and back to the picture without choosing
    assert window.stack.currentWidget() is window.canvas


def test_buttons_that_come_and_go_leave_the_canvas_its_size(qtbot, qapp, dark, window):
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    qapp.processEvents()
    before = window.canvas.size()
    window.grid.set_images([image(64, 64)] * 3)
    window.show_saved("/tmp/somewhere/picture.png")
    for _ in range(3):
        qapp.processEvents()
    assert window.candidates_button.isVisible() and window.show_folder_button.isVisible()
    assert window.canvas.size() == before


# The canvas during previews
def test_preview_and_final_take_the_same_place_and_zoom(qtbot):
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(600, 500)
    canvas.show()
    zooms: list[float] = []
    canvas.zoomChanged.connect(zooms.append)
    canvas.show_preview(image(16, 16), QSize(128, 128))
    during = canvas.image_rect()
    zoom = canvas.zoom
    assert during.width() == pytest.approx(128 * zoom)
    canvas.set_edit(image(128, 128), Rect(0, 0, 128, 128))
    assert canvas.image_rect() == during
    assert canvas.zoom == zoom
    canvas.zoom_by(1.25)  # zoomed by hand during the next job's previews: kept at the end
    canvas.show_preview(image(16, 16), QSize(128, 128))
    zoomed, zoom = canvas.image_rect(), canvas.zoom
    canvas.set_edit(image(128, 128), Rect(0, 0, 128, 128))
    assert canvas.image_rect() == zoomed and canvas.zoom == zoom
    assert zooms[-1] == zoom


def test_zoom_readout_during_a_preview(qtbot, window):
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    window.canvas.show_preview(image(16, 16), QSize(128, 128))
    readout = window.zoom_status.text()
    assert readout == f"{window.canvas.zoom * 100:.0f} %"
    assert window.canvas.zoom < 8  # of the 128 px picture, not of the 16 px guess
    window.canvas.set_edit(image(128, 128), Rect(0, 0, 128, 128))
    assert window.zoom_status.text() == readout


# The timeline's label
def test_final_label_only_when_the_last_frame_is_final(qtbot):
    timeline = Timeline()
    qtbot.addWidget(timeline)
    timeline.set_frames(3, final=False)  # three step previews so far
    assert timeline.label.text() == "Step 3"
    timeline.set_frames(21, final=True)  # twenty previews and the finished image
    assert timeline.label.text() == "Final (20 steps)"
    timeline.slider.setValue(4)
    assert timeline.label.text() == "Step 5/20"


# The queue list
def test_queue_list_has_no_horizontal_scrolling(qtbot):
    controls = Controls(Session())
    qtbot.addWidget(controls)
    controls.resize(320, 900)
    controls.show()
    qtbot.waitExposed(controls)
    prompt = "a sunset landscape with snowy hills, mountains, two pine trees, a lake, and much more besides"
    request = GenerateRequest(model="embedded", prompt=prompt, width=1024, height=768, count=4)
    controls.set_queue([Job(1, request, "running"), Job(2, request)])
    queue = controls.queue
    queue.doItemsLayout()
    assert queue.horizontalScrollBar().maximum() == 0
    assert not queue.horizontalScrollBar().isVisible()
    for row in range(queue.count()):
        rect = queue.visualItemRect(queue.item(row))
        assert rect.right() <= queue.viewport().width()
    assert "1024×768" in queue.item(1).text()  # the size and count are kept; the prompt gives way
