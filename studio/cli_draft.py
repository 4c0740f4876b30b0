"""`studio generate --quality draft` on a model whose draft decoder is not fitted yet: the fit is
made before the job, said in one line, shown as a bar on a terminal, and cancelled by Ctrl+C."""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any

FITTING = (
    "studio: first draft for this model: fitting its draft decoder to its VAE, once "
    "(cached for the next drafts; minutes on a full-size model)"
)


def fit_draft_first(model: Any, cancel: threading.Event | None = None) -> str:
    """`model`'s draft decoder ready before its first draft job (see engine.draft_decoders.fit_draft):
    "ready", "failed" (the job then decodes in full and says so) or "cancelled" (by Ctrl+C, or
    `cancel` set: nothing cached)."""
    from studio.engine.draft_decoders import fit_draft

    stop = cancel or threading.Event()
    bar: Any = None
    shown = 0
    began = time.perf_counter()

    def on_fit() -> None:
        nonlocal bar
        print(FITTING, file=sys.stderr, flush=True)
        bar = _bar()

    def progress(fraction: float) -> None:
        nonlocal shown
        percent = min(100, int(fraction * 100))
        if bar is not None and percent > shown:
            bar.update(percent - shown)
            shown = percent

    main = threading.current_thread() is threading.main_thread()  # where signal handlers can be set
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set()) if main else None
    try:
        state = fit_draft(model, stop.is_set, on_fit, progress)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
        if bar is not None:
            bar.close()
    decoder = model.previewer.draft.decoder
    if bar is not None and state == "ready" and decoder is not None:
        seconds = time.perf_counter() - began
        print(
            f"studio: draft decoder fitted in {seconds:.0f} s ({decoder.psnr:.1f} dB PSNR against the full decode)",
            file=sys.stderr,
            flush=True,
        )
    return state


def _bar():
    from tqdm import tqdm

    from studio.cli_common import bars_hidden

    return tqdm(
        total=100,
        file=sys.stderr,
        disable=bars_hidden(),
        dynamic_ncols=True,
        desc="draft decoder",
        bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]",
    )
