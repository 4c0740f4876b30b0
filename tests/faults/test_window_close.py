"""Closing the window in every state ends the real process cleanly: exit status 0, no abort,
nothing half-written, no candidate left behind. (How fast: bench/close.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from studio.testing.window_states import STATES, prepare

from .window_app import window_app  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[2]


def close_in(state: str, folder: Path, model: str) -> tuple[subprocess.CompletedProcess, dict]:
    args = prepare(state, folder, model)
    temp = folder / "tmp"
    temp.mkdir()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1", TMPDIR=str(temp))
    done = subprocess.run(
        [sys.executable, "-m", "studio.testing.window_states", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("closing ")]
    assert len(lines) == 1, f"the window was not closed in state {state}: {done.stdout}\n{done.stderr[-3000:]}"
    return done, json.loads(lines[0].split(" ", 1)[1])


def whole_pngs(folder: Path) -> list[str]:
    names = []
    for path in sorted(folder.glob("*.png")):
        with Image.open(path) as image:
            image.load()  # raises on a truncated file
        names.append(path.name)
    return names


@pytest.mark.parametrize("state", STATES)
def test_closing_ends_the_process_cleanly(state, tmp_path, tiny_model):
    done, seen = close_in(state, tmp_path, str(tiny_model))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "QThread: Destroyed" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert seen["loaded"] == (state != "loading")  # the state was the one asked for when the window closed
    if state in ("generating", "outpainting"):
        assert seen["steps"] >= 1
    if state == "long_prompt":
        assert seen["started"] and seen["steps"] == 0
    data = tmp_path / "data"
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []  # nothing half-written
    assert list((tmp_path / "tmp").iterdir()) == []  # no outpaint candidate left in the temporary place
    json.loads((data / "settings.json").read_text(encoding="utf-8"))
    kept = whole_pngs(data / "gallery") if (data / "gallery").exists() else []
    if state == "importing":
        source = tmp_path / "import"
        assert kept and set(kept) <= {p.name for p in source.iterdir()}
        for name in kept:
            assert (data / "gallery" / name).read_bytes() == (source / name).read_bytes()
    else:
        assert kept == []  # a cancelled job, or outpaint candidates, never reach the gallery


def test_closing_while_the_model_loads_leaves_no_thread_and_writes_nothing(qtbot, window_app):
    studio = window_app(wait_for_model=False)
    with qtbot.waitSignal(studio.worker.modelLoading, timeout=60000):
        pass
    studio.window.close()
    assert studio.worker.wait(60000)  # the load ends, and with it the thread: it starts nothing more
    assert not (studio.gallery.exists() and list(studio.gallery.iterdir()))
