# pyright: standard
"""What kind of model a file or folder holds (checkpoint, LoRA, embedding, VAE), and its family,
from its tensors' names and shapes or its config files, never from its name.

A LoRA is SDXL when it has keys for SDXL's second text encoder (lora_te1_/lora_te2_, or
text_encoder_2); otherwise the width its cross-attention keys read from (768: SD 1.x, 1024:
SD 2.x, 2048: SDXL). An embedding is SDXL when it holds clip_g; otherwise its vectors' width
says (768: SD 1.x, 1024: SD 2.x).
"""

from __future__ import annotations

import json
from pathlib import Path

from studio.engine.checkpoints import Header, inspect_checkpoint, read_header
from studio.errors import ModelError

KIND_WORDS = {"checkpoints": "checkpoint", "loras": "LoRA", "embeddings": "embedding", "vae": "VAE"}
FAMILY_WORDS = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL"}
_LORA_PREFIXES = ("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")
_LORA_PARTS = (".lora_down.", ".lora_up.", ".lora_A.", ".lora_B.", "lora.down.", "lora.up.", ".hada_w1", ".lokr_w1")
_EMBEDDING_KEYS = ("emb_params", "clip_l", "clip_g")
_VAE_PREFIXES = ("encoder.down", "decoder.up", "first_stage_model.encoder.", "first_stage_model.decoder.")
_WIDTHS = {768: "sd1", 1024: "sd2", 2048: "sdxl"}


def kind_of_header(header: Header) -> str | None:
    """loras, embeddings or vae when the tensors say so; None otherwise (checkpoints are checked apart)."""
    names = list(header.tensors)
    if any(n.startswith(_LORA_PREFIXES) or any(p in n for p in _LORA_PARTS) for n in names):
        return "loras"
    if any(n in _EMBEDDING_KEYS or n.startswith("string_to_param") for n in names):
        return "embeddings"
    if any(n.startswith("model.diffusion_model.") for n in names):
        return None
    if any(n.startswith(_VAE_PREFIXES) for n in names):
        return "vae"
    return None


def kind_of_file(path: Path) -> tuple[str | None, str]:
    """(kind or None, why it is not a checkpoint) for a .safetensors file; ModelError when it is damaged."""
    try:
        inspect_checkpoint(path)
        return "checkpoints", ""
    except ModelError as exc:
        reason = str(exc)
    return kind_of_header(read_header(path)), reason


def kind_of_folder(path: Path) -> str | None:
    """checkpoints for a diffusers pipeline folder, vae for a lone AutoencoderKL folder, else None."""
    if (path / "model_index.json").is_file():
        return "checkpoints"
    if _config_class(path / "config.json").startswith("AutoencoderKL"):
        return "vae"
    return None


def _config_class(file: Path) -> str:
    try:
        with open(file, encoding="utf-8") as handle:
            data = json.loads(handle.read(1024 * 1024))
    except (OSError, ValueError, RecursionError):
        return ""
    name = data.get("_class_name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else ""


def lora_family(header: Header) -> str:
    names = header.tensors
    if any(n.startswith(("lora_te1_", "lora_te2_")) or "text_encoder_2" in n for n in names):
        return "sdxl"
    for name, (_, shape, _) in names.items():
        cross = "attn2_to_k" in name or "attn2.to_k" in name
        down = "lora_down" in name or "lora_A" in name or "lora.down" in name
        if cross and down and len(shape) == 2:
            return _WIDTHS.get(shape[1], "")
    return ""


def embedding_family(header: Header) -> str:
    if "clip_g" in header.tensors:
        return "sdxl"
    for name, (_, shape, _) in header.tensors.items():
        if (name in ("emb_params", "clip_l") or name.startswith("string_to_param")) and shape:
            return {768: "sd1", 1024: "sd2"}.get(shape[-1], "")
    return ""


def described(kind: str, family: str, folder: bool = False) -> str:
    """E.g. 'LoRA (SDXL)', 'embedding (SD 1.x)', 'VAE folder'."""
    text = KIND_WORDS[kind] + (" folder" if folder else "")
    return f"{text} ({FAMILY_WORDS[family]})" if family in FAMILY_WORDS else text
