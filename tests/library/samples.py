"""Small real model files for the library tests: safetensors headers in each layout (zero weights),
pickles, and AUTOMATIC1111- and ComfyUI-shaped install folders."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

from studio.engine.checkpoints import UNET, pack_header

TEXT = {
    "sd1": "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight",
    "sd2": "cond_stage_model.model.token_embedding.weight",
    "sdxl": "conditioner.embedders.1.model.token_embedding.weight",
}


def checkpoint_tensors(family: str, channels: int = 4, **extra) -> dict:
    tensors = {UNET + "input_blocks.0.0.weight": ("F16", (8, channels, 3, 3)), TEXT[family]: ("F16", (10, 4))}
    if family == "sdxl":
        tensors["conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight"] = ("F16", (10, 4))
        tensors[UNET + "label_emb.0.0.weight"] = ("F16", (4, 4))
    tensors.update(extra)
    return tensors


def write(path: Path, tensors: dict, metadata: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pack_header(tensors, metadata))
    return path


def checkpoint(path: Path, family: str = "sd1", channels: int = 4, metadata: dict | None = None, **extra) -> Path:
    return write(path, checkpoint_tensors(family, channels, **extra), metadata)


def lora(path: Path, family: str = "sd1") -> Path:
    if family == "sdxl":
        tensors = {
            "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": ("F16", (4, 768)),
            "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": ("F16", (4, 1280)),
        }
    else:
        width = {"sd1": 768, "sd2": 1024}[family]
        name = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
        tensors = {f"{name}.lora_down.weight": ("F16", (4, width)), f"{name}.lora_up.weight": ("F16", (320, 4))}
    return write(path, tensors)


def embedding(path: Path, family: str = "sd1") -> Path:
    if family == "sdxl":
        return write(path, {"clip_l": ("F16", (2, 768)), "clip_g": ("F16", (2, 1280))})
    return write(path, {"emb_params": ("F16", (2, {"sd1": 768, "sd2": 1024}[family]))})


def vae(path: Path) -> Path:
    return write(
        path,
        {
            "encoder.down.0.block.0.conv1.weight": ("F16", (4, 4, 3, 3)),
            "decoder.up.0.block.0.conv1.weight": ("F16", (4, 4, 3, 3)),
        },
    )


def pickled(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"state_dict": {}}, protocol=4))
    return path


def vae_folder(path: Path, tiny_model: Path) -> Path:
    shutil.copytree(tiny_model / "vae", path)
    return path


def a1111_install(root: Path) -> Path:
    models = root / "models"
    checkpoint(models / "Stable-diffusion" / "dreamy.safetensors", "sd1")
    checkpoint(models / "Stable-diffusion" / "XL" / "bigger.safetensors", "sdxl")
    (models / "Stable-diffusion" / "dreamy.yaml").write_text("model: {}\n")
    (models / "Stable-diffusion" / "dreamy.preview.png").write_bytes(b"\x89PNG")
    pickled(models / "Stable-diffusion" / "old.ckpt")
    lora(models / "Lora" / "ink.safetensors", "sd1")
    lora(models / "LyCORIS" / "paper.safetensors", "sdxl")
    vae(models / "VAE" / "clear.safetensors")
    embedding(root / "embeddings" / "badhands.safetensors", "sd1")
    (root / "webui.py").write_text("")
    return root


def comfyui_install(root: Path, tiny_model: Path) -> Path:
    models = root / "models"
    checkpoint(models / "checkpoints" / "sharp.safetensors", "sd2")
    (models / "diffusers").mkdir(parents=True)
    (models / "diffusers" / "tiny").symlink_to(tiny_model, target_is_directory=True)
    lora(models / "loras" / "glow.safetensors", "sd2")
    embedding(models / "embeddings" / "xlstyle.safetensors", "sdxl")
    vae_folder(models / "vae" / "tinyvae", tiny_model)
    (models / "upscale_models").mkdir()
    checkpoint(models / "upscale_models" / "not_listed.safetensors", "sd1")
    return root


def model_index(folder: Path, files: int) -> Path:
    """A folder that looks like a diffusers model (model_index.json) with many small files."""
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    for i in range(files):
        (folder / f"part{i}.json").write_text("{}")
    return folder
