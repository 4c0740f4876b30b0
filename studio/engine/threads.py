# pyright: standard
"""How many CPU threads torch uses for a model's work on the CPU.

A small UNet (the embedded model's has 4 M parameters) runs thousands of tiny operations per
step, where a second thread adds more waiting than work: on a 2-core machine, 460 ms per
picture with one thread against 917 ms with two waiting passively (see studio/__init__.py),
and with one thread a busy machine cannot make it crawl. Full-size UNets keep torch's own
count. `STUDIO_THREADS=N` sets the count for every model.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)

SMALL_UNET = 100_000_000  # parameters; SD 1.5's UNet has 860 M
_initial: int | None = None  # torch's count before Studio changed it


def threads_for(parameters: int) -> int | None:
    """The thread count for a UNet of `parameters`, or None for torch's own count."""
    asked = os.environ.get("STUDIO_THREADS", "").strip()
    if asked:
        try:
            return max(1, int(asked))
        except ValueError:
            log.warning("STUDIO_THREADS=%r is not a number; ignored", asked)
    return 1 if parameters < SMALL_UNET else None


def unet_parameters(pipe: Any) -> int:
    unet = getattr(pipe, "unet", None)
    return sum(p.numel() for p in unet.parameters()) if unet is not None else SMALL_UNET


def fit_threads(model: Any) -> None:
    """Set the calling thread's torch thread count for `model` (on the CPU only). Called where
    a job gets its model, on the thread that runs it: OpenMP keeps the count per thread."""
    global _initial
    if not str(model.device).startswith("cpu"):
        return
    import torch

    if _initial is None:
        _initial = torch.get_num_threads()
    parameters = getattr(model, "unet_parameters", None)
    if parameters is None:
        parameters = model.unet_parameters = unet_parameters(model.pipe)
    wanted = threads_for(parameters) or _initial
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
