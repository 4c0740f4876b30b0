"""Fixtures for driving the real app offscreen: a StudioApp on the tiny model, and a thread check."""

from __future__ import annotations

import gc
import json

import pytest
from PySide6.QtCore import QThread


@pytest.fixture(autouse=True)
def no_thread_left_running():
    """Fail any test that leaves a QThread running."""
    yield
    gc.collect()
    running = [t for t in gc.get_objects() if isinstance(t, QThread) and t.isRunning()]
    assert not running, f"{len(running)} QThread(s) still running after the test"


@pytest.fixture
def make_app(qtbot, qapp, tmp_path, tiny_model):
    """Build, show and start a StudioApp in a fresh DATA_DIR; closes it afterwards."""
    from studio.app import StudioApp

    apps = []

    def make(data=None, **settings):
        data = data or tmp_path / "data"
        data.mkdir(parents=True, exist_ok=True)
        values = {
            "model": str(tiny_model),
            "defaults_for": str(tiny_model),
            "random_seed": False,
            "seed": 5,
            "width": 64,
            "height": 64,
        }
        values.update(settings)
        settings_file = data / "settings.json"
        if not settings_file.exists():
            settings_file.write_text(json.dumps(values))
        studio = StudioApp(qapp, data, device="cpu")
        qtbot.addWidget(studio.window)
        with qtbot.waitSignal(studio.worker.modelLoaded, timeout=60000):
            studio.start()
        # The app's own slot for the signal may run after the one waitSignal connected: wait for what it shows.
        qtbot.waitUntil(lambda: "ready" in studio.window.model_status.text(), timeout=10000)
        qtbot.waitExposed(studio.window)
        apps.append(studio)
        return studio

    yield make
    for studio in apps:
        studio.window.close()
        assert studio.worker.wait(5000)
