# pyright: standard
"""Outpainting and inpainting requests, and the window of the canvas that goes through the model.

An edit job regenerates part of a canvas: the new area after the canvas was grown
(outpaint), or a painted mask (inpaint). Only a window around that area goes through the
model: the mask's bounding box plus a context margin of the old picture, at least the
model's native size where the canvas allows, scaled down to the native size where it is
bigger, in multiples of 8. So the cost of filling a strip does not grow with the rest of
the canvas. The pixels come back through a feathered blend band just outside the mask;
every pixel farther out is left exactly as it was.

So that a new strip continues the picture instead of drawing the prompt once more, an
edit goes through `plan_passes`: first the picture around the new area, as much of it as
the model's native side (the whole of a picture about the model's size),
scaled down to the native size when bigger; then, only where that first pass was scaled
down, the strip's own window at full scale, starting from the first pass's result. An
outpaint's prompt also leaves out the clauses that name things a picture holds in one place
(the model's studio.json lists their words under "outpaint": {"leave_out": [...]}; see
`new_area_prompt`): the picture has them already. A canvas whose sides are no multiples of
8 is padded for the model and every result cropped back to it.

This module is numpy only (the window can be planned and drawn without torch):

    canvas, mask = extend_canvas(image, left=0, top=0, right=64, bottom=0)
    window = plan_window(mask, native=128)   # window.new, window.context, window.band_rect (Rects)
    passes = plan_passes(mask, native=128)   # the picture window, then the strip's if needed
    request = EditRequest(GenerateRequest(prompt=..., count=3), canvas, mask, extend=(0, 0, 64, 0))
    Engine().run_edit(request, on_event, cancel)  # -> Finished with full-canvas images
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from studio.engine.geometry import Rect
from studio.engine.request import MAX_PIXELS, MAX_SIDE, MIN_SIDE, SIZE_MULTIPLE, GenerateRequest
from studio.engine.request_parts import GenerateSettings, frozen, is_whole, rgb
from studio.errors import RequestError

FILLS = ("edge", "noise", "colour", "original")
KINDS = ("outpaint", "inpaint")
DEFAULT_CANDIDATES = 3
DEFAULT_NATIVE = 512
MIN_BAND = 8
# The second pass of a scaled-down picture window re-noises the new area this far (at most).
REFINE_STRENGTH = 0.55


@dataclass(frozen=True)
class EditWindow:
    """Where an edit job works, in canvas pixels (see `zones.plan_zones` for what the overlay draws).

    `new` is the area to generate (the mask's bounding box), `context` the crop that goes
    through the model (new area plus old picture around it), `band` how far outside the
    mask the result is blended into the old pixels, `band_rect` the new area grown by the
    band. The crop goes through the model at `model_size` (width, height).
    """

    canvas_size: tuple[int, int]
    new: Rect
    context: Rect
    band: int
    model_size: tuple[int, int]
    native: int

    @property
    def scale(self) -> float:
        """Model pixels per canvas pixel (1.0, or less when the crop is bigger than native)."""
        return self.model_size[0] / self.context.width

    @property
    def band_rect(self) -> Rect:
        return self.new.grown(self.band, self.context)

    def to_dict(self) -> dict[str, Any]:
        return {
            "new": self.new.as_list(),
            "context": self.context.as_list(),
            "band": self.band,
            "model_size": list(self.model_size),
        }


def native_side(defaults) -> int:
    """The side a model works best at, from its `ModelDefaults` (the shorter of width, height)."""
    return int(min(defaults.width, defaults.height))


def default_band(native: int) -> int:
    """The blend band for a model of native side `native`: an eighth of it, at least 8 px."""
    return max(MIN_BAND, native // 8 // SIZE_MULTIPLE * SIZE_MULTIPLE)


def default_context(native: int, band: int) -> int:
    """The least margin of old picture kept around the new area (before growing to native)."""
    return max(2 * band, native // 4)


def mask_bbox(mask: np.ndarray) -> Rect | None:
    """The bounding box of the mask's non-zero pixels, or None when there are none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return Rect(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def plan_window(
    mask: np.ndarray | None = None,
    native: int = DEFAULT_NATIVE,
    *,
    canvas_size: tuple[int, int] | None = None,
    new: Rect | tuple[int, int, int, int] | None = None,
    band: int | None = None,
    context: int | None = None,
) -> EditWindow:
    """The window an edit job of `mask` (H x W, non-zero = generate) uses on a model of native
    side `native` (see `native_side`). Without a mask, give `canvas_size` (width, height) and
    the `new` area (x, y, width, height), e.g. to draw a drag in progress."""
    if mask is not None:
        height, width = mask.shape[:2]
        found = mask_bbox(np.asarray(mask))
        if found is None:
            raise RequestError("nothing to outpaint: extend the canvas or paint a mask")
        area = found
    else:
        if canvas_size is None or new is None:
            raise RequestError("plan_window needs a mask, or the canvas size and the new area")
        width, height = (int(v) for v in canvas_size)
        area = new if isinstance(new, Rect) else Rect(*(int(v) for v in new))
        area = area.grown(0, Rect(0, 0, width, height))
        if area.width <= 0 or area.height <= 0:
            raise RequestError("nothing to outpaint: extend the canvas or paint a mask")
    native = max(SIZE_MULTIPLE, int(native))
    band = default_band(native) if band is None else max(0, int(band))
    margin = default_context(native, band) if context is None else max(band, int(context))
    x, w = _span(area.x, area.right, width, margin, native)
    y, h = _span(area.y, area.bottom, height, margin, native)
    crop = Rect(x, y, w, h)
    scale = min(1.0, native / min(w, h))
    model_size = (_snap(w * scale), _snap(h * scale))
    return EditWindow((width, height), area, crop, band, model_size, native)


def _snap(value: float) -> int:
    return max(SIZE_MULTIPLE, round(value / SIZE_MULTIPLE) * SIZE_MULTIPLE)


def _span(low: int, high: int, length: int, margin: int, native: int) -> tuple[int, int]:
    """Start and size, along one axis, of the crop around [low, high): the margin on both sides,
    at least `native` long where the canvas allows, a multiple of 8, inside [0, length)."""
    usable = length - length % SIZE_MULTIPLE if length >= SIZE_MULTIPLE else length
    size = max(high - low + 2 * margin, min(native, usable))
    size = -(-size // SIZE_MULTIPLE) * SIZE_MULTIPLE
    size = min(size, usable)
    if size < high - low:  # a canvas side that is no multiple of 8: take it whole
        size = length
    start = round((low + high - size) / 2)
    start = min(max(start, 0), length - size)
    return start, size


def picture_context(native: int) -> int:
    """The margin of picture the first pass of an edit sees on every side of the new area."""
    return max(SIZE_MULTIPLE, int(native) // 2)


def plan_passes(mask: np.ndarray, native: int = DEFAULT_NATIVE) -> tuple[EditWindow, ...]:
    """The windows an edit of `mask` goes through, in order: the picture around the new area
    (half the native side of it on every side, so a strip on an edge sees `native` px of the
    picture: all of a picture the model's size), then, where that window had to be scaled
    down, the new area's own window (`plan_window`'s) at the scale it allows."""
    picture = plan_window(mask, native, context=picture_context(native))
    if picture.scale >= 1:
        return (picture,)
    return (picture, plan_window(mask, native))


def padded_size(width: int, height: int) -> tuple[int, int]:
    """The canvas size the model works at: each side rounded up to a multiple of 8."""
    up = lambda side: -(-int(side) // SIZE_MULTIPLE) * SIZE_MULTIPLE
    return up(width), up(height)


def pad_canvas(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`image` and `mask` grown right and down to `padded_size`, their edge pixels repeated, so
    the pad is made where it touches the new area and kept where it touches the old picture."""
    height, width = mask.shape
    new_width, new_height = padded_size(width, height)
    if (new_width, new_height) == (width, height):
        return image, mask
    grow = ((0, new_height - height), (0, new_width - width))
    return np.pad(image, (*grow, (0, 0)), mode="edge"), np.pad(mask, grow, mode="edge")


_CLAUSE_BREAK = re.compile(r",\s*|\s+with\s+", re.IGNORECASE)
_WORD = re.compile(r"[a-z]+", re.IGNORECASE)


def new_area_prompt(prompt: str, leave_out: Sequence[str]) -> str:
    """`prompt` without the clauses (parts between commas or around "with", outside any
    brackets) that hold one of the words `leave_out`, e.g. "a night landscape with snowy
    hills, a lake, the moon on the left" with ("lake", "moon") gives "a night landscape with
    snowy hills": the picture holds its lake and moon already, and a new strip should not
    draw them again."""
    words = {w.lower() for w in leave_out}
    if not words or not prompt:
        return prompt
    kept: list[tuple[str, str]] = []
    for separator, clause in _clauses(prompt):
        if not words & {w.lower() for w in _WORD.findall(clause)}:
            kept.append((separator, clause))
    return "".join(clause if i == 0 else separator + clause for i, (separator, clause) in enumerate(kept)).strip()


def _clauses(prompt: str) -> list[tuple[str, str]]:
    """The prompt's top-level clauses, each with the separator before it ("" for the first)."""
    parts: list[tuple[str, str]] = []
    depth, start, separator, i = 0, 0, "", 0
    while i < len(prompt):
        char = prompt[i]
        if char in "([<{":
            depth += 1
        elif char in ")]>}":
            depth = max(0, depth - 1)
        elif depth == 0:
            found = _CLAUSE_BREAK.match(prompt, i)
            if found:
                parts.append((separator, prompt[start:i]))
                separator, start, i = found.group(0), found.end(), found.end()
                continue
        i += 1
    parts.append((separator, prompt[start:]))
    return parts


def extend_canvas(
    image: np.ndarray, left: int = 0, top: int = 0, right: int = 0, bottom: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """`image` (H x W x 3 uint8) on a canvas grown by the given pixels per side, and the mask of
    the new area (255 there, 0 over the old picture). The new area is black until filled."""
    sides = (left, top, right, bottom)
    for name, value in zip(("left", "top", "right", "bottom"), sides):
        if not is_whole(value):
            raise RequestError(f"the extension {name} must be a whole number of pixels, not {value!r}")
        if value < 0:
            raise RequestError(f"the extension {name} must not be negative ({value})")
    image = rgb(image)
    height, width = image.shape[:2]
    _check_canvas_limit(width + left + right, height + top + bottom)  # before allocating it
    canvas = np.zeros((height + top + bottom, width + left + right, 3), np.uint8)
    canvas[top : top + height, left : left + width] = image
    mask = np.full(canvas.shape[:2], 255, np.uint8)
    mask[top : top + height, left : left + width] = 0
    return canvas, mask


def _mask(mask) -> np.ndarray:
    array = np.asarray(mask)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise RequestError(f"the mask must be H x W (one channel), not an array of shape {array.shape}")
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise RequestError(f"the mask must hold uint8 values (255 = generate, 0 = keep), not {array.dtype}")
    return array


@dataclass(frozen=True, eq=False)
class EditRequest(GenerateSettings):
    """An outpaint or inpaint job, checked when it is made.

    `generate` holds the prompt, seed, steps, sampler, model and `count` (the number of
    candidates, seeds seed, seed + 1, ...); its width and height are set to the size the model
    works at: the canvas's, each side rounded up to a multiple of 8 (`width` and `height`
    are the canvas's own, and so is every result's size).
    `image` is the whole canvas (H x W x 3 uint8; the new area may hold anything), `mask`
    (H x W uint8) is 255 where to generate, 0 where to keep, values between regenerate
    partly. `fill` is what the new area starts from: "edge" (the neighbouring pixels
    extended and blurred), "noise", "colour" (their mean) or "original" (as it is).
    `strength` is how far the masked area is re-noised (1.0: from pure noise). The image
    and mask are copied, so the caller may go on changing its own arrays.
    """

    generate: GenerateRequest
    image: np.ndarray
    mask: np.ndarray
    fill: str = "edge"
    kind: str = "outpaint"
    source: str | None = None
    extend: tuple[int, int, int, int] = (0, 0, 0, 0)
    strength: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.generate, GenerateRequest):
            raise RequestError("an edit request needs a GenerateRequest for its prompt and settings")
        image, mask = rgb(self.image), _mask(self.mask)
        if image.shape[:2] != mask.shape:
            raise RequestError(
                f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
                f"{image.shape[1]}x{image.shape[0]}; they must be the same size"
            )
        height, width = mask.shape
        _check_canvas(width, height)
        if self.kind not in KINDS:
            raise RequestError(f"unknown edit kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.fill not in FILLS:
            raise RequestError(f"unknown fill {self.fill!r}; use one of {', '.join(FILLS)}")
        extend = tuple(self.extend)
        if len(extend) != 4 or any(not is_whole(v) or v < 0 for v in extend):
            raise RequestError(
                f"extend must be four whole numbers of pixels, none negative (left, top, right, bottom), not {self.extend!r}"
            )
        if isinstance(self.strength, bool) or not isinstance(self.strength, (int, float)) or not 0 < self.strength <= 1:
            raise RequestError(f"strength must be above 0 and at most 1, not {self.strength!r}")
        if self.source is not None and not isinstance(self.source, str):
            raise RequestError("the source must be a path (text) or None")
        if not mask.any():
            if self.kind == "outpaint":
                raise RequestError("nothing to outpaint: extend the canvas or paint a mask")
            raise RequestError("nothing to inpaint: paint a mask over the part to make anew")
        if mask.min() == 255:
            raise RequestError(
                "the mask covers the whole canvas, so there is nothing to continue from; use Generate instead"
            )
        object.__setattr__(self, "image", frozen(image))
        object.__setattr__(self, "mask", frozen(mask))
        object.__setattr__(self, "extend", tuple(int(v) for v in extend))
        object.__setattr__(self, "strength", float(self.strength))
        work = padded_size(width, height)
        if (self.generate.width, self.generate.height) != work:
            object.__setattr__(self, "generate", self.generate.replace(width=work[0], height=work[1]))

    width = property(lambda self: int(self.mask.shape[1]))
    height = property(lambda self: int(self.mask.shape[0]))

    def recipe_extra(self) -> dict[str, Any]:
        """What a saved result's recipe says about the edit."""
        left, top, right, bottom = self.extend
        return {
            "source": self.source,
            "extend": {"left": left, "top": top, "right": right, "bottom": bottom},
            "fill": self.fill,
            "strength": self.strength,
        }


def _check_canvas_limit(width: int, height: int) -> None:
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise RequestError(
            f"the canvas would be {width}x{height}, over the engine's maximum of {MAX_SIDE} px a side "
            f"and {MAX_PIXELS:,} pixels (e.g. 2048x2048); crop it or extend it less"
        )


def _check_canvas(width: int, height: int) -> None:
    _check_canvas_limit(*padded_size(width, height))
    if min(width, height) < MIN_SIDE:
        raise RequestError(f"the canvas is {width}x{height}; each side must be at least {MIN_SIDE} pixels")
