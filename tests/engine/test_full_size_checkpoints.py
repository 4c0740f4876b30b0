"""The config folders Studio ships against full-size models built from the published shapes.

The shapes check is quick (meta tensors: names and shapes, no memory). The load check builds a
full-size checkpoint with random weights (GBs, minutes) and is marked slow: `./dev.sh test -m slow`.
"""

from __future__ import annotations

import gc

import pytest

from studio.engine.model_configs import config_folder
from studio.testing.ldm_layout import full_size_components, save_original_checkpoint

FAMILIES = [("sd1", 4), ("sd1-inpaint", 9), ("sd2", 4), ("sdxl", 4), ("sdxl-inpaint", 9)]


def _from_shipped(name: str) -> dict:
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = config_folder(name)
    with init_empty_weights():
        parts = {
            "unet": UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(str(folder / "unet"))),
            "vae": AutoencoderKL.from_config(AutoencoderKL.load_config(str(folder / "vae"))),
            "text_encoder": CLIPTextModel(CLIPTextConfig.from_pretrained(str(folder / "text_encoder"))),
        }
        if (folder / "text_encoder_2").exists():
            config = CLIPTextConfig.from_pretrained(str(folder / "text_encoder_2"))
            parts["text_encoder_2"] = CLIPTextModelWithProjection(config)
    return parts


def _shapes(model) -> dict:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


@pytest.mark.parametrize(("name", "channels"), FAMILIES)
def test_the_shipped_configs_have_the_published_shapes(name, channels):
    shipped = _from_shipped(name)
    published = full_size_components(name.split("-")[0], in_channels=channels, empty=True)
    assert set(shipped) == set(published)
    for part, model in published.items():
        assert _shapes(shipped[part]) == _shapes(model), f"{name}/{part} differs from the published shapes"


@pytest.mark.slow
@pytest.mark.parametrize(("name", "channels"), FAMILIES)
def test_a_full_size_checkpoint_loads_with_every_tensor_in_place(name, channels, tmp_path):
    import torch

    from studio.engine.loader import load_model
    from studio.engine.models import resolve_model

    family = name.split("-")[0]
    torch.manual_seed(0)
    components = full_size_components(family, in_channels=channels)
    file = save_original_checkpoint(components, tmp_path / "full.safetensors", family, dtype=torch.float16)
    sums = {
        part: {k: v.to(torch.float16).double().sum().item() for k, v in model.state_dict().items()}
        for part, model in components.items()
    }
    del components
    gc.collect()
    info = resolve_model(str(file))
    assert info.checkpoint is not None and info.checkpoint.config_name == name
    pipe = load_model(info, "cpu").pipe
    for part, expected in sums.items():
        got = {k: v.double().sum().item() for k, v in getattr(pipe, part).state_dict().items()}
        assert set(got) == set(expected), f"{part}: {sorted(set(got) ^ set(expected))[:5]}"
        wrong = [k for k in expected if abs(got[k] - expected[k]) > 1e-6 * max(1.0, abs(expected[k]))]
        assert not wrong, f"{part}: {wrong[:5]}"
