"""Assemble the embedded model's diffusers folder from a training run.

    python -m studio.embedded.export --run runs/ldm --vae studio/assets/models/landscape/vae \
        --out studio/assets/models/landscape

Writes a Stable-Diffusion-format folder (model_index.json, one folder per component,
safetensors weights; the UNet is the moving average of training) and `studio.json` with
the model's name, default settings and latent -> RGB preview factors fitted from its own
autoencoder on fresh renders.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from studio.embedded.architecture import build_scheduler, build_text_encoder, build_unet
from studio.embedded.checkpoints import load_checkpoint

# Guidance 6: after 9,000 steps held-out ground was 93 / 95 / 97 % at 5 / 6 / 7, trees 82 / 81 / 80 % (README).
DEFAULTS = {"steps": 20, "guidance_scale": 6.0, "scheduler": "DPM++ 2M Karras", "width": 128, "height": 128}
NAME = "Studio landscape (embedded)"


def preview_factors(vae, count: int = 24, seed: int = 7) -> dict:
    import torch

    from studio.embedded.scene import random_scene
    from studio.embedded.world import render
    from studio.engine.previews import fit_preview_factors

    rng = np.random.default_rng(seed)
    images = np.stack([render(random_scene(rng), 128, 128, rng) for _ in range(count)])
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    return fit_preview_factors(vae, pixels).to_dict()


def export(run: Path, vae_path: Path, out: Path, unet_dtype: str = "float16") -> Path:
    import torch
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
    from transformers import CLIPTokenizer

    from studio.embedded.train_ldm import saved_config

    state = load_checkpoint(run / "checkpoint.pt")
    config = saved_config(run / "checkpoint.pt")
    tokenizer = CLIPTokenizer.from_pretrained(run / "tokenizer")
    text_encoder = build_text_encoder(tokenizer, layers=config.text_layers)
    text_encoder.load_state_dict(state["text_encoder"])
    unet = build_unet(config.channels)
    unet.load_state_dict(state["ema"])
    vae = AutoencoderKL.from_pretrained(vae_path).eval()
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet.to(getattr(torch, unet_dtype)),
        # diffusers annotates these as a scheduler enum and without Optional; any scheduler and None work
        scheduler=build_scheduler(),  # pyright: ignore[reportArgumentType]
        safety_checker=None,  # pyright: ignore[reportArgumentType]
        feature_extractor=None,  # pyright: ignore[reportArgumentType]
        requires_safety_checker=False,
    )
    staging = out.with_name(out.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    pipe.save_pretrained(staging, safe_serialization=True)
    for file in staging.glob("*/config.json"):  # no local paths of this machine in the shipped files
        values = json.loads(file.read_text(encoding="utf-8"))
        if values.pop("_name_or_path", None) is not None:
            file.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    studio = {"name": NAME, "trained_steps": state["step"], "defaults": DEFAULTS, "preview": preview_factors(vae)}
    studio.update(_hints(out / "studio.json"))
    (staging / "studio.json").write_text(json.dumps(studio, indent=2), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    staging.replace(out)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=Path("runs/ldm"))
    parser.add_argument("--vae", type=Path, default=Path("studio/assets/models/landscape/vae"))
    parser.add_argument("--out", type=Path, default=Path("studio/assets/models/landscape"))
    args = parser.parse_args(argv)
    folder = export(args.run, args.vae, args.out)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"wrote {folder} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()


def _hints(previous: Path) -> dict:
    """What a person wrote into the model's studio.json (examples, note, vocabulary, outpaint): kept on re-export."""
    try:
        data = json.loads(previous.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {
        key: data[key]
        for key in ("examples", "note", "vocabulary", "outpaint")
        if isinstance(data, dict) and key in data
    }
