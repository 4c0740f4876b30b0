"""The gallery panel driven as a person would: search, filters, favourites, delete + undo, drops, reuse."""

from __future__ import annotations

import os
import shutil
import time

import pytest
from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QKeyEvent
from PySide6.QtWidgets import QApplication

from studio.model.gallery import KIND_ROLE, GalleryModel
from studio.recipe.walker import inspect_file
from studio.testing.gallery_samples import save_studio_png, write_examples
from studio.ui.gallery_grid import install_drop_opener
from studio.ui.gallery_panel import GalleryPanel

# The offscreen platform says so whenever a top-level widget's minimum size changes; harmless.
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


def _make_gallery(data):
    folder = data / "gallery"
    write_examples(folder)
    now = time.time()
    save_studio_png(folder / "today-1.png", prompt="a lighthouse at dawn", seed=501, mtime=now - 60)
    save_studio_png(folder / "today-2.png", prompt="a lighthouse at night", seed=502, mtime=now - 30)
    return folder


@pytest.fixture
def panel(qtbot, tmp_path):
    data = tmp_path / "data"
    _make_gallery(data)
    model = GalleryModel(data)
    panel = GalleryPanel(model)
    qtbot.addWidget(panel)
    panel.resize(440, 820)
    panel.show()
    qtbot.waitExposed(panel)
    with qtbot.waitSignal(model.synced, timeout=20000):
        model.start()
    yield panel
    model.close()


def _names(panel):
    model = panel.model
    return [model.name_at(r) for r in range(model.rowCount()) if model.name_at(r)]


def _search(qtbot, panel, text):
    panel.search.clear()
    qtbot.keyClicks(panel.search, text)
    qtbot.waitUntil(lambda: panel.model.filters.get("search") == text.strip(), timeout=3000)


def test_grid_is_newest_first_by_day_and_thumbnails_arrive(qtbot, panel):
    model, view = panel.model, panel.view
    assert model.data(model.index(0), KIND_ROLE) == "day"
    assert model.data(model.index(0)) == "Today · 2"
    assert _names(panel)[:2] == ["today-2.png", "today-1.png"]
    assert panel.count.text() == "11 images"
    heading = view.visualRect(model.index(0))
    first, second = view.visualRect(model.index(1)), view.visualRect(model.index(2))
    assert heading.width() >= view.viewport().width() - 12  # a heading spans the grid
    assert first.top() > heading.top() and second.top() == first.top() and second.left() > first.left()
    later_heading = next(r for r in range(3, model.rowCount()) if model.data(model.index(r), KIND_ROLE) == "day")
    assert view.visualRect(model.index(later_heading)).left() <= first.left()  # each day starts a new line
    qtbot.waitUntil(lambda: model.thumbnails_ready(view.visible_rows()), timeout=20000)
    pixmap = model.data(model.index(1), Qt.ItemDataRole.DecorationRole)
    assert not pixmap.isNull() and max(pixmap.width(), pixmap.height()) <= 124
    assert len(list((model.data_dir / "cache" / "thumbnails").rglob("*.jpg"))) >= 2


def test_search_and_filters(qtbot, panel):
    _search(qtbot, panel, "castle")
    assert sorted(_names(panel)) == ["a1111.jpg", "a1111.png"]
    assert panel.count.text() == "2 images match"
    _search(qtbot, panel, "987654321")  # a seed
    assert _names(panel) == ["comfy.png"]
    _search(qtbot, panel, "watermark")  # the negative prompt
    assert _names(panel) == ["comfy.png"]
    _search(qtbot, panel, "lighthouse")
    assert _names(panel) == ["today-2.png", "today-1.png"]
    _search(qtbot, panel, "no such words anywhere")
    assert _names(panel) == [] and panel.view.empty_text.startswith("No image matches")
    panel.search.clear()
    qtbot.waitUntil(lambda: panel.model.filters["search"] == "", timeout=3000)

    panel.model_filter.setCurrentIndex(panel.model_filter.findText("juggernautXL_v8Rundiffusion"))
    assert _names(panel) == ["fooocus.png"]
    panel.model_filter.setCurrentIndex(0)
    panel.date_filter.setCurrentIndex(panel.date_filter.findText("Today"))
    assert _names(panel) == ["today-2.png", "today-1.png"]
    panel.date_filter.setCurrentIndex(0)
    assert panel.size_filter.itemText(1) == "64×72"
    panel.size_filter.setCurrentIndex(1)
    assert len(_names(panel)) == 11


def test_details_show_the_full_recipe_and_a_large_view(qtbot, panel):
    with qtbot.waitSignal(panel.model.previewReady, timeout=20000):
        panel.select_names(["comfy.png"])
    text = panel.recipe.toPlainText()
    for expected in (
        "beautiful scenery nature glass bottle landscape",
        "text, watermark",
        "987654321",
        "Euler a",
        "v1-5-pruned-emaonly.safetensors",
        "ComfyUI",
        "comfy.png",
    ):
        assert expected in text
    qtbot.waitUntil(lambda: panel.preview.pixmap() is not None and not panel.preview.pixmap().isNull(), timeout=5000)
    assert panel.reuse_button.isEnabled() and panel.open_button.isEnabled()
    panel.select_names(["plain.png"])
    assert "no recipe" in panel.recipe.toPlainText() and not panel.reuse_button.isEnabled()
    panel.select_names(["plain.png", "comfy.png", "invoke.png"])
    assert panel.preview.text() == "3 images selected"
    assert not panel.open_button.isEnabled() and panel.delete_button.isEnabled() and panel.export_button.isEnabled()


def test_ctrl_z_in_the_grid_undoes_deletes_in_turn_and_the_trash_restores_older_ones(qtbot, panel):
    folder = panel.model.folder
    panel.view.setFocus()
    for name in ("comfy.png", "invoke.png"):
        panel.select_names([name])
        qtbot.keyClick(panel.view, Qt.Key.Key_Delete)
    assert not (folder / "comfy.png").exists() and not (folder / "invoke.png").exists()
    qtbot.keyClick(panel.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (folder / "invoke.png").exists() and not (folder / "comfy.png").exists()
    assert panel.selected_names() == ["invoke.png"] and "Put back 1 image" in panel.status.toolTip()
    override = QKeyEvent(QEvent.Type.ShortcutOverride, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    override.ignore()
    QApplication.sendEvent(panel.view, override)
    assert override.isAccepted()  # one delete left: the grid takes Ctrl+Z before any window shortcut
    qtbot.keyClick(panel.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (folder / "comfy.png").exists() and "comfy.png" in _names(panel)
    override = QKeyEvent(QEvent.Type.ShortcutOverride, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    QApplication.sendEvent(panel.view, override)
    assert not override.isAccepted()  # nothing left to undo here: Ctrl+Z goes on to the window's Edit > Undo

    panel.select_names(["plain.png", "today-1.png"])
    panel.delete_button.click()
    later_model = GalleryModel(panel.model.data_dir)  # the next session: only the trash remembers
    later = GalleryPanel(later_model)
    qtbot.addWidget(later)
    with qtbot.waitSignal(later_model.synced, timeout=20000):
        later_model.start()
    assert len(_names(later)) == 9
    later._update_trash_action()
    assert later.restore_trash_action.isEnabled() and later.restore_trash_action.text() == "Restore deleted images (2)"
    later.restore_trash_action.trigger()
    assert sorted(later.selected_names()) == ["plain.png", "today-1.png"] and len(_names(later)) == 11
    assert "Put back 2 images from the trash" in later.status.toolTip()
    later._update_trash_action()
    assert not later.restore_trash_action.isEnabled() and not later.empty_trash_action.isEnabled()
    later.model.close()


def test_copy_prompt_and_reuse_gives_runnable_settings(qtbot, panel):
    panel.select_names(["invoke.png"])
    panel.copy_button.click()
    assert QGuiApplication.clipboard().text() == "an astronaut riding a horse"
    with qtbot.waitSignal(panel.reuseRequested) as reused:
        panel.reuse_button.click()
    assert reused.args[0] == {
        "prompt": "an astronaut riding a horse",
        "negative_prompt": "ugly",
        "seed": 3141592,
        "steps": 30,
        "guidance_scale": 7.5,
        "scheduler": "DPM++ 2M Karras",
        "width": 768,
        "height": 512,
    }


def test_delete_with_undo(qtbot, panel):
    folder = panel.model.folder
    panel.select_names(["comfy.png", "invoke.png"])
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_Delete)
    assert not (folder / "comfy.png").exists() and not (folder / "invoke.png").exists()
    assert "comfy.png" not in _names(panel) and len(_names(panel)) == 9
    assert panel.undo_bar.isVisible() and panel.undo_label.text().startswith("Deleted 2 images")
    assert len(panel.selected_names()) == 1  # the next image is selected
    panel.undo_button.click()
    assert (folder / "comfy.png").exists() and "comfy.png" in _names(panel)
    assert sorted(panel.selected_names()) == ["comfy.png", "invoke.png"]
    assert not panel.undo_bar.isVisible()
    panel.select_names(["plain.png"])
    panel.delete_button.click()
    assert panel.model.trash_count() == 1
    panel.empty_trash(confirm=False)
    assert panel.model.trash_count() == 0 and not panel.undo_bar.isVisible()
    assert not (folder / "plain.png").exists() and "Trash emptied: 1 image" in panel.status.toolTip()


def test_favourites_multi_select_and_filter(qtbot, panel, tmp_path):
    panel.select_names(["a1111.png", "fooocus.png"])
    panel.favourite_button.click()
    assert panel.favourite_button.isChecked()
    model = panel.model
    assert [model.entry(n).favourite for n in ("a1111.png", "fooocus.png", "comfy.png")] == [True, True, False]
    panel.favourites_only.click()
    assert sorted(_names(panel)) == ["a1111.png", "fooocus.png"]
    panel.select_names(["fooocus.png"])
    panel.favourite_button.click()
    assert _names(panel) == ["a1111.png"]
    again = GalleryModel(model.data_dir)  # kept on disk, apart from the index
    again.set_filters(favourites=True)
    assert [again.name_at(r) for r in range(again.rowCount()) if again.name_at(r)] == ["a1111.png"]
    again.close()


def test_export_several_with_their_recipes(qtbot, panel, tmp_path):
    out = tmp_path / "exported"
    out.mkdir()
    panel.select_names(["comfy.png", "invoke.png", "studio.png"])
    with qtbot.waitSignal(panel.model.exportFinished, timeout=20000) as done:
        panel.export_to(panel.selected_names(), str(out), ".jpg")
    assert done.args[0] == "Exported 3 image(s)"
    assert sorted(p.name for p in out.iterdir()) == ["comfy.jpg", "invoke.jpg", "studio.jpg"]
    assert inspect_file(out / "comfy.jpg").recipe.seed == 987654321


def test_files_dropped_into_the_folder_appear_and_broken_ones_are_reported(qtbot, panel, tmp_path):
    folder = panel.model.folder
    outside = save_studio_png(tmp_path / "from-elsewhere.png", prompt="a dropped in windmill", seed=77)
    shutil.copy(outside, folder / ".partial.tmp")  # as a file manager copies: temp name, then rename
    os.replace(folder / ".partial.tmp", folder / "windmill.png")
    qtbot.waitUntil(lambda: "windmill.png" in _names(panel), timeout=10000)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    qtbot.waitUntil(lambda: "broken.png: broken PNG" in panel.status.toolTip(), timeout=10000)
    assert panel.status.isVisible() and panel.status.text().startswith("1 file skipped")
    assert "broken.png" not in _names(panel)


def _drop(widget, mime: QMimeData) -> bool:
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


def test_dragging_out_of_the_grid_carries_the_file(qtbot, panel):
    from PySide6.QtWidgets import QLabel

    model = panel.model
    index = model.index(model.row_of("studio.png"))
    mime = model.mimeData([index])
    assert [u.toLocalFile() for u in mime.urls()] == [str(model.folder / "studio.png")]
    target = QLabel("canvas")
    qtbot.addWidget(target)
    target.resize(200, 200)
    opened = []
    install_drop_opener(target, opened.append)
    assert _drop(target, mime)
    assert opened == [str(model.folder / "studio.png")]
    text_only = QMimeData()
    text_only.setUrls([QUrl.fromLocalFile("/tmp/notes.txt")])
    assert not _drop(target, text_only)


def test_files_dropped_on_the_grid_from_another_program_are_imported(qtbot, panel, tmp_path):
    folder = panel.model.folder
    outside = tmp_path / "downloads"
    (outside / "sub").mkdir(parents=True)
    save_studio_png(outside / "sub" / "castle.png", prompt="a castle in the fog", seed=8)
    single = save_studio_png(tmp_path / "harbour.png", prompt="a harbour at dawn", seed=9)
    (tmp_path / "list.txt").write_text("not a picture")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in (outside, single, tmp_path / "list.txt")])
    with qtbot.waitSignal(panel.model.importFinished, timeout=20000):
        assert _drop(panel.view.viewport(), mime)
    assert (folder / "castle.png").exists() and (folder / "harbour.png").exists() and (single).exists()
    assert sorted(panel.selected_names()) == ["castle.png", "harbour.png"] and len(_names(panel)) == 13
    status = panel.status.toolTip()
    assert status.startswith("Imported 2 images") and "1 skipped: list.txt: not an image file" in status
    assert panel.model.entry("castle.png").prompt == "a castle in the fog"

    with qtbot.waitSignal(panel.model.importFinished, timeout=20000):
        panel.import_paths([str(outside)])  # what Import images… does with the folder chosen
    assert panel.status.toolTip() == "Imported 0 images · 1 already in the gallery"
    text_only = QMimeData()
    text_only.setText("just words")
    assert not _drop(panel.view.viewport(), text_only)


# The whole app, with the real worker and a tiny model.


def test_new_images_appear_and_reuse_fills_the_controls(qtbot, make_app):
    studio = make_app(steps=2, seed=1234, prompt="a red barn in the snow")
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        studio.window.controls.generate.click()
    panel = studio.gallery_panel
    qtbot.waitUntil(lambda: len(_names(panel)) == 1, timeout=10000)
    name = _names(panel)[0]
    assert studio.gallery_model.entry(name).prompt == "a red barn in the snow"
    studio.session.set("prompt", "something else")
    studio.session.set("seed", 9)
    studio.session.set("steps", 7)
    studio.session.set("random_seed", True)
    panel.select_names([name])
    panel.reuse_button.click()
    controls = studio.window.controls
    assert controls.prompt.toPlainText() == "a red barn in the snow"
    assert controls.seed.value() == 1234 and controls.steps.value() == 2
    assert studio.session["random_seed"] is False


def test_drag_from_gallery_onto_canvas_opens_it(qtbot, make_app, tmp_path):
    data = tmp_path / "app-data"
    write_examples(data / "gallery")
    studio = make_app(data=data)
    model = studio.gallery_model
    qtbot.waitUntil(lambda: model.row_of("a1111.png") >= 0, timeout=20000)
    assert studio.window.gallery_dock.isVisible()
    mime = model.mimeData([model.index(model.row_of("a1111.png"))])
    assert _drop(studio.window.canvas, mime)
    assert studio.document.path == str(model.folder / "a1111.png")
    assert studio.session["prompt"] == "a castle on a hill, sunset, (masterpiece:1.2)"
    assert studio.session["seed"] == 1234567 and studio.session["scheduler"] == "DPM++ 2M Karras"


def test_a_damaged_index_is_rebuilt_behind_the_first_screen(qtbot, tmp_path):
    from studio.gallery.store import Gallery
    from studio.paths import gallery_index_path

    data = tmp_path / "data"
    _make_gallery(data)
    Gallery(data).sync()
    index = gallery_index_path(data)
    raw = bytearray(index.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 4096] = b"\xff" * 4096  # damage pages, keep the header
    index.write_bytes(bytes(raw))
    model = GalleryModel(data)
    panel = GalleryPanel(model)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(model.synced, timeout=20000):
        model.start()
    qtbot.waitUntil(lambda: len(_names(panel)) == 11, timeout=10000)
    model.close()


def test_none_survives_a_long_session_of_qt_calls(qtbot):
    """PySide6 6.12.0 on Python 3.11 dropped a reference to None per Qt call that returns
    nothing, until the interpreter aborted; pyproject.toml keeps that version out."""
    import sys

    from PySide6.QtWidgets import QWidget

    widget = QWidget()
    qtbot.addWidget(widget)
    before = sys.getrefcount(None)
    for _ in range(200_000):  # more than None's whole count in a fresh interpreter
        widget.update()
    assert sys.getrefcount(None) >= before - 1000


def test_the_model_keeps_qt_consistent_through_every_change(qtbot, panel, tmp_path):
    """Qt's own model tester watches every signal while the listing changes every way it can."""
    from PySide6.QtTest import QAbstractItemModelTester

    model = panel.model
    tester = QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Warning)
    for text in ("lighthouse", "castle", "no such thing", ""):
        model.set_filters(search=text)
    model.set_filters(favourites=True)
    model.set_filters()
    batch = model.delete(["comfy.png", "today-2.png"])
    model.set_favourite(["invoke.png"], True)
    model.undo_delete(batch)
    save_studio_png(model.folder / "new.png", prompt="new", mtime=time.time())
    model.add_file(model.folder / "new.png")
    assert _names(panel)[0] == "new.png"
    assert [model.data(model.index(r), KIND_ROLE) for r in range(2)] == ["day", "image"]
    del tester


@pytest.fixture
def session_bus():
    """A private D-Bus session bus (a real dbus-daemon) and a client connection to it."""
    import subprocess

    from PySide6.QtDBus import QDBusConnection

    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon is not installed")
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    address = daemon.stdout.readline().strip()
    names = []

    def connect(name):
        names.append(name)
        return QDBusConnection.connectToBus(address, name)

    yield connect
    for name in names:
        QDBusConnection.disconnectFromBus(name)
    daemon.terminate()
    daemon.wait(10)


def test_reveal_asks_the_file_manager_to_select_the_file(qtbot, tmp_path, session_bus):
    from PySide6.QtCore import ClassInfo, QObject, Slot
    from PySide6.QtDBus import QDBusConnection

    from studio.ui.gallery_grid import FILE_MANAGER, show_items_over_dbus

    @ClassInfo({"D-Bus Interface": FILE_MANAGER})
    class FileManager(QObject):  # a file manager on the bus, as Nautilus or Dolphin registers itself
        def __init__(self):
            super().__init__()
            self.shown = []

        @Slot("QStringList", str)
        def ShowItems(self, uris, startup_id):
            self.shown.append(list(uris))

    client = session_bus("studio-client")
    image = tmp_path / "a picture #1.png"
    assert show_items_over_dbus(str(image), client) is False  # nobody to ask: the caller opens the folder

    manager, server = FileManager(), session_bus("file-manager")
    assert server.registerObject(
        "/org/freedesktop/FileManager1", manager, QDBusConnection.RegisterOption.ExportAllSlots
    )
    assert server.registerService(FILE_MANAGER)
    assert show_items_over_dbus(str(image), client) is True
    qtbot.waitUntil(lambda: bool(manager.shown), timeout=5000)
    assert manager.shown == [[image.as_uri()]] and manager.shown[0][0].endswith("/a%20picture%20%231.png")
