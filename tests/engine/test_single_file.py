"""Single-file checkpoints in the original layout load through diffusers' single-file loader, offline,
every tensor where it belongs, and draw the same pictures as the diffusers folder they came from.

The models are small real ones; their config folders (small configs in the shipped folders' layout)
are handed to the loader through STUDIO_MODEL_CONFIGS, as the shipped full-size ones are otherwise.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from studio.engine.events import Finished
from studio.engine.loader import load_model
from studio.engine.models import resolve_model
from studio.engine.runner import Engine
from studio.testing.ldm_layout import save_original_checkpoint
from studio.testing.tiny_model import (
    build_tiny_components,
    build_tiny_sd2_components,
    build_tiny_sdxl_components,
    save_tiny_model,
)


def build_tiny_sdxl_two_widths(seed: int, in_channels: int = 4) -> dict:
    """A tiny SDXL whose two text encoders differ in width, as SDXL's do (768 and 1280): diffusers'
    reader tells the two apart by that width, so same-width encoders would be read into one slot."""
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    base = build_tiny_sdxl_components(seed=seed)
    tokenizer = base["tokenizer"]
    torch.manual_seed(seed + 7)
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=48,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=tokenizer.model_max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        projection_dim=48,
        hidden_act="gelu",
    )
    second = CLIPTextModelWithProjection(config)
    torch.manual_seed(seed + 8)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=in_channels,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32 + 48,
        attention_head_dim=8,
        norm_num_groups=16,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + 48,
    )
    return {**base, "unet": unet, "text_encoder_2": second}


BUILDERS = {
    "sd1": lambda: build_tiny_components(seed=11, prediction_type="epsilon"),
    "sd1-inpaint": lambda: build_tiny_components(seed=12, in_channels=9, prediction_type="epsilon"),
    "sd2": lambda: build_tiny_sd2_components(seed=13),
    "sd2-inpaint": lambda: build_tiny_sd2_components(seed=15, in_channels=9),
    "sdxl": lambda: build_tiny_sdxl_two_widths(seed=14),
    "sdxl-inpaint": lambda: build_tiny_sdxl_two_widths(seed=16, in_channels=9),
}
PARTS = ("unet", "vae", "text_encoder", "text_encoder_2")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Per family: the components, their diffusers folder, and the single file made from them."""
    root = tmp_path_factory.mktemp("single-file")
    configs = root / "configs"
    made = {}
    for name, build in BUILDERS.items():
        components = build()
        folder = save_tiny_model(components, root / f"{name}-folder")
        shutil.copytree(folder, configs / name, ignore=shutil.ignore_patterns("*.safetensors", "studio.json"))
        family = name.split("-")[0]
        metadata = {"modelspec.prediction_type": "v"} if family == "sd2" else None
        file = save_original_checkpoint(components, root / f"{name}.safetensors", family, metadata=metadata)
        made[name] = (components, folder, file)
    return configs, made


@pytest.fixture(autouse=True)
def configs(models, monkeypatch):
    monkeypatch.setenv("STUDIO_MODEL_CONFIGS", str(models[0]))


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_tensor_lands_where_it_belongs(models, name):
    components, _, file = models[1][name]
    info = resolve_model(str(file))
    assert info.checkpoint is not None and info.checkpoint.config_name == name
    pipe = load_model(info, "cpu").pipe
    for part in PARTS:
        if part not in components:
            continue
        expected = components[part].state_dict()
        got = getattr(pipe, part).state_dict()
        assert set(got) == set(expected), f"{part}: {sorted(set(got) ^ set(expected))[:5]}"
        for key, tensor in expected.items():
            assert torch.equal(got[key], tensor), f"{part}.{key} differs"


def _pixels(engine, ref, **values):
    request = resolve_model(ref).defaults.request(ref, prompt="a red house", seed=7, width=64, height=64, **values)
    final = engine.run(request, previews=True)
    assert isinstance(final, Finished), final
    return np.asarray(final.results[0].image)


@pytest.mark.parametrize("name", ["sd1", "sd2", "sdxl"])
def test_a_single_file_draws_what_its_folder_draws(models, name):
    _, folder, file = models[1][name]
    engine = Engine(device="cpu")
    settings = {"steps": 3, "scheduler": "Euler", "guidance_scale": 5.0}
    from_file = _pixels(engine, str(file), **settings)
    from_folder = _pixels(engine, str(folder), **settings)
    # The same weights; SDXL's pooled text projection may be laid out differently in memory, which
    # moves a float by 1e-7 and so, rarely, a pixel by one level.
    assert np.abs(from_file.astype(int) - from_folder.astype(int)).max() <= 1


def test_the_v_prediction_comes_from_the_file_and_reaches_the_sampler(models):
    _, _, file = models[1]["sd2"]
    engine = Engine(device="cpu")
    model = engine.load(str(file))
    assert model.info.checkpoint is not None and model.info.checkpoint.prediction == "v_prediction"
    assert model.scheduler_config["prediction_type"] == "v_prediction"
    assert (model.info.defaults.width, model.info.defaults.height) == (768, 768)


def test_a_checkpoint_with_its_text_encoder_missing_says_what_is_missing(models, tmp_path):
    from safetensors.torch import load_file, save_file

    from studio.errors import ModelError

    _, _, file = models[1]["sd1"]
    tensors = {k: v for k, v in load_file(str(file)).items() if not k.startswith("first_stage_model.")}
    broken = tmp_path / "no-vae.safetensors"
    save_file(tensors, str(broken))
    with pytest.raises(ModelError, match="cannot load model"):
        load_model(resolve_model(str(broken)), "cpu")
