"""Running one engine job headless for a command (outpaint, img2img, upscale): Ctrl+C cancels
it, a progress bar counts its steps, and each picture is written and reported as it comes."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from studio.cli_gallery import printable
from studio.errors import StudioError


def warn(text: str) -> None:
    print(f"studio: warning: {printable(text)}", file=sys.stderr)


def run_job(
    progress,
    run: Callable[[Callable[[Any], None], threading.Event], Any],
    save: Callable[[Any], Path],
    report: Callable[[Path, Any, float], None],
    what: str,
) -> bool:
    """Run `run(on_event, cancel)` with Ctrl+C as its cancel: each step moves `progress`, each
    picture is written by `save(result)`, then given to `report(path, result, elapsed_s)` (that
    picture's own time, writing included). False when cancelled (said on stderr: the `what` in
    progress was not written); a failed job raises StudioError; its warnings go to stderr."""
    from studio.engine.events import Cancelled, Failed, ImageDone, Step

    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    started = time.perf_counter()

    def on_event(event) -> None:
        nonlocal started
        if isinstance(event, Step):
            progress.update(1)
        elif isinstance(event, ImageDone):
            path = save(event.result)
            report(path, event.result, time.perf_counter() - started)
            started = time.perf_counter()

    try:
        final = run(on_event, cancel)
        if isinstance(final, Cancelled):
            progress.close()
            print(f"studio: cancelled; the {what} in progress was not written", file=sys.stderr)
            return False
        if isinstance(final, Failed):
            raise StudioError(final.message)
        for note in final.warnings:
            progress.write(f"studio: warning: {printable(note)}", file=sys.stderr)
    finally:
        progress.close()
        signal.signal(signal.SIGINT, previous)
    return True


def report_result(args, path: Path, result, elapsed: float, progress, **extra: Any) -> None:
    """A written picture on stdout: its path, or with --json one object of its path, size, seed,
    elapsed_s, prompt, negative prompt, steps and model, then `extra`."""
    if args.json:
        r = result.recipe.request
        record = {
            "path": str(path.resolve()),
            "width": result.image.width,
            "height": result.image.height,
            "seed": result.seed,
            "elapsed_s": round(elapsed, 4),
            "prompt": r.prompt,
            "negative_prompt": r.negative_prompt,
            "steps": r.steps,
            "model": result.recipe.model_name,
            **extra,
        }
        progress.write(json.dumps(record), file=sys.stdout)
    else:
        progress.write(str(path), file=sys.stdout)
    sys.stdout.flush()
