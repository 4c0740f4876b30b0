"""Issue 16's finish list in the running app: the canvas, zoom readout and timeline label while
an image is made, and the confirmation after Save as, Export animation and a gallery export."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from studio.model.local_files import file_url

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


def test_previews_keep_the_canvas_the_zoom_readout_and_say_final_only_at_the_end(qtbot, make_app):
    studio = make_app(steps=6, width=64, height=64)
    window, document = studio.window, studio.document
    shown: list[tuple] = []  # each preview: where the canvas drew it, the readout, the canvas's zoom
    labels: list[tuple[bool, str]] = []  # each change of frames: a preview or not, the timeline's label
    document.imageChanged.connect(
        lambda: (
            shown.append((window.canvas.image_rect(), window.zoom_status.text(), window.canvas.zoom))
            if document.is_preview
            else None
        )
    )
    studio.router.framesChanged.connect(lambda: labels.append((document.is_preview, window.timeline.label.text())))
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        window.controls.generate.click()
    assert len(shown) == 6 and window.canvas.image.width() == 64
    final = (window.canvas.image_rect(), window.zoom_status.text(), window.canvas.zoom)
    for rect, readout, zoom in shown:
        assert rect == final[0], "the canvas moved or changed size between a preview and the image"
        assert readout == final[1] == f"{zoom * 100:.0f} %"
    previews = [label for is_preview, label in labels if is_preview]
    assert previews == [f"Step {n}" for n in range(1, 7)]
    assert labels[-1] == (False, "Final (6 steps)")


def test_save_export_and_gallery_export_say_so_with_show_in_folder(qtbot, make_app, tmp_path):
    studio = make_app(steps=2)
    window = studio.window
    opened = []
    window.open_url = lambda url: opened.append(url) or True
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        window.controls.generate.click()

    blocker = tmp_path / "a file"
    blocker.write_text("")
    studio.save_image_to(str(blocker / "x.png"))  # cannot be written: no folder to show
    assert window.error.isVisible()
    assert not window.show_folder_button.isVisible()

    saved = tmp_path / "saved" / "sunset.png"
    saved.parent.mkdir()
    studio.save_image_to(str(saved))
    assert saved.exists()
    assert window.statusBar().currentMessage() == f"Saved sunset.png in {saved.parent}"
    assert window.show_folder_button.isVisible()
    qtbot.mouseClick(window.show_folder_button, Qt.MouseButton.LeftButton)
    assert opened == [file_url(saved.parent)]

    animation = tmp_path / "anim" / "steps.gif"
    animation.parent.mkdir()
    studio.export_animation_to(str(animation))
    assert "steps.gif" in window.statusBar().currentMessage()
    qtbot.mouseClick(window.show_folder_button, Qt.MouseButton.LeftButton)
    assert opened[-1] == file_url(animation.parent)

    panel = studio.gallery_panel
    assert panel is not None
    qtbot.waitUntil(lambda: panel.model.rowCount() > 0, timeout=10000)
    name = Path(studio.document.path or "").name
    exported = tmp_path / "exported" / "picked.png"
    exported.parent.mkdir()
    with qtbot.waitSignal(panel.model.exported, timeout=20000):
        panel.export_to([name], str(exported))
    assert exported.exists()
    assert window.statusBar().currentMessage() == "Exported 1 image(s)"
    assert window.show_folder_button.isVisible()
    qtbot.mouseClick(window.show_folder_button, Qt.MouseButton.LeftButton)
    assert opened[-1] == file_url(exported.parent)
