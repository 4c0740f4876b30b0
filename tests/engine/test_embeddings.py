"""Textual-inversion embeddings named in the prompt, on real tiny models: SD (one tensor, one or
several vectors) and SDXL (clip_l / clip_g), the wrong family left out with a warning, pickles
refused, and an embedding loaded once per model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from studio.engine.embeddings import ensure, spelled
from studio.engine.events import Failed, Finished
from studio.engine.models import use_resource_finder
from studio.engine.request import GenerateRequest
from studio.engine.runner import Engine

WIDTH = 32  # the tiny models' text encoders


def vectors(count: int, seed: int, width: int = WIDTH) -> torch.Tensor:
    return torch.randn(count, width, generator=torch.Generator().manual_seed(seed))


def write(folder: Path, file_name: str, tensors: dict) -> Path:
    path = folder / file_name
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


@pytest.fixture
def shelf(tmp_path):
    """An embeddings folder the engine's resource finder reads (names match case-insensitively)."""
    folder = tmp_path / "embeddings"
    folder.mkdir()

    def finder(kind: str, name: str):
        if kind != "embeddings":
            return None
        for path in folder.iterdir():
            if path.name[: -len(path.suffix)].casefold() == name.casefold():
                return path, "0123456789ab"
        return None

    use_resource_finder(finder)
    yield folder
    use_resource_finder(None)


@pytest.fixture(scope="module")
def tiny_sdxl(tmp_path_factory):
    from studio.testing.tiny_model import make_tiny_sdxl_model

    return make_tiny_sdxl_model(tmp_path_factory.mktemp("models") / "sdxl", seed=2)


def request(model, prompt="a photo of mystyle", **changes):
    values: dict[str, Any] = dict(
        prompt=prompt, seed=5, steps=3, width=64, height=64, scheduler="Euler", guidance_scale=1.0, model=str(model)
    )
    values.update(changes)
    return GenerateRequest(**values)


def image(engine, req) -> np.ndarray:
    final = engine.run(req)
    assert isinstance(final, Finished), final
    return np.asarray(final.results[0].image)


def finished(engine, req) -> Finished:
    final = engine.run(req)
    assert isinstance(final, Finished), final
    return final


def test_an_embedding_word_changes_the_pixels(tiny_model, shelf):
    plain = image(Engine("cpu"), request(tiny_model))
    write(shelf, "mystyle.safetensors", {"emb_params": vectors(1, 1)})
    engine = Engine("cpu")
    used = image(engine, request(tiny_model))
    assert not np.array_equal(plain, used)
    # a prompt without the word is untouched by the embedding now loaded
    other = request(tiny_model, prompt="a photo of a cat")
    assert np.array_equal(image(Engine("cpu"), other), image(engine, other))


def test_an_embedding_in_the_negative_prompt_is_used_too(tiny_model, shelf):
    req = request(tiny_model, prompt="a lake", negative_prompt="mystyle, dark", guidance_scale=4.0)
    plain = image(Engine("cpu"), req)
    write(shelf, "mystyle.safetensors", {"emb_params": vectors(1, 2)})
    assert not np.array_equal(plain, image(Engine("cpu"), req))


def test_a_multi_vector_embedding_expands_to_all_its_vectors(tiny_model, shelf):
    write(shelf, "mystyle.safetensors", {"emb_params": vectors(3, 3)})
    engine = Engine("cpu")
    three = image(engine, request(tiny_model))
    model = engine.models.loaded
    assert model is not None
    tokenizer = model.pipe.tokenizer
    text = model.pipe.maybe_convert_prompt(spelled(model, "a photo of MyStyle"), tokenizer)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    added = [tokenizer.convert_tokens_to_ids(t) for t in ("mystyle", "mystyle_1", "mystyle_2")]
    assert ids[-3:] == added
    weights = model.pipe.text_encoder.get_input_embeddings().weight
    assert torch.equal(weights[added].detach(), vectors(3, 3))
    weighted = request(tiny_model, prompt="a photo of (MyStyle:1.3)")
    three_weighted = image(engine, weighted)
    # the same first vector alone draws something else: the other two were used, weighted or not
    (shelf / "mystyle.safetensors").unlink()
    write(shelf, "mystyle.safetensors", {"emb_params": vectors(3, 3)[:1]})
    one = Engine("cpu")
    assert not np.array_equal(three, image(one, request(tiny_model)))
    assert not np.array_equal(three_weighted, image(one, weighted))


def test_the_name_matches_in_any_case_as_words_only(tiny_model, shelf):
    write(shelf, "MyStyle.safetensors", {"emb_params": vectors(2, 4)})
    engine = Engine("cpu")
    lower = image(engine, request(tiny_model, prompt="a photo of mystyle"))
    upper = image(engine, request(tiny_model, prompt="a photo of MYSTYLE"))
    assert np.array_equal(lower, upper)
    model = engine.models.loaded
    assert model is not None
    assert spelled(model, "(MyStyle:1.2), mystyles, <lora:MyStyle:1>") == "(mystyle:1.2), mystyles, <lora:MyStyle:1>"
    # inside a longer word the embedding is not used
    assert np.array_equal(
        image(Engine("cpu"), request(tiny_model, prompt="a photo of xmystylex")),
        image(engine, request(tiny_model, prompt="a photo of xmystylex")),
    )


def test_an_sdxl_embedding_fills_both_encoders(tiny_sdxl, shelf):
    plain = image(Engine("cpu"), request(tiny_sdxl))
    clip_l, clip_g = vectors(2, 5), vectors(2, 6)
    write(shelf, "mystyle.safetensors", {"clip_l": clip_l, "clip_g": clip_g})
    engine = Engine("cpu")
    used = image(engine, request(tiny_sdxl))
    assert not np.array_equal(plain, used)
    pipe = engine.models.loaded.pipe  # pyright: ignore[reportOptionalMemberAccess]
    for tokenizer, encoder, expected in (
        (pipe.tokenizer, pipe.text_encoder, clip_l),
        (pipe.tokenizer_2, pipe.text_encoder_2, clip_g),
    ):
        ids = [tokenizer.convert_tokens_to_ids(t) for t in ("mystyle", "mystyle_1")]
        assert torch.equal(encoder.get_input_embeddings().weight[ids].detach(), expected)


@pytest.mark.parametrize(
    ("tensors", "words"),
    [
        ({"clip_l": vectors(1, 7), "clip_g": vectors(1, 8)}, ("SDXL",)),
        ({"emb_params": vectors(1, 9, width=768)}, ("SD 1.x",)),
        ({"emb_params": vectors(1, 9, width=48)}, ("48",)),
    ],
)
def test_an_embedding_for_another_family_is_left_out_with_a_warning(tiny_model, shelf, tensors, words):
    plain = image(Engine("cpu"), request(tiny_model))
    write(shelf, "mystyle.safetensors", tensors)
    engine = Engine("cpu")
    final = finished(engine, request(tiny_model))
    assert np.array_equal(plain, np.asarray(final.results[0].image))
    (warning,) = final.warnings
    assert "mystyle" in warning and "left out" in warning and "32 wide" in warning
    for word in words:
        assert word in warning
    assert finished(engine, request(tiny_model)).warnings == final.warnings  # said on every job that names it
    assert finished(engine, request(tiny_model, prompt="a lake")).warnings == ()


def test_an_sd_embedding_on_sdxl_is_left_out_naming_both_families(tiny_sdxl, shelf):
    write(shelf, "mystyle.safetensors", {"emb_params": vectors(1, 10)})
    final = finished(Engine("cpu"), request(tiny_sdxl))
    (warning,) = final.warnings
    assert "SDXL" in warning and "clip_l" in warning and "mystyle" in warning


def test_a_pickled_embedding_is_refused_with_the_convert_command(tiny_model, shelf):
    torch.save({"string_to_param": {"*": vectors(1, 11)}}, shelf / "mystyle.pt")
    final = Engine("cpu").run(request(tiny_model))
    assert isinstance(final, Failed)
    assert "studio models convert" in final.message and "mystyle.pt" in final.message


def test_a_converted_automatic1111_embedding_is_read(tiny_model, shelf):
    write(shelf, "mystyle.safetensors", {"string_to_param.*": vectors(2, 12), "string_to_token.*": torch.tensor([265])})
    engine = Engine("cpu")
    finished(engine, request(tiny_model))
    model = engine.models.loaded
    assert model is not None
    ids = [model.pipe.tokenizer.convert_tokens_to_ids(t) for t in ("mystyle", "mystyle_1")]
    assert torch.equal(model.pipe.text_encoder.get_input_embeddings().weight[ids].detach(), vectors(2, 12))


def test_a_damaged_embedding_fails_with_one_line(tiny_model, shelf):
    (shelf / "mystyle.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    final = Engine("cpu").run(request(tiny_model))
    assert isinstance(final, Failed)
    assert "mystyle.safetensors" in final.message and "\n" not in final.message


def test_embeddings_stay_loaded_between_jobs(tiny_model, shelf):
    write(shelf, "mystyle.safetensors", {"emb_params": vectors(2, 13)})
    engine = Engine("cpu")
    first = image(engine, request(tiny_model))
    model = engine.models.loaded
    assert model is not None
    weight = model.pipe.text_encoder.get_input_embeddings().weight
    size = len(model.pipe.tokenizer)
    assert ensure(model, ["mystyle"]) == ()
    second = image(engine, request(tiny_model, negative_prompt="mystyle"))
    assert model.pipe.text_encoder.get_input_embeddings().weight is weight  # never resized again
    assert len(model.pipe.tokenizer) == size
    assert np.array_equal(first, image(engine, request(tiny_model)))
    assert second.shape == first.shape


def test_a_changed_or_removed_embedding_is_loaded_again_or_dropped(tiny_model, shelf):
    write(shelf, "mystyle.safetensors", {"emb_params": vectors(1, 14)})
    engine = Engine("cpu")
    image(engine, request(tiny_model))
    model = engine.models.loaded
    assert model is not None
    (shelf / "mystyle.safetensors").unlink()
    write(shelf, "mystyle.safetensors", {"emb_params": vectors(2, 15)})
    changed = image(engine, request(tiny_model))
    ids = [model.pipe.tokenizer.convert_tokens_to_ids(t) for t in ("mystyle", "mystyle_1")]
    assert torch.equal(model.pipe.text_encoder.get_input_embeddings().weight[ids].detach(), vectors(2, 15))
    assert np.array_equal(changed, image(Engine("cpu"), request(tiny_model)))
    (shelf / "mystyle.safetensors").unlink()
    plain = image(Engine("cpu"), request(tiny_model))
    assert np.array_equal(plain, image(engine, request(tiny_model)))


def test_an_outpaint_uses_the_embedding_too(tiny_model, shelf):
    from studio.engine.edit import EditRequest, extend_canvas

    source = np.full((64, 64, 3), 90, np.uint8)
    canvas, mask = extend_canvas(source, 0, 0, 32, 0)

    def outpaint(engine):
        edit = EditRequest(request(tiny_model, steps=2), canvas, mask, extend=(0, 0, 32, 0))
        final = engine.run_edit(edit)
        assert isinstance(final, Finished), final
        return np.asarray(final.results[0].image)

    plain = outpaint(Engine("cpu"))
    write(shelf, "mystyle.safetensors", {"emb_params": vectors(1, 16)})
    assert not np.array_equal(plain, outpaint(Engine("cpu")))
