"""The first run: the window is usable while the model loads. A job asked for meanwhile waits in
the queue and runs once the model is ready; the status bar follows the load step by step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[2]


def new_app(qtbot, qapp, data: Path, model: Path):
    from studio.app import StudioApp

    data.mkdir(parents=True, exist_ok=True)
    settings = {
        "model": str(model),
        "defaults_for": str(model),
        "random_seed": False,
        "seed": 5,
        "width": 64,
        "height": 64,
    }
    (data / "settings.json").write_text(json.dumps(settings))
    studio = StudioApp(qapp, data, device="cpu")
    qtbot.addWidget(studio.window)
    return studio


def test_a_job_asked_for_while_the_model_loads_waits_then_runs_and_is_saved(qtbot, qapp, tmp_path, tiny_model):
    studio = new_app(qtbot, qapp, tmp_path / "data", tiny_model)
    events: list[str] = []
    seen: dict = {}

    def ask_while_loading(*_) -> None:
        if seen:
            return
        w = studio.window
        seen["loaded"] = studio._loaded_model  # the window has not heard of a loaded model yet
        w.controls.prompt.setFocus()
        qtbot.keyClicks(w.controls.prompt, "a lake under hills")
        w.generate_action.trigger()  # Ctrl+Return
        seen["queue"] = [w.controls.queue.item(k).text() for k in range(w.controls.queue.count())]
        seen["generate"] = w.controls.generate.isEnabled()
        seen["status"] = w.model_status.text()

    studio.worker.modelProgress.connect(ask_while_loading)
    studio.worker.modelLoaded.connect(lambda *_: events.append("loaded"))
    studio.worker.jobStarted.connect(lambda *_: events.append("started"))
    saved = []
    studio.worker.imageSaved.connect(saved.append)
    try:
        studio.start()
        qtbot.waitUntil(lambda: bool(saved), timeout=120000)
        assert seen["loaded"] is None and seen["status"].startswith("Loading tiny")
        assert seen["generate"]
        assert len(seen["queue"]) == 1 and "waits for the model" in seen["queue"][0]
        assert "a lake under hills" in seen["queue"][0]
        assert events[:2] == ["loaded", "started"]
        path = Path(saved[0].path)
        assert path.parent == studio.gallery and path.stat().st_size > 0
        assert saved[0].recipe.request.prompt == "a lake under hills"
        qtbot.waitUntil(lambda: studio.queue.jobs == [], timeout=10000)
        assert studio.window.controls.queue.count() == 0
    finally:
        studio.window.close()
        assert studio.worker.wait(10000)


def test_the_status_bar_follows_the_load_in_order_up_to_100_percent(qtbot, qapp, tmp_path, tiny_model):
    studio = new_app(qtbot, qapp, tmp_path / "data", tiny_model)
    w = studio.window
    shown: list[tuple[str, int, int, int, bool]] = []
    progress: list[tuple[str, int, int]] = []

    def look(ref: str, stage: str, done: int, total: int) -> None:  # connected after the app's own slot
        progress.append((stage, done, total))
        shown.append(
            (w.model_status.text(), w.model_busy.value(), w.model_busy.maximum(), done, w.model_busy.isVisible())
        )

    try:
        studio.start()
        # After the panels are built (and the app's slots connected), before the worker starts.
        w.firstPainted.connect(lambda: QTimer.singleShot(0, lambda: studio.worker.modelProgress.connect(look)))
        qtbot.waitUntil(lambda: "ready" in w.model_status.text(), timeout=60000)
        QApplication.processEvents()
        measured = [p for p in progress if p[2]]
        assert [p[1] for p in measured] == sorted(p[1] for p in measured)
        assert measured[-1][1] == measured[-1][2]  # 100 %
        stages = [text for text, *_ in shown]
        assert "Loading tiny: unet 4/5…" in stages, stages
        during = next(s for s in shown if s[0] == "Loading tiny: unet 4/5…")
        assert during[1] == during[3] and during[2] == measured[-1][2] and during[4]  # a determinate bar, shown
        assert w.model_status.text() == "Model: tiny · ready"
        assert not w.model_busy.isVisible()
    finally:
        w.close()
        assert studio.worker.wait(10000)


CLOSE_WHILE_LOADING = """
import json, sys
from PySide6.QtCore import QTimer
from studio.app import run, start_up
studio = start_up(__import__("pathlib").Path(sys.argv[1]), "cpu", [sys.argv[0]])
seen = {"queued": 0, "loaded": False, "started": False}
studio.worker.modelLoaded.connect(lambda *_: seen.update(loaded=True))
studio.worker.jobStarted.connect(lambda *_: seen.update(started=True))
def queue_and_close(*_):
    if seen["queued"]:
        return
    studio.session.set("prompt", "a lake")
    studio.generate()
    seen["queued"] = len(studio.queue.pending)
    print("closing", json.dumps(seen), flush=True)
    studio.window.close()
studio.worker.modelProgress.connect(queue_and_close)
run(studio)
"""


def test_closing_while_the_model_loads_with_a_job_queued_ends_cleanly(tmp_path, tiny_model):
    data = tmp_path / "data"
    data.mkdir()
    (data / "settings.json").write_text(json.dumps({"model": str(tiny_model), "width": 64, "height": 64}))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-c", CLOSE_WHILE_LOADING, str(data)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "QThread: Destroyed" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("closing ")]
    assert len(lines) == 1, done.stdout
    seen = json.loads(lines[0].split(" ", 1)[1])
    assert seen == {"queued": 1, "loaded": False, "started": False}
    gallery = data / "gallery"
    assert not (gallery.exists() and list(gallery.iterdir()))  # the queued job never ran
    json.loads((data / "settings.json").read_text(encoding="utf-8"))
