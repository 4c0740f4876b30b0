"""Counts the suns, moons and lakes in an upscaled landscape picture, for tests and benches of
upscaling: a tile redrawn with the whole picture's prompt draws the prompt's sun or lake again
at the size it has in a native-size picture, so an upscale is looked at at both sizes.

    counts = upscale_counts(result, source_enlarged, native=128)
    counts.repeated   # a second sun/moon or lake

Suns and moons are counted at the picture's own size (the one the source had, enlarged) plus
those at a native picture's size beyond what the plain enlargement already shows at that size
(at x2 the true sun can pass for a big native one). Lakes are counted at the native size (a
smaller threshold, so a whole lake counts at either size).
"""

from __future__ import annotations

import numpy as np

from studio.testing.landscape_objects import Counts, count_bodies, count_lakes


def upscale_counts(result: np.ndarray, enlarged: np.ndarray, native: int) -> Counts:
    """The suns/moons and lakes of an upscale `result`, with `enlarged` the source enlarged to
    the same size without redrawing (Lanczos) and `native` the model's native side."""
    extra = max(0, count_bodies(result, frame=native) - count_bodies(enlarged, frame=native))
    return Counts(count_bodies(result) + extra, count_lakes(result, frame=native))
