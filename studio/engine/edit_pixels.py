# pyright: standard
"""The pixel work of an edit job, numpy only: what the new area starts from, how strongly each
pixel is regenerated, colour matching, and pasting the result back.

The generation strength of a pixel is its mask value, raised to a feather that falls from 1
at the edge of the fully masked area to 0 at `band` pixels from it; the same map is the
alpha the result is pasted back with, so a pixel it gives 0 is never touched.
"""

from __future__ import annotations

import numpy as np

from studio.engine.edit import EditWindow

FULL = 255
NEIGHBOURHOOD = 32  # px around the new area whose colours the "colour" and "noise" fills use
MIN_STD_RATIO, MAX_STD_RATIO = 0.8, 1.25


def distance_to(region: np.ndarray, limit: int) -> np.ndarray:
    """Euclidean distance (float32) from every pixel to the nearest True pixel of `region`,
    exact up to `limit` and `limit + 1` beyond. Costs O(limit) passes over the array."""
    height, width = region.shape
    far = float(limit + 1)
    rows = np.arange(height, dtype=np.float32)[:, None]
    above = np.maximum.accumulate(np.where(region, rows, -np.inf), axis=0)
    below = np.minimum.accumulate(np.where(region, rows, np.inf)[::-1], axis=0)[::-1]
    vertical = np.minimum(np.minimum(rows - above, below - rows), far)
    squared = vertical * vertical
    best = squared.copy()
    for shift in range(1, min(limit, width - 1) + 1):
        cost = float(shift * shift)
        np.minimum(best[:, shift:], squared[:, :-shift] + cost, out=best[:, shift:])
        np.minimum(best[:, :-shift], squared[:, shift:] + cost, out=best[:, :-shift])
    return np.minimum(np.sqrt(best), far).astype(np.float32)


def generation_strength(mask: np.ndarray, band: int) -> np.ndarray:
    """How strongly each pixel is regenerated and pasted back (float32, 0..1): the mask value,
    raised to a smooth feather out to `band` px from the fully masked (255) pixels."""
    strength = mask.astype(np.float32) / FULL
    core = mask == FULL
    if band > 0 and core.any():
        ramp = np.clip(1.0 - distance_to(core, band) / band, 0.0, 1.0)
        np.maximum(strength, ramp * ramp * (3.0 - 2.0 * ramp), out=strength)
    return strength


def prefill(image: np.ndarray, region: np.ndarray, fill: str, seed: int = 0) -> np.ndarray:
    """`image` (H x W x 3 uint8) with `region` filled from the pixels around it."""
    if fill == "original" or not region.any() or region.all():
        return image.copy()
    known = ~region
    pixels = image.astype(np.float32)
    if fill == "edge":
        filled = _edge_extend(pixels, known)
    elif fill in ("colour", "noise"):
        near = known & (distance_to(region, NEIGHBOURHOOD) <= NEIGHBOURHOOD)
        neighbours = pixels[near if near.any() else known]
        if fill == "colour":
            filled = np.broadcast_to(neighbours.mean(axis=0), pixels.shape)
        else:
            rng = np.random.default_rng(seed)
            noise = rng.standard_normal(pixels.shape).astype(np.float32)
            filled = neighbours.mean(axis=0) + noise * neighbours.std(axis=0)
    else:
        raise ValueError(f"unknown fill {fill!r}")
    out = image.copy()
    out[region] = np.clip(np.round(filled[region]), 0, 255).astype(np.uint8)
    return out


def _edge_extend(pixels: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Every unknown pixel takes the colour of its nearest known pixel, blurred the more the
    farther it lies from it: sharp next to the old picture, soft far from it."""
    rows, cols = nearest_known(known)
    nearest = pixels[rows, cols]
    distance = np.hypot(rows - np.arange(known.shape[0])[:, None], cols - np.arange(known.shape[1])[None, :])
    filled = nearest
    radius = 2
    while radius <= max(2.0, distance.max() / 2):
        blurred = box_blur(nearest, radius)
        weight = np.clip(distance / (2 * radius) - 1.0, 0.0, 1.0)[..., None]  # blur r from distance 2r on
        filled = filled * (1.0 - weight) + blurred * weight
        radius *= 2
    return filled


def nearest_known(known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of (nearly always) the nearest True pixel of `known`, for every pixel,
    by jump flooding: log2(size) rounds, each looking at 8 neighbours a halving step away."""
    height, width = known.shape
    ys, xs = np.mgrid[:height, :width]
    seed_y = np.where(known, ys, -1)
    seed_x = np.where(known, xs, -1)
    best = np.where(known, 0, np.iinfo(np.int64).max).astype(np.int64)
    step = 1 << int(np.log2(max(height, width)))
    while step >= 1:
        for dy in (-step, 0, step):
            for dx in (-step, 0, step):
                if not (dy or dx):
                    continue
                cand_y, cand_x = _shifted(seed_y, dy, dx), _shifted(seed_x, dy, dx)
                found = cand_y >= 0
                dist = np.where(found, (ys - cand_y) ** 2 + (xs - cand_x) ** 2, np.iinfo(np.int64).max)
                better = dist < best
                seed_y = np.where(better, cand_y, seed_y)
                seed_x = np.where(better, cand_x, seed_x)
                best = np.where(better, dist, best)
        step //= 2
    return seed_y, seed_x


def _shifted(array: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """out[y, x] = array[y + dy, x + dx], and -1 where that falls outside."""
    height, width = array.shape
    out = np.full_like(array, -1)
    if abs(dy) >= height or abs(dx) >= width:
        return out
    out[max(0, -dy) : height - max(0, dy), max(0, -dx) : width - max(0, dx)] = array[
        max(0, dy) : height - max(0, -dy), max(0, dx) : width - max(0, -dx)
    ]
    return out


def box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2 radius + 1) square around each pixel (edges repeated), via running sums."""
    out = image.astype(np.float32)
    for axis in (0, 1):
        padded = np.concatenate(
            [
                np.repeat(np.take(out, [0], axis=axis), radius + 1, axis=axis),
                out,
                np.repeat(np.take(out, [-1], axis=axis), radius, axis=axis),
            ],
            axis=axis,
        )
        sums = np.cumsum(padded, axis=axis, dtype=np.float64)
        size = out.shape[axis]
        upper = np.take(sums, np.arange(2 * radius + 1, 2 * radius + 1 + size), axis=axis)
        lower = np.take(sums, np.arange(0, size), axis=axis)
        out = ((upper - lower) / (2 * radius + 1)).astype(np.float32)
    return out


def _resize_float(array: np.ndarray, shape: tuple[int, int], box: bool = False) -> np.ndarray:
    """Bilinear (or area-average) resize of an H x W (x C) float array to `shape` (rows, columns)."""
    from PIL import Image

    height, width = shape
    method = Image.Resampling.BOX if box else Image.Resampling.BILINEAR
    planes = array[..., None] if array.ndim == 2 else array
    out = np.stack(
        [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(planes[..., c], np.float32)).resize((width, height), method)
            )
            for c in range(planes.shape[2])
        ],
        axis=-1,
    )
    return out[..., 0] if array.ndim == 2 else out


def resize_rgb(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An H x W x 3 uint8 image resized to `size` (width, height), Lanczos; unchanged if equal."""
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((size[0], size[1]), Image.Resampling.LANCZOS))


def shrink_known(image: np.ndarray, known: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """`image` and its `known` pixels area-averaged down to `size` (width, height), the unknown
    pixels left out of every average: the scaled picture and where it is known."""
    weight = _resize_float(known.astype(np.float32), (size[1], size[0]), box=True)
    colour = _resize_float(image.astype(np.float32) * known[..., None], (size[1], size[0]), box=True)
    scaled = colour / np.maximum(weight, 1e-6)[..., None]
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8), weight >= 0.5


def latent_strength(strength: np.ndarray, model_size: tuple[int, int], factor: int = 8) -> np.ndarray:
    """The generation strength per latent pixel: the strongest of the pixels it covers, so a
    latent pixel that touches the new area at all is generated in full."""
    width, height = model_size
    scaled = strength if strength.shape == (height, width) else np.clip(_resize_float(strength, (height, width)), 0, 1)
    cells = scaled.reshape(height // factor, factor, width // factor, factor)
    return cells.max(axis=(1, 3))


def match_colours(generated: np.ndarray, original: np.ndarray, where: np.ndarray) -> np.ndarray:
    """`generated` (float, H x W x 3) shifted and scaled per channel so that, over the pixels
    `where` (the blend band and its surroundings, which should look like the old picture),
    its mean and spread match `original`'s; the spread ratio is kept within 0.8..1.25."""
    if where.sum() < 16:
        return generated
    ours, theirs = generated[where], original[where].astype(np.float32)
    ours_mean, theirs_mean = ours.mean(axis=0), theirs.mean(axis=0)
    ratio = np.clip(theirs.std(axis=0) / np.maximum(ours.std(axis=0), 1e-3), MIN_STD_RATIO, MAX_STD_RATIO)
    return (generated - ours_mean) * ratio + theirs_mean


def paste(canvas: np.ndarray, window: EditWindow, generated: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """A copy of `canvas` with `generated` (the context crop, float or uint8) blended in with
    `alpha`; pixels where alpha is 0 keep their exact bytes. A window planned on the canvas
    padded to multiples of 8 may reach past its right and bottom edges: that part is left out."""
    out = canvas.copy()
    crop = out[window.context.slices]
    height, width = crop.shape[:2]
    generated, alpha = generated[:height, :width], alpha[:height, :width]
    touched = alpha > 0
    a = alpha[touched][:, None]
    mixed = generated[touched].astype(np.float32) * a + crop[touched].astype(np.float32) * (1.0 - a)
    crop[touched] = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
    return out


def composite_preview(base: np.ndarray, window: EditWindow, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The whole canvas with a step preview (`rgb`, the window at latent size) shown in place."""
    context = window.context
    big = _resize_float(rgb.astype(np.float32), (context.height, context.width))
    return paste(base, window, big, alpha)
