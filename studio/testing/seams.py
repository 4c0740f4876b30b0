"""How much a tile border shows in a picture redrawn in tiles, measured as bench/outpaint.py
measures an outpaint's seam: the mean gradient across the border (the pixel pair either side)
over the mean gradient of the whole picture in the same direction. 1 = no seam."""

from __future__ import annotations

import numpy as np


def border_lines(tiles, width: int, height: int) -> tuple[list[int], list[int]]:
    """The columns and rows (inside the picture) where a tile starts or ends: where a hard
    edge would be without blending."""
    columns = sorted(
        {t.x for t in tiles if 0 < t.x < width} | {t.x + t.width for t in tiles if 0 < t.x + t.width < width}
    )
    rows = sorted(
        {t.y for t in tiles if 0 < t.y < height} | {t.y + t.height for t in tiles if 0 < t.y + t.height < height}
    )
    return columns, rows


def seam_scores(image: np.ndarray, tiles) -> list[float]:
    """One score per tile border line: the gradient across it over the picture's mean gradient."""
    pixels = image.astype(np.float32)
    height, width = pixels.shape[:2]
    across_columns = np.abs(np.diff(pixels, axis=1)).mean(axis=(0, 2))  # entry x: step into column x + 1
    across_rows = np.abs(np.diff(pixels, axis=0)).mean(axis=(1, 2))
    columns, rows = border_lines(tiles, width, height)
    scores = [float(across_columns[x - 1] / max(across_columns.mean(), 1e-6)) for x in columns]
    scores += [float(across_rows[y - 1] / max(across_rows.mean(), 1e-6)) for y in rows]
    return scores


def line_scores(image: np.ndarray, tiles) -> list[float]:
    """The same score for every column and row that is not a tile border line (for scale: how
    high the score of any line of this picture goes)."""
    pixels = image.astype(np.float32)
    height, width = pixels.shape[:2]
    across_columns = np.abs(np.diff(pixels, axis=1)).mean(axis=(0, 2))
    across_rows = np.abs(np.diff(pixels, axis=0)).mean(axis=(1, 2))
    columns, rows = border_lines(tiles, width, height)
    scores = [float(v / max(across_columns.mean(), 1e-6)) for x, v in enumerate(across_columns, 1) if x not in columns]
    scores += [float(v / max(across_rows.mean(), 1e-6)) for y, v in enumerate(across_rows, 1) if y not in rows]
    return scores


def relative_seam_scores(image: np.ndarray, plain: np.ndarray, tiles) -> list[float]:
    """Each tile border line's score over the same line's score in `plain` (the picture enlarged
    without redrawing) where that is above 1: a horizon that lies along a border line scores
    high in any enlargement, and only what the tiles add to it is a seam. 1 = none."""
    return [s / max(1.0, p) for s, p in zip(seam_scores(image, tiles), seam_scores(plain, tiles))]


def tile_drift(image: np.ndarray, plain: np.ndarray, tiles, sigma: float = 8.0) -> list[float]:
    """Per tile, the mean colour difference (0-255) between `image` and `plain` at scales above a
    Gaussian of `sigma` px: a tile of sky redrawn lighter, or a faint blob it drew, drifts; the
    fine detail a redraw adds does not."""
    from studio.engine.upscale import gaussian_blur

    low = np.abs(gaussian_blur(image.astype(np.float32) - plain.astype(np.float32), sigma)).mean(axis=2)
    return [float(low[tile.slices].mean()) for tile in tiles]
