# pyright: standard
"""Tiled VAE for pictures larger than the model's native size, so memory grows with the work.

A VAE's activations grow with the picture: decoding a 2048² canvas whole holds sixteen times
what a 512² one does. Above the model's native side every decode and encode of the engine
(text to image, img2img and upscale, outpaint and inpaint) goes through diffusers' own tiled
VAE (`enable_tiling`: tiles of the VAE's sample size, blended where they overlap), for that
call only; at or below it the picture goes through whole, as before.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


def needs_tiles(width: int, height: int, native: int) -> bool:
    """Whether a `width` x `height` picture goes through the VAE in tiles on a model of native side `native`."""
    return max(int(width), int(height)) > int(native)


def model_native(model) -> int:
    """The native side of a `LoadedModel` (the shorter of its default width and height)."""
    from studio.engine.edit import native_side

    return native_side(model.info.defaults)


@contextmanager
def vae_tiles(vae, width: int, height: int, native: int) -> Iterator[bool]:
    """Within: `vae` decodes and encodes a `width` x `height` picture in tiles when it is larger
    than `native`. Yields whether it does; tiling that was already on is left on."""
    if getattr(vae, "use_tiling", False):
        yield True
        return
    tiled = needs_tiles(width, height, native) and hasattr(vae, "enable_tiling")
    if tiled:
        vae.enable_tiling()
    try:
        yield tiled
    finally:
        if tiled:
            vae.disable_tiling()
