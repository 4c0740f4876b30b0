"""Prompt weights applied to the token embeddings as AUTOMATIC1111 applies them, on the tiny
real models (SD and SDXL).

How "a prompt without weights encodes exactly as before" is kept honest: `_old_*` below is
a verbatim copy of Studio's prompt encoding as it was before weights existed (commit
f569e90, studio/engine/prompts.py), frozen here. Prompts without weights are compared with
it bit for bit: the same strings handed to the pipeline for prompts that fit, the same
tensors (torch.equal) for long ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from studio.engine.events import Finished
from studio.engine.prompts import prepare_prompts
from studio.engine.request import GenerateRequest

# ---- the encoding before weights, frozen (see the module docstring) ----

_OLD_COMMA_LOOKBACK = 20


def _old_token_ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]


def _old_prepare_prompts(pipe, prompt, negative, device) -> dict[str, Any]:
    tokenizer = pipe.tokenizer
    limit = tokenizer.model_max_length - 2
    ids = _old_token_ids(tokenizer, prompt)
    negative_ids = _old_token_ids(tokenizer, negative)
    if len(ids) <= limit and len(negative_ids) <= limit:
        return {"prompt": prompt, "negative_prompt": negative}
    comma = tokenizer.convert_tokens_to_ids(",</w>")
    chunks = _old_split_chunks(ids, limit, comma)
    negative_chunks = _old_split_chunks(negative_ids, limit, comma)
    count = max(len(chunks), len(negative_chunks))
    chunks += [[]] * (count - len(chunks))
    negative_chunks += [[]] * (count - len(negative_chunks))
    if getattr(pipe, "text_encoder_2", None) is None:
        return {
            "prompt_embeds": _old_encode(pipe, chunks, device),
            "negative_prompt_embeds": _old_encode(pipe, negative_chunks, device),
        }
    embeds, pooled = _old_encode_two(pipe, chunks, device)
    negative_embeds, negative_pooled = _old_encode_two(pipe, negative_chunks, device)
    return {
        "prompt_embeds": embeds,
        "negative_prompt_embeds": negative_embeds,
        "pooled_prompt_embeds": pooled,
        "negative_pooled_prompt_embeds": negative_pooled,
    }


def _old_split_chunks(ids, limit, comma=None):
    chunks = []
    rest = list(ids)
    while len(rest) > limit:
        cut = limit
        window = rest[:limit]
        if comma is not None and comma in window[limit - _OLD_COMMA_LOOKBACK :]:
            cut = limit - window[::-1].index(comma)
        chunks.append(rest[:cut])
        rest = rest[cut:]
    chunks.append(rest)
    return chunks


def _old_rows(tokenizer, chunks, device):
    limit = tokenizer.model_max_length - 2
    rows = [
        [tokenizer.bos_token_id, *chunk, tokenizer.eos_token_id] + [tokenizer.pad_token_id] * (limit - len(chunk))
        for chunk in chunks
    ]
    return torch.tensor(rows, dtype=torch.long, device=device)


def _old_encode(pipe, chunks, device):
    with torch.no_grad():
        hidden = pipe.text_encoder(_old_rows(pipe.tokenizer, chunks, device))[0]
    return hidden.reshape(1, -1, hidden.shape[-1])


def _old_encode_two(pipe, chunks, device):
    hidden = []
    with torch.no_grad():
        for tokenizer, encoder in ((pipe.tokenizer, pipe.text_encoder), (pipe.tokenizer_2, pipe.text_encoder_2)):
            output = encoder(_old_rows(tokenizer, chunks, device), output_hidden_states=True)
            hidden.append(output.hidden_states[-2])
        pooled = output[0][:1]
    joined = torch.cat(hidden, dim=-1)
    return joined.reshape(1, -1, joined.shape[-1]), pooled


# ---- fixtures and helpers ----


@pytest.fixture(scope="module")
def sdxl_model(tmp_path_factory):
    from studio.testing.tiny_model import make_tiny_sdxl_model

    return make_tiny_sdxl_model(tmp_path_factory.mktemp("models") / "sdxl", seed=2)


@pytest.fixture(scope="module")
def short_sdxl_model(tmp_path_factory):
    from studio.testing.tiny_model import make_tiny_sdxl_model

    return make_tiny_sdxl_model(tmp_path_factory.mktemp("models") / "sdxl-short", seed=4, max_length=16)


def _pipe(engine, model):
    return engine.load(str(model)).pipe


def _request(model, **changes):
    values: dict[str, Any] = dict(
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


def _pixels(engine, request) -> np.ndarray:
    final = engine.run(request)
    assert isinstance(final, Finished), final
    return np.asarray(final.results[0].image)


def _plain_embeds(pipe, text):
    """The pipeline's own encoding of `text` (one window, no weights)."""
    return pipe.encode_prompt(text, device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=False)[0]


def _plain_sdxl(pipe, text):
    embeds, _, pooled, _ = pipe.encode_prompt(text, device="cpu", do_classifier_free_guidance=False)
    return embeds, pooled


def _token_weights(length: int, weighted: dict[int, float]) -> torch.Tensor:
    weights = torch.ones(length)
    for position, weight in weighted.items():
        weights[position] = weight
    return weights


def _assert_weighted(weighted, plain, token_weights):
    """`weighted` is `plain` with each token scaled by its weight, then the whole rescaled
    to the mean it had (AUTOMATIC1111's way), and its mean is the plain one's."""
    scaled = plain * token_weights[None, :, None]
    expected = scaled * (plain.mean() / scaled.mean())
    torch.testing.assert_close(weighted, expected)
    torch.testing.assert_close(weighted.mean(), plain.mean())
    assert not torch.allclose(weighted, plain)


def _positions(pipe, text, word):
    """Where `word`'s tokens sit in the encoder's row for `text` (after the start token)."""
    ids = pipe.tokenizer(text, add_special_tokens=False)["input_ids"]
    word_ids = pipe.tokenizer(word, add_special_tokens=False)["input_ids"]
    start = next(i for i in range(len(ids)) if ids[i : i + len(word_ids)] == word_ids)
    return range(1 + start, 1 + start + len(word_ids))


LONG = "a red house on the lake under the blue sky with a big old tree and a small dog in the dark night"
LONG_COMMAS = "a red house, on the lake, under the blue sky, with a big old tree, and a small dog, in the dark night"


# ---- without weights: exactly as before ----


@pytest.mark.parametrize(
    ("prompt", "negative"), [("a red house", ""), ("", ""), ("a red house, blue sky", "dark night, old")]
)
def test_prompts_without_weights_reach_the_pipeline_as_before(engine, tiny_model, sdxl_model, prompt, negative):
    for model in (tiny_model, sdxl_model):
        pipe = _pipe(engine, model)
        assert prepare_prompts(pipe, prompt, negative, "cpu").kwargs == _old_prepare_prompts(
            pipe, prompt, negative, "cpu"
        )


@pytest.mark.parametrize(
    ("prompt", "negative"),
    [(LONG, ""), (LONG_COMMAS, "dark night"), ("a red house", LONG), (LONG + " " + LONG_COMMAS, LONG_COMMAS)],
)
def test_long_prompts_without_weights_are_bit_identical(engine, short_prompt_model, short_sdxl_model, prompt, negative):
    for model in (short_prompt_model, short_sdxl_model):
        pipe = _pipe(engine, model)
        new = prepare_prompts(pipe, prompt, negative, "cpu")
        old = _old_prepare_prompts(pipe, prompt, negative, "cpu")
        assert new.warnings == ()
        assert new.kwargs.keys() == old.keys()
        for key, tensor in old.items():
            assert torch.equal(new.kwargs[key], tensor), key


def test_weight_one_gives_the_same_pixels_as_no_weight(engine, tiny_model):
    plain = _pixels(engine, _request(tiny_model, prompt="a red house", negative_prompt="dark night"))
    ones = _pixels(engine, _request(tiny_model, prompt="a (red:1.0) house", negative_prompt="(dark night:1.0)"))
    assert np.array_equal(plain, ones)
    louder = _pixels(engine, _request(tiny_model, prompt="a (red:1.5) house", negative_prompt="dark night"))
    assert not np.array_equal(plain, louder)


def test_weight_one_in_a_long_prompt_changes_nothing(engine, short_prompt_model):
    pipe = _pipe(engine, short_prompt_model)
    new = prepare_prompts(pipe, LONG.replace("small dog", "(small dog:1.0)"), "", "cpu").kwargs
    old = _old_prepare_prompts(pipe, LONG, "", "cpu")
    assert torch.equal(new["prompt_embeds"], old["prompt_embeds"])


def test_weights_are_encoded_by_studio_as_the_pipeline_encodes_plain_text(engine, tiny_model):
    """A weighted negative sends both prompts down Studio's own encoding; the positive one,
    all weights 1, comes out as the pipeline's own encoding of it."""
    pipe = _pipe(engine, tiny_model)
    kwargs = prepare_prompts(pipe, "a red house", "(dark:1.5) night", "cpu").kwargs
    torch.testing.assert_close(kwargs["prompt_embeds"], _plain_embeds(pipe, "a red house"), rtol=0, atol=1e-6)


def test_lora_tags_are_not_encoded(engine, tiny_model, short_prompt_model):
    pipe = _pipe(engine, tiny_model)
    kwargs = prepare_prompts(pipe, "a red house <lora:watercolor:0.7>", "<lora:x>dark", "cpu").kwargs
    assert kwargs == {"prompt": "a red house ", "negative_prompt": "dark"}
    short = _pipe(engine, short_prompt_model)
    new = prepare_prompts(short, "<lora:watercolor:0.7>" + LONG, "", "cpu").kwargs
    assert torch.equal(new["prompt_embeds"], _old_prepare_prompts(short, LONG, "", "cpu")["prompt_embeds"])


# ---- with weights ----


@pytest.mark.parametrize(("written", "weight"), [("(red:1.5)", 1.5), ("((red))", 1.1 * 1.1), ("[red]", 1 / 1.1)])
def test_a_weight_scales_its_tokens_then_the_mean_is_restored(engine, tiny_model, written, weight):
    pipe = _pipe(engine, tiny_model)
    weighted = prepare_prompts(pipe, f"a {written} house", "", "cpu").kwargs["prompt_embeds"]
    plain = _plain_embeds(pipe, "a red house")
    assert weighted.shape == plain.shape == (1, 77, 32)
    positions = _positions(pipe, "a red house", "red")
    _assert_weighted(weighted, plain, _token_weights(77, {position: weight for position in positions}))


def test_the_negative_prompt_is_weighted_too(engine, tiny_model):
    pipe = _pipe(engine, tiny_model)
    negative = prepare_prompts(pipe, "a red house", "(dark:0.5) night", "cpu").kwargs["negative_prompt_embeds"]
    plain = _plain_embeds(pipe, "dark night")
    _assert_weighted(
        negative, plain, _token_weights(77, {position: 0.5 for position in _positions(pipe, "dark night", "dark")})
    )


def test_break_starts_a_new_chunk(engine, tiny_model):
    pipe = _pipe(engine, tiny_model)
    kwargs = prepare_prompts(pipe, "a red house BREAK blue sky", "dark", "cpu").kwargs
    embeds = kwargs["prompt_embeds"]
    assert embeds.shape == kwargs["negative_prompt_embeds"].shape == (1, 2 * 77, 32)
    torch.testing.assert_close(embeds[:, :77], _plain_embeds(pipe, "a red house"))
    torch.testing.assert_close(embeds[:, 77:], _plain_embeds(pipe, "blue sky"))
    torch.testing.assert_close(kwargs["negative_prompt_embeds"][:, :77], _plain_embeds(pipe, "dark"))
    torch.testing.assert_close(kwargs["negative_prompt_embeds"][:, 77:], _plain_embeds(pipe, ""))
    # as AUTOMATIC1111: a BREAK at the end adds nothing, one at the start an empty chunk
    assert prepare_prompts(pipe, "a red house BREAK", "", "cpu").kwargs["prompt_embeds"].shape == (1, 77, 32)
    assert prepare_prompts(pipe, "BREAK a red house", "", "cpu").kwargs["prompt_embeds"].shape == (1, 2 * 77, 32)
    assert prepare_prompts(pipe, "a BREAK BREAK red", "", "cpu").kwargs["prompt_embeds"].shape == (1, 3 * 77, 32)


def test_a_long_weighted_prompt_keeps_its_windows(engine, short_prompt_model):
    pipe = _pipe(engine, short_prompt_model)
    weighted = prepare_prompts(pipe, LONG.replace("small dog", "(small dog:1.4)"), "", "cpu").kwargs
    plain = _old_prepare_prompts(pipe, LONG, "", "cpu")["prompt_embeds"]
    assert weighted["prompt_embeds"].shape == plain.shape == (1, 2 * 16, 32)
    ids = pipe.tokenizer(LONG, add_special_tokens=False)["input_ids"]
    second = ids[14:]
    dog = pipe.tokenizer("small dog", add_special_tokens=False)["input_ids"]
    start = next(i for i in range(len(second)) if second[i : i + 2] == dog)
    torch.testing.assert_close(weighted["prompt_embeds"][:, :16], plain[:, :16], rtol=0, atol=0)
    token_weights = _token_weights(16, {1 + start: 1.4, 2 + start: 1.4})
    _assert_weighted(weighted["prompt_embeds"][:, 16:], plain[:, 16:], token_weights)


def test_sdxl_weights_both_encoders_and_keeps_the_pooled_embedding(engine, sdxl_model):
    pipe = _pipe(engine, sdxl_model)
    kwargs = prepare_prompts(pipe, "a (red:1.5) house", "[dark] night", "cpu").kwargs
    plain, plain_pooled = _plain_sdxl(pipe, "a red house")
    token_weights = _token_weights(77, {position: 1.5 for position in _positions(pipe, "a red house", "red")})
    for half in (slice(0, 32), slice(32, 64)):
        _assert_weighted(kwargs["prompt_embeds"][..., half], plain[..., half], token_weights)
    torch.testing.assert_close(kwargs["pooled_prompt_embeds"], plain_pooled, rtol=0, atol=0)
    negative, negative_pooled = _plain_sdxl(pipe, "dark night")
    token_weights = _token_weights(77, {position: 1 / 1.1 for position in _positions(pipe, "dark night", "dark")})
    for half in (slice(0, 32), slice(32, 64)):
        _assert_weighted(kwargs["negative_prompt_embeds"][..., half], negative[..., half], token_weights)
    torch.testing.assert_close(kwargs["negative_pooled_prompt_embeds"], negative_pooled, rtol=0, atol=0)


def test_sdxl_weight_one_gives_the_same_pixels(engine, sdxl_model):
    plain = _pixels(engine, _request(sdxl_model, prompt="a red house"))
    assert np.array_equal(plain, _pixels(engine, _request(sdxl_model, prompt="a (red house:1.0)")))
    assert not np.array_equal(plain, _pixels(engine, _request(sdxl_model, prompt="a (red house:1.3)")))


def test_textual_inversion_vectors_carry_their_piece_weight():
    """A two-vector embedding written in brackets: both of its tokens get the weight."""
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline

    from studio.testing.tiny_model import build_tiny_components

    pipe = StableDiffusionPipeline(
        **build_tiny_components(seed=6),
        safety_checker=None,  # pyright: ignore[reportArgumentType]
        feature_extractor=None,  # pyright: ignore[reportArgumentType]
        requires_safety_checker=False,
    )
    pipe.load_textual_inversion({"<toy>": torch.randn(2, 32, generator=torch.Generator().manual_seed(0))})
    weighted = prepare_prompts(pipe, "a (<toy>:1.5) house", "", "cpu").kwargs["prompt_embeds"]
    plain = _plain_embeds(pipe, "a <toy> house")
    toy = pipe.tokenizer.convert_tokens_to_ids(["<toy>", "<toy>_1"])
    row = pipe.tokenizer(pipe.maybe_convert_prompt("a <toy> house", pipe.tokenizer))["input_ids"]
    positions = [row.index(toy[0]), row.index(toy[1])]
    assert positions == [2, 3]
    _assert_weighted(weighted, plain, _token_weights(77, {position: 1.5 for position in positions}))


def test_weights_are_dropped_with_a_warning_where_studio_cannot_encode():
    """An SDXL pipeline whose second tokenizer reads another length: the words are used, the
    weights cannot be, and the person is told."""
    from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import StableDiffusionXLPipeline

    from studio.testing.tiny_model import build_tiny_components, build_tiny_sdxl_components

    components = build_tiny_sdxl_components(seed=7)
    other = build_tiny_components(seed=8, max_length=16)["tokenizer"]
    pipe = StableDiffusionXLPipeline(**{**components, "tokenizer_2": other})
    prepared = prepare_prompts(pipe, "a (red:1.5) house", "dark BREAK night", "cpu")
    assert prepared.kwargs == {"prompt": "a red house", "negative_prompt": "dark  night"}
    assert len(prepared.warnings) == 1 and "weights" in prepared.warnings[0]
    assert prepare_prompts(pipe, "a red house", "", "cpu").warnings == ()


def test_an_outpaint_takes_weights_too(engine, tiny_model):
    from studio.engine.edit import EditRequest, extend_canvas

    source = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    canvas, mask = extend_canvas(source, 0, 0, 32, 0)
    outputs = []
    for prompt in ("a red house", "a (red:1.0) house", "a (red:1.6) house BREAK sky"):
        request = EditRequest(_request(tiny_model, prompt=prompt), canvas, mask, extend=(0, 0, 32, 0))
        final = engine.run_edit(request)
        assert isinstance(final, Finished) and final.warnings == (), final
        outputs.append(np.asarray(final.results[0].image))
    assert np.array_equal(outputs[0], outputs[1])
    assert not np.array_equal(outputs[0], outputs[2])
