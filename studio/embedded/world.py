"""The landscape world: draws a Scene as pixels, exactly as the landscape-world spec says.

Everything is vectorised numpy on a float canvas. Edges are anti-aliased from signed
distances (a one-pixel ramp), so flat regions stay flat and every region's centre keeps its
stated colour plus that element's jitter. Positions are fractions of the canvas (x of the
width, y of the height); sizes that must keep their shape on panoramas (the sky body, the
trees, the hill-line period, the mountain slopes) are fractions of the height.

The scene attributes and the captions live in `scene` and `captions`; they are re-exported
here so that `world` is the one import the rest of the project needs.
"""

from __future__ import annotations

import numpy as np

from studio.embedded.captions import caption, caption_variant, parse_caption, vocabulary
from studio.embedded.scene import (
    BODY_SIDES,
    GROUNDS,
    MAX_TREES,
    TIMES,
    TREE_COUNTS,
    Scene,
    all_scenes,
    random_scene,
)

__all__ = [
    "BODY_SIDES",
    "GROUNDS",
    "MAX_TREES",
    "TIMES",
    "TREE_COUNTS",
    "Scene",
    "all_scenes",
    "caption",
    "caption_variant",
    "parse_caption",
    "random_scene",
    "render",
    "vocabulary",
]

# Colours, sRGB 0-255, exactly as the spec states them.
SKY_TOP_COLOURS = {"day": (74, 128, 222), "sunset": (92, 60, 140), "night": (8, 12, 40)}
SKY_HORIZON_COLOURS = {"day": (176, 214, 245), "sunset": (250, 160, 90), "night": (36, 48, 96)}
STAR_COLOUR = (235, 235, 235)
GROUND_COLOURS = {
    "green": (72, 156, 64),
    "autumn": (196, 122, 48),
    "snowy": (236, 240, 246),
    "desert": (222, 196, 128),
}
NIGHT_GROUND_FACTOR = 0.6
SUN_COLOUR = (255, 236, 140)
MOON_COLOUR = (236, 236, 228)
MOUNTAIN_COLOUR = (112, 118, 140)
MOUNTAIN_SNOW_COLOUR = (240, 240, 245)
LAKE_COLOUR = (64, 110, 205)
CROWN_COLOUR = (28, 92, 48)
TRUNK_COLOUR = (96, 64, 32)

# Each element's colour is shifted by one random offset in [-COLOUR_JITTER, COLOUR_JITTER]
# per channel (the spec allows up to 8).
COLOUR_JITTER = 6

# Geometry, in fractions of the canvas (x of the width, y of the height).
HORIZON_Y = 0.60
STAR_LIMIT_Y = 0.45
STAR_COUNT_RANGE = (20, 40)
HILL_LINE_Y = 0.60
HILL_AMPLITUDE_RANGE = (0.02, 0.05)
HILL_PERIODS_PER_HEIGHT = (1.0, 2.0)
BODY_RADIUS = 0.09  # of the height
BODY_Y = 0.22
BODY_X = {"left": 0.25, "right": 0.75}
BODY_POSITION_WOBBLE = 0.01  # of the height
MOUNTAIN_PEAK_Y_RANGE = (0.25, 0.42)
MOUNTAIN_COVER_Y = 0.55
MOUNTAIN_COVER_RANGE = (0.6, 0.95)  # share of the width covered at MOUNTAIN_COVER_Y
MOUNTAIN_SNOW_SHARE = 0.25
LAKE_X_RANGE = (0.25, 0.75)
LAKE_Y_RANGE = (0.78, 0.94)
TREE_X_RANGE = (0.08, 0.92)
TREE_CROWN_HEIGHT = (0.18, 0.22)  # of the height
TREE_CROWN_WIDTH = (0.12, 0.16)  # of the height
TREE_TRUNK_WIDTH = 0.03  # of the height
TREE_TRUNK_HEIGHT = 0.045  # visible trunk above the hill line, of the height
TREE_GAP = 0.03  # least space between two crowns, of the height


def render(scene: Scene, width: int = 128, height: int = 128, rng: np.random.Generator | None = None) -> np.ndarray:
    """Draws `scene` as a height x width x 3 uint8 image; `rng` drives shapes and jitter."""
    if width % 8 or height % 8 or width <= 0 or height <= 0:
        raise ValueError(f"sides must be positive multiples of 8, not {width}x{height}")
    rng = np.random.default_rng() if rng is None else rng
    canvas = _Canvas(width, height)
    hill_line = _hill_line(width, height, rng)

    canvas.paint_sky(_jittered(SKY_TOP_COLOURS[scene.time], rng), _jittered(SKY_HORIZON_COLOURS[scene.time], rng))
    if scene.time == "night":
        canvas.paint_stars(rng)
    if scene.body is not None:
        colour = MOON_COLOUR if scene.time == "night" else SUN_COLOUR
        canvas.paint_body(scene.body, _jittered(colour, rng), rng)
    if scene.mountains:
        canvas.paint_mountains(hill_line, rng)
    ground = np.asarray(GROUND_COLOURS[scene.ground], np.float32)
    if scene.time == "night":
        ground = ground * NIGHT_GROUND_FACTOR
    canvas.paint_hills(hill_line, _jittered(ground, rng))
    if scene.lake:
        canvas.paint_lake(rng)
    if scene.trees:
        canvas.paint_trees(scene.trees, hill_line, rng)
    return canvas.to_uint8()


def _jittered(colour, rng: np.random.Generator) -> np.ndarray:
    offset = rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, size=3)
    return np.clip(np.asarray(colour, np.float32) + offset, 0, 255)


def _coverage(signed_distance: np.ndarray) -> np.ndarray:
    """Share of a pixel inside a shape, from the signed distance (pixels, < 0 inside)."""
    return np.clip(0.5 - signed_distance, 0.0, 1.0)


def _hill_line(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """The hill line's y (pixels) at every column centre: a smooth wave around y = 0.60."""
    x = (np.arange(width, dtype=np.float32) + 0.5) / height  # in heights, so panoramas
    periods = rng.uniform(*HILL_PERIODS_PER_HEIGHT)  # show more waves, not wider ones
    amplitude = rng.uniform(*HILL_AMPLITUDE_RANGE)
    overtone = periods * rng.uniform(1.7, 2.6)
    wave = 0.75 * np.sin(2 * np.pi * periods * x + rng.uniform(0, 2 * np.pi)) + 0.25 * np.sin(
        2 * np.pi * overtone * x + rng.uniform(0, 2 * np.pi)
    )
    return (HILL_LINE_Y + amplitude * wave).astype(np.float32) * height


class _Canvas:
    """A float image with painters for each element of the spec, in pixel coordinates."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = np.empty((height, width, 3), np.float32)
        self.xs = np.arange(width, dtype=np.float32) + 0.5  # pixel centres
        self.ys = np.arange(height, dtype=np.float32) + 0.5

    def to_uint8(self) -> np.ndarray:
        return np.clip(self.pixels + 0.5, 0, 255).astype(np.uint8)

    def _blend(self, rows: slice, cols: slice, coverage: np.ndarray, colour) -> None:
        region = self.pixels[rows, cols]
        region += coverage[..., None] * (np.asarray(colour, np.float32) - region)

    def _box(self, left: float, top: float, right: float, bottom: float):
        """Slices and centre coordinates of the pixels touching a box, clipped to the canvas."""
        x0, x1 = max(int(np.floor(left)), 0), min(int(np.ceil(right)) + 1, self.width)
        y0, y1 = max(int(np.floor(top)), 0), min(int(np.ceil(bottom)) + 1, self.height)
        if x0 >= x1 or y0 >= y1:
            return None
        return slice(y0, y1), slice(x0, x1), self.xs[None, x0:x1], self.ys[y0:y1, None]

    def paint_sky(self, top_colour: np.ndarray, horizon_colour: np.ndarray) -> None:
        t = np.clip(self.ys / (HORIZON_Y * self.height), 0.0, 1.0)[:, None]
        self.pixels[:] = (top_colour + t * (horizon_colour - top_colour))[:, None, :]

    def paint_stars(self, rng: np.random.Generator) -> None:
        count = int(rng.integers(STAR_COUNT_RANGE[0], STAR_COUNT_RANGE[1] + 1) * max(1.0, self.width / self.height))
        rows = rng.integers(0, int(STAR_LIMIT_Y * self.height), size=count)
        cols = rng.integers(0, self.width, size=count)
        self.pixels[rows, cols] = STAR_COLOUR

    def paint_body(self, side: str, colour: np.ndarray, rng: np.random.Generator) -> None:
        wobble = rng.uniform(-BODY_POSITION_WOBBLE, BODY_POSITION_WOBBLE, size=2) * self.height
        cx = BODY_X[side] * self.width + wobble[0]
        cy = BODY_Y * self.height + wobble[1]
        radius = BODY_RADIUS * self.height
        box = self._box(cx - radius, cy - radius, cx + radius, cy + radius)
        assert box is not None  # the sun or moon always overlaps the canvas
        rows, cols, x, y = box
        self._blend(rows, cols, _coverage(np.hypot(x - cx, y - cy) - radius), colour)

    def paint_mountains(self, hill_line: np.ndarray, rng: np.random.Generator) -> None:
        """2-4 overlapping peaks whose bases overlap along y = 0.55, so that together they
        cover a continuous stretch of MOUNTAIN_COVER_RANGE of the width there."""
        w, h = self.width, self.height
        count = int(rng.integers(3 if w >= 1.5 * h else 2, 5))
        span = rng.uniform(*MOUNTAIN_COVER_RANGE) * w
        start = rng.uniform(0, w - span)
        slot = span / count
        bottom = float(hill_line.max()) + 1.0  # the hills hide everything below
        cover_y = MOUNTAIN_COVER_Y * h
        rock = _jittered(MOUNTAIN_COLOUR, rng)
        snow = _jittered(MOUNTAIN_SNOW_COLOUR, rng)
        for i in rng.permutation(count):
            cx = start + slot * (i + 0.5 + rng.uniform(-0.15, 0.15))
            peak_y = rng.uniform(*MOUNTAIN_PEAK_Y_RANGE) * h
            half_width_at_cover = slot * rng.uniform(0.65, 0.9)
            run = half_width_at_cover / (cover_y - peak_y)  # horizontal pixels per pixel down
            half_base = run * (bottom - peak_y)
            box = self._box(cx - half_base, peak_y, cx + half_base, bottom)
            if box is None:
                continue
            rows, cols, x, y = box
            outside = (peak_y + np.abs(x - cx) / run - y) / np.sqrt(1 + 1 / run**2)
            self._blend(rows, cols, _coverage(outside), rock)
            snow_line = peak_y + MOUNTAIN_SNOW_SHARE * (HILL_LINE_Y * h - peak_y)
            self._blend(rows, cols, _coverage(np.maximum(outside, y - snow_line)), snow)

    def paint_hills(self, hill_line: np.ndarray, colour: np.ndarray) -> None:
        top, bottom = int(np.floor(hill_line.min())), int(np.ceil(hill_line.max()))
        self.pixels[bottom + 1 :] = colour
        slope = np.gradient(hill_line)
        above = (hill_line[None, :] - self.ys[top : bottom + 1, None]) / np.sqrt(1 + slope**2)
        self._blend(slice(top, bottom + 1), slice(None), _coverage(above), colour)

    def paint_lake(self, rng: np.random.Generator) -> None:
        w, h = self.width, self.height
        half_x = (LAKE_X_RANGE[1] - LAKE_X_RANGE[0]) / 2
        half_y = (LAKE_Y_RANGE[1] - LAKE_Y_RANGE[0]) / 2
        a = rng.uniform(0.88, 1.0) * half_x
        b = rng.uniform(0.88, 1.0) * half_y
        cx = float(np.mean(LAKE_X_RANGE) + rng.uniform(-1, 1) * (half_x - a)) * w
        cy = float(np.mean(LAKE_Y_RANGE) + rng.uniform(-1, 1) * (half_y - b)) * h
        a, b = a * w, b * h
        box = self._box(cx - a, cy - b, cx + a, cy + b)
        assert box is not None  # the lake always overlaps the canvas
        rows, cols, x, y = box
        u, v = (x - cx) / a, (y - cy) / b
        radius = np.sqrt(u * u + v * v) + 1e-6
        gradient = np.sqrt((u / a) ** 2 + (v / b) ** 2) / radius + 1e-6
        self._blend(rows, cols, _coverage((radius - 1) / gradient), _jittered(LAKE_COLOUR, rng))

    def paint_trees(self, count: int, hill_line: np.ndarray, rng: np.random.Generator) -> None:
        h = self.height
        crown_widths = rng.uniform(*TREE_CROWN_WIDTH, size=count) * h
        centres = _tree_centres(crown_widths, self.width, h, rng)
        for cx, crown_width in zip(centres, crown_widths):
            ground_y = float(np.interp(cx, self.xs, hill_line))
            self._paint_tree(cx, ground_y, crown_width, rng.uniform(*TREE_CROWN_HEIGHT) * h, rng)

    def _paint_tree(
        self, cx: float, ground_y: float, crown_width: float, crown_height: float, rng: np.random.Generator
    ) -> None:
        h = self.height
        # The trunk is snapped to whole pixels so that it stays solid even at 64 x 64.
        trunk_width = max(2, round(TREE_TRUNK_WIDTH * h))
        left = round(cx - trunk_width / 2)
        trunk_top = ground_y - TREE_TRUNK_HEIGHT * h
        rows = slice(round(trunk_top), round(ground_y + 0.015 * h) + 1)
        self.pixels[rows, max(left, 0) : left + trunk_width] = _jittered(TRUNK_COLOUR, rng)

        base_y = trunk_top + 0.5
        apex_y = base_y - crown_height
        half = crown_width / 2
        box = self._box(cx - half, apex_y, cx + half, base_y)
        if box is None:
            return
        rows, cols, x, y = box
        run = half / crown_height
        sides = (apex_y + np.abs(x - cx) / run - y) / np.sqrt(1 + 1 / run**2)
        outside = np.maximum(sides, y - base_y)
        self._blend(rows, cols, _coverage(outside), _jittered(CROWN_COLOUR, rng))


def _tree_centres(crown_widths: np.ndarray, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Distinct x centres (pixels) in the spec's range, with crowns inside the canvas and
    never touching each other, sorted left to right."""
    count = len(crown_widths)
    margin = crown_widths.max() / 2 + 1
    low = max(TREE_X_RANGE[0] * width, margin)
    high = min(TREE_X_RANGE[1] * width, width - margin)
    least_gap = crown_widths.max() + TREE_GAP * height
    for _ in range(100):
        centres = np.sort(rng.uniform(low, high, size=count))
        if count == 1 or np.diff(centres).min() >= least_gap:
            return centres
    # Rarely (three trees on a narrow canvas) sampling fails: spread them evenly instead.
    return np.linspace(low, high, count)
