"""Upscaling with detail on real models: the tiles, the output size, events over all tiles,
previews of the whole picture, no seams, cancel, strength 0 and the recipe."""

import threading

import numpy as np
import pytest
from PIL import Image

from studio.engine.events import Cancelled, Finished, Preview, Started, Step
from studio.engine.image_request import ImageRequest
from studio.engine.request import GenerateRequest
from studio.engine.upscale import enlarge, plan_tiles, tile_alpha
from studio.recipe import a1111
from studio.testing.seams import seam_scores

TINY_NATIVE = 64  # the tiny models' native side (their studio.json defaults)


def smooth(width, height, seed=0):
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None, None]
    x = np.linspace(0, 1, width)[None, :, None]
    a, b, c = rng.integers(30, 225, 3), rng.integers(30, 225, 3), rng.integers(30, 225, 3)
    return np.clip(a * (1 - y) + b * y * (1 - x) + c * x * y, 0, 255).astype(np.uint8)


def settings(model, **changes):
    values: dict = dict(prompt="a red house", seed=3, steps=4, scheduler="Euler", guidance_scale=1.0, model=str(model))
    values.update(changes)
    return GenerateRequest(**values)


def upscale(model, source, scale=2.0, strength=0.5, **changes):
    return ImageRequest(settings(model, **changes), source, strength=strength, kind="upscale", scale=scale)


# The tiles.


@pytest.mark.parametrize("width, height", [(128, 96), (256, 256), (512, 136), (64, 64), (40, 200)])
def test_tiles_cover_the_picture_and_overlap_enough(width, height):
    native = 128
    tiles = plan_tiles(width, height, native)
    covered = np.zeros((height, width), int)
    for tile in tiles:
        assert tile.x % 8 == 0 and tile.y % 8 == 0
        assert tile.width == min(native, width) and tile.height == min(native, height)
        covered[tile.slices] += 1
    assert covered.min() >= 1
    assert all(t.left in (0,) or t.left >= 32 for t in tiles)
    assert all(t.top in (0,) or t.top >= 32 for t in tiles)
    assert [t.left for t in tiles if t.x == 0] == [0] * len([t for t in tiles if t.x == 0])


def test_tile_counts_for_two_and_four_times_a_native_picture():
    assert len(plan_tiles(128, 128, 128)) == 1
    assert len(plan_tiles(256, 256, 128)) == 9
    assert len(plan_tiles(512, 512, 128)) == 25


def test_the_blend_ramps_up_over_earlier_tiles_and_fades_the_edge_under_later_ones():
    tiles = plan_tiles(256, 128, 128)
    assert len(tiles) == 3
    first, second, last = tiles
    assert (first.left, first.right) == (0, second.left) and (last.right, last.bottom) == (0, 0)
    alpha = tile_alpha(second)
    assert (alpha == alpha[:1]).all()  # one row of tiles: the same in every row
    row = alpha[0]
    assert row[0] < 0.1 and (np.diff(row[: second.left]) > 0).all()
    fade = second.right // 4
    assert (row[second.left : second.width - fade] == 1).all()
    assert (np.diff(row[second.width - fade :]) < 0).all() and row[-1] < 0.1
    assert (tile_alpha(last)[:, last.left :] == 1).all()


# Real runs.


def test_output_size_steps_over_all_tiles_and_whole_picture_previews(engine, tiny_model):
    source = smooth(60, 44)
    request = upscale(tiny_model, source, scale=2.2)
    assert (request.width, request.height) == (132, 97)
    tiles = plan_tiles(request.generate.width, request.generate.height, TINY_NATIVE)
    events = []
    final = engine.run_image(request, events.append)
    assert isinstance(final, Finished), final
    assert final.results[0].image.size == (132, 97)
    per_tile = request.denoise_steps
    total = per_tile * len(tiles)
    assert isinstance(events[0], Started) and events[0].total_steps == total
    steps = [(e.step, e.total) for e in events if isinstance(e, Step)]
    assert steps == [(k, total) for k in range(1, total + 1)]
    previews = [e for e in events if isinstance(e, Preview)]
    assert len(previews) == total
    assert all(p.rgb.shape == (request.generate.height // 8, request.generate.width // 8, 3) for p in previews)
    recipe = final.results[0].recipe
    assert recipe.kind == "upscale"
    assert recipe.extra == {"source": None, "strength": 0.5, "scale": 2.2, "upscaler": "Lanczos"}
    text = a1111.recipe_text(recipe)
    assert "Edit: upscale" in text and "Upscale by: 2.2" in text and "Upscaler: Lanczos" in text
    found = a1111.read(text)
    assert found is not None and found.kind == "upscale" and found.extra["scale"] == 2.2


def test_strength_zero_only_enlarges(engine, tiny_model):
    source = smooth(50, 40)
    events = []
    final = engine.run_image(upscale(tiny_model, source, scale=1.5, strength=0.0), events.append)
    assert isinstance(final, Finished)
    assert not any(isinstance(e, Step) for e in events)
    expected = np.asarray(Image.fromarray(source).resize((75, 60), Image.Resampling.LANCZOS))
    assert np.array_equal(np.asarray(final.results[0].image), expected)
    assert np.array_equal(enlarge(source, (75, 60)), expected)


def test_no_tile_border_shows_on_a_smooth_picture(engine):
    source = smooth(128, 128, seed=4)
    request = upscale("embedded", source, scale=2.0, strength=0.3, prompt="a day landscape with green hills")
    final = engine.run_image(request, previews=False)
    assert isinstance(final, Finished), final
    result = np.asarray(final.results[0].image)
    tiles = plan_tiles(256, 256, 128)
    scores = seam_scores(result, tiles)
    assert len(scores) == 6  # columns and rows 64, 128, 192
    assert max(scores) < 1.6, scores
    # The same tiles pasted without the blend, each from the enlarged picture alone, do show.
    pasted = _pasted_without_blend(engine, request, tiles)
    assert max(seam_scores(pasted, tiles)) > max(scores) + 0.3


def _pasted_without_blend(engine, request, tiles):
    big = enlarge(np.asarray(request.image), (256, 256))
    out = big.copy()
    for number, tile in enumerate(tiles):
        crop = np.ascontiguousarray(big[tile.slices])
        tile_request = ImageRequest(request.generate.replace(seed=number), crop, strength=request.strength)
        final = engine.run_image(tile_request, previews=False)
        assert isinstance(final, Finished)
        out[tile.slices] = np.asarray(final.results[0].image)
    return out


def test_cancel_between_tiles_and_within_one(engine, tiny_model):
    request = upscale(tiny_model, smooth(64, 64), scale=2.0)
    per_tile = request.denoise_steps
    cancel = threading.Event()

    def on_event(event):
        if isinstance(event, Step) and event.step == per_tile + 1:
            cancel.set()

    final = engine.run_image(request, on_event, cancel)
    assert isinstance(final, Cancelled)
    assert final.at_step == per_tile + 1 and not final.completed


def test_a_four_times_upscale_draws_no_second_sun_or_lake(engine):
    """Each tile is a part of the picture the prompt describes whole: guided strongly and
    redrawn far, every tile of sky drew the prompt's sun again and the ground its lake."""
    from studio.engine.upscale import DEFAULT_STRENGTH
    from studio.testing.landscape_objects import Counts
    from studio.testing.upscale_repeats import upscale_counts

    prompt = "a day landscape with green hills, a lake, the sun on the left"
    settings = GenerateRequest(prompt=prompt, seed=100, guidance_scale=6.0, model="embedded", steps=20)
    made = engine.run(settings.replace(width=128, height=128))
    assert isinstance(made, Finished), made
    source = np.asarray(made.results[0].image)
    enlarged = enlarge(source, (512, 512))
    assert upscale_counts(enlarged, enlarged, 128) == Counts(1, 1)
    request = ImageRequest(
        settings.replace(steps=10),
        source,
        strength=DEFAULT_STRENGTH,
        kind="upscale",
        scale=4,
    )
    final = engine.run_image(request, previews=False)
    assert isinstance(final, Finished), final
    result = np.asarray(final.results[0].image)
    counts = upscale_counts(result, enlarged, 128)
    assert not counts.repeated, counts
    assert np.abs(result.astype(int) - enlarged).mean() > 1  # it did redraw the picture
