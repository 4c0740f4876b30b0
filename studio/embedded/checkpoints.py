"""What the training scripts share: checkpoints written whole or not at all and read back
onto the CPU, and the warm-up-then-cosine learning rate.

A checkpoint holds the model, the optimizer, the step and every random state, so that a run
stopped at any moment resumes exactly where its last checkpoint left it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write `state` to `path` through a temporary file, so a kill mid-write keeps the old one."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, partial)
    os.replace(partial, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's state, its tensors on the CPU whatever device wrote them."""
    import torch

    return torch.load(path, weights_only=False, map_location="cpu")


def warmup_cosine(step: int, peak: float, steps: int, warmup: int, floor_share: float) -> float:
    """The learning rate at `step`: a linear warm-up to `peak` over `warmup` steps, then a
    cosine down to `peak * floor_share` at `steps`, and flat after."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(steps - warmup, 1))
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return peak * (floor_share + (1 - floor_share) * cosine)
