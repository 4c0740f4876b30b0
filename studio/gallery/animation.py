# pyright: standard
"""Writing a sequence of frames (the steps of one image) as an animated GIF or WebP."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from studio.files import write_atomic


def save_animation(
    frames: list[np.ndarray], path: str | Path, size: tuple[int, int], frame_ms: int = 120, hold_ms: int = 1200
) -> Path:
    """Frames (H x W x 3 uint8, any size) scaled to `size`; the last one is held longer."""
    from PIL import Image

    path = Path(path)
    fmt = {"gif": "GIF", "webp": "WEBP"}.get(path.suffix.lower().lstrip("."))
    if fmt is None:
        raise ValueError(f"cannot write {path.name}: animations are saved as .gif or .webp")
    if not frames:
        raise ValueError("there are no steps to animate")
    images = [Image.fromarray(f).resize(size, Image.Resampling.BICUBIC) for f in frames]
    durations = [frame_ms] * (len(images) - 1) + [hold_ms]
    buffer = io.BytesIO()
    images[0].save(buffer, format=fmt, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return write_atomic(path, buffer.getvalue())
