"""The canvas's resize handles: where they are, which one the pointer is on, and what a drag asks for.

A drag moves one or two sides of the canvas. Each side's extension beyond the committed
picture snaps to 8 px (Shift: 64 px), never goes below zero (cropping back stops at the
picture), keeps the canvas a multiple of 8 px, and stops at the engine's size limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt

from studio.engine.request import MAX_PIXELS, MAX_SIDE, SIZE_MULTIPLE

SNAP, SHIFT_SNAP = 8, 64
REACH = 9.0  # how close (widget px) the pointer must be to a handle
EDGE_REACH = 5.0  # ... or to an edge between handles

# name: (x side, y side); -1 left/top, +1 right/bottom, 0 unmoved
HANDLES: dict[str, tuple[int, int]] = {
    "top-left": (-1, -1),
    "top": (0, -1),
    "top-right": (1, -1),
    "right": (1, 0),
    "bottom-right": (1, 1),
    "bottom": (0, 1),
    "bottom-left": (-1, 1),
    "left": (-1, 0),
}

CURSORS = {
    "top-left": Qt.CursorShape.SizeFDiagCursor,
    "bottom-right": Qt.CursorShape.SizeFDiagCursor,
    "top-right": Qt.CursorShape.SizeBDiagCursor,
    "bottom-left": Qt.CursorShape.SizeBDiagCursor,
    "left": Qt.CursorShape.SizeHorCursor,
    "right": Qt.CursorShape.SizeHorCursor,
    "top": Qt.CursorShape.SizeVerCursor,
    "bottom": Qt.CursorShape.SizeVerCursor,
}


def handle_point(rect: QRectF, name: str) -> QPointF:
    sx, sy = HANDLES[name]
    x = (rect.left(), rect.center().x(), rect.right())[sx + 1]
    y = (rect.top(), rect.center().y(), rect.bottom())[sy + 1]
    return QPointF(x, y)


def handle_at(rect: QRectF, pos: QPointF) -> str | None:
    """The handle under `pos` (widget px) of the canvas drawn at `rect`, or None."""
    best, best_distance = None, REACH
    for name in HANDLES:
        point = handle_point(rect, name)
        distance = max(abs(point.x() - pos.x()), abs(point.y() - pos.y()))
        if distance <= best_distance:
            best, best_distance = name, distance
    if best is not None:
        return best
    inside_x = rect.left() <= pos.x() <= rect.right()
    inside_y = rect.top() <= pos.y() <= rect.bottom()
    if inside_y and abs(pos.x() - rect.left()) <= EDGE_REACH:
        return "left"
    if inside_y and abs(pos.x() - rect.right()) <= EDGE_REACH:
        return "right"
    if inside_x and abs(pos.y() - rect.top()) <= EDGE_REACH:
        return "top"
    if inside_x and abs(pos.y() - rect.bottom()) <= EDGE_REACH:
        return "bottom"
    return None


def limit_message() -> str:
    return (
        f"The canvas stops here: at most {MAX_SIDE} px a side and {MAX_PIXELS:,} pixels in all "
        f"(for example {int(MAX_PIXELS**0.5)}×{int(MAX_PIXELS**0.5)})"
    )


@dataclass(frozen=True)
class Proposal:
    """What a drag asks for: the extension per side (left, top, right, bottom) and why it stopped short."""

    extend: tuple[int, int, int, int]
    size: tuple[int, int]
    refused: str = ""


def drag_extension(
    start: tuple[int, int, int, int],
    handle: str,
    delta: QPointF,
    base: tuple[int, int],
    fine: bool = True,
) -> Proposal:
    """The extension after dragging `handle` by `delta` image px from `start`; `base` is the picture's size.

    `fine` snaps to 8 px; otherwise (Shift held) to 64 px.
    """
    step = SNAP if fine else SHIFT_SNAP
    sx, sy = HANDLES[handle]
    ext = list(start)
    base_w, base_h = base
    moved = []  # indices into ext of the sides this handle moves
    if sx:
        side = 0 if sx < 0 else 2
        ext[side] = _snap(start[side] + sx * delta.x(), step)
        moved.append(side)
    if sy:
        side = 1 if sy < 0 else 3
        ext[side] = _snap(start[side] + sy * delta.y(), step)
        moved.append(side)
    for side in moved:  # a picture whose side is not a multiple of 8 rounds the canvas up to one
        length = base_w + ext[0] + ext[2] if side in (0, 2) else base_h + ext[1] + ext[3]
        if ext[side] and length % SIZE_MULTIPLE:
            ext[side] += -length % SIZE_MULTIPLE
    refused = ""

    def size() -> tuple[int, int]:
        return base_w + ext[0] + ext[2], base_h + ext[1] + ext[3]

    for side in moved:
        axis = 0 if side in (0, 2) else 1
        while size()[axis] > MAX_SIDE and ext[side] > 0:
            ext[side] = max(0, ext[side] - step)
            refused = limit_message()
    while size()[0] * size()[1] > MAX_PIXELS:
        shrinkable = [s for s in moved if ext[s] > 0]
        if not shrinkable:
            break
        width, height = size()
        side = max(shrinkable, key=lambda s: width if s in (0, 2) else height)
        ext[side] = max(0, ext[side] - step)
        refused = limit_message()
    return Proposal((ext[0], ext[1], ext[2], ext[3]), size(), refused)


def _snap(value: float, step: int) -> int:
    return max(0, math.floor(value / step + 0.5) * step)
