"""plan_zones: the overlay's zones and the job's window are one plan, made from rectangles alone."""

from __future__ import annotations

import numpy as np
import pytest

from studio.engine.edit import extend_canvas, plan_passes
from studio.engine.edit_pixels import generation_strength
from studio.engine.geometry import Rect
from studio.engine.zones import plan_zones

EXTENDS = [
    (0, 0, 32, 0),
    (16, 0, 0, 0),
    (0, 24, 0, 0),
    (0, 0, 0, 8),
    (64, 0, 64, 64),
    (8, 8, 8, 8),
    (0, 96, 200, 0),
    (512, 0, 0, 0),
]
NATIVES = [64, 128, 512]


def _paint(shape: tuple[int, int], rects) -> np.ndarray:
    out = np.zeros(shape, bool)
    for rect in rects:
        out[rect.slices] = True
    return out


def _job(picture_size, extend, painted=None):
    """The canvas and mask a job on `extend` gets, built the engine's way (from pixels)."""
    width, height = picture_size
    left, top, right, bottom = extend
    _, mask = extend_canvas(np.zeros((height, width, 3), np.uint8), left, top, right, bottom)
    if painted is not None:
        mask[painted.translated(left, top).slices] = 255
    return mask


def _chebyshev_grow(region: np.ndarray, by: int) -> np.ndarray:
    padded = np.pad(region, by)
    out = np.zeros_like(region)
    height, width = region.shape
    for dy in range(2 * by + 1):
        for dx in range(2 * by + 1):
            out |= padded[dy : dy + height, dx : dx + width]
    return out


@pytest.mark.parametrize("native", NATIVES)
@pytest.mark.parametrize("extend", EXTENDS)
def test_the_overlay_plans_the_window_the_engine_plans_from_the_mask(extend, native):
    width, height = 96, 64
    left, top, right, bottom = extend
    canvas = (width + left + right, height + top + bottom)
    zones = plan_zones(canvas, Rect(left, top, width, height), native)
    mask = _job((width, height), extend)
    assert zones.window == plan_passes(mask, native)[0]
    assert np.array_equal(_paint(mask.shape, zones.new), mask > 0)  # the new areas are the new area
    assert sum(r.width * r.height for r in zones.new) == int((mask > 0).sum())  # and they do not overlap


@pytest.mark.parametrize("native", NATIVES)
@pytest.mark.parametrize("extend", EXTENDS[:5])
def test_the_band_is_the_picture_within_band_of_the_new_area_inside_the_window(extend, native):
    width, height = 96, 64
    left, top, right, bottom = extend
    picture = Rect(left, top, width, height)
    zones = plan_zones((width + left + right, height + top + bottom), picture, native)
    mask = _job((width, height), extend)
    expected = _chebyshev_grow(mask > 0, zones.window.band) & ~(mask > 0)
    expected &= _paint(mask.shape, [picture.intersected(zones.context)])
    assert np.array_equal(_paint(mask.shape, zones.band), expected)
    # every pixel the job may change lies in a zone the overlay shows
    changed = np.zeros(mask.shape, bool)
    changed[zones.context.slices] = generation_strength(mask[zones.context.slices], zones.window.band) > 0
    assert not (changed & ~_paint(mask.shape, zones.new + zones.band)).any()


@pytest.mark.parametrize("extend", [(0, 0, 0, 0), (0, 0, 32, 0), (16, 16, 0, 0)])
def test_a_painted_region_is_a_new_area_of_its_own_with_its_band(extend):
    width, height = 128, 96
    left, top, right, bottom = extend
    painted = Rect(40, 30, 20, 12)  # over the picture
    zones = plan_zones(
        (width + left + right, height + top + bottom), Rect(left, top, width, height), 64, painted.translated(left, top)
    )
    mask = _job((width, height), extend, painted)
    assert zones.window == plan_passes(mask, 64)[0]
    assert painted.translated(left, top) in zones.new
    assert np.array_equal(_paint(mask.shape, zones.new), mask > 0)
    band = _paint(mask.shape, zones.band)
    assert band.any() and not (band & _paint(mask.shape, [painted.translated(left, top)])).any()
    assert not (band & ~_paint(mask.shape, [zones.context])).any()


def test_nothing_to_fill_plans_nothing():
    assert plan_zones((64, 64), Rect(0, 0, 64, 64), 512) is None
    assert plan_zones((64, 64), Rect(0, 0, 64, 64), 512, Rect(10, 10, 0, 0)) is None


def test_rect_is_one_frozen_type_with_the_arithmetic_the_plan_needs():
    rect = Rect(10, 20, 30, 40)
    assert (rect.right, rect.bottom, rect.size) == (40, 60, (30, 40))
    assert rect.translated(-10, 5) == Rect(0, 25, 30, 40)
    assert rect.intersected(Rect(30, 50, 100, 100)) == Rect(30, 50, 10, 10)
    assert rect.intersected(Rect(100, 100, 5, 5)).empty
    assert rect.grown(5, Rect(0, 0, 42, 100)) == Rect(5, 15, 37, 50)
    assert rect.as_list() == [10, 20, 30, 40]
    with pytest.raises(AttributeError):
        rect.x = 0
