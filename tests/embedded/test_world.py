"""The landscape renderer and captions follow the landscape-world spec: every attribute of a
scene can be read back from the pixels where the spec says, at every supported size."""

import dataclasses
import functools
import re

import numpy as np
import pytest

from studio.embedded import world
from studio.embedded.captions import words
from studio.embedded.scene import Scene

SIZES = [(128, 128), (256, 128), (128, 256), (64, 64)]  # width, height
TOLERANCE = world.COLOUR_JITTER + 1  # jitter plus rounding
SKY_TOLERANCE = TOLERANCE + 3  # the gradient has moved a little by row 0's centre


def scenes_for(width, height):
    """Every combination at the base size, a seeded sample elsewhere."""
    if (width, height) == (128, 128):
        return world.all_scenes()
    rng = np.random.default_rng(width * 1000 + height)
    return [world.random_scene(rng) for _ in range(200)]


@functools.cache
def renders(width, height):
    """Seeded (scene, image) pairs, shared by the tests that only read pixels."""
    rng = np.random.default_rng(width + height)
    return [(scene, world.render(scene, width, height, rng)) for scene in scenes_for(width, height)]


def matches(pixels, colour, tolerance=TOLERANCE):
    """Which pixels (any leading shape, last axis RGB) are within `tolerance` of `colour`."""
    colour = np.round(np.asarray(colour, float)).astype(np.int16)
    difference = np.abs(np.asarray(pixels).astype(np.int16) - colour)
    return difference.max(axis=-1) <= tolerance


def ground_colour(scene):
    colour = np.asarray(world.GROUND_COLOURS[scene.ground], float)
    return colour * world.NIGHT_GROUND_FACTOR if scene.time == "night" else colour


def column_runs(columns):
    """How many separate runs of True a 1-d mask has."""
    padded = np.concatenate([[False], columns, [False]]).astype(int)
    return int((np.diff(padded) == 1).sum())


def patch(image, x, y):
    """The median colour of the 3 x 3 pixels around (x, y) in pixels: a single star can't
    pass for the moon."""
    x = min(max(int(x), 1), image.shape[1] - 2)
    y = min(max(int(y), 1), image.shape[0] - 2)
    return np.median(image[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3), axis=0)


def at(image, x, y):
    height, width = image.shape[:2]
    return image[min(int(y * height), height - 1), min(int(x * width), width - 1)]


def test_constants_are_the_spec_colours_and_places():
    assert world.SKY_TOP_COLOURS == {"day": (74, 128, 222), "sunset": (92, 60, 140), "night": (8, 12, 40)}
    assert world.SKY_HORIZON_COLOURS == {"day": (176, 214, 245), "sunset": (250, 160, 90), "night": (36, 48, 96)}
    assert world.GROUND_COLOURS == {
        "green": (72, 156, 64),
        "autumn": (196, 122, 48),
        "snowy": (236, 240, 246),
        "desert": (222, 196, 128),
    }
    assert (world.STAR_COLOUR, world.SUN_COLOUR, world.MOON_COLOUR) == (
        (235, 235, 235),
        (255, 236, 140),
        (236, 236, 228),
    )
    assert (world.MOUNTAIN_COLOUR, world.MOUNTAIN_SNOW_COLOUR, world.LAKE_COLOUR) == (
        (112, 118, 140),
        (240, 240, 245),
        (64, 110, 205),
    )
    assert (world.CROWN_COLOUR, world.TRUNK_COLOUR) == ((28, 92, 48), (96, 64, 32))
    assert world.NIGHT_GROUND_FACTOR == 0.6 and 0 < world.COLOUR_JITTER <= 8
    assert (world.BODY_RADIUS, world.BODY_Y, world.BODY_X) == (0.09, 0.22, {"left": 0.25, "right": 0.75})
    assert (world.LAKE_X_RANGE, world.LAKE_Y_RANGE, world.STAR_LIMIT_Y) == ((0.25, 0.75), (0.78, 0.94), 0.45)


@pytest.mark.parametrize("width,height", SIZES)
def test_shape_and_type(width, height):
    image = world.render(Scene(), width, height, np.random.default_rng(0))
    assert image.shape == (height, width, 3) and image.dtype == np.uint8


def test_sides_must_be_multiples_of_eight():
    with pytest.raises(ValueError):
        world.render(Scene(), 100, 128, np.random.default_rng(0))


@pytest.mark.parametrize("width,height", SIZES)
def test_sky_ground_lake_and_flatness(width, height):
    for scene, image in renders(width, height):
        top = np.median(image[0].astype(float), axis=0)
        assert matches(top, world.SKY_TOP_COLOURS[scene.time], SKY_TOLERANCE), (scene, top)
        corners = image[height - 2, [1, width - 2]]
        assert matches(corners, ground_colour(scene)).all(), (scene, corners)
        assert (image[-1] == image[-1, 0]).all(), "the ground below the lake is one flat colour"
        centre = at(image, 0.5, 0.86)
        expected = world.LAKE_COLOUR if scene.lake else ground_colour(scene)
        assert matches(centre, expected), (scene, centre)


@pytest.mark.parametrize("width,height", SIZES)
def test_sky_body_where_and_only_where_the_scene_puts_it(width, height):
    radius = world.BODY_RADIUS * height
    for scene, image in renders(width, height):
        colour = world.MOON_COLOUR if scene.time == "night" else world.SUN_COLOUR
        for side, x in world.BODY_X.items():
            cx, cy = x * width, world.BODY_Y * height
            inside = [(cx, cy), (cx - 0.6 * radius, cy), (cx + 0.6 * radius, cy), (cx, cy - 0.6 * radius)]
            outside = [(cx - 1.4 * radius, cy), (cx + 1.4 * radius, cy), (cx, cy - 1.4 * radius)]
            hits = [matches(patch(image, x, y), colour) for x, y in inside]
            assert all(hits) == (scene.body == side) and any(hits) == all(hits), (scene, side)
            assert not any(matches(patch(image, x, y), colour) for x, y in outside), scene


@pytest.mark.parametrize("width,height", SIZES)
def test_mountains_cover_half_the_width_at_y_055(width, height):
    row = int(world.MOUNTAIN_COVER_Y * height - 1)  # its centre is above 0.55 by 0.5-1.5 px
    rng = np.random.default_rng(2)
    for scene in scenes_for(width, height):
        scene = dataclasses.replace(scene, trees=0)
        image = world.render(scene, width, height, rng)
        pixels = image[row].astype(int)
        sky = np.median(pixels, axis=0) if not scene.mountains else None
        rock = matches(pixels, world.MOUNTAIN_COLOUR)
        if scene.mountains:
            assert rock.mean() >= 0.45, (scene, rock.mean())
        else:
            assert not rock.any() and (np.abs(pixels - sky).max() <= 2), scene


@pytest.mark.parametrize("width,height", SIZES)
def test_mountains_in_the_band_above_the_hill_line(width, height):
    lake_top = int(world.LAKE_Y_RANGE[0] * height) - 1
    band_top, band_bottom = int(0.06 * height), max(int(0.02 * height), 2)
    for scene, image in renders(width, height):
        # Each column's hill line: the top of the unbroken ground down to the lake's rows.
        ground = matches(image[:lake_top], ground_colour(scene))
        unbroken = np.flip(np.cumprod(np.flip(ground, axis=0), axis=0), axis=0).astype(bool)
        hill_row = np.where(unbroken.any(axis=0), unbroken.argmax(axis=0), lake_top)
        rows = np.arange(height)[:, None]
        band = (rows >= hill_row - band_top) & (rows < hill_row - band_bottom)
        tree = matches(image, world.CROWN_COLOUR) | matches(image, world.TRUNK_COLOUR)
        tree_free = ~(tree & band).any(axis=0)
        rocky = (matches(image, world.MOUNTAIN_COLOUR) & band).any(axis=0)
        share = (rocky & tree_free).sum() / max(tree_free.sum(), 1)
        if scene.mountains:
            assert share >= 0.3, (scene, share)
        else:
            assert share == 0, (scene, share)


@pytest.mark.parametrize("width,height", SIZES)
def test_one_crown_and_one_trunk_per_tree(width, height):
    for scene, image in renders(width, height):
        crown = matches(image, world.CROWN_COLOUR)
        trunk = matches(image, world.TRUNK_COLOUR)
        trunk = trunk[:-1] & trunk[1:]  # trunks are at least two pixels tall
        assert column_runs(crown.any(axis=0)) == scene.trees, scene
        assert column_runs(trunk.any(axis=0)) == scene.trees, scene
        if scene.trees:
            rows = np.nonzero(crown.any(axis=1))[0] / height
            assert rows.min() > 0.25 and rows.max() < 0.66, (scene, rows.min(), rows.max())


@pytest.mark.parametrize("width,height", SIZES)
def test_stars_only_at_night_and_only_above_045(width, height):
    for scene, image in renders(width, height):
        pixels = image.astype(int)
        bright = (pixels == world.STAR_COLOUR).all(axis=-1)  # stars are drawn unjittered
        padded = np.pad(pixels.sum(axis=-1), 1, mode="edge")
        neighbours = np.stack([padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]])
        isolated = bright & (neighbours.max(axis=0) < pixels.sum(axis=-1) - 150)
        stars = np.nonzero(isolated)[0]
        if scene.time == "night":
            assert 8 <= len(stars) <= 40 * max(1, width // height), (scene, len(stars))
            assert stars.max() < world.STAR_LIMIT_Y * height
        else:
            assert len(stars) == 0, scene


def test_same_seed_same_image_and_seeds_vary_shapes():
    scene = Scene("day", "green", "left", True, True, 2)
    first = world.render(scene, 128, 128, np.random.default_rng(7))
    again = world.render(scene, 128, 128, np.random.default_rng(7))
    other = world.render(scene, 128, 128, np.random.default_rng(8))
    assert (first == again).all() and (first != other).any()


CANONICAL = re.compile(
    r"^a (day|sunset|night) landscape with (green|autumn|snowy|desert) hills"
    r"(, mountains)?(?:, (one pine tree|two pine trees|three pine trees))?(, a lake)?"
    r"(?:, the (sun|moon) on the (left|right))?$"
)


def test_captions_follow_the_grammar_for_every_combination():
    counts = {None: 0, "one pine tree": 1, "two pine trees": 2, "three pine trees": 3}
    for scene in world.all_scenes():
        match = CANONICAL.match(world.caption(scene))
        assert match, world.caption(scene)
        time_, ground, mountains, trees, lake, body, side = match.groups()
        assert (time_, ground, side) == (scene.time, scene.ground, scene.body)
        assert (bool(mountains), counts[trees], bool(lake)) == (scene.mountains, scene.trees, scene.lake)
        if side:
            assert body == ("moon" if scene.time == "night" else "sun")


def test_the_spec_examples():
    assert world.caption(Scene("day", "green", "left", True, False, 2)) == (
        "a day landscape with green hills, mountains, two pine trees, the sun on the left"
    )
    assert world.caption(Scene("night", "snowy", "right", False, True, 0)) == (
        "a night landscape with snowy hills, a lake, the moon on the right"
    )
    assert world.caption(Scene("sunset", "desert")) == "a sunset landscape with desert hills"


def test_parse_reads_back_every_canonical_caption():
    for scene in world.all_scenes():
        assert world.parse_caption(world.caption(scene)) == dataclasses.asdict(scene)


def test_parse_reads_synonyms_and_partial_prompts():
    assert world.parse_caption("an evening landscape with dunes, two pines, a lake") == {
        "time": "sunset",
        "ground": "desert",
        "body": None,
        "mountains": False,
        "lake": True,
        "trees": 2,
    }
    assert world.parse_caption("A dusk landscape with snow-covered hills, one tree") == {
        "time": "sunset",
        "ground": "snowy",
        "body": None,
        "mountains": False,
        "lake": False,
        "trees": 1,
    }
    assert world.parse_caption("a night landscape") == {"time": "night"}
    assert world.parse_caption("winter hills with a lake") == {"ground": "snowy", "lake": True}
    assert world.parse_caption("") == {}


def sampled_variants(count=4000, **probabilities):
    rng = np.random.default_rng(11)
    for _ in range(count):
        scene = world.random_scene(rng)
        yield scene, world.caption_variant(scene, rng, **probabilities)


def test_variants_are_consistent_with_their_scene():
    attributes_left_free, synonyms_seen, empty = 0, set(), 0
    for scene, prompt in sampled_variants():
        if not prompt:
            empty += 1
            continue
        stated = world.parse_caption(prompt)
        truth = dataclasses.asdict(scene)
        assert all(truth[key] == value for key, value in stated.items()), (scene, prompt)
        attributes_left_free += len(stated) < len(truth)
        synonyms_seen |= set(words(prompt)) & {
            "dusk",
            "evening",
            "winter",
            "snow-covered",
            "sand",
            "dunes",
            "pines",
            "trees",
            "tree",
        }
    assert 0.07 < empty / 4000 < 0.13
    assert attributes_left_free > 400
    assert synonyms_seen == {"dusk", "evening", "winter", "snow-covered", "sand", "dunes", "pines", "trees", "tree"}


def test_empty_prompt_probability_is_a_parameter():
    assert all(prompt for _, prompt in sampled_variants(300, empty_probability=0.0))
    assert not any(prompt for _, prompt in sampled_variants(300, empty_probability=1.0))


def test_shortened_prompts_keep_only_the_heads_asked_for():
    def heads(**options):
        found = set()
        for _, prompt in sampled_variants(2000, empty_probability=0.0, short_probability=1.0, **options):
            stated = world.parse_caption(prompt)
            found.add("time" if "time" in stated else "ground" if "ground" in stated else "neither")
        return found

    assert heads() == {"time", "ground", "neither"}
    assert heads(short_heads=("ground", "neither")) == {"ground", "neither"}
    assert heads(short_heads=("time",)) == {"time"}


def test_vocabulary_covers_every_word_of_every_prompt():
    vocabulary = world.vocabulary()
    assert vocabulary == sorted(set(vocabulary))
    seen = set()
    for scene in world.all_scenes():
        seen |= set(words(world.caption(scene)))
    for _, prompt in sampled_variants():
        seen |= set(words(prompt))
    assert seen <= set(vocabulary), seen - set(vocabulary)
    assert "," not in vocabulary and "snow-covered" in vocabulary


def test_invalid_scenes_are_refused():
    with pytest.raises(ValueError):
        Scene(time="noon")
    with pytest.raises(ValueError):
        Scene(trees=4)
