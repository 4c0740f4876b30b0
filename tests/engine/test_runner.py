"""The run loop on a real (tiny) diffusers pipeline: events, x0 previews, seeds, cancel."""

import random

import numpy as np
import pytest
import torch

from studio.engine.events import Cancelled, Failed, Finished, ImageDone, Preview, Started, Step
from studio.engine.request import GenerateRequest
from studio.engine.schedulers import SCHEDULER_NAMES
from studio.testing.cancel_at import CancelAt
from studio.testing.reference import plain_pipeline_call


def _request(model, **changes):
    values = dict(
        prompt="a red house",
        seed=3,
        steps=5,
        width=64,
        height=64,
        scheduler="Euler",
        guidance_scale=1.0,
        model=str(model),
    )
    values.update(changes)
    return GenerateRequest(**values)


def _run(engine, request, **kwargs):
    events = []
    final = engine.run(request, events.append, **kwargs)
    return events, final


def test_events_arrive_in_order(engine, tiny_model):
    events, final = _run(engine, _request(tiny_model, count=2, steps=4))
    kinds = [type(e).__name__ for e in events]
    per_image = ["Step", "Preview"] * 4 + ["ImageDone"]
    assert kinds == ["Started"] + per_image * 2 + ["Finished"]
    assert isinstance(events[0], Started) and events[0].total_steps == 4
    steps = [e for e in events if isinstance(e, Step)]
    assert [(s.index, s.step, s.total) for s in steps] == [(i, k, 4) for i in range(2) for k in range(1, 5)]
    assert all(s.step_s >= 0 and s.elapsed_s >= s.step_s for s in steps)
    assert final is events[-1] and isinstance(final, Finished)
    assert [r.seed for r in final.results] == [3, 4]
    assert final.results[0].image.size == (64, 64)
    assert final.results[1].recipe.request.seed == 4 and final.results[1].recipe.request.count == 1


@pytest.mark.parametrize("scheduler", SCHEDULER_NAMES)
def test_every_scheduler_runs_every_step(engine, tiny_model, scheduler):
    events, final = _run(engine, _request(tiny_model, scheduler=scheduler, steps=6))
    assert isinstance(final, Finished), final
    previews = [e for e in events if isinstance(e, Preview)]
    assert [p.step for p in previews] == list(range(1, 7))
    assert all(p.rgb.shape == (8, 8, 3) and p.rgb.dtype == np.uint8 for p in previews)


def _final_latents(engine, request):
    """What the plain diffusers call leaves before decoding, for the same seed and sampler."""
    return plain_pipeline_call(engine.load(request.model), request, output_type="latent").images[0].numpy()


def _roughness(latents):
    return float(np.abs(np.diff(latents, axis=-1)).mean())


@pytest.mark.parametrize("scheduler", ["Euler", "DPM++ 2M Karras", "UniPC", "DDIM", "LCM"])
def test_previews_are_the_clean_image_guess(engine, tiny_model, scheduler):
    request = _request(tiny_model, scheduler=scheduler, steps=10)
    events, _final = _run(engine, request)
    previews = [e for e in events if isinstance(e, Preview)]
    final_latents = _final_latents(engine, request)
    scale = np.abs(final_latents).mean()
    last_error = np.abs(previews[-1].latents - final_latents).mean() / scale
    first_error = np.abs(previews[0].latents - final_latents).mean() / scale
    assert last_error < 0.1, "the last preview should be close to the final image"
    assert first_error > last_error
    # The noisy latent at the first step is noise with a spread of ~sigma_max; its x0
    # guess is a picture-sized signal, an order of magnitude smoother.
    generator = torch.Generator("cpu").manual_seed(request.seed)
    noise = torch.randn(final_latents.shape, generator=generator).numpy() * 14.6
    assert _roughness(previews[0].latents) < 0.1 * _roughness(noise)


def test_rgb_preview_follows_the_latents(engine, tiny_model):
    events, _ = _run(engine, _request(tiny_model, steps=3))
    preview = [e for e in events if isinstance(e, Preview)][-1]
    model = engine.load(str(tiny_model))
    expected = model.previewer.rgb(torch.from_numpy(preview.latents)[None])
    assert np.array_equal(preview.rgb, expected)


def test_same_request_same_pixels(engine, tiny_model):
    request = _request(tiny_model, count=2, scheduler="Euler a", seed=11)
    first = _run(engine, request)[1].results
    second = _run(engine, request)[1].results
    for a, b in zip(first, second):
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert not np.array_equal(np.asarray(first[0].image), np.asarray(first[1].image))
    alone = _run(engine, request.replace(seed=12, count=1))[1].results[0]
    assert np.array_equal(np.asarray(alone.image), np.asarray(first[1].image))


@pytest.mark.parametrize("scheduler", ["DPM++ 2M", "Euler a", "LCM"])
def test_engine_matches_plain_pipeline_call(engine, tiny_model, scheduler):
    """Same pixels as diffusers itself, stochastic samplers included (the seed reaches them)."""
    request = _request(tiny_model, scheduler=scheduler, steps=6, guidance_scale=4.0)
    ours = np.asarray(_run(engine, request)[1].results[0].image)
    theirs = plain_pipeline_call(engine.load(request.model), request).images[0]
    assert np.array_equal(ours, np.asarray(theirs))


@pytest.mark.parametrize("trial", range(4))
def test_cancel_at_a_random_step_stops_within_one_step(engine, tiny_model, trial):
    rng = random.Random(trial)
    steps, count = 8, 2
    stop_image, stop_step = rng.randrange(count), rng.randint(1, steps)
    stop = CancelAt(stop_step, index=stop_image)
    final = engine.run(_request(tiny_model, steps=steps, count=count), stop, stop.cancel)
    events = stop.events
    assert isinstance(final, Cancelled)
    assert (final.at_index, final.at_step) == (stop_image, stop_step)
    after = events[
        events.index(next(e for e in events if isinstance(e, Step) and (e.index, e.step) == (stop_image, stop_step)))
        + 1 :
    ]
    assert not any(isinstance(e, Step) for e in after)
    done = [e for e in events if isinstance(e, ImageDone)]
    assert len(done) == stop_image == len(final.completed)


def test_cancel_before_start_runs_nothing(engine, tiny_model):
    events, final = _run(engine, _request(tiny_model), cancel=lambda: True)
    assert isinstance(final, Cancelled) and final.completed == ()
    assert not any(isinstance(e, Step) for e in events)


def test_bad_model_fails_with_a_message(engine, tmp_path):
    events, final = _run(engine, _request(tmp_path / "missing"))
    assert isinstance(final, Failed)
    assert "does not exist" in final.message
    assert [type(e) for e in events] == [Started, Failed]


def test_engine_keeps_working_after_a_failure(engine, tiny_model, tmp_path):
    _run(engine, _request(tmp_path / "missing"))
    assert isinstance(_run(engine, _request(tiny_model))[1], Finished)


def test_empty_prompt_makes_an_image(engine, tiny_model):
    assert isinstance(_run(engine, _request(tiny_model, prompt="", guidance_scale=5.0))[1], Finished)


def test_long_prompt_is_encoded_in_chunks(engine, short_prompt_model):
    """The text encoder reads 14 tokens; words past that still change the picture."""
    head = "a red house on the lake under the blue sky with a big old tree and"
    long_prompt = head + " a small dog in the dark night"
    request = _request(short_prompt_model, prompt=long_prompt, guidance_scale=7.0)
    _events, final = _run(engine, request)
    assert isinstance(final, Finished) and final.warnings == ()
    tokenizer = engine.load(str(short_prompt_model)).pipe.tokenizer
    assert len(tokenizer(long_prompt, add_special_tokens=False).input_ids) > 14
    truncated = tokenizer.decode(tokenizer(long_prompt, add_special_tokens=False).input_ids[:14])
    cut = _run(engine, request.replace(prompt=truncated))[1]
    assert not np.array_equal(np.asarray(final.results[0].image), np.asarray(cut.results[0].image))


def test_long_negative_prompt_too(engine, short_prompt_model):
    negative = "dark night " * 12
    final = _run(engine, _request(short_prompt_model, negative_prompt=negative, guidance_scale=3.0))[1]
    assert isinstance(final, Finished)


def test_nan_image_fails_with_a_readable_message(tiny_model):
    from studio.engine.runner import Engine

    own = Engine(device="cpu")
    model = own.load(str(tiny_model))
    with torch.no_grad():
        model.pipe.vae.decoder.conv_out.weight.fill_(float("nan"))
    final = own.run(_request(tiny_model))
    assert isinstance(final, Failed)
    assert "invalid image (NaN values)" in final.message
