"""Close the real Studio window in a given state, the way a person would, for tests and bench/close.py.

    python -m studio.testing.window_states STATE DATA_DIR [--image PNG] [--source DIR] [--prompt-words N]

STATE is one of STATES. The window is built and run exactly as `studio` runs it (studio.app.start_up, run),
on the model DATA_DIR/settings.json names, with the device forced to the CPU. When the state is
reached the window is closed and one line is printed: `closing {json}` with the time (time.time())
and what was going on; when it is not reached within --deadline seconds, `never reached {json}` and
exit status 3. The process then ends through the app's own exit path, so its exit status
and its time to exit are the app's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QTimer

STATES = ("idle", "loading", "generating", "long_prompt", "outpainting", "importing")


def prepare(state: str, folder: Path, model: str, side: int = 64, imports: int = 300) -> list[str]:
    """A DATA_DIR in `folder` (settings for `model`, and the picture or the folder to import the
    state needs); returns the arguments of `main` for it."""
    from studio.testing.gallery_samples import save_studio_png

    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    settings = {"model": model, "defaults_for": model, "steps": 150, "width": side, "height": side, "candidates": 3}
    (data / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    args = [state, str(data)]
    if state == "outpainting":
        image = save_studio_png(folder / "picture.png", "a lake", seed=3, width=side, height=side)
        args += ["--image", str(image)]
    elif state == "importing":
        source = folder / "import"
        source.mkdir(exist_ok=True)
        for k in range(imports):
            save_studio_png(source / f"picture-{k:04d}.png", f"picture {k}", seed=k)
        args += ["--source", str(source)]
    return args


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="window_states")
    parser.add_argument("state", choices=STATES)
    parser.add_argument("data", type=Path)
    parser.add_argument("--image", help="the picture to outpaint")
    parser.add_argument("--source", help="the folder to import")
    parser.add_argument("--prompt-words", type=int, default=200_000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--deadline", type=float, default=240, help="seconds to reach the state before giving up")
    args = parser.parse_args(argv)

    from studio.app import run, start_up

    studio = start_up(args.data, args.device, [sys.argv[0]])
    worker, seen = studio.worker, {"loaded": False, "steps": 0, "started": False}
    worker.modelLoaded.connect(lambda *_: seen.update(loaded=True))
    worker.jobStarted.connect(lambda *_: seen.update(started=True))
    worker.stepDone.connect(lambda *_: seen.update(steps=seen["steps"] + 1))

    def close(delay_ms: int = 0) -> None:
        def now() -> None:
            if studio.window.isVisible():
                print("closing", json.dumps({"time": time.time(), "state": args.state, **seen}), flush=True)
                studio.window.close()

        QTimer.singleShot(delay_ms, now)

    def once(signal, slot) -> None:
        def fire(*values) -> None:
            signal.disconnect(fire)
            slot(*values)

        signal.connect(fire)

    if args.state == "idle":
        once(worker.modelLoaded, lambda *_: close(300))
    elif args.state == "loading":
        once(worker.modelLoading, lambda *_: close(50))
    elif args.state == "generating":
        once(worker.modelLoaded, lambda *_: studio.generate())
        once(worker.stepDone, lambda *_: close())
    elif args.state == "long_prompt":

        def long_job(*_) -> None:
            studio.session.set("prompt", " ".join(["a lake under snowy hills"] * (args.prompt_words // 5)))
            studio.generate()

        once(worker.modelLoaded, long_job)
        once(worker.jobStarted, lambda *_: close())
    elif args.state == "outpainting":

        def outpaint(*_) -> None:
            studio.open_path(args.image)
            studio.extend_canvas(0, 0, 32, 0)
            studio.edit_job()

        once(worker.modelLoaded, outpaint)
        once(worker.stepDone, lambda *_: close())
    elif args.state == "importing":

        def import_folder(*_) -> None:
            model = studio.gallery_model
            assert model is not None  # built when the window first painted, before any model loaded
            model.statusChanged.connect(lambda text: text.startswith("Importing") and close())
            model.import_paths([args.source])

        once(worker.modelLoaded, import_folder)

    def give_up() -> None:
        print("never reached", json.dumps({"state": args.state, **seen}), flush=True)
        sys.stdout.flush()
        os._exit(3)

    QTimer.singleShot(int(args.deadline * 1000), give_up)
    run(studio)


if __name__ == "__main__":
    main()
