"""The detector of repeated suns, moons and lakes (studio.testing.landscape_objects), checked on
true renders of the landscape world whose counts are known: whole renders at every shape
(none or one of each), and renders with a strip of another render of the same scene joined
on, as a repeating outpaint makes them (two of each where the strip holds one)."""

import numpy as np
import pytest

from studio.embedded.world import Scene, all_scenes, render
from studio.testing.landscape_objects import Counts, count_bodies, count_objects

SHAPES = ((128, 128), (192, 128), (128, 192), (256, 128))  # width, height
GOAL = 0.95


def _scenes(step: int) -> list[Scene]:
    return all_scenes()[::step]


def _whole_renders():
    """(image, true counts) for renders of single scenes: a sun/moon and a lake each 0 or 1."""
    cases = []
    for index, scene in enumerate(_scenes(5)):
        width, height = SHAPES[index % len(SHAPES)]
        image = render(scene, width, height, np.random.default_rng(index))
        cases.append((image, Counts(int(scene.body is not None), int(scene.lake))))
    return cases


def _joined_renders():
    """(image, true counts) for a 128 px render with a 64 px strip of another render of the
    same scene joined on one side: what outpainting makes when it draws the prompt again."""
    cases = []
    for index, scene in enumerate(_scenes(11)):
        rng = np.random.default_rng(100 + index)
        first, second = render(scene, 128, 128, rng), render(scene, 128, 128, rng)
        body, lake = int(scene.body is not None), int(scene.lake)
        side = ("left", "right", "top", "bottom")[index % 4]
        if side == "right":  # the strip is the other render's right half: its lake half, a sun on the right
            image = np.concatenate([first, second[:, 64:]], axis=1)
            counts = Counts(body + (scene.body == "right"), 2 * lake)
        elif side == "left":
            image = np.concatenate([second[:, :64], first], axis=1)
            counts = Counts(body + (scene.body == "left"), 2 * lake)
        elif side == "top":  # the other render's top half: its sky and sun, no lake
            image = np.concatenate([second[:64], first], axis=0)
            counts = Counts(2 * body, lake)
        else:  # its bottom half: its lake, no sun
            image = np.concatenate([first, second[64:]], axis=0)
            counts = Counts(body, 2 * lake)
        cases.append((image, counts))
    return cases


def _scores(cases):
    exact = np.mean([count_objects(image) == truth for image, truth in cases])
    found = [count_objects(image).repeated for image, _ in cases]
    truth = [counts.repeated for _, counts in cases]
    hits = sum(f and t for f, t in zip(found, truth))
    precision = hits / max(1, sum(found))
    recall = hits / max(1, sum(truth))
    return exact, precision, recall, sum(truth)


def test_counts_on_whole_true_renders_are_right():
    cases = _whole_renders()
    assert {counts for _, counts in cases} == {Counts(0, 0), Counts(0, 1), Counts(1, 0), Counts(1, 1)}
    exact, precision, _recall, repeats = _scores(cases)
    assert exact >= GOAL, exact
    assert repeats == 0 and precision == 0  # nothing found repeated in a true picture


def test_repeats_are_found_with_high_precision_and_recall():
    cases = _whole_renders() + _joined_renders()
    exact, precision, recall, repeats = _scores(cases)
    assert repeats >= 30
    assert exact >= GOAL and precision >= GOAL and recall >= GOAL, (exact, precision, recall)


@pytest.mark.parametrize("time", ["day", "sunset", "night"])
@pytest.mark.parametrize("body", [None, "left"])
def test_stars_snow_caps_sky_between_peaks_and_snowy_ground_are_no_sun_moon_or_lake(time, body):
    for ground in ("snowy", "green"):
        scene = Scene(time=time, ground=ground, body=body, mountains=True, lake=False, trees=3)
        for seed in range(4):
            image = render(scene, 192, 128, np.random.default_rng(seed))
            assert count_objects(image) == Counts(int(body is not None), 0), (scene, seed)


def test_a_faded_second_disc_and_lake_still_count():
    """A repeat drawn half into the sky or ground (as a model draws them) is still a repeat."""
    scene = Scene(time="day", ground="green", body="right", lake=True)
    rng = np.random.default_rng(5)
    first, second = render(scene, 128, 128, rng), render(scene, 128, 128, rng)
    plain = render(Scene(time="day", ground="green"), 128, 128, np.random.default_rng(5))
    faded = (0.6 * second[:, 64:] + 0.4 * plain[:, 64:]).astype(np.uint8)
    assert count_objects(np.concatenate([first, faded], axis=1)) == Counts(2, 2)


def test_the_frame_sets_the_size_of_a_disc():
    image = render(Scene(time="night", body="left"), 128, 128, np.random.default_rng(0))
    assert count_bodies(image, frame=128) == 1
    assert count_bodies(image, frame=512) == 0  # far too small for a 512 px picture's moon
