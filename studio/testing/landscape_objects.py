"""Counts the suns, moons and lakes in a landscape picture, from its pixels, for tests and
benches of outpainting: a picture continued well has one of each at most, a picture whose
new strip repeats the prompt has two.

The colours and sizes are the landscape-world spec's (`studio.embedded.world`); `frame` is
the side of the square picture the objects are sized for (by default the canvas's shorter
side: a 128 px picture outpainted to 192 x 128 still has 128 px objects).

- A sun or moon is a roundish blob of the sun's or the moon's colour that still holds
  pixels after every pixel within 0.55 of the disc radius of its edge is peeled off: one-pixel
  stars and the thin snow caps of mountains do not survive, a disc (even half hidden behind
  a peak or cut by the canvas edge) does; a blob far bigger than a disc (snowy ground by day,
  a desert near the sun's colour) is left out by its size.
- A lake is a blob of the lake's colour below the sky: it touches neither the top edge nor
  both side edges (a day sky near the top comes close to the lake's blue), and it has at
  least a twentieth of a whole lake's area.

    counts = count_objects(image)   # Counts(bodies=1, lakes=1)
    counts.repeated                 # True when there are two suns/moons or two lakes
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.embedded.world import BODY_RADIUS, LAKE_COLOUR, LAKE_X_RANGE, LAKE_Y_RANGE, MOON_COLOUR, SUN_COLOUR

BODY_DISTANCE = 80.0  # how far (RGB, Euclidean) a pixel may be from the sun's or moon's colour
CONTRAST = 45.0  # how far a disc's pixel is from its row's median colour at least
CLOSER = 40.0
MAX_BLUE = 30.0  # blue over red at most, in a disc's pixel  # how much nearer the sun's or moon's colour a disc's pixel is than its row's median
LAKE_DISTANCE = 100.0
MIN_LAKE_BLUE = 45.0  # blue over red at least, in a lake's pixel
CORE_SHARE = 0.55  # pixels this share of the disc radius inside a blob are its core
MAX_BODY_SCALE = 3.0  # a blob's core may be this many times a disc's core area at most
MIN_LAKE_SHARE = 0.03  # of a whole lake's area, in pixels 2 px inside the water
LAKE_JOIN = 3  # px: water this close together is one lake
ABOVE = 4  # px above a lake's top edge: ground, not sky
SKY_BLUE = 30.0  # blue over red at least, in a sky's pixel


@dataclass(frozen=True)
class Counts:
    bodies: int
    lakes: int

    @property
    def repeated(self) -> bool:
        return self.bodies > 1 or self.lakes > 1


def count_objects(image: np.ndarray, frame: int | None = None) -> Counts:
    """The suns/moons and lakes in `image` (H x W x 3 uint8)."""
    return Counts(count_bodies(image, frame), count_lakes(image, frame))


def count_bodies(image: np.ndarray, frame: int | None = None) -> int:
    """The number of suns and moons in `image`."""
    pixels = np.asarray(image, np.float32)
    small, large = (frame, frame) if frame else (min(pixels.shape[:2]), max(pixels.shape[:2]))
    radius, largest = BODY_RADIUS * small, BODY_RADIUS * large  # a tall render's disc is the bigger
    peel = CORE_SHARE * radius
    core_area = np.pi * (radius - peel) ** 2
    most = max(MAX_BODY_SCALE * core_area, np.pi * (largest - peel) ** 2 * 1.5)
    found = 0
    core = _depth(_body_pixels(pixels), int(np.ceil(peel)) + 1) >= peel
    for rows, cols in _blobs(core):
        size = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
        if 0.2 * core_area <= len(rows) <= most and size <= 3 * (largest - peel) + 2:
            found += 1
    return found


def count_lakes(image: np.ndarray, frame: int | None = None) -> int:
    """The number of lakes in `image`."""
    pixels = np.asarray(image, np.float32)
    height, width = pixels.shape[:2]
    side = frame or min(height, width)
    lake_area = np.pi / 4 * np.diff(LAKE_X_RANGE)[0] * np.diff(LAKE_Y_RANGE)[0] * side * side
    found = 0
    water = _lake_pixels(pixels)
    joined = _depth(~water, LAKE_JOIN) <= LAKE_JOIN  # one lake's bands of slightly other blues stay one
    solid = _depth(water, 2) >= 2  # not the bluish rim of a tree against the sky
    for rows, cols in _blobs(joined):
        if rows.min() == 0 or (cols.min() == 0 and cols.max() == width - 1):
            continue
        if solid[rows, cols].sum() >= MIN_LAKE_SHARE * lake_area and not _sky_above(pixels, rows, cols):
            found += 1
    return found


def _sky_above(pixels: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> bool:
    """Whether most pixels just above a blob are bluish (sky: a faded mountain is no lake)."""
    tops = np.full(pixels.shape[1], pixels.shape[0], np.int64)
    np.minimum.at(tops, cols, rows)
    columns = np.flatnonzero(tops < pixels.shape[0])
    above = tops[columns] - ABOVE
    columns, above = columns[above >= 0], above[above >= 0]
    if not len(columns):
        return True  # a blob at the very top is sky
    seen = pixels[above, columns]
    return bool((seen[:, 2] - seen[:, 0] >= SKY_BLUE).mean() > 0.5)


def _body_pixels(pixels: np.ndarray) -> np.ndarray:
    """Pixels that stand out from their row's sky (its median colour) towards the sun's or the
    moon's colour: a faded disc still does, the sky and a snowy ground do not."""
    background = np.median(pixels, axis=1, keepdims=True)
    stands_out = np.linalg.norm(pixels - background, axis=-1) >= CONTRAST
    own = np.minimum(*(np.linalg.norm(pixels - np.asarray(c, np.float32), axis=-1) for c in (SUN_COLOUR, MOON_COLOUR)))
    sky = np.minimum(
        *(np.linalg.norm(background - np.asarray(c, np.float32), axis=-1) for c in (SUN_COLOUR, MOON_COLOUR))
    )
    not_blue = pixels[..., 2] - pixels[..., 0] <= MAX_BLUE  # skies are; the sun and moon are not
    return stands_out & not_blue & (own <= BODY_DISTANCE) & (own <= sky - CLOSER)


def _lake_pixels(pixels: np.ndarray) -> np.ndarray:
    """Blue pixels that stand out from their row's median colour towards the lake's colour."""
    background = np.median(pixels, axis=1, keepdims=True)
    lake = np.asarray(LAKE_COLOUR, np.float32)
    own = np.linalg.norm(pixels - lake, axis=-1)
    row = np.linalg.norm(background - lake, axis=-1)
    blue = pixels[..., 2] - pixels[..., 0] >= MIN_LAKE_BLUE
    return blue & (own <= LAKE_DISTANCE) & (own <= row - CLOSER)


def _depth(region: np.ndarray, limit: int) -> np.ndarray:
    """How far each pixel of `region` lies from the nearest pixel outside it (up to `limit` + 1;
    the canvas's edge does not count as outside, so a disc cut by the edge keeps its core)."""
    from studio.engine.edit_pixels import distance_to

    if region.all():
        return np.full(region.shape, limit + 1, np.float32)
    return distance_to(~region, limit)


def _blobs(region: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The 8-connected blobs of `region`, each as (rows, columns) of its pixels."""
    height, width = region.shape
    labels = np.where(region, np.arange(height * width).reshape(height, width), -1)
    big = height * width
    while True:
        padded = np.pad(np.where(region, labels, big), 1, constant_values=big)
        least = labels.copy()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy or dx:
                    np.minimum(least, padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width], out=least)
        least = np.where(region, least, -1)
        flat = least.ravel()
        flat[region.ravel()] = flat[flat[region.ravel()]]  # jump: take the label's own label
        if np.array_equal(least, labels):
            break
        labels = least
    found = []
    for label in np.unique(labels[region]):
        rows, cols = np.nonzero(labels == label)
        found.append((rows, cols))
    return found
