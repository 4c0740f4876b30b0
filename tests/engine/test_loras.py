"""LoRAs from the prompt (<lora:NAME:WEIGHT>) on tiny real models, with tiny LoRA files made here
in both layouts (diffusers/PEFT and kohya-ss/AUTOMATIC1111), found through the models library."""

from __future__ import annotations

import numpy as np
import pytest

from studio.engine.events import Failed, Finished
from studio.engine.loras import activate
from studio.engine.models import use_resource_finder
from studio.engine.request import GenerateRequest
from studio.engine.runner import Engine
from studio.library.catalog import Library
from studio.library.resources import resource_finder
from studio.paths import model_kind_dir
from studio.testing.tiny_lora import lora_tensors, summed, write_lora
from studio.testing.tiny_model import make_tiny_sdxl_model

RANK = 4


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def loras(data):
    return model_kind_dir(data, "loras")


@pytest.fixture(scope="module", autouse=True)
def finder(data):
    found = resource_finder(Library(data))
    use_resource_finder(found)
    yield found
    use_resource_finder(None)
    found.close()


@pytest.fixture(scope="module")
def engine():
    return Engine(device="cpu")


@pytest.fixture(scope="module")
def sd_pairs(tiny_model):
    """Two LoRAs for the tiny SD model (UNet and text encoder), built on a fresh copy of it."""
    fresh = Engine(device="cpu").load(str(tiny_model)).pipe
    return lora_tensors(fresh, rank=RANK, seed=1), lora_tensors(fresh, rank=RANK, seed=2)


@pytest.fixture(scope="module")
def sd_files(sd_pairs, loras):
    a, b = sd_pairs
    write_lora(a, loras / "styleA.safetensors")
    # The same LoRA in kohya's layout with alpha = rank / 2 (scale 0.5) and its up matrices doubled.
    write_lora(
        {k: (down, up * 2) for k, (down, up) in a.items()}, loras / "styleA-kohya.safetensors", "kohya", RANK / 2
    )
    write_lora(b, loras / "styleB.safetensors", "kohya")
    write_lora(summed([(a, 0.7), (b, 0.4)]), loras / "A07B04.safetensors")
    write_lora({k: v for k, v in a.items() if k[0] == "text_encoder"}, loras / "words-only.safetensors", "kohya")
    return loras


@pytest.fixture(scope="module")
def sdxl_model(tmp_path_factory):
    return make_tiny_sdxl_model(tmp_path_factory.mktemp("models") / "xl")


@pytest.fixture(scope="module")
def sdxl_files(sdxl_model, loras):
    fresh = Engine(device="cpu").load(str(sdxl_model)).pipe
    pairs = lora_tensors(fresh, rank=RANK, seed=3)
    write_lora(pairs, loras / "xl-kohya.safetensors", "kohya")
    write_lora(pairs, loras / "xl-diffusers.safetensors")
    write_lora({k: v for k, v in pairs.items() if k[0] == "unet"}, loras / "xl-unet-only.safetensors")
    return loras


def _request(model, prompt, **changes):
    values: dict = dict(
        prompt=prompt,
        negative_prompt="dark",
        seed=5,
        steps=3,
        width=64,
        height=64,
        scheduler="Euler",
        guidance_scale=4.0,
        model=str(model),
    )
    values.update(changes)
    return GenerateRequest(**values)


def _run(engine, model, prompt, **changes):
    final = engine.run(_request(model, prompt, **changes), previews=False)
    assert isinstance(final, Finished), final
    return final.results[0]


def _pixels(engine, model, prompt, **changes) -> np.ndarray:
    return np.asarray(_run(engine, model, prompt, **changes).image).astype(int)


def _fresh_pixels(model, prompt, **changes) -> np.ndarray:
    return _pixels(Engine(device="cpu"), model, prompt, **changes)


def _failure(engine, model, prompt) -> str:
    final = engine.run(_request(model, prompt), previews=False)
    assert isinstance(final, Failed), final
    return final.message


def test_weight_zero_gives_the_pixels_of_no_lora(engine, tiny_model, sd_files):
    plain = _pixels(engine, tiny_model, "a red cat")
    assert np.array_equal(_pixels(engine, tiny_model, "a red cat <lora:styleA:0>"), plain)
    assert np.array_equal(_pixels(engine, tiny_model, "a red cat <lora:styleA:0> <lora:styleB:0.0>"), plain)


@pytest.mark.parametrize("name", ["styleA", "styleA-kohya", "styleB", "words-only"])
def test_weight_one_changes_the_pixels(engine, tiny_model, sd_files, name):
    plain = _pixels(engine, tiny_model, "a red cat")
    changed = _pixels(engine, tiny_model, f"a red cat <lora:{name}:1>")
    assert np.abs(changed - plain).max() > 10


def test_both_layouts_of_one_lora_draw_the_same(engine, tiny_model, sd_files):
    diffusers = _pixels(engine, tiny_model, "a red cat <lora:styleA:0.8>")
    kohya = _pixels(engine, tiny_model, "a red cat <lora:styleA-kohya:0.8>")
    assert np.abs(diffusers - kohya).max() <= 1


def test_two_loras_at_once_equal_their_sum_in_one_file(engine, tiny_model, sd_files):
    both = _pixels(engine, tiny_model, "a red cat <lora:styleA:0.7> <lora:styleB:0.4>")
    merged = _pixels(engine, tiny_model, "a red cat <lora:A07B04:1>")
    only_a = _pixels(engine, tiny_model, "a red cat <lora:styleA:0.7>")
    assert np.abs(both - merged).max() <= 2
    assert np.abs(both - only_a).max() > 10  # the second one counts


def test_a_negative_prompt_tag_counts_too(engine, tiny_model, sd_files):
    in_prompt = _pixels(engine, tiny_model, "a red cat <lora:styleA:0.6>")
    in_negative = _pixels(engine, tiny_model, "a red cat", negative_prompt="dark <lora:styleA:0.6>")
    assert np.array_equal(in_prompt, in_negative)


def test_no_lora_leaks_into_the_next_job(engine, tiny_model, sd_files):
    fresh = _fresh_pixels(tiny_model, "a red cat")
    with_lora = _pixels(engine, tiny_model, "a red cat <lora:styleA:1> <lora:words-only:0.5>")
    assert np.abs(with_lora - fresh).max() > 10
    assert np.array_equal(_pixels(engine, tiny_model, "a red cat"), fresh)


def test_new_weights_load_nothing_and_keep_the_base_model(engine, tiny_model, sd_files):
    model = engine.load(str(tiny_model))
    unet, encoder = model.pipe.unet, model.pipe.text_encoder
    _run(engine, tiny_model, "a cat <lora:styleA:0.3>")
    adapters = dict(model.loras)
    for weight in (0.5, 1.0, 0.2):
        _run(engine, tiny_model, f"a cat <lora:styleA:{weight}>")
    assert model.loras == adapters  # the same adapter, never loaded again
    assert engine.load(str(tiny_model)) is model
    assert model.pipe.unet is unet and model.pipe.text_encoder is encoder
    at_half = _pixels(engine, tiny_model, "a red cat <lora:styleA:0.5>")
    assert np.array_equal(at_half, _fresh_pixels(tiny_model, "a red cat <lora:styleA:0.5>"))


def test_a_changed_file_is_loaded_again(engine, tiny_model, sd_pairs, loras):
    a, b = sd_pairs
    path = write_lora(a, loras / "changing.safetensors")
    model = engine.load(str(tiny_model))
    first = _pixels(engine, tiny_model, "a red cat <lora:changing>")
    before = {key for key in model.loras if key[0] == str(path.resolve())}
    write_lora(b, path)
    second = _pixels(engine, tiny_model, "a red cat <lora:changing>")
    after = {key for key in model.loras if key[0] == str(path.resolve())}
    assert len(before) == len(after) == 1 and before != after  # the old adapter is gone
    assert not np.array_equal(first, second)
    assert np.array_equal(second, _pixels(engine, tiny_model, "a red cat <lora:styleB>"))


def test_the_least_recently_used_adapters_are_deleted(tiny_model, sd_pairs, loras):
    model = Engine(device="cpu").load(str(tiny_model))
    a, _ = sd_pairs
    for number in range(4):
        write_lora(a, loras / f"many{number}.safetensors")
    for number in range(4):
        activate(model, [(f"many{number}", 1.0)], kept=2)
    kept = {key[0].rsplit("/", 1)[-1] for key in model.loras}
    assert kept == {"many2.safetensors", "many3.safetensors"}
    listed = {name for names in model.pipe.get_list_adapters().values() for name in names}
    assert listed == set(model.loras.values())


def test_an_unknown_name_is_refused_naming_it(engine, tiny_model, sd_files, loras):
    message = _failure(engine, tiny_model, "a cat <lora:nosuch:0.5>")
    assert "no LoRA named 'nosuch'" in message and str(loras) in message


def test_a_lora_for_another_family_is_refused_before_anything_loads(engine, tiny_model, sdxl_model, sdxl_files):
    model = engine.load(str(tiny_model))
    _run(engine, tiny_model, "a cat <lora:styleA>")
    loaded = dict(model.loras)
    for name in ("xl-kohya", "xl-diffusers"):  # SDXL by their second text encoder's weights
        message = _failure(engine, tiny_model, f"a cat <lora:styleA> <lora:{name}:0.5>")
        assert f"LoRA '{name}' is for SDXL" in message
        assert "32 wide" in message  # the tiny SD model's family, by its cross-attention width
    message = _failure(engine, tiny_model, "a cat <lora:styleA> <lora:xl-unet-only:0.5>")  # by its width alone
    assert "LoRA 'xl-unet-only' is for a model whose cross-attention is 64 wide" in message and "32 wide" in message
    assert model.loras == loaded
    message = _failure(engine, sdxl_model, "a cat <lora:styleA>")
    assert "LoRA 'styleA' is for a model whose cross-attention is 32 wide" in message and "SDXL" in message


@pytest.mark.parametrize("name", ["xl-kohya", "xl-diffusers"])
def test_sdxl_loras_work_on_sdxl_in_both_layouts(engine, sdxl_model, sdxl_files, name):
    plain = _pixels(engine, sdxl_model, "a red cat")
    changed = _pixels(engine, sdxl_model, f"a red cat <lora:{name}>")
    assert np.abs(changed - plain).max() > 10
    assert np.array_equal(_pixels(engine, sdxl_model, f"a red cat <lora:{name}:0>"), plain)


def test_sdxl_layouts_agree(engine, sdxl_model, sdxl_files):
    kohya = _pixels(engine, sdxl_model, "a red cat <lora:xl-kohya:0.7>")
    diffusers = _pixels(engine, sdxl_model, "a red cat <lora:xl-diffusers:0.7>")
    assert np.abs(kohya - diffusers).max() <= 1


def test_a_file_that_is_not_a_lora_is_refused(engine, tiny_model, loras):
    import torch
    from safetensors.torch import save_file

    save_file({"weight": torch.zeros(2, 2)}, str(loras / "plain.safetensors"))
    assert "holds no LoRA weights" in _failure(engine, tiny_model, "a cat <lora:plain>")


def test_the_recipe_keeps_the_lora_hashes_and_the_tags_through_a_png(engine, tiny_model, sd_files, tmp_path):
    import hashlib

    from studio.recipe.embed import write_png
    from studio.recipe.walker import ImageInfo, inspect_file

    prompt = "a red cat, <lora:styleA:0.7> <lora:styleB:0.4>"
    result = _run(engine, tiny_model, prompt)
    expected = tuple(
        (name, hashlib.sha256((sd_files / f"{name}.safetensors").read_bytes()).hexdigest()[:12])
        for name in ("styleA", "styleB")
    )
    assert result.recipe.lora_hashes == expected
    assert result.recipe.request.prompt == prompt
    info = inspect_file(write_png(tmp_path / "cat.png", result.image, result.recipe))
    assert isinstance(info, ImageInfo) and info.recipe is not None
    assert info.recipe.lora_hashes == expected
    assert f'Lora hashes: "styleA: {expected[0][1]}, styleB: {expected[1][1]}"' in info.recipe.parameters
    assert info.settings()["prompt"] == prompt  # what the gallery's Reuse puts back in the prompt box
    again = info.to_recipe()
    assert again is not None
    final = engine.run(again.request.replace(model=str(tiny_model)), previews=False)
    assert isinstance(final, Finished)
    assert np.array_equal(np.asarray(final.results[0].image), np.asarray(result.image))


def test_a_large_lora_is_hashed_in_the_background(engine, tiny_model, sd_pairs, loras, finder, monkeypatch):
    import studio.library.resources as resources

    monkeypatch.setattr(resources, "HASH_AT_ONCE", 0)
    write_lora(sd_pairs[1], loras / "unhashed.safetensors", "kohya", 1.0)
    first = _run(engine, tiny_model, "a cat <lora:unhashed:0.5>")
    assert first.recipe.lora_hashes == (("unhashed", ""),)
    assert finder.wait(30)
    second = _run(engine, tiny_model, "a cat <lora:unhashed:0.5>")
    assert second.recipe.lora_hashes[0][0] == "unhashed" and len(second.recipe.lora_hashes[0][1]) == 12
    assert np.array_equal(np.asarray(first.image), np.asarray(second.image))


def test_an_outpaint_uses_the_loras_and_records_them(engine, tiny_model, sd_files):
    from studio.engine.edit import EditRequest, extend_canvas

    source = np.full((64, 64, 3), 120, np.uint8)
    source[:, 32:] = 200
    canvas, mask = extend_canvas(source, right=32)

    def outpaint(prompt):
        request = EditRequest(_request(tiny_model, prompt, width=96), canvas, mask, extend=(0, 0, 32, 0))
        final = engine.run_edit(request, previews=False)
        assert isinstance(final, Finished), final
        return final.results[0]

    plain = outpaint("a red cat")
    styled = outpaint("a red cat <lora:styleA:1>")
    assert np.abs(np.asarray(styled.image).astype(int) - np.asarray(plain.image)).max() > 10
    assert [name for name, _ in styled.recipe.lora_hashes] == ["styleA"] and plain.recipe.lora_hashes == ()
    assert np.array_equal(np.asarray(outpaint("a red cat <lora:styleA:0>").image), np.asarray(plain.image))


def _base_weights(pipe) -> dict:
    """The UNet's and text encoders' own weights by name, without the LoRA layers PEFT adds."""
    weights = {}
    for part in ("unet", "text_encoder", "text_encoder_2"):
        module = getattr(pipe, part, None)
        for name, tensor in (module.state_dict() if module is not None else {}).items():
            if ".lora_" not in name:
                weights[f"{part}.{name.replace('.base_layer', '')}"] = tensor
    return weights


def test_after_a_lora_job_the_weights_are_the_models_own_bit_for_bit(engine, tiny_model, sd_files):
    model = engine.load(str(tiny_model))
    fresh = _base_weights(Engine(device="cpu").load(str(tiny_model)).pipe)
    _run(engine, tiny_model, "a cat <lora:styleA:0.9> <lora:styleB:0.3>")
    fused = _base_weights(model.pipe)
    assert fused.keys() == fresh.keys()
    assert any(not fused[k].equal(fresh[k]) for k in fresh)  # the LoRAs are in the weights while they are used
    _run(engine, tiny_model, "a cat <lora:styleA:0.4>")
    _run(engine, tiny_model, "a cat")
    after = _base_weights(model.pipe)
    assert all(after[k].equal(fresh[k]) for k in fresh)


def test_a_lora_that_fails_to_load_leaves_nothing_behind(engine, tiny_model, sd_files, loras):
    import torch
    from safetensors.torch import save_file

    # LoRA keys of a real layer, with the wrong width: diffusers refuses it while loading.
    key = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"
    save_file(
        {f"{key}.lora_down.weight": torch.ones(4, 7), f"{key}.lora_up.weight": torch.ones(64, 4)},
        str(loras / "broken.safetensors"),
    )
    fresh = _fresh_pixels(tiny_model, "a red cat")
    _run(engine, tiny_model, "a red cat <lora:styleA>")
    message = _failure(engine, tiny_model, "a red cat <lora:styleB> <lora:broken>")
    assert message.startswith("LoRA 'broken' cannot be loaded")
    assert np.array_equal(_pixels(engine, tiny_model, "a red cat"), fresh)
    model = engine.load(str(tiny_model))
    listed = {name for names in model.pipe.get_list_adapters().values() for name in names}
    assert listed == set(model.loras.values())
