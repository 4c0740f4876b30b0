"""Writes the config folders Studio ships for single-file checkpoints (studio/engine/configs/).

One diffusers-layout folder per model family, JSON only (no weights), so diffusers' single-file
loader finds every config it needs on disk: model_index.json and the configs of the UNet, VAE,
text encoder(s) and scheduler. The values are the published shapes of SD 1.5, SD 2.1 (768-v),
SDXL base 1.0 and their inpainting models. The CLIP BPE tokenizer is written once per padding
variant under tokenizers/ (OpenAI CLIP pads with its end token; OpenCLIP, in SD 2.x and SDXL's
second encoder, with id 0), built from open_clip's BPE merges file
(`bpe_simple_vocab_16e6.txt.gz`, read from the installed open-clip-torch without importing it).

Run once after a change here, and commit its output: python scripts/build_model_configs.py [--out DIR]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "studio" / "engine" / "configs"
DIFFUSERS_VERSION = "0.42.1"

# ---- UNets ----

SD1_UNET = {
    "_class_name": "UNet2DConditionModel",
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "use_linear_projection": False,
}

# SD 2.1 at 768 (v-prediction); the SD 2 inpainting model is the 512 base's shape.
SD2_UNET = {
    **SD1_UNET,
    "attention_head_dim": [5, 10, 20, 20],
    "cross_attention_dim": 1024,
    "sample_size": 96,
    "upcast_attention": True,
    "use_linear_projection": True,
}

SDXL_UNET = {
    "_class_name": "UNet2DConditionModel",
    "act_fn": "silu",
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "attention_head_dim": [5, 10, 20],
    "block_out_channels": [320, 640, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 2048,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "projection_class_embeddings_input_dim": 2816,
    "sample_size": 128,
    "transformer_layers_per_block": [1, 2, 10],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "use_linear_projection": True,
}

# ---- VAEs ----

SD_VAE = {
    "_class_name": "AutoencoderKL",
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 512,
    "scaling_factor": 0.18215,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}

SDXL_VAE = {**SD_VAE, "force_upcast": True, "sample_size": 1024, "scaling_factor": 0.13025}

# ---- Text encoders (transformers) ----
# eos_token_id is the real end token, so the pooled output is read at the first end token,
# as OpenAI CLIP and OpenCLIP do.

_CLIP_TEXT_COMMON = {
    "attention_dropout": 0.0,
    "bos_token_id": 49406,
    "eos_token_id": 49407,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "vocab_size": 49408,
}

CLIP_L_TEXT = {  # OpenAI CLIP ViT-L/14
    **_CLIP_TEXT_COMMON,
    "architectures": ["CLIPTextModel"],
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 49407,
    "projection_dim": 768,
}

OPEN_CLIP_H_TEXT = {  # OpenCLIP ViT-H/14 without its last layer, as SD 2.x uses it
    **_CLIP_TEXT_COMMON,
    "architectures": ["CLIPTextModel"],
    "hidden_act": "gelu",
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_attention_heads": 16,
    "num_hidden_layers": 23,
    "pad_token_id": 0,
    "projection_dim": 512,
}

OPEN_CLIP_BIG_G_TEXT = {  # OpenCLIP ViT-bigG/14, with its text projection
    **_CLIP_TEXT_COMMON,
    "architectures": ["CLIPTextModelWithProjection"],
    "hidden_act": "gelu",
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_attention_heads": 20,
    "num_hidden_layers": 32,
    "pad_token_id": 0,
    "projection_dim": 1280,
}

# ---- Scheduler ----
# SD's training noise schedule. clip_sample and set_alpha_to_one are read by DDIM when Studio
# builds it from this config; their defaults there would be wrong for these models.

SCHEDULER = {
    "_class_name": "EulerDiscreteScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
    "use_karras_sigmas": False,
}

# ---- Pipelines ----

_SD_INDEX = {
    "feature_extractor": [None, None],
    "image_encoder": [None, None],
    "requires_safety_checker": False,
    "safety_checker": [None, None],
    "scheduler": ["diffusers", "EulerDiscreteScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}

_SDXL_INDEX = {
    "add_watermarker": False,
    "feature_extractor": [None, None],
    "force_zeros_for_empty_prompt": True,
    "image_encoder": [None, None],
    "scheduler": ["diffusers", "EulerDiscreteScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "tokenizer_2": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}

# family -> (model_index, {component: config})
FAMILIES: dict[str, tuple[dict, dict[str, dict]]] = {
    "sd1": (
        {"_class_name": "StableDiffusionPipeline", **_SD_INDEX},
        {"unet": SD1_UNET, "vae": SD_VAE, "text_encoder": CLIP_L_TEXT},
    ),
    "sd1-inpaint": (
        {"_class_name": "StableDiffusionInpaintPipeline", **_SD_INDEX},
        {"unet": {**SD1_UNET, "in_channels": 9}, "vae": SD_VAE, "text_encoder": CLIP_L_TEXT},
    ),
    "sd2": (
        {"_class_name": "StableDiffusionPipeline", **_SD_INDEX},
        {"unet": SD2_UNET, "vae": {**SD_VAE, "sample_size": 768}, "text_encoder": OPEN_CLIP_H_TEXT},
    ),
    "sd2-inpaint": (
        {"_class_name": "StableDiffusionInpaintPipeline", **_SD_INDEX},
        {
            "unet": {**SD2_UNET, "in_channels": 9, "sample_size": 64, "upcast_attention": False},
            "vae": SD_VAE,
            "text_encoder": OPEN_CLIP_H_TEXT,
        },
    ),
    "sdxl": (
        {"_class_name": "StableDiffusionXLPipeline", **_SDXL_INDEX},
        {"unet": SDXL_UNET, "vae": SDXL_VAE, "text_encoder": CLIP_L_TEXT, "text_encoder_2": OPEN_CLIP_BIG_G_TEXT},
    ),
    "sdxl-inpaint": (
        {"_class_name": "StableDiffusionXLInpaintPipeline", **_SDXL_INDEX, "requires_aesthetics_score": False},
        {
            "unet": {**SDXL_UNET, "in_channels": 9},
            "vae": SDXL_VAE,
            "text_encoder": CLIP_L_TEXT,
            "text_encoder_2": OPEN_CLIP_BIG_G_TEXT,
        },
    ),
}

# ---- Tokenizers ----

VOCAB_SIZE = 49408
N_MERGES = 49152 - 256 - 2  # 48894 lines after the header, as OpenAI CLIP reads them
START, END = "<|startoftext|>", "<|endoftext|>"
# name -> pad token: OpenAI CLIP pads with its end token, OpenCLIP with id 0 ("!").
TOKENIZER_PADS = {"clip": END, "open-clip": "!"}


def byte_alphabet() -> list[str]:
    """CLIP's byte-level alphabet: one printable character per byte value, in vocabulary order.

    Bytes that are printable Latin-1 stand for themselves; the others (controls, space, soft hyphen)
    take the characters from U+0100 on, in byte order.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(others))]


def bpe_merges_file() -> Path:
    """open_clip's BPE file, found without importing open_clip (its __init__ needs torchvision)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or spec.origin is None:
        raise SystemExit('open-clip-torch is not installed: pip install --no-deps "open-clip-torch==3.3.0"')
    return Path(spec.origin).parent / "bpe_simple_vocab_16e6.txt.gz"


def clip_vocabulary(path: Path) -> tuple[dict[str, int], list[str]]:
    """CLIP's vocabulary (token -> id) and merges, as OpenAI CLIP builds them from its BPE file."""
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").split("\n")
    merges = lines[1 : 1 + N_MERGES]  # the first line is a header
    alphabet = byte_alphabet()
    tokens = [*alphabet, *(c + "</w>" for c in alphabet), *(m.replace(" ", "") for m in merges), START, END]
    if len(tokens) != VOCAB_SIZE or len(set(tokens)) != VOCAB_SIZE:
        raise SystemExit(f"{path}: expected {VOCAB_SIZE} distinct tokens, built {len(set(tokens))}")
    return {token: i for i, token in enumerate(tokens)}, merges


def tokenizer_files(pad: str) -> dict[str, dict]:
    special = {"bos_token": START, "eos_token": END, "unk_token": END, "pad_token": pad}
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        **special,
        # Special tokens typed in a prompt are tokenized as text, as open_clip does; this also keeps
        # OpenCLIP's pad token "!" from being taken out of prompts as id 0.
        "split_special_tokens": True,
        "clean_up_tokenization_spaces": False,
    }
    return {"tokenizer_config.json": config, "special_tokens_map.json": special}


# ---- Writing ----


def _write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def build(out: Path) -> None:
    """Writes every family folder and both tokenizer folders under `out`, replacing what was there."""
    vocab, merges = clip_vocabulary(bpe_merges_file())
    for name in [*FAMILIES, "tokenizers"]:
        shutil.rmtree(out / name, ignore_errors=True)
    for name, (index, components) in FAMILIES.items():
        folder = out / name
        _write_json(folder / "model_index.json", {**index, "_diffusers_version": DIFFUSERS_VERSION})
        for component, config in components.items():
            if "_class_name" in config:
                config = {**config, "_diffusers_version": DIFFUSERS_VERSION}
            _write_json(folder / component / "config.json", config)
        _write_json(
            folder / "scheduler" / "scheduler_config.json", {**SCHEDULER, "_diffusers_version": DIFFUSERS_VERSION}
        )
    for kind, pad in TOKENIZER_PADS.items():
        folder = out / "tokenizers" / kind
        folder.mkdir(parents=True)
        (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
        (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
        for filename, value in tokenizer_files(pad).items():
            _write_json(folder / filename, value)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write into (default: %(default)s)")
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
