# pyright: standard
"""Reporting each denoising step (a Step, then its Preview) without stalling the GPU.

Reading a tensor back from a GPU waits until everything queued before it has run, and the
GPU then sits idle while Python queues the next step; once per step that costs several
per cent of a run. So on CUDA a step's x0 guess is copied into pinned host memory without
blocking, an event marks the end of the step, and the step is reported from the next
step's callback, once that event has passed: by then the next step's work is queued, the
GPU stays busy, and Python runs at most one step ahead. The last step is reported at once.
Other devices report each step from its own callback.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from studio.engine.events import Event, Preview, Step
from studio.engine.previews import LatentPreviewer

PreviewMaker = Callable[[int, int, np.ndarray, np.ndarray], Preview]


class StepReporter:
    """Turns `step_done` calls from a pipeline's step callback into Step and Preview events
    for image `index`, each step's Preview right after its Step."""

    def __init__(
        self,
        index: int,
        emit: Callable[[Event], None],
        cancelled: Callable[[], bool],
        previewer: LatentPreviewer,
        device: str,
        make_preview: PreviewMaker | None = None,
        lag: bool | None = None,
    ):
        self.index = index
        self._emit = emit
        self._cancelled = cancelled
        self._previewer = previewer
        self._make_preview = make_preview or (
            lambda step, total, rgb, latents: Preview(index, step, total, rgb, latents)
        )
        self._cuda = str(device).startswith("cuda")
        self.lag = self._cuda if lag is None else lag
        self._host = None  # pinned buffer the x0 guess is copied into, on CUDA
        self._pending: tuple | None = None
        self.began = self._last = time.perf_counter()

    def step_done(self, step: int, total: int, x0=None) -> int | None:
        """Step `step` of `total` (1-based) is queued; `x0` is its guess of the clean latents
        (batch first), or None for no preview. Reports what is due and returns the step after
        which the job was cancelled, or None to go on."""
        stopped = self.finish()
        if stopped is not None:
            return stopped
        self._pending = self._capture(step, total, x0)
        if self.lag and step < total:
            return None
        return self.finish()

    def finish(self) -> int | None:
        """Reports the step still held back, if any; returns it if the job was cancelled."""
        if self._pending is None:
            return None
        step, total, latents, ready = self._pending
        self._pending = None
        if ready is not None:
            ready.synchronize()
        now = time.perf_counter()
        self._emit(Step(self.index, step, total, now - self._last, now - self.began))
        if latents is not None:
            latents = latents.numpy().copy() if self._cuda else latents.numpy()
            rgb = self._previewer.rgb(_batch_of_one(latents))
            self._emit(self._make_preview(step, total, rgb, latents))
        self._last = time.perf_counter()
        return step if self._cancelled() else None

    def _capture(self, step: int, total: int, x0) -> tuple:
        import torch

        latents = ready = None
        if x0 is not None:
            guess = x0[0].detach().float()
            if self._cuda:
                if self._host is None or self._host.shape != guess.shape:
                    self._host = torch.empty(guess.shape, dtype=torch.float32, pin_memory=True)
                self._host.copy_(guess, non_blocking=True)
                latents = self._host  # read (and copied out) only after `ready`
            else:
                latents = guess.to("cpu", copy=True)
        if self._cuda:
            ready = torch.cuda.Event()
            ready.record()
        return step, total, latents, ready


def _batch_of_one(latents: np.ndarray):
    import torch

    return torch.from_numpy(latents)[None]
