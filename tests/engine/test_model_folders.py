"""Diffusers folders as people download them: fp16-variant weights, few-step models, the model's own size."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from studio.engine.events import Finished
from studio.engine.models import resolve_model
from studio.engine.runner import Engine
from studio.errors import ModelError
from studio.testing.tiny_model import build_tiny_components, save_tiny_model


@pytest.fixture(scope="module")
def components():
    return build_tiny_components(seed=5)


def _save_fp16(components, folder, keep_full: bool):
    from diffusers import StableDiffusionPipeline

    save_tiny_model(components, folder)
    pipe = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    pipe.to(dtype=__import__("torch").float16).save_pretrained(folder, variant="fp16")
    if not keep_full:
        for file in folder.rglob("*.safetensors"):
            if ".fp16." not in file.name:
                file.unlink()
    return folder


def _pixels(folder) -> np.ndarray:
    engine = Engine(device="cpu")
    request = resolve_model(str(folder)).defaults.request(
        str(folder), prompt="a lake", steps=2, width=64, height=64, seed=3
    )
    final = engine.run(request, previews=False)
    assert isinstance(final, Finished), final
    return np.asarray(final.results[0].image, dtype=np.float32)


@pytest.mark.parametrize("keep_full", [False, True])
def test_fp16_variant_folders_load_and_generate(tmp_path, components, keep_full):
    folder = _save_fp16(components, tmp_path / "model", keep_full)
    assert any(".fp16." in p.name for p in folder.rglob("*.safetensors"))
    info = resolve_model(str(folder))
    assert info.variant == (None if keep_full else "fp16")
    reference = _pixels(save_tiny_model(components, tmp_path / "full"))
    pixels = _pixels(folder)
    # Full weights beside fp16 ones are the ones used; fp16 alone differ only by rounding.
    if keep_full:
        assert np.array_equal(pixels, reference)
    else:
        assert np.abs(pixels - reference).mean() < 4.0


def test_a_component_with_only_pickled_weights_offers_convert(tmp_path, components):
    folder = save_tiny_model(components, tmp_path / "model")
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    shutil.move(weights, weights.with_suffix(".bin"))
    with pytest.raises(ModelError, match="studio models convert"):
        resolve_model(str(folder))


def test_the_default_size_is_the_models_own(tmp_path, components):
    folder = save_tiny_model(components, tmp_path / "model")
    config = json.loads((folder / "unet" / "config.json").read_text())
    config["sample_size"] = 12  # 12 latents x 8 = 96 px, whatever the family
    (folder / "unet" / "config.json").write_text(json.dumps(config))
    assert (resolve_model(str(folder)).defaults.width, resolve_model(str(folder)).defaults.height) == (96, 96)


def test_an_lcm_scheduler_makes_an_lcm_model(tmp_path, components):
    folder = save_tiny_model(components, tmp_path / "model")
    file = folder / "scheduler" / "scheduler_config.json"
    config = json.loads(file.read_text())
    config["_class_name"] = "LCMScheduler"
    file.write_text(json.dumps(config))
    info = resolve_model(str(folder))
    assert (info.speed, info.defaults.steps, info.defaults.scheduler) == ("lcm", 4, "LCM")
    assert info.scheduler_overrides == {"timestep_spacing": "trailing"}


def test_a_model_card_tag_makes_a_turbo_model(tmp_path, components):
    folder = save_tiny_model(components, tmp_path / "model")
    (folder / "README.md").write_text("---\nlicense: other\ntags:\n- text-to-image\n- sd-turbo\n---\n# a model\n")
    info = resolve_model(str(folder))
    assert (info.speed, info.defaults.steps, info.defaults.guidance_scale) == ("turbo", 1, 0.0)
    (folder / "README.md").write_text("# Turbo charged\nno front matter, so nothing is read from prose\n")
    assert resolve_model(str(folder)).speed is None


def test_studio_json_names_the_speed_and_its_defaults_win(tmp_path, components):
    folder = save_tiny_model(components, tmp_path / "model", studio={"speed": "lightning", "defaults": {"steps": 6}})
    info = resolve_model(str(folder))
    assert (info.speed, info.defaults.steps, info.defaults.guidance_scale) == ("lightning", 6, 1.0)


def test_a_turbo_model_runs_with_its_defaults_and_trailing_spacing(tmp_path, components):
    folder = save_tiny_model(components, tmp_path / "model", studio={"speed": "turbo"})
    engine = Engine(device="cpu")
    info = resolve_model(str(folder))
    request = info.defaults.request(str(folder), prompt="a lake", width=64, height=64)
    assert (request.steps, request.guidance_scale) == (1, 0.0)
    final = engine.run(request, previews=False)
    assert isinstance(final, Finished), final
    assert engine.models.loaded is not None
    assert engine.models.loaded.scheduler_config["timestep_spacing"] == "trailing"
