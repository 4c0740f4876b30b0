# pyright: standard
"""Rectangles of a canvas in pixels: the one rectangle type of the engine and the models.

Widgets turn them into QRects where they draw; everything below them (the edit model, the
window plan, the zones of an outpaint) speaks `Rect`. Pure Python: no numpy, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rect:
    """A rectangle of the canvas in pixels: left, top, width, height (right and bottom exclusive)."""

    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    @property
    def empty(self) -> bool:
        return self.width <= 0 or self.height <= 0

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def slices(self) -> tuple[slice, slice]:
        """Index an H x W (x C) array with this: `array[rect.slices]`."""
        return slice(self.y, self.bottom), slice(self.x, self.right)

    def as_list(self) -> list[int]:
        """[x, y, width, height], as a recipe stores it."""
        return [self.x, self.y, self.width, self.height]

    def translated(self, dx: int, dy: int) -> Rect:
        return Rect(self.x + dx, self.y + dy, self.width, self.height)

    def intersected(self, other: Rect) -> Rect:
        """The part of this rectangle inside `other` (width or height 0 when they do not meet)."""
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.right, other.right), min(self.bottom, other.bottom)
        return Rect(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    def grown(self, by: int, within: Rect) -> Rect:
        """This rectangle grown by `by` on every side, clipped to `within`."""
        return Rect(self.x - by, self.y - by, self.width + 2 * by, self.height + 2 * by).intersected(within)


def bounding(rects: list[Rect]) -> Rect:
    """The smallest rectangle holding every one of `rects` (at least one)."""
    x0, y0 = min(r.x for r in rects), min(r.y for r in rects)
    x1, y1 = max(r.right for r in rects), max(r.bottom for r in rects)
    return Rect(x0, y0, x1 - x0, y1 - y0)
