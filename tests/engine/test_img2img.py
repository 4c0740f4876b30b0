"""Image-to-image on real (tiny) diffusers pipelines: the request's checks, strength 0, odd
sizes, events, cancel, the plain diffusers call it stands for, SDXL and the recipe."""

import numpy as np
import pytest
import torch

from studio.engine.events import Cancelled, Finished, ImageDone, Preview, Started, Step
from studio.engine.image_request import ImageRequest, denoise_steps
from studio.engine.request import GenerateRequest
from studio.errors import RequestError
from studio.recipe import a1111
from studio.recipe.embed import write_png
from studio.recipe.walker import read_recipe
from studio.testing.cancel_at import CancelAt


def picture(width, height, seed=0):
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None, None]
    x = np.linspace(0, 1, width)[None, :, None]
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    image = top * (1 - y) + bottom * y + 30 * np.sin(5 * x + rng.random())
    return np.clip(image, 0, 255).astype(np.uint8)


def settings(model, **changes):
    values: dict = dict(prompt="a red house", seed=3, steps=6, scheduler="Euler", guidance_scale=1.0, model=str(model))
    values.update(changes)
    return GenerateRequest(**values)


def run(engine, request, **kwargs):
    events = []
    final = engine.run_image(request, events.append, **kwargs)
    return events, final


# The request.


def test_the_output_is_the_input_size_and_the_model_size_its_padded_size():
    request = ImageRequest(GenerateRequest(width=512, height=512), picture(77, 53), strength=0.4)
    assert (request.width, request.height) == (77, 53)
    assert (request.generate.width, request.generate.height) == (80, 64)
    assert request.recipe_extra() == {"source": None, "strength": 0.4, "scale": 1.0}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"strength": 1.5}, r"strength must be 0 to 1"),
        ({"strength": -0.1}, r"strength must be 0 to 1"),
        ({"scale": 2.0}, r"img2img keeps the picture's size"),
        ({"kind": "upscale", "scale": 1.0}, r"scale must be above 1"),
        ({"kind": "upscale", "scale": 40.0}, r"scale must be above 1 and at most 8"),
        ({"kind": "sketch"}, r"unknown image job"),
    ],
)
def test_bad_values_are_refused_in_one_line(changes, message):
    with pytest.raises(RequestError, match=message) as caught:
        ImageRequest(GenerateRequest(), picture(64, 64), **changes)
    assert "\n" not in str(caught.value)


def test_too_small_and_too_large_pictures_are_refused():
    with pytest.raises(RequestError, match=r"at least 8 pixels"):
        ImageRequest(GenerateRequest(), picture(64, 4))
    with pytest.raises(RequestError, match=r"scale 4 would make 2048x4096, over the engine's maximum"):
        ImageRequest(GenerateRequest(), np.zeros((1024, 512, 3), np.uint8), kind="upscale", scale=4)


def test_the_request_copies_the_picture_and_turns_variations_off():
    pixels = picture(64, 64)
    request = ImageRequest(GenerateRequest(variation_seed=5, variation_strength=0.5), pixels)
    pixels[:] = 0
    assert request.image.any() and not request.image.flags.writeable
    assert request.generate.variation_strength == 0.0
    assert request.replace(seed=9, strength=0.2).seed == 9


def test_small_strengths_lengthen_the_schedule_instead_of_running_no_step():
    assert denoise_steps(20, 0.5) == (20, 10)
    assert denoise_steps(4, 0.1) == (10, 1)
    assert denoise_steps(20, 0.0) == (0, 0)
    assert denoise_steps(20, 1e-5) == (0, 0)


# Real runs.


def test_strength_zero_returns_the_input_unchanged_without_the_model(engine, tiny_model):
    source = picture(77, 53)
    events, final = run(engine, ImageRequest(settings(tiny_model, count=2), source, strength=0.0))
    assert isinstance(final, Finished), final
    assert not any(isinstance(e, (Step, Preview)) for e in events)
    assert isinstance(events[0], Started) and events[0].total_steps == 0
    for result in final.results:
        assert np.array_equal(np.asarray(result.image), source)


def test_an_odd_sized_picture_comes_back_at_its_own_size_with_every_event(engine, tiny_model):
    source = picture(77, 53)
    request = ImageRequest(settings(tiny_model, count=2), source, strength=0.5)
    events, final = run(engine, request)
    assert isinstance(final, Finished), final
    kinds = [type(e).__name__ for e in events]
    per_image = ["Step", "Preview"] * 3 + ["ImageDone"]
    assert kinds == ["Started"] + per_image * 2 + ["Finished"]
    assert events[0].total_steps == 3
    steps = [(e.index, e.step, e.total) for e in events if isinstance(e, Step)]
    assert steps == [(i, k, 3) for i in range(2) for k in (1, 2, 3)]
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews[0].rgb.shape == (8, 10, 3)
    assert [r.seed for r in final.results] == [3, 4]
    for result in final.results:
        assert result.image.size == (77, 53)
    first = np.asarray(final.results[0].image).astype(int)
    assert 0 < np.abs(first - source).mean() < 100  # changed, and still the picture's size and place


def test_it_is_the_plain_diffusers_img2img_call(engine, tiny_model):
    from diffusers.pipelines.auto_pipeline import AutoPipelineForImage2Image
    from PIL import Image

    from studio.engine.schedulers import make_scheduler

    source = picture(64, 64, seed=2)
    request = ImageRequest(settings(tiny_model), source, strength=0.6)
    _, final = run(engine, request, previews=False)
    assert isinstance(final, Finished)
    model = engine.load(str(tiny_model))
    pipe = AutoPipelineForImage2Image.from_pipe(model.pipe)
    pipe.scheduler = make_scheduler("Euler", model.scheduler_config)
    theirs = pipe(
        "a red house",
        image=Image.fromarray(source),
        strength=0.6,
        num_inference_steps=6,
        guidance_scale=1.0,
        generator=torch.Generator("cpu").manual_seed(3),
    ).images[0]
    assert np.array_equal(np.asarray(final.results[0].image), np.asarray(theirs))


def test_a_lower_strength_stays_closer_to_the_picture(engine):
    source = picture(128, 128, seed=1)
    distances = []
    for strength in (0.2, 0.6, 1.0):
        request = ImageRequest(
            settings("embedded", prompt="a day landscape with green hills"), source, strength=strength
        )
        _, final = run(engine, request, previews=False)
        assert isinstance(final, Finished)
        distances.append(np.abs(np.asarray(final.results[0].image).astype(int) - source).mean())
    assert distances == sorted(distances), distances


def test_cancel_stops_at_a_step_and_keeps_what_was_finished(engine, tiny_model):
    stop = CancelAt(1, index=1)
    request = ImageRequest(settings(tiny_model, count=3), picture(64, 64), strength=0.5)
    final = engine.run_image(request, stop, stop.cancel)
    assert isinstance(final, Cancelled)
    assert (final.at_index, final.at_step) == (1, 1)
    assert len(final.completed) == 1
    assert sum(isinstance(e, ImageDone) for e in stop.events) == 1


def test_the_recipe_records_kind_source_and_strength(engine, tiny_model, tmp_path):
    request = ImageRequest(settings(tiny_model), picture(64, 64), strength=0.35, source="/pics/from.png")
    _, final = run(engine, request, previews=False)
    assert isinstance(final, Finished)
    recipe = final.results[0].recipe
    assert recipe.kind == "img2img"
    assert recipe.extra == {"source": "/pics/from.png", "strength": 0.35, "scale": 1.0}
    text = a1111.recipe_text(recipe)
    assert "Denoising strength: 0.35" in text and "Edit: img2img" in text and "Source: from.png" in text
    found = a1111.read(text)
    assert found is not None and found.kind == "img2img"
    assert found.extra == {"strength": 0.35, "source": "from.png"}
    path = write_png(tmp_path / "out.png", final.results[0].image, recipe)
    back = read_recipe(path)
    assert back is not None and back.kind == "img2img" and back.extra["source"] == "/pics/from.png"


def test_sdxl_img2img(engine, tmp_path_factory):
    from studio.testing.tiny_model import make_tiny_sdxl_model

    model = make_tiny_sdxl_model(tmp_path_factory.mktemp("models") / "sdxl", seed=2)
    source = picture(72, 64)
    request = ImageRequest(settings(model, guidance_scale=4.0, steps=4), source, strength=0.5)
    events, final = run(engine, request)
    assert isinstance(final, Finished), final
    assert engine.load(str(model)).info.family == "sdxl"
    assert final.results[0].image.size == (72, 64)
    assert sum(isinstance(e, Step) for e in events) == 2
    assert not np.array_equal(np.asarray(final.results[0].image), source)


def test_a_picture_larger_than_native_goes_through_the_vae_in_tiles_for_that_job_only(engine, tiny_model):
    vae = engine.load(str(tiny_model)).pipe.vae
    seen = []

    def on_event(event):
        if isinstance(event, Step):
            seen.append(vae.use_tiling)

    request = ImageRequest(settings(tiny_model, steps=2), picture(136, 72), strength=0.5)
    final = engine.run_image(request, on_event, previews=False)
    assert isinstance(final, Finished), final
    assert final.results[0].image.size == (136, 72)
    assert seen == [True] and vae.use_tiling is False
    small = ImageRequest(settings(tiny_model, steps=2), picture(64, 64), strength=0.5)
    seen.clear()
    engine.run_image(small, on_event, previews=False)
    assert seen == [False]
