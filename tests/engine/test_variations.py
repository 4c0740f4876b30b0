"""Variations (AUTOMATIC1111's variation seed and strength): the request's fields, the noise,
real runs on a tiny model, and the recipe that records them."""

import numpy as np
import pytest
import torch

from studio.engine.events import Finished
from studio.engine.noise import slerp, variation_noise
from studio.engine.request import MAX_SEED, GenerateRequest
from studio.errors import RequestError
from studio.recipe import a1111, studio_json
from studio.recipe.dialects import runnable
from studio.recipe.embed import write_png
from studio.recipe.schema import Recipe
from studio.recipe.walker import ImageInfo, inspect_file, read_recipe


def _request(model, **changes):
    values: dict = dict(
        prompt="a red house", seed=3, steps=4, width=64, height=64, scheduler="Euler", guidance_scale=1.0
    )
    values.update(changes)
    return GenerateRequest(model=str(model), **values)


def _pixels(engine, request) -> list[np.ndarray]:
    final = engine.run(request, previews=False)
    assert isinstance(final, Finished), final
    return [np.asarray(r.image).astype(np.float64) for r in final.results]


# The request.


def test_variation_fields_default_off_and_are_checked():
    request = GenerateRequest()
    assert request.variation_seed == 0 and request.variation_strength == 0.0
    with pytest.raises(RequestError, match=r"variation strength must be 0 to 1"):
        GenerateRequest(variation_strength=1.5)
    with pytest.raises(RequestError, match=r"variation seed must be 0 to"):
        GenerateRequest(variation_seed=-1)
    with pytest.raises(RequestError, match=r"variation seed must be a whole number"):
        GenerateRequest(variation_seed=1.5)  # pyright: ignore[reportArgumentType]


def test_a_batch_of_variations_keeps_the_seed_and_steps_the_variation_seed():
    request = GenerateRequest(seed=7, count=3, variation_seed=MAX_SEED, variation_strength=0.25)
    assert request.seeds == (7, 7, 7)
    assert request.variation_seeds == (MAX_SEED, 0, 1)
    own = request.single(2)
    assert (own.seed, own.variation_seed, own.count, own.variation_strength) == (7, 1, 1, 0.25)
    plain = GenerateRequest(seed=7, count=2)
    assert plain.seeds == (7, 8) and plain.single(1).seed == 8


def test_old_recipes_without_variation_fields_still_load():
    data = GenerateRequest(seed=5).to_dict()
    del data["variation_seed"], data["variation_strength"]
    assert GenerateRequest.from_dict(data).variation_strength == 0.0


# The noise.


def test_slerp_ends_are_exact_and_the_middle_keeps_the_norm():
    generator = torch.Generator().manual_seed(0)
    low = torch.randn(1, 4, 16, 16, generator=generator)
    high = torch.randn(1, 4, 16, 16, generator=generator)
    assert torch.equal(slerp(0.0, low, high), low)
    assert torch.equal(slerp(1.0, low, high), high)
    middle = slerp(0.5, low, high)
    assert middle.dtype == low.dtype
    assert abs(float(middle.norm()) / float(low.norm()) - 1) < 0.05
    assert torch.allclose(slerp(0.3, low, low), low)  # parallel: no division by zero


def test_variation_noise_at_strength_one_is_the_variation_seeds_noise():
    shape = (1, 4, 8, 8)
    ours = variation_noise(shape, 3, 9, 1.0, torch.float32, "cpu")
    theirs = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(9))
    assert torch.equal(ours, theirs)


# Real runs.


def test_strength_zero_is_bit_identical_to_a_plain_generation(engine, tiny_model):
    plain = _pixels(engine, _request(tiny_model))
    off = _pixels(engine, _request(tiny_model, variation_seed=99, variation_strength=0.0))
    assert np.array_equal(plain[0], off[0])


def test_strength_one_equals_a_plain_generation_at_the_variation_seed(engine, tiny_model):
    varied = _pixels(engine, _request(tiny_model, variation_seed=99, variation_strength=1.0))
    plain = _pixels(engine, _request(tiny_model, seed=99))
    assert np.array_equal(varied[0], plain[0])


def test_distance_grows_with_strength(engine, tiny_model):
    base = _pixels(engine, _request(tiny_model))[0]
    distances = []
    for strength in (0.05, 0.2, 0.5, 1.0):
        image = _pixels(engine, _request(tiny_model, variation_seed=99, variation_strength=strength))[0]
        distances.append(float(np.abs(image - base).mean()))
    assert distances[0] > 0
    assert distances == sorted(distances), distances
    assert distances[0] < distances[-1] / 3  # a small strength is a small change


def test_a_batch_of_variations_differs_image_by_image(engine, tiny_model):
    request = _request(tiny_model, count=2, variation_seed=40, variation_strength=0.5)
    final = engine.run(request, previews=False)
    assert isinstance(final, Finished)
    first, second = final.results
    assert [r.recipe.request.variation_seed for r in final.results] == [40, 41]
    assert first.seed == second.seed == 3
    assert not np.array_equal(np.asarray(first.image), np.asarray(second.image))
    alone = _pixels(engine, request.single(1))[0]
    assert np.array_equal(alone, np.asarray(second.image).astype(np.float64))


# The recipe.


def _recipe(**changes):
    request = GenerateRequest(prompt="hills", seed=12, variation_seed=345, variation_strength=0.25).replace(**changes)
    return Recipe(request=request, model_name="landscape")


def test_recipe_text_names_variation_seed_and_strength_as_automatic1111_does():
    text = a1111.recipe_text(_recipe())
    assert "Variation seed: 345, Variation seed strength: 0.25" in text
    assert "Variation seed" not in a1111.recipe_text(_recipe(variation_strength=0.0))
    found = a1111.read(text)
    assert found is not None and found.variation_seed == 345 and found.variation_strength == 0.25


def test_recipe_round_trip_through_a_png(tmp_path):
    recipe = _recipe()
    path = write_png(tmp_path / "v.png", _image(), recipe)
    back = read_recipe(path)
    assert back is not None and back.request == recipe.request
    info = inspect_file(path)
    assert isinstance(info, ImageInfo) and info.recipe is not None
    found = info.recipe
    assert (found.variation_seed, found.variation_strength) == (345, 0.25)
    assert studio_json.decode(found.studio).request == recipe.request
    from_text = a1111.read(found.parameters)
    assert from_text is not None and (from_text.variation_seed, from_text.variation_strength) == (345, 0.25)
    # AUTOMATIC1111's text alone (no Studio JSON) still runs as the same variation.
    runs = runnable(from_text.replace(model="landscape"))
    assert runs is not None
    assert (runs.request.variation_seed, runs.request.variation_strength) == (345, 0.25)


def test_sd_parsers_reads_our_variation_settings(tmp_path):
    sd_parsers = pytest.importorskip("sd_parsers")
    path = write_png(tmp_path / "v.png", _image(), _recipe())
    from PIL import Image

    with Image.open(path) as image:
        data = sd_parsers.ParserManager().parse(image)
    assert data is not None and data.generator.name == "AUTOMATIC1111"
    assert data.metadata["Variation seed"] == "345"
    assert data.metadata["Variation seed strength"] == "0.25"
    assert data.samplers[0].parameters["seed"] == "12"


def _image():
    from PIL import Image

    return Image.fromarray(np.full((64, 64, 3), 128, np.uint8))
