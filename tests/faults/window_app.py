"""The real window on the tiny model, for the test_window_* fault tests: `window_app(**settings)`
builds, shows and starts a StudioApp in a fresh DATA_DIR (settings.json written as given) and
closes it afterwards; no QThread may be left running."""

from __future__ import annotations

import gc
import json

import pytest
from PySide6.QtCore import QThread


@pytest.fixture
def window_app(qtbot, qapp, tmp_path, tiny_model):
    from studio.app import StudioApp

    apps = []

    def make(data=None, wait_for_model=True, raw_settings=None, **settings):
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
        (data / "settings.json").write_text(
            raw_settings if raw_settings is not None else json.dumps(values), encoding="utf-8"
        )
        studio = StudioApp(qapp, data, device="cpu")
        apps.append(studio)
        qtbot.addWidget(studio.window)
        if wait_for_model:
            with qtbot.waitSignal(studio.worker.modelLoaded, timeout=60000):
                studio.start()
            # The app's own slot may run after the one waitSignal connected.
            qtbot.waitUntil(lambda: studio._loaded_model is not None, timeout=10000)
            qtbot.waitExposed(studio.window)
        else:
            studio.start()
        return studio

    yield make
    for studio in apps:
        studio.window.close()
        assert studio.worker.wait(10000)
    gc.collect()
    running = [t for t in gc.get_objects() if isinstance(t, QThread) and t.isRunning()]
    assert not running, f"{len(running)} QThread(s) still running after the test"
