"""A failure can be diagnosed after the fact: DATA_DIR/logs/studio.log (rotated) holds what went
wrong with its traceback, a crash leaves every thread's stack in crash.log, Qt's warnings and
the exceptions nobody caught are logged and the window runs on, a data folder that cannot hold
the log still starts, and Help > Open log folder shows the folder."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QThread, QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices

from studio import cli
from studio.logs import setup_logging, stop_logging
from studio.testing.window_states import prepare

from .window_app import window_app  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def logs():
    """logs(DATA_DIR[, window]): Studio's start-up logging, undone when the test ends."""
    from studio.ui.qt_logging import install_qt_messages, remove_qt_messages, report_uncaught

    def start(data: Path, window=None, **options):
        path = setup_logging(data, **options)
        install_qt_messages()
        if window is not None:
            report_uncaught(window)
        return path

    yield start
    remove_qt_messages()
    stop_logging()


def entries(data: Path) -> str:
    return (data / "logs" / "studio.log").read_text(encoding="utf-8")


def test_the_log_is_a_file_in_data_logs_that_rotates(tmp_path, logs):
    data = tmp_path / "data"
    assert logs(data) == data / "logs" / "studio.log"
    logging.getLogger("studio.gallery.store").info("an index was rebuilt")
    text = entries(data)
    assert "Studio " in text and "starting" in text
    line = next(line for line in text.splitlines() if "an index was rebuilt" in line)
    assert " INFO [MainThread] studio.gallery.store: an index was rebuilt" in line and line[:4].isdigit()

    chunk = "x" * 1000
    for i in range(8000):  # about 8 MB: the file rotates, five old ones are kept
        logging.getLogger("studio.test").info("%d %s", i, chunk)
    names = sorted(p.name for p in (data / "logs").iterdir() if p.name.startswith("studio.log"))
    assert names == ["studio.log", *(f"studio.log.{k}" for k in range(1, 6))]
    assert all(p.stat().st_size <= 1024 * 1024 for p in (data / "logs").glob("studio.log*"))
    assert "7999 " in entries(data)


def test_names_in_log_entries_cannot_forge_an_entry_or_reach_a_terminal_raw(tmp_path, logs):
    data = tmp_path / "data"
    logs(data)
    name = "pic\x1b[2J\r\n2001-01-01 00:00:00,000 CRITICAL [MainThread] studio: forged\udcff\x85.png"
    logging.getLogger("studio.gallery").warning("skipped %s", name)
    try:
        raise OSError(2, "No such file", name)
    except OSError:
        logging.getLogger("studio.gallery").exception("reading %s failed", name)
    raw = (data / "logs" / "studio.log").read_bytes()
    text = raw.decode("utf-8")  # undecodable name bytes did not make the file undecodable
    assert not any(c in text for c in "\x1b\r\x85")
    assert "pic\\x1b[2J\\x0d" in text and "forged\\xff\\x85.png" in text
    starts = [line for line in text.splitlines() if not line.startswith(" ")]
    assert not any("forged" in line for line in starts)  # the name's line break is indented as part of its entry
    assert sum("Traceback" in line for line in text.splitlines()) == 1


@pytest.mark.qt_no_exception_capture
@pytest.mark.no_qt_log
def test_an_exception_nobody_caught_is_logged_and_the_window_runs_on(qtbot, window_app, tmp_path, logs, capsys):
    data = tmp_path / "data"
    logs(data)
    studio = window_app(data=data, steps=2)
    from studio.ui.qt_logging import report_uncaught

    report_uncaught(studio.window)

    def slot_with_a_bug():
        return 1 / 0

    QTimer.singleShot(0, slot_with_a_bug)
    qtbot.waitUntil(lambda: "ZeroDivisionError" in entries(data), timeout=10000)
    qtbot.waitUntil(lambda: "ZeroDivisionError" in studio.window.error.text(), timeout=10000)
    assert "internal error" in studio.window.error.text() and "logs" in studio.window.error.text()

    helper = threading.Thread(target=lambda: {}["missing key"], name="helper")
    helper.start()
    helper.join()

    class Broken(QThread):
        def run(self):
            raise ValueError("in a QThread")

    broken = Broken()
    broken.start()
    assert broken.wait(10000)
    qtbot.waitUntil(lambda: "ValueError" in studio.window.error.text(), timeout=10000)

    text = entries(data)
    for kind, where in (
        ("ZeroDivisionError", "slot_with_a_bug"),
        ("KeyError: 'missing key'", "<lambda>"),
        ("ValueError: in a QThread", "in run"),
    ):
        entry = text[text.index(kind) - 2000 if text.index(kind) > 2000 else 0 : text.index(kind) + 100]
        assert "Traceback (most recent call last)" in entry and where in entry, entry
    assert "[helper]" in text  # the thread it happened in
    err = capsys.readouterr().err
    assert "studio: internal error: KeyError" in err and "Traceback" not in err

    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):  # the window runs on
        studio.window.controls.generate.click()
    assert list((data / "gallery").glob("*.png"))


@pytest.mark.no_qt_log
def test_qt_warnings_reach_the_log(qapp, tmp_path, logs):
    data = tmp_path / "data"
    logs(data)
    QObject().startTimer(-1)  # Qt itself warns about this
    line = next(line for line in entries(data).splitlines() if "startTimer" in line)
    assert " WARNING " in line and " qt: QObject::startTimer" in line


def test_a_crash_leaves_every_threads_stack_in_crash_log(tmp_path):
    data = tmp_path / "data"
    code = (
        "import logging, sys, faulthandler\n"
        "from studio.logs import setup_logging\n"
        "setup_logging(sys.argv[1])\n"
        "logging.getLogger('studio.test').info('about to crash')\n"
        "def crash_here():\n"
        "    faulthandler._sigsegv()\n"
        "crash_here()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(data)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -signal.SIGSEGV, done.stderr
    crash = (data / "logs" / "crash.log").read_text(encoding="utf-8")
    assert "Segmentation fault" in crash and "crash_here" in crash
    assert "about to crash" in entries(data)


def test_a_read_only_data_folder_still_starts_the_window(tmp_path, tiny_model, read_only):
    args = prepare("idle", tmp_path, str(tiny_model))
    data = Path(args[1])
    read_only(data)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-m", "studio.testing.window_states", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert sum(line.startswith("closing ") for line in done.stdout.splitlines()) == 1, done.stdout
    notes = [line for line in done.stderr.splitlines() if "log" in line]
    assert len(notes) == 1 and "logging to stderr only" in notes[0], done.stderr
    assert "Traceback" not in done.stderr and not (data / "logs").exists()


def test_the_window_start_up_logs_into_the_data_folder(tmp_path, tiny_model):
    args = prepare("idle", tmp_path, str(tiny_model))
    data = Path(args[1])
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-m", "studio.testing.window_states", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "starting" in entries(data) and (data / "logs" / "crash.log").exists()


def test_a_full_disk_is_said_once_and_logging_goes_on(small_disk, logs, capsys):
    data = small_disk(256 * 1024)
    with open(data / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError:
            pass
    logs(data)
    for i in range(200):
        logging.getLogger("studio.test").info("entry %d %s", i, "y" * 50)
    logging.getLogger("studio.test").warning("still said on stderr")
    err = capsys.readouterr().err.splitlines()
    assert len([line for line in err if "cannot write the log file" in line]) == 1, err
    assert "still said on stderr" in err and not any("Traceback" in line or "Logging error" in line for line in err), (
        err
    )


class _Opened(QObject):
    def __init__(self):
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_help_opens_the_log_folder(qtbot, window_app, tmp_path):
    data = tmp_path / "data"
    studio = window_app(data=data, wait_for_model=False)
    qtbot.waitUntil(lambda: studio.window.built, timeout=20000)
    help_menu = next(a.menu() for a in studio.window.menuBar().actions() if a.text() == "&Help")
    action = next(a for a in help_menu.actions() if a.text().replace("&", "") == "Open log folder")
    opened = _Opened()
    QDesktopServices.setUrlHandler("file", opened, "open")
    try:
        action.trigger()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert opened.urls == [QUrl.fromLocalFile(str(data / "logs"))]
    assert (data / "logs").is_dir()


def test_a_command_logs_what_it_caught_and_its_stderr_stays_one_line(tiny_model, tmp_path, capsys):
    hooks = sys.excepthook, threading.excepthook
    data = tmp_path / "data"
    data.mkdir()
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    config = json.loads((model / "unet" / "config.json").read_text())
    config["block_out_channels"] = [7, 9]  # valid JSON, valid weights file: diffusers itself fails to build it
    (model / "unet" / "config.json").write_text(json.dumps(config))
    code = cli.main(
        [
            "generate",
            "a lake",
            "--model",
            str(model),
            "--steps",
            "1",
            "--out",
            str(tmp_path / "o.png"),
            "--data-dir",
            str(data),
        ]
    )
    err = capsys.readouterr().err
    assert code == cli.EXIT_ERROR and len(err.strip().splitlines()) == 1, err
    text = entries(data)
    assert "Traceback (most recent call last)" in text and str(model) in text
    assert (sys.excepthook, threading.excepthook) == hooks  # a command ends with the process's hooks as they were


def test_a_command_makes_no_data_folder_only_to_log(tmp_path, capsys):
    data = tmp_path / "never made"
    assert cli.main(["gallery", "list", "--data-dir", str(data)]) == 0
    assert not data.exists()


def test_an_unexpected_engine_failure_is_logged_with_its_traceback(engine, tiny_model, caplog):
    from studio.engine.events import Failed, ImageDone
    from studio.engine.models import resolve_model

    def on_event(event):
        if isinstance(event, ImageDone):
            raise RuntimeError("a caller's bug")

    request = resolve_model(str(tiny_model)).defaults.request(
        str(tiny_model), prompt="a lake", seed=1, steps=1, width=64, height=64
    )
    with caplog.at_level(logging.INFO, logger="studio"):
        final = engine.run(request, on_event)
    assert isinstance(final, Failed) and "a caller's bug" in final.message
    caught = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert caught and caught[0].name == "studio.engine.runner"


def test_logging_goes_back_as_it_was(tmp_path):
    hooks = sys.excepthook, threading.excepthook
    handlers = list(logging.getLogger().handlers)
    setup_logging(tmp_path / "data")
    assert sys.excepthook is not hooks[0]
    stop_logging()
    assert (sys.excepthook, threading.excepthook) == hooks and logging.getLogger().handlers == handlers
    assert (tmp_path / "data" / "logs" / "studio.log").exists()
