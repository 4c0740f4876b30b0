"""The window's own files: what it opens (File > Open, a drop on the canvas, the gallery, the
recent strip) goes through the one safe opener, what it saves through the target check and
the atomic writer; and a gallery file whose name is not UTF-8 is the file every action acts on.

A FIFO cannot hang a test here: a watch opens its other end the moment anything reads it
(so the reader sees an empty file at once) and counts that it happened.
"""

from __future__ import annotations

import os
import shutil
import stat
import struct
import subprocess
import threading
import zlib
from pathlib import Path
from urllib.parse import quote_from_bytes

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from studio.model.pixels import to_array
from studio.recipe.embed import write_png
from studio.testing.gallery_samples import studio_recipe

from .window_app import window_app  # noqa: F401  (a fixture)

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

RED, BLUE, GREEN = (200, 30, 30), (30, 30, 200), (30, 200, 30)
ODD = b"caf\xe9.png"  # Latin-1 bytes: not UTF-8
PLAIN = "caf.png"  # what a QString makes of ODD: another file


class FifoWatch:
    """Counts the times anything opens the FIFO to read it, and lets each such reader go at once."""

    def __init__(self, path: Path):
        self.path, self.readers = path, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)  # succeeds only while someone reads
            except OSError:
                continue
            self.readers += 1
            os.close(fd)  # the reader sees the end of an empty file


def _drop(widget, mime) -> bool:
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


def _url_mime(*paths) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def _one_line_error(studio) -> str:
    text = studio.window.error.text()
    assert studio.window.error.isVisibleTo(studio.window) and text and "\n" not in text
    return text


def _plain(path, colour, prompt: str, size=(64, 64)) -> str:
    """A one-colour PNG with a Studio recipe; returns its path as Python holds it."""
    path = os.fsdecode(path)
    write_png(path, Image.new("RGB", size, colour), studio_recipe(prompt, seed=7, width=size[0], height=size[1]))
    return os.fsdecode(path)


def _shown(studio) -> tuple:
    return tuple(int(v) for v in to_array(studio.document.image)[0, 0])


def _open_good(studio, tmp_path) -> str:
    good = _plain(tmp_path / "good.png", GREEN, "a green field")
    studio.open_path(good)
    assert studio.document.path == good and _shown(studio) == GREEN
    return good


# Opening.


@pytest.mark.parametrize("route", ["file-open", "drop"])
def test_a_fifo_is_refused_before_it_is_read(qtbot, window_app, tmp_path, route):
    studio = window_app()
    fifo = tmp_path / "trap.png"
    os.mkfifo(fifo)
    with FifoWatch(fifo) as watch:
        if route == "file-open":
            studio.open_path(str(fifo))  # what File > Open does with the file chosen
        else:
            assert _drop(studio.window.canvas, _url_mime(fifo))
    assert watch.readers == 0
    assert "FIFO" in _one_line_error(studio) and str(fifo) in studio.window.error.text()
    assert studio.document.image.isNull()
    _open_good(studio, tmp_path)  # the window goes on


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def test_a_picture_over_the_pixel_limit_is_refused_before_decoding(qtbot, window_app, tmp_path):
    studio = window_app()
    good = _open_good(studio, tmp_path)
    bomb = tmp_path / "bomb.png"
    side = 30000  # 900 megapixels of grey; a few rows of it are enough for the header to say so
    rows = zlib.compress(b"\0" * (side + 1) * 4, 9)
    bomb.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )
    studio.open_path(str(bomb))
    message = _one_line_error(studio)
    assert "30000x30000" in message and "refused before decoding" in message
    assert studio.document.path == good and _shown(studio) == GREEN  # what was open stays


def test_a_rotated_photo_opens_upright_and_sixteen_bit_grey_is_scaled(qtbot, window_app, tmp_path):
    studio = window_app()
    photo = Image.new("RGB", (80, 40), BLUE)
    photo.paste(RED, (0, 0, 40, 40))  # red on the left as stored; EXIF 6: turn 90° clockwise to show
    exif = Image.Exif()
    exif[0x0112] = 6
    photo.save(tmp_path / "photo.jpg", exif=exif, quality=95)
    assert _drop(studio.window.canvas, _url_mime(tmp_path / "photo.jpg"))
    image = to_array(studio.document.image)
    assert image.shape == (80, 40, 3)  # upright: taller than wide
    assert np.abs(image[5, 20].astype(int) - RED).max() < 40 and np.abs(image[75, 20].astype(int) - BLUE).max() < 40

    grey = np.full((16, 16), 32768, np.uint16)
    grey[0, 0] = 65535
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    studio.open_path(str(tmp_path / "grey16.png"))
    image = to_array(studio.document.image)
    assert tuple(image[0, 0]) == (255, 255, 255) and tuple(image[1, 1]) == (128, 128, 128)


# Saving.


def _special(kind: str, tmp_path: Path, suffix: str = ".png") -> tuple[Path, int]:
    """A target that is not a regular file, and the file type it must keep."""
    fifo = tmp_path / f"pipe{suffix}"
    os.mkfifo(fifo)
    if kind == "fifo":
        return fifo, stat.S_IFIFO
    if kind == "link to a fifo":
        link = tmp_path / f"link{suffix}"
        link.symlink_to(fifo)
        return link, stat.S_IFLNK
    device = tmp_path / f"null{suffix}"
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # a null device of our own
    except OSError as exc:
        pytest.skip(f"cannot make a device node here ({exc.strerror})")
    return device, stat.S_IFCHR


@pytest.mark.parametrize("kind", ["fifo", "link to a fifo", "device"])
def test_save_as_never_replaces_a_special_file(qtbot, window_app, tmp_path, kind):
    studio = window_app()
    _open_good(studio, tmp_path)
    target, mode = _special(kind, tmp_path)
    studio.save_image_to(str(target))
    assert stat.S_IFMT(os.lstat(target).st_mode) == mode
    assert "not a regular file" in _one_line_error(studio)
    saved = tmp_path / "saved.png"
    studio.save_image_to(str(saved))  # and the next Save as works
    assert tuple(np.asarray(Image.open(saved).convert("RGB"))[0, 0]) == GREEN


def test_export_animation_never_replaces_a_fifo(qtbot, window_app, tmp_path):
    studio = window_app(steps=2)
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        studio.window.controls.generate.click()
    target, mode = _special("fifo", tmp_path, ".gif")
    studio.export_animation_to(str(target))
    assert stat.S_IFMT(os.lstat(target).st_mode) == mode
    assert "not a regular file" in _one_line_error(studio)
    studio.export_animation_to(str(tmp_path / "steps.gif"))
    assert Image.open(tmp_path / "steps.gif").n_frames >= 2


# A gallery file whose name is not UTF-8.


def _odd_gallery(tmp_path) -> tuple[Path, str, str]:
    """DATA_DIR/gallery holding a red caf\\xe9.png (newest) and a blue caf.png."""
    folder = tmp_path / "data" / "gallery"
    folder.mkdir(parents=True)
    plain = _plain(folder / PLAIN, BLUE, "blue")
    os.utime(plain, (1_600_000_000, 1_600_000_000))
    odd = _plain(os.path.join(os.fsencode(folder), ODD), RED, "red")
    return folder, odd, plain


def _gallery_ready(qtbot, studio, *names):
    model = studio.gallery_model
    qtbot.waitUntil(lambda: all(model.row_of(n) >= 0 for n in names), timeout=20000)


def test_open_drag_and_the_recent_strip_open_a_non_utf8_name(qtbot, window_app, tmp_path):
    _, odd, plain = _odd_gallery(tmp_path)
    odd_name = os.path.basename(odd)
    studio = window_app()
    _gallery_ready(qtbot, studio, odd_name, PLAIN)
    panel, model = studio.gallery_panel, studio.gallery_model

    panel.select_names([odd_name])
    panel.open_button.click()
    assert studio.document.path == odd and _shown(studio) == RED and studio.session["prompt"] == "red"

    studio.open_path(plain)
    mime = model.mimeData([model.index(model.row_of(odd_name))])
    assert bytes(mime.urls()[0].toEncoded()).endswith(b"/caf%E9.png")  # as file managers write such a name
    assert _drop(studio.window.canvas, mime)
    assert studio.document.path == odd and _shown(studio) == RED

    studio.open_path(plain)
    from_file_manager = QMimeData()
    from_file_manager.setUrls([QUrl.fromEncoded(bytes(mime.urls()[0].toEncoded()))])
    assert _drop(studio.window.canvas, from_file_manager)
    assert studio.document.path == odd and _shown(studio) == RED

    studio.open_path(plain)
    recent = studio.window.recent
    qtbot.waitUntil(lambda: recent.count() == 2, timeout=20000)
    newest = recent.item(0)  # the red one, newest
    qtbot.mouseClick(recent.viewport(), Qt.MouseButton.LeftButton, pos=recent.visualItemRect(newest).center())
    assert studio.document.path == odd and _shown(studio) == RED


@pytest.fixture
def session_bus():
    """A private D-Bus session bus (a real dbus-daemon); session_bus(name) connects to it."""
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


# No file manager here: Reveal opens the folder, which the offscreen platform cannot.
@pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support QPlatformServices")
def test_reveal_names_a_non_utf8_file_byte_for_byte(qtbot, window_app, tmp_path, session_bus):
    from PySide6.QtCore import ClassInfo, QObject, Slot
    from PySide6.QtDBus import QDBusConnection

    from studio.ui.gallery_grid import FILE_MANAGER, show_items_over_dbus

    @ClassInfo({"D-Bus Interface": FILE_MANAGER})
    class FileManager(QObject):
        def __init__(self):
            super().__init__()
            self.shown = []

        @Slot("QStringList", str)
        def ShowItems(self, uris, startup_id):
            self.shown.append(list(uris))

    _, odd, _ = _odd_gallery(tmp_path)
    studio = window_app()
    _gallery_ready(qtbot, studio, os.path.basename(odd))
    panel = studio.gallery_panel
    asked = []
    panel.revealRequested.connect(asked.append)
    panel.select_names([os.path.basename(odd)])
    panel.reveal_button.click()
    assert asked == [odd]

    manager, server = FileManager(), session_bus("file-manager")
    assert server.registerObject(
        "/org/freedesktop/FileManager1", manager, QDBusConnection.RegisterOption.ExportAllSlots
    )
    assert server.registerService(FILE_MANAGER)
    assert show_items_over_dbus(asked[0], session_bus("studio-client")) is True
    qtbot.waitUntil(lambda: bool(manager.shown), timeout=5000)
    assert manager.shown == [["file://" + quote_from_bytes(os.fsencode(odd))]]
    assert manager.shown[0][0].endswith("/caf%E9.png")


def test_preview_reuse_export_delete_and_import_act_on_a_non_utf8_file(qtbot, window_app, tmp_path):
    folder, odd, _ = _odd_gallery(tmp_path)
    odd_name = os.path.basename(odd)
    studio = window_app()
    _gallery_ready(qtbot, studio, odd_name, PLAIN)
    panel, model = studio.gallery_panel, studio.gallery_model

    panel.select_names([odd_name])
    qtbot.waitUntil(lambda: not panel.preview.pixmap().isNull(), timeout=10000)
    assert tuple(to_array(panel.preview.pixmap().toImage())[0, 0]) == RED

    studio.session.set("prompt", "something else")
    panel.reuse_button.click()
    assert studio.session["prompt"] == "red"

    with qtbot.waitSignal(model.exportFinished, timeout=20000):
        panel.export_to([odd_name], str(tmp_path / "one.png"))
    assert tuple(np.asarray(Image.open(tmp_path / "one.png").convert("RGB"))[0, 0]) == RED
    (tmp_path / "many").mkdir()
    with qtbot.waitSignal(model.exportFinished, timeout=20000):
        panel.export_to([odd_name, PLAIN], str(tmp_path / "many"), ".png")
    exported = os.fsencode(tmp_path / "many")
    assert sorted(os.listdir(exported)) == sorted([ODD, PLAIN.encode()])
    assert tuple(np.asarray(Image.open(os.path.join(exported, ODD)).convert("RGB"))[0, 0]) == RED

    panel.select_names([odd_name])
    panel.delete_button.click()
    assert sorted(os.listdir(os.fsencode(folder))) == [PLAIN.encode()]
    panel.undo_delete()
    assert sorted(os.listdir(os.fsencode(folder))) == sorted([ODD, PLAIN.encode()])

    outside = tmp_path / "outside"
    outside.mkdir()
    _plain(os.path.join(os.fsencode(outside), b"th\xe9.png"), GREEN, "green")
    with qtbot.waitSignal(model.importFinished, timeout=20000):
        panel.import_paths([str(outside)])
    assert panel.selected_names() == [os.fsdecode(b"th\xe9.png")]
    panel.open_button.click()
    assert _shown(studio) == GREEN
