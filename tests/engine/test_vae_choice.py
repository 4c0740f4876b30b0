"""A VAE chosen per model from the library's vae/ folder (an original-layout file or a diffusers
folder): it decodes instead of the model's own, is remembered per model, named in the recipe,
previews keep working, and one that makes other latents is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from studio.engine.events import Failed, Finished, Preview
from studio.engine.loader import ModelCache, load_model
from studio.engine.models import ModelSettings, resolve_model, use_model_finder, use_resource_finder
from studio.engine.request import GenerateRequest
from studio.engine.runner import Engine
from studio.errors import ModelError
from studio.library.catalog import Library
from studio.testing.ldm_layout import to_original_layout
from studio.testing.reference import plain_pipeline_call
from studio.testing.tiny_model import build_tiny_components

HASH = "abcdef0123"


def other_components(seed: int, **options) -> dict:
    return build_tiny_components(seed=seed, **options)


def write_vae_file(components: dict, path: Path) -> Path:
    """The VAE alone in the original layout, as VAE files are shared (no first_stage_model. prefix)."""
    prefix = "first_stage_model."
    layout = to_original_layout(components, "sd1")
    tensors = {k[len(prefix) :]: v.contiguous() for k, v in layout.items() if k.startswith(prefix)}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


@pytest.fixture(scope="module")
def vaes(tmp_path_factory):
    """A library vae/ folder: `soft` (a file in the original layout), `crisp` (a diffusers folder),
    `wide` (a folder and a file making 8-channel latents); and the reference VAEs in memory."""
    root = tmp_path_factory.mktemp("vae")
    soft = other_components(7)["vae"]
    crisp = other_components(8)["vae"]
    wide = other_components(9)
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    torch.manual_seed(9)
    wide_vae = AutoencoderKL(**{**dict(soft.config), "latent_channels": 8})
    wide["vae"] = wide_vae
    write_vae_file({**other_components(7), "vae": soft}, root / "soft.safetensors")
    crisp.save_pretrained(root / "crisp", safe_serialization=True)
    wide_vae.save_pretrained(root / "wide", safe_serialization=True)
    write_vae_file(wide, root / "widefile.safetensors")
    other_components(10)["vae"].save_pretrained(root / "xl", safe_serialization=True)
    config = json.loads((root / "xl" / "config.json").read_text())
    (root / "xl" / "config.json").write_text(json.dumps({**config, "scaling_factor": 0.13025}))
    return root, {"soft": soft, "crisp": crisp}


@pytest.fixture
def finders(vaes):
    root, _ = vaes
    chosen: dict[str, str] = {}

    def resources(kind: str, name: str):
        if kind != "vae":
            return None
        for path in root.iterdir():
            if path.name.split(".")[0] == name:
                return path, HASH
        return None

    def models(ref: str):
        path = Path(ref)
        return ModelSettings(path=path, vae=chosen.get(str(path), "")) if path.exists() else None

    use_resource_finder(resources)
    use_model_finder(models)
    yield chosen
    use_resource_finder(None)
    use_model_finder(None)


def request(model, **changes) -> GenerateRequest:
    values: dict[str, Any] = dict(
        prompt="a red house", seed=4, steps=3, width=64, height=64, scheduler="Euler", guidance_scale=1.0
    )
    values.update(changes)
    return GenerateRequest(model=str(model), **values)


def run(engine, req, **kwargs):
    events = []
    final = engine.run(req, events.append, **kwargs)
    assert isinstance(final, Finished), final
    return final, events


def decoded(vae, latents) -> np.ndarray:
    with torch.no_grad():
        pixels = vae.decode(latents / vae.config.scaling_factor).sample
    pixels = (pixels / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    return (pixels * 255).round().astype(np.uint8)


@pytest.mark.parametrize("name", ["soft", "crisp"])
def test_a_chosen_vae_decodes_what_the_model_draws(tiny_model, vaes, finders, name):
    _, reference = vaes
    req = request(tiny_model)
    own = Engine("cpu")
    own_pixels = np.asarray(run(own, req)[0].results[0].image)
    latents = plain_pipeline_call(own.load(req.model), req, output_type="latent").images
    finders[str(tiny_model)] = name
    engine = Engine("cpu")
    final, _ = run(engine, req)
    pixels = np.asarray(final.results[0].image)
    assert not np.array_equal(pixels, own_pixels)
    assert np.abs(pixels.astype(int) - decoded(reference[name], latents).astype(int)).max() <= 1
    loaded = engine.models.loaded
    assert loaded is not None and loaded.vae == name
    for key, tensor in reference[name].state_dict().items():
        assert torch.equal(loaded.pipe.vae.state_dict()[key], tensor), key


def test_the_recipe_names_the_vae_and_its_hash(tiny_model, finders):
    finders[str(tiny_model)] = "soft"
    recipe = run(Engine("cpu"), request(tiny_model))[0].results[0].recipe
    assert (recipe.vae, recipe.vae_hash) == ("soft", HASH)
    finders.clear()
    recipe = run(Engine("cpu"), request(tiny_model))[0].results[0].recipe
    assert (recipe.vae, recipe.vae_hash) == ("", "")


def test_previews_are_drawn_with_factors_for_the_chosen_vae(tiny_model, finders):
    finders[str(tiny_model)] = "soft"
    engine = Engine("cpu")
    events = run(engine, request(tiny_model))[1]
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews and previews[-1].rgb.shape == (8, 8, 3)
    loaded = engine.models.loaded
    assert loaded is not None and "soft" in loaded.previewer.factors.source


def test_choosing_again_swaps_the_vae_without_reloading_the_model(tiny_model, vaes, finders):
    _, reference = vaes
    cache = ModelCache("cpu")
    own = cache.get(str(tiny_model))
    own_vae, unet = own.pipe.vae, own.pipe.unet
    finders[str(tiny_model)] = "crisp"
    chosen = cache.get(str(tiny_model))
    assert chosen is own and chosen.pipe.unet is unet and chosen.vae == "crisp"
    assert torch.equal(chosen.pipe.vae.decoder.conv_out.weight, reference["crisp"].decoder.conv_out.weight)
    finders[str(tiny_model)] = ""
    back = cache.get(str(tiny_model))
    assert back.pipe.vae is own_vae and back.vae == "" and back.vae_hash == ""


def test_an_outpaint_decodes_with_the_chosen_vae_too(tiny_model, finders):
    from studio.engine.edit import EditRequest, extend_canvas

    canvas, mask = extend_canvas(np.full((64, 64, 3), 90, np.uint8), 0, 0, 32, 0)
    edit = EditRequest(request(tiny_model, steps=2), canvas, mask, extend=(0, 0, 32, 0))
    engine = Engine("cpu")
    plain = engine.run_edit(edit)
    finders[str(tiny_model)] = "crisp"
    chosen = engine.run_edit(edit)
    assert isinstance(plain, Finished) and isinstance(chosen, Finished)
    assert not np.array_equal(np.asarray(plain.results[0].image), np.asarray(chosen.results[0].image))
    assert chosen.results[0].recipe.vae == "crisp"


@pytest.mark.parametrize("name", ["wide", "widefile"])
def test_a_vae_making_other_latents_is_refused(tiny_model, finders, name):
    finders[str(tiny_model)] = name
    with pytest.raises(ModelError, match=r"8-channel latents.*4"):
        load_model(resolve_model(str(tiny_model)), "cpu")
    final = Engine("cpu").run(request(tiny_model))
    assert isinstance(final, Failed) and name in final.message


def test_a_vae_folder_for_latents_scaled_otherwise_is_refused(tiny_model, finders):
    finders[str(tiny_model)] = "xl"
    with pytest.raises(ModelError, match=r"scaled by 0\.13025.*0\.18215"):
        load_model(resolve_model(str(tiny_model)), "cpu")


def test_an_unknown_vae_is_refused_by_name(tiny_model, finders):
    finders[str(tiny_model)] = "nowhere"
    with pytest.raises(ModelError, match="no VAE named 'nowhere'"):
        load_model(resolve_model(str(tiny_model)), "cpu")


def test_a_pickled_vae_is_refused_with_the_convert_command(tiny_model, tmp_path):
    pickled = tmp_path / "old.pt"
    torch.save({"decoder.conv_in.weight": torch.zeros(1)}, pickled)
    use_resource_finder(lambda kind, name: (pickled, HASH) if name == "old" else None)
    use_model_finder(lambda ref: ModelSettings(path=Path(ref), vae="old"))
    try:
        with pytest.raises(ModelError, match="studio models convert"):
            load_model(resolve_model(str(tiny_model)), "cpu")
    finally:
        use_resource_finder(None)
        use_model_finder(None)


# Remembered per model in the library.


@pytest.fixture
def library(tmp_path, vaes):
    import shutil

    root, _ = vaes
    data = tmp_path / "data"
    folder = data / "models" / "vae"
    folder.mkdir(parents=True)
    shutil.copy(root / "soft.safetensors", folder)
    shutil.copytree(root / "crisp", folder / "crisp")
    library = Library(data)

    def resources(kind: str, name: str):
        entry = library.find(name, kind)
        return (entry.path, entry.short_hash) if entry else None

    use_resource_finder(resources)
    yield library
    use_resource_finder(None)
    use_model_finder(None)


def test_the_choice_is_remembered_per_model_in_the_library(tiny_model, library):
    library.set_vae(str(tiny_model), "soft")
    saved = json.loads((library.data / "models" / "library.json").read_text())
    assert saved["models"][str(Path(tiny_model).resolve())]["vae"] == "soft"
    fresh = Library(library.data)
    use_model_finder(fresh.finder)
    assert resolve_model(str(tiny_model)).vae == "soft"
    assert ModelCache("cpu").get(str(tiny_model)).vae == "soft"
    fresh.set_vae(str(tiny_model), "CRISP")  # any case; saved under its name
    assert resolve_model(str(tiny_model)).vae == "crisp"
    fresh.set_vae(str(tiny_model), "auto")
    assert resolve_model(str(tiny_model)).vae == ""
    assert (
        str(Path(tiny_model).resolve())
        not in json.loads((library.data / "models" / "library.json").read_text())["models"]
    )


def test_setting_an_unknown_vae_is_refused(tiny_model, library):
    with pytest.raises(ModelError, match="no VAE named 'missing'"):
        library.set_vae(str(tiny_model), "missing")


def test_the_command_line_saves_the_vae_for_the_model(tiny_model, library, tmp_path):
    from studio.cli import main

    args = ["generate", "a lake", "--model", str(tiny_model), "--steps", "1", "--data-dir", str(library.data)]
    assert main([*args, "--vae", "soft", "--out", str(tmp_path / "a.png")]) == 0
    from studio.recipe.walker import read_recipe

    recipe = read_recipe(tmp_path / "a.png")
    assert recipe is not None and recipe.vae == "soft"
    assert Library(library.data).finder(str(tiny_model)).vae == "soft"  # pyright: ignore[reportOptionalMemberAccess]
    assert main([*args, "--vae", "auto", "--out", str(tmp_path / "b.png")]) == 0
    assert Library(library.data).finder(str(tiny_model)).vae == ""  # pyright: ignore[reportOptionalMemberAccess]


def test_a_chosen_vae_decodes_in_bf16_where_the_models_own_did(tiny_model, finders, monkeypatch):
    from studio.engine import cpu_backend, cpu_bf16

    monkeypatch.setenv(cpu_backend.BACKEND_ENV, "bf16")
    finders[str(tiny_model)] = "soft"
    engine = Engine("cpu")
    run(engine, request(tiny_model))
    loaded = engine.models.loaded
    assert loaded is not None and loaded.vae == "soft"
    assert cpu_bf16.decode_installed(loaded.pipe.vae) and cpu_bf16.decode_installed(loaded.own_vae)
