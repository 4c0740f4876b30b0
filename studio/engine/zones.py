# pyright: standard
"""The zones of an outpaint or inpaint job on a canvas, planned without its pixels.

One plan serves the canvas's overlay while a handle is dragged (what a job on the proposed
canvas would use) and the edit job itself (where its step previews go). It takes rectangles
only: where the picture sits on the grown canvas and the brush mask's bounding box, so it
costs nothing to call on every mouse move. The window is the first one of `edit.plan_passes`,
the picture window the engine plans from the job's mask.

    zones = plan_zones((96, 64), Rect(0, 0, 64, 64), native=512)
    zones.new, zones.context, zones.band   # Rects, in canvas pixels
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.engine.edit import EditWindow, picture_context, plan_window
from studio.engine.geometry import Rect, bounding


@dataclass(frozen=True)
class Zones:
    """What a job would use, in canvas pixels: the areas it makes anew, the window the model
    sees (`window.context`), and the strips of the old picture it blends into (`band`)."""

    new: tuple[Rect, ...]
    window: EditWindow
    band: tuple[Rect, ...]

    @property
    def context(self) -> Rect:
        return self.window.context


def new_areas(canvas: tuple[int, int], picture: Rect) -> list[Rect]:
    """The strips of a `canvas` (width, height) grown around `picture`: left and right full
    height, top and bottom between them; none where a side did not grow."""
    width, height = canvas
    strips = [
        Rect(0, 0, picture.x, height),
        Rect(picture.x, 0, picture.width, picture.y),
        Rect(picture.right, 0, width - picture.right, height),
        Rect(picture.x, picture.bottom, picture.width, height - picture.bottom),
    ]
    return [s for s in strips if not s.empty]


def band_strips(new: list[Rect], context: Rect, band: int, picture: Rect) -> list[Rect]:
    """The strips of the picture within `band` px of a new area, inside the model's window."""
    inside = picture.intersected(context)
    strips = []
    for core in new:
        grown = core.grown(band, inside)
        for strip in (
            Rect(grown.x, grown.y, grown.width, core.y - grown.y),  # above
            Rect(grown.x, core.bottom, grown.width, grown.bottom - core.bottom),  # below
            Rect(grown.x, core.y, core.x - grown.x, core.height),  # left
            Rect(core.right, core.y, grown.right - core.right, core.height),  # right
        ):
            if not strip.empty:
                strip = strip.intersected(grown)
                if not strip.empty:
                    strips.append(strip)
    return strips


def plan_zones(canvas: tuple[int, int], picture: Rect, native: int, painted: Rect | None = None) -> Zones | None:
    """The zones of a job on a `canvas` (width, height) with the committed `picture` at its
    place on it, for a model of native side `native`; `painted` is the brush mask's bounding
    box (canvas px), if any. None when there is nothing to fill."""
    new = new_areas(canvas, picture)
    if painted is not None and not painted.empty:
        new.append(painted)
    if not new:
        return None
    window = plan_window(native=native, canvas_size=canvas, new=bounding(new), context=picture_context(native))
    return Zones(tuple(new), window, tuple(band_strips(new, window.context, window.band, picture)))
