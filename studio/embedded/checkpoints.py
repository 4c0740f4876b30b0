"""Training checkpoints: written whole or not at all, read back onto the CPU.

A checkpoint holds the model, the optimizer, the step and every random state, so that a run
stopped at any moment resumes exactly where its last checkpoint left it.
"""

from __future__ import annotations

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
