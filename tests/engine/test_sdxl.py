"""SDXL through the engine, on a tiny real StableDiffusionXLPipeline: generation as diffusers
makes it, long prompts encoded window by window with both encoders, and outpainting."""

import numpy as np
import pytest
import torch

from studio.engine.edit import EditRequest, extend_canvas
from studio.engine.events import Finished, Preview
from studio.engine.prompts import _encode_two, prepare_prompts, token_ids
from studio.engine.request import GenerateRequest
from studio.testing.reference import plain_pipeline_call


@pytest.fixture(scope="module")
def sdxl_model(tmp_path_factory):
    from studio.testing.tiny_model import make_tiny_sdxl_model

    return make_tiny_sdxl_model(tmp_path_factory.mktemp("models") / "sdxl", seed=2)


@pytest.fixture(scope="module")
def short_sdxl_model(tmp_path_factory):
    """Its encoders read 16 tokens, so an ordinary sentence is a long prompt."""
    from studio.testing.tiny_model import make_tiny_sdxl_model

    return make_tiny_sdxl_model(tmp_path_factory.mktemp("models") / "sdxl-short", seed=4, max_length=16)


def _request(model, **changes):
    values = dict(
        prompt="a red house",
        seed=3,
        steps=4,
        width=64,
        height=64,
        scheduler="Euler",
        guidance_scale=4.0,
        model=str(model),
    )
    values.update(changes)
    return GenerateRequest(**values)


def test_sdxl_is_recognised_and_matches_the_plain_pipeline_call(engine, sdxl_model):
    request = _request(sdxl_model)
    model = engine.load(request.model)
    assert model.info.family == "sdxl"
    events = []
    final = engine.run(request, events.append)
    assert isinstance(final, Finished), final
    assert sum(isinstance(e, Preview) for e in events) == request.steps
    theirs = plain_pipeline_call(model, request).images[0]
    assert np.array_equal(np.asarray(final.results[0].image), np.asarray(theirs))


def test_one_window_encodes_as_the_sdxl_pipeline_does(engine, sdxl_model):
    pipe = engine.load(str(sdxl_model)).pipe
    prompt = "a photo of a cat under the blue sky"
    embeds, pooled = _encode_two(pipe, [token_ids(pipe.tokenizer, prompt)], "cpu")
    theirs, _, theirs_pooled, _ = pipe.encode_prompt(prompt, device="cpu", do_classifier_free_guidance=False)
    torch.testing.assert_close(embeds, theirs)
    torch.testing.assert_close(pooled, theirs_pooled)


def test_long_prompt_is_encoded_in_windows_by_both_encoders(engine, short_sdxl_model):
    head = "a red house on the lake under the blue sky with a big old tree and"
    long_prompt = head + " a small dog in the dark night"
    model = engine.load(str(short_sdxl_model))
    tokenizer = model.pipe.tokenizer
    ids = token_ids(tokenizer, long_prompt)
    assert len(ids) > 14
    prepared = prepare_prompts(model.pipe, long_prompt, "dark night", "cpu")
    assert prepared.warnings == ()
    windows = 2
    assert prepared.kwargs["prompt_embeds"].shape == (1, 16 * windows, 64)
    assert prepared.kwargs["negative_prompt_embeds"].shape == (1, 16 * windows, 64)
    assert prepared.kwargs["pooled_prompt_embeds"].shape == (1, 32)

    request = _request(short_sdxl_model, prompt=long_prompt)
    final = engine.run(request)
    assert isinstance(final, Finished) and final.warnings == ()
    cut = engine.run(request.replace(prompt=tokenizer.decode(ids[:14])))
    assert not np.array_equal(np.asarray(final.results[0].image), np.asarray(cut.results[0].image))


def test_sdxl_outpaints_and_keeps_the_old_picture(engine, sdxl_model):
    source = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    canvas, mask = extend_canvas(source, 0, 0, 32, 0)
    request = EditRequest(_request(sdxl_model, count=1), canvas, mask, extend=(0, 0, 32, 0))
    final = engine.run_edit(request)
    assert isinstance(final, Finished), final
    out = np.asarray(final.results[0].image)
    assert out.shape == (64, 96, 3)
    assert np.array_equal(out[:, :48], source[:, :48])
    assert out[:, 64:].std() > 0
