"""The shipped judge reads every attribute of the landscape world back from true renders of
every shape, is not fooled by a render of a different scene, and the evaluation that uses it
runs end to end on a tiny model."""

import dataclasses

import numpy as np
import pytest
from PIL import Image

from studio.embedded import world
from studio.embedded.evaluate import SCORED, SHAPES, evaluate, evaluation_scenes
from studio.embedded.judge import ATTRIBUTES, CLASSES, CONFIG_NAME, DEFAULT_PATH, Judge
from studio.embedded.splits import is_held_out

FRESH_SEED = 31337  # neither the training nor the validation seeds
SCENES_PER_SHAPE = 48


@pytest.fixture(scope="module")
def judge():
    # A missing judge is a failure, not a skip: the evaluation cannot run without it.
    assert DEFAULT_PATH.exists(), (
        f"the shipped judge is missing at {DEFAULT_PATH}; train it with python -m studio.embedded.judge --train"
    )
    return Judge.load()


def test_shipped_judge_is_small():
    assert DEFAULT_PATH.exists()
    config = DEFAULT_PATH.parent / CONFIG_NAME
    assert config.stat().st_size < 2_000_000
    assert 50_000 <= Judge.load().config["parameters"] <= 300_000


@pytest.mark.parametrize("shape", SHAPES)
def test_reads_fresh_true_renders(judge, shape):
    width, height = SHAPES[shape]
    rng = np.random.default_rng([FRESH_SEED, width, height])
    scenes = [world.random_scene(rng) for _ in range(SCENES_PER_SHAPE)]
    images = [world.render(scene, width, height, rng) for scene in scenes]
    images[::2] = [Image.fromarray(image) for image in images[::2]]  # arrays and PIL alike
    reads = judge.read(images)
    assert [set(read) for read in reads] == [set(ATTRIBUTES)] * len(scenes)
    for name in ATTRIBUTES:
        right = np.mean([read[name] == getattr(scene, name) for read, scene in zip(reads, scenes)])
        assert right >= 0.97, f"{shape}: {name} read right on only {right:.0%} of true renders"


def test_a_night_render_is_not_read_as_day(judge):
    rng = np.random.default_rng(FRESH_SEED)
    day = [dataclasses.replace(world.random_scene(rng), time="day") for _ in range(8)]
    nights = [world.render(dataclasses.replace(scene, time="night"), 128, 128, rng) for scene in day]
    assert all(read["time"] == "night" for read in judge.read(nights))


def test_a_render_of_another_scene_is_read_as_that_scene(judge):
    """For every attribute, a render with that attribute changed reads as changed."""
    rng = np.random.default_rng(FRESH_SEED + 1)
    for name in ATTRIBUTES:
        prompted = [world.random_scene(rng) for _ in range(6)]
        drawn = []
        for scene in prompted:
            others = [value for value in CLASSES[name] if value != getattr(scene, name)]
            drawn.append(dataclasses.replace(scene, **{name: others[rng.integers(len(others))]}))
        reads = judge.read([world.render(scene, 256, 128, rng) for scene in drawn])
        assert all(read[name] != getattr(s, name) for read, s in zip(reads, prompted)), name


def test_evaluation_scenes_split_seen_from_held_out():
    scenes = evaluation_scenes(12, seed=5)
    assert not any(map(is_held_out, scenes["seen"]))
    assert all(map(is_held_out, scenes["held_out"]))
    assert len({(s.time, s.ground) for s in scenes["held_out"]}) == 3
    assert scenes == evaluation_scenes(12, seed=5)


def test_evaluate_runs_end_to_end_on_a_tiny_model(tmp_path, judge, engine):
    from studio.testing.tiny_model import make_tiny_model

    folder = make_tiny_model(tmp_path / "tiny", width=128)
    result = evaluate(str(folder), count=2, seed=0, judge=judge, engine=engine)
    assert result["settings"]["steps"] == 4  # the model's default
    assert result["images"] == len(result["records"]) == 2 * 2 * len(SHAPES)
    tables = [result[key] for key in ("seen", "held_out", "ceiling")]
    tables += [row[key] for row in result["by_shape"].values() for key in ("seen", "held_out", "ceiling")]
    for table in tables:
        assert set(table) == set(SCORED)
        assert all(0.0 <= value <= 1.0 for value in table.values())
