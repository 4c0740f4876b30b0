"""Recognising single-file checkpoints from their tensors' names and shapes, never their file names."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
from safetensors.numpy import save_file

from studio.engine.checkpoints import UNET, V_RULE_TENSOR, inspect_checkpoint, pack_header, read_header
from studio.engine.models import resolve_model
from studio.errors import ModelError

TEXT = {
    "sd1": "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight",
    "sd2": "cond_stage_model.model.token_embedding.weight",
    "sdxl": "conditioner.embedders.1.model.token_embedding.weight",
}


def layout(family: str, channels: int = 4, **extra) -> dict:
    tensors = {UNET + "input_blocks.0.0.weight": ("F16", (8, channels, 3, 3)), TEXT[family]: ("F16", (10, 4))}
    if family == "sdxl":
        tensors["conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight"] = ("F16", (10, 4))
        tensors[UNET + "label_emb.0.0.weight"] = ("F16", (4, 4))
    tensors.update(extra)
    return tensors


def write(path, tensors, metadata=None):
    path.write_bytes(pack_header(tensors, metadata))
    return path


@pytest.mark.parametrize(("family", "side"), [("sd1", 512), ("sd2", 512), ("sdxl", 1024)])
def test_each_family_is_recognised_from_its_tensors(tmp_path, family, side):
    found = inspect_checkpoint(write(tmp_path / "model.safetensors", layout(family)))
    assert (found.family, found.inpaint, found.prediction, found.side) == (family, False, "epsilon", side)
    assert found.config_name == family


def test_the_file_name_says_nothing(tmp_path):
    found = inspect_checkpoint(write(tmp_path / "sdxl_turbo_lcm_inpainting_v2.safetensors", layout("sd1")))
    assert (found.family, found.inpaint, found.speed) == ("sd1", False, None)


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_a_nine_channel_unet_is_an_inpainting_model(tmp_path, family):
    found = inspect_checkpoint(write(tmp_path / "m.safetensors", layout(family, channels=9)))
    assert found.inpaint and found.config_name == f"{family}-inpaint"


def test_an_unknown_unet_input_is_refused_with_what_it_has(tmp_path):
    with pytest.raises(ModelError, match="8-channel UNet input"):
        inspect_checkpoint(write(tmp_path / "m.safetensors", layout("sd1", channels=8)))


def test_v_prediction_from_a_v_pred_key(tmp_path):
    found = inspect_checkpoint(write(tmp_path / "m.safetensors", layout("sd2", v_pred=("F32", (0,)))))
    assert (found.prediction, found.prediction_source, found.side) == ("v_prediction", "the file", 768)


def test_v_prediction_from_the_metadata(tmp_path):
    found = inspect_checkpoint(write(tmp_path / "m.safetensors", layout("sdxl"), {"modelspec.prediction_type": "v"}))
    assert (found.prediction, found.prediction_source) == ("v_prediction", "the file")


@pytest.mark.parametrize(("spread", "expected"), [(0.2, "v_prediction"), (0.01, "epsilon")])
def test_sd2_prediction_by_the_documented_rule(tmp_path, spread, expected):
    rng = np.random.default_rng(0)
    tensors = {
        UNET + "input_blocks.0.0.weight": np.zeros((8, 4, 3, 3), np.float16),
        TEXT["sd2"]: np.zeros((10, 4), np.float16),
        V_RULE_TENSOR: (rng.standard_normal(320) * spread).astype(np.float16),
    }
    save_file(tensors, str(tmp_path / "m.safetensors"))
    found = inspect_checkpoint(tmp_path / "m.safetensors")
    assert (found.prediction, found.prediction_source) == (expected, "the rule")
    assert found.side == (768 if expected == "v_prediction" else 512)


def test_the_rule_reads_bfloat16(tmp_path):
    bias = (np.random.default_rng(1).standard_normal(320).astype(np.float32) * 0.2).view(np.uint32) >> 16
    path = tmp_path / "m.safetensors"
    write(path, layout("sd2", **{V_RULE_TENSOR: ("BF16", (320,))}))
    header = read_header(path)
    start = header.data_start + header.tensors[V_RULE_TENSOR][2][0]
    data = bytearray(path.read_bytes())
    data[start : start + 640] = bias.astype("<u2").tobytes()
    path.write_bytes(bytes(data))
    assert inspect_checkpoint(path).prediction == "v_prediction"


def test_the_person_overrides_the_prediction(tmp_path):
    path = write(tmp_path / "m.safetensors", layout("sd2", v_pred=("F32", (0,))))
    found = inspect_checkpoint(path, prediction="epsilon")
    assert (found.prediction, found.prediction_source, found.side) == ("epsilon", "your setting", 512)
    with pytest.raises(ModelError, match="'v' or 'epsilon'"):
        inspect_checkpoint(path, prediction="x0")


@pytest.mark.parametrize(
    ("metadata", "speed"),
    [
        ({"modelspec.title": "SDXL Turbo"}, "turbo"),
        ({"modelspec.description": "An LCM-distilled model"}, "lcm"),
        ({"modelspec.tags": "sdxl, lightning, 4-step"}, "lightning"),
        ({"studio.speed": "hyper"}, "hyper"),
        ({"format": "pt"}, None),
    ],
)
def test_few_step_models_from_their_metadata(tmp_path, metadata, speed):
    assert inspect_checkpoint(write(tmp_path / "m.safetensors", layout("sdxl"), metadata)).speed == speed


@pytest.mark.parametrize(
    ("tensors", "said"),
    [
        ({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": ("F16", (4, 4))}, "LoRA"),
        ({"unet.down_blocks.0.attentions.0.to_q.lora_A.weight": ("F16", (4, 4))}, "LoRA"),
        ({"emb_params": ("F32", (2, 768))}, "embedding"),
        ({"clip_l": ("F32", (2, 768)), "clip_g": ("F32", (2, 1280))}, "embedding"),
        ({"encoder.down.0.block.0.conv1.weight": ("F16", (4, 4, 3, 3))}, "VAE"),
        ({"control_model.input_hint_block.0.weight": ("F16", (4, 4))}, "ControlNet"),
        ({"double_blocks.0.img_attn.qkv.weight": ("F16", (4, 4))}, "Flux"),
        ({"conv_first.weight": ("F16", (4, 3, 3, 3))}, "upscaler"),
        ({"down_blocks.0.resnets.0.conv1.weight": ("F16", (4, 4, 3, 3))}, "diffusers UNet"),
        ({"weird.thing": ("F16", (4,))}, "unknown layout"),
        ({}, "no tensors"),
    ],
)
def test_other_files_are_refused_naming_what_they_hold(tmp_path, tensors, said):
    with pytest.raises(ModelError, match="not a Stable Diffusion checkpoint") as caught:
        inspect_checkpoint(write(tmp_path / "m.safetensors", tensors))
    assert said in str(caught.value)


def test_an_sdxl_refiner_is_named(tmp_path):
    tensors = {
        UNET + "input_blocks.0.0.weight": ("F16", (8, 4, 3, 3)),
        "conditioner.embedders.0.model.token_embedding.weight": ("F16", (10, 4)),
    }
    with pytest.raises(ModelError, match="SDXL refiner"):
        inspect_checkpoint(write(tmp_path / "m.safetensors", tensors))


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage that is no header", (10**9).to_bytes(8, "little") + b"{}", (2).to_bytes(8, "little") + b"[]"],
)
def test_damaged_files_are_refused(tmp_path, content):
    path = tmp_path / "m.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="damaged"):
        inspect_checkpoint(path)


def test_a_truncated_checkpoint_is_refused(tmp_path):
    path = write(tmp_path / "m.safetensors", layout("sd1"))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ModelError, match="truncated"):
        inspect_checkpoint(path)


@pytest.mark.parametrize("name", ["model.ckpt", "model.pt", "pytorch_model.bin", "model.pth", "renamed.safetensors"])
def test_pickles_are_never_opened_and_the_message_offers_convert(tmp_path, name):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:  # torch's own format is a zip of pickles
        archive.writestr("archive/data.pkl", pickle.dumps({"a": 1}))
    with pytest.raises(ModelError) as caught:
        resolve_model(str(path))
    message = str(caught.value)
    assert "pickle" in message and "can run code" in message and f"studio models convert {path}" in message


def test_a_plain_pickle_is_recognised_by_its_bytes(tmp_path):
    path = tmp_path / "weights.safetensors"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(ModelError, match="pickle"):
        resolve_model(str(path))


def test_resolving_a_checkpoint_gives_its_family_and_defaults(tmp_path):
    path = write(tmp_path / "dreamy.safetensors", layout("sd2", v_pred=("F32", (0,))))
    info = resolve_model(str(path))
    assert (info.family, info.pipeline_class, info.name) == ("sd2", "StableDiffusionPipeline", "dreamy")
    assert (info.defaults.width, info.defaults.height) == (768, 768)
    assert info.scheduler_overrides["prediction_type"] == "v_prediction"
    assert info.description == "SD 2.x, v-prediction"
    assert resolve_model(str(path), prediction="epsilon").defaults.width == 512


def test_a_turbo_checkpoint_gets_few_step_defaults(tmp_path):
    path = write(tmp_path / "m.safetensors", layout("sd2"), {"modelspec.title": "SD-Turbo"})
    info = resolve_model(str(path))
    assert (info.speed, info.defaults.steps, info.defaults.guidance_scale) == ("turbo", 1, 0.0)
    assert (info.defaults.width, info.scheduler_overrides["timestep_spacing"]) == (512, "trailing")
    assert info.description == "SD 2.x (Turbo)"
