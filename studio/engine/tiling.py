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


# On the CPU a VAE of a larger native side (SDXL's 1024) works in tiles of this side: SDXL's
# 1024² decode whole is what takes its run past 16 GB (weights 12.9 GiB in fp32).
CPU_TILE = 512


def tile_side(vae, native: int) -> int:
    """The side above which `vae` works in tiles, and the tiles' side: the model's native side,
    at most CPU_TILE on the CPU."""
    device = getattr(vae, "device", None)
    on_cpu = getattr(device, "type", "cpu") == "cpu"
    return min(int(native), CPU_TILE) if on_cpu else int(native)


@contextmanager
def vae_tiles(vae, width: int, height: int, native: int) -> Iterator[bool]:
    """Within: `vae` decodes and encodes a `width` x `height` picture in tiles when it is larger
    than `native` (on the CPU, than CPU_TILE). Yields whether it does; tiling that was already
    on is left on."""
    if getattr(vae, "use_tiling", False):
        yield True
        return
    side = tile_side(vae, native)
    tiled = needs_tiles(width, height, side) and hasattr(vae, "enable_tiling")
    saved = None
    if tiled:
        vae.enable_tiling()
        if side < getattr(vae, "tile_sample_min_size", side):  # diffusers' tile sizes, for this call
            saved = (vae.tile_sample_min_size, vae.tile_latent_min_size)
            scale = vae.tile_sample_min_size // max(1, vae.tile_latent_min_size)
            vae.tile_sample_min_size, vae.tile_latent_min_size = side, side // scale
    try:
        yield tiled
    finally:
        if saved is not None:
            vae.tile_sample_min_size, vae.tile_latent_min_size = saved
        if tiled:
            vae.disable_tiling()
