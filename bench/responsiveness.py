"""Does the window stay smooth while a picture is made, and does it appear quickly?

1. Event-loop lateness: a 5 ms timer in the GUI thread records how late it fires while
   the worker generates images; prints p50/p99/max (goal: p99 <= 16 ms, max <= 50 ms).
2. Launch to first paint: Studio's window over a bare PySide6 window, each started as a
   new process, alternated, median of several runs (goal <= 1.5x). Studio's window paints
   its frame first and builds its panels right after; the time until the panels have
   painted too is printed beside it.
3. Launch to ready: from starting Studio to its model being loaded (the status bar's
   "ready"), over a bare `python -c "import torch, diffusers"`, each a new process,
   alternated, median of several runs (goal <= 1.5x); with when each load stage began,
   and beside them a plain `DiffusionPipeline.from_pretrained` of the same folder with no
   window (the least any diffusers program pays for the same model).

Uses the embedded model when installed, else a small SD-shaped model with random weights.
Run: python bench/responsiveness.py [--images 3] [--launches 5] [--ready-launches 5] [--model M]
     [--launch-only | --ready-only]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

BARE = """
import sys, time
from PySide6.QtWidgets import QApplication, QWidget
from PySide6.QtCore import QTimer
class W(QWidget):
    def paintEvent(self, e):
        print("painted", flush=True); QTimer.singleShot(0, app.quit)
app = QApplication(sys.argv); w = W(); w.resize(1280, 800); w.show(); app.exec()
"""

STUDIO = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from studio.app import StudioApp
app = QApplication(sys.argv)
studio = StudioApp(app, __import__("pathlib").Path(sys.argv[1]), device="cpu")
studio.start()  # connected after start(), so these run after the panels are built
studio.window.firstPainted.connect(lambda: print("painted", flush=True))
studio.window.firstPainted.connect(lambda: QTimer.singleShot(0, lambda: studio.window.canvas.firstPainted.connect(
    lambda: (print("panels", flush=True), QTimer.singleShot(0, app.quit)))))
app.exec(); studio.worker.stop(2000)
"""


BARE_IMPORT = "import time, torch, diffusers; print('ready', time.process_time(), flush=True)"

# The least any diffusers program pays to have the same model ready: its own pipeline load, no window.
PLAIN_LOAD = """
import sys, time
from diffusers import DiffusionPipeline
DiffusionPipeline.from_pretrained(sys.argv[1], local_files_only=True, use_safetensors=True).set_progress_bar_config(disable=True)
print('ready', time.process_time(), flush=True)
"""

READY = """
import os, sys, time
from PySide6.QtWidgets import QApplication
from studio.app import StudioApp
app = QApplication(sys.argv)
studio = StudioApp(app, __import__("pathlib").Path(sys.argv[1]), device="cpu")
if hasattr(studio.worker, "modelProgress"):
    studio.worker.modelProgress.connect(lambda ref, stage, done, total: print("stage", stage, flush=True))
studio.worker.modelLoaded.connect(lambda *_: (print("ready", time.process_time(), flush=True), os._exit(0)))
studio.worker.modelFailed.connect(lambda ref, message: (print("failed", message, flush=True), os._exit(1)))
studio.start()
app.exec()
"""


class Ready(NamedTuple):
    seconds: float  # from starting the process to its "ready" line
    cpu: float  # the process's CPU seconds by then (all its threads): steadier than wall time on a busy machine
    stages: dict[str, float]  # when each "stage" line came


def time_to_ready(code: str, *args: str, root: Path = ROOT) -> Ready:
    """Start `code` in a new process (in `root`, another checkout to compare with) and time its "ready" line."""
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )
    assert process.stdout is not None
    ready, cpu, stages = None, 0.0, {}
    for line in process.stdout:
        now = time.perf_counter() - began
        if line.startswith("stage "):
            stages[line[6:].strip()] = now
        elif line.startswith("ready"):
            ready, cpu = now, float(line.split()[1])
    process.wait(120)
    if ready is None:
        raise RuntimeError(f"never ready: exit status {process.returncode}")
    return Ready(ready, cpu, stages)


def studio_ready(model: str, root: Path = ROOT) -> Ready:
    data = Path(tempfile.mkdtemp())
    (data / "settings.json").write_text(json.dumps({"model": model}))
    return time_to_ready(READY, str(data), root=root)


def model_folder(model: str) -> str | None:
    """The diffusers folder behind `model`, for the plain load; None for a single-file checkpoint."""
    from studio.engine.models import resolve_model

    info = resolve_model(model)
    return None if info.checkpoint is not None else str(info.path)


def launch_to_ready(model: str, launches: int) -> None:
    bare: list[Ready] = []
    ours: list[Ready] = []
    plain: list[Ready] = []
    folder = model_folder(model)
    for _ in range(launches):
        bare.append(time_to_ready(BARE_IMPORT))
        ours.append(studio_ready(model))
        if folder:
            plain.append(time_to_ready(PLAIN_LOAD, folder))
    median = statistics.median
    bare_s, ours_s = median(r.seconds for r in bare), median(r.seconds for r in ours)
    bare_cpu, ours_cpu = median(r.cpu for r in bare), median(r.cpu for r in ours)
    print(
        f"launch to ready ({model}, cpu, median of {launches}): bare import torch, diffusers {bare_s:.2f} s, "
        f"Studio {ours_s:.2f} s, ratio {ours_s / bare_s:.2f}   (goal <= 1.5)"
    )
    print(f"  CPU time by then: bare {bare_cpu:.2f} s, Studio {ours_cpu:.2f} s, ratio {ours_cpu / bare_cpu:.2f}")
    if plain:
        plain_s = median(r.seconds for r in plain)
        print(
            f"  a plain DiffusionPipeline.from_pretrained of the same folder, no window: {plain_s:.2f} s "
            f"({plain_s / bare_s:.2f}x the bare import); Studio {ours_s / plain_s:.2f}x that"
        )
    stages: dict[str, list[float]] = {}
    for run in ours:
        for stage, at in run.stages.items():
            if stage != "ready":  # said below, as the process saw it
                stages.setdefault(stage, []).append(at)
    began = ", ".join(f"{stage} {median(at):.2f}" for stage, at in stages.items())
    print(f"  each load stage began at (median s): {began}, ready {ours_s:.2f}")


def time_to_paint(code: str, *args: str) -> tuple[float, float]:
    """Seconds from starting the process to its "painted" line, and to its last line."""
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    painted = last = None
    for line in process.stdout:
        last = time.perf_counter() - began
        if line.startswith("painted"):
            painted = last
    process.wait(30)
    if painted is None:
        raise RuntimeError("the window never painted")
    return painted, last


def lateness_during_generation(model: str, images: int) -> list[float]:
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from studio.app import StudioApp

    app = QApplication.instance() or QApplication(sys.argv)
    data = Path(tempfile.mkdtemp())
    (data / "settings.json").write_text(
        json.dumps({"model": model, "prompt": "a day landscape with green hills, a lake"})
    )
    studio = StudioApp(app, data, device="cpu")
    loaded = []
    studio.worker.modelLoaded.connect(lambda *a: loaded.append(1))
    studio.start()
    while not loaded:
        app.processEvents()
        time.sleep(0.01)
    studio.session.set("count", images)
    clock, samples, period = QElapsedTimer(), [], 5
    last = [0]

    def tick():
        now = clock.elapsed()
        samples.append(max(0, now - last[0] - period))
        last[0] = now

    timer = QTimer(interval=period)
    timer.timeout.connect(tick)
    done = []
    studio.worker.jobFinished.connect(lambda *a: done.append(1))
    clock.start()
    timer.start()
    studio.generate()
    while not done:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    studio.window.close()
    return samples


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--model")
    parser.add_argument("--ready-launches", type=int, default=5)
    parser.add_argument("--launch-only", action="store_true", help="skip the lateness probe")
    parser.add_argument("--ready-only", action="store_true", help="only launch to ready")
    args = parser.parse_args()

    from studio.testing.tiny_model import bench_model_ref

    if args.ready_only:
        launch_to_ready(args.model or bench_model_ref(), args.ready_launches)
        return
    if not args.launch_only:
        model = args.model or bench_model_ref()
        late = lateness_during_generation(model, args.images)
        print(f"event-loop lateness while generating {args.images} image(s), {len(late)} samples of a 5 ms timer:")
        print(
            f"  p50 {percentile(late, 0.5):.1f} ms   p99 {percentile(late, 0.99):.1f} ms   max {max(late):.1f} ms"
            f"   (goals: p99 <= 16 ms, max <= 50 ms)"
        )

    bare, ours, panels = [], [], []
    for _ in range(args.launches):
        bare.append(time_to_paint(BARE)[0])
        painted, built = time_to_paint(STUDIO, tempfile.mkdtemp())
        ours.append(painted)
        panels.append(built)
    bare_ms, ours_ms = statistics.median(bare) * 1000, statistics.median(ours) * 1000
    print(
        f"launch to first paint: bare PySide6 {bare_ms:.0f} ms, Studio {ours_ms:.0f} ms, "
        f"ratio {ours_ms / bare_ms:.2f}   (goal <= 1.5)"
    )
    print(
        f"  Studio's panels painted too: {statistics.median(panels) * 1000:.0f} ms "
        f"({statistics.median(panels) * 1000 / bare_ms:.2f}x the bare window)"
    )
    if args.ready_launches:
        launch_to_ready(args.model or bench_model_ref(), args.ready_launches)


if __name__ == "__main__":
    main()
