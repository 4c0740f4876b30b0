"""The embedded model's autoencoder: its architecture, the bridge between rendered images and
tensors, and exporting it in diffusers format with its latent scaling factor."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import torch
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.models.autoencoders.vae import DecoderOutput
from diffusers.models.modeling_outputs import AutoencoderKLOutput

from studio.embedded import world

# 8x downsampling (16 x 16 x 4 latents for 128 x 128), kept small so that decoding a
# 128 x 128 image costs about 10 ms on two CPU threads.
DEFAULT_CHANNELS = (16, 32, 64, 64)
LATENT_CHANNELS = 4
NORM_GROUPS = 8


def build_vae(
    channels: tuple[int, ...] = DEFAULT_CHANNELS, norm_groups: int = NORM_GROUPS, layers_per_block: int = 1
) -> AutoencoderKL:
    """A fresh AutoencoderKL with one down/up block per channel count (2**(n-1)x downsampling)."""
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        # diffusers annotates these tuple[str] / tuple[int] where it means any length
        down_block_types=("DownEncoderBlock2D",) * len(channels),  # pyright: ignore[reportArgumentType]
        up_block_types=("UpDecoderBlock2D",) * len(channels),  # pyright: ignore[reportArgumentType]
        block_out_channels=tuple(channels),  # pyright: ignore[reportArgumentType]
        layers_per_block=layers_per_block,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=norm_groups,
        sample_size=128,
        mid_block_add_attention=False,  # a 16 x 16 latent gains nothing from attention
    )


def to_tensor(images: list[np.ndarray] | np.ndarray) -> torch.Tensor:
    """uint8 H x W x 3 images (same size) -> float N x 3 x H x W in [-1, 1]."""
    batch = torch.from_numpy(np.ascontiguousarray(np.stack(list(images))))
    return batch.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_images(batch: torch.Tensor) -> np.ndarray:
    """float N x 3 x H x W in [-1, 1] -> uint8 N x H x W x 3."""
    pixels = (batch.detach().clamp(-1, 1) + 1) * 127.5
    return pixels.round().permute(0, 2, 3, 1).to(torch.uint8).numpy()


def psnr(mse_of_unit_range: float) -> float:
    """PSNR in dB from a mean squared error measured on [0, 1] images."""
    return float(10 * np.log10(1.0 / max(mse_of_unit_range, 1e-12)))


def reconstruct(vae: AutoencoderKL, batch: torch.Tensor) -> torch.Tensor:
    """Encode to the posterior mean and decode, without gradients."""
    with torch.inference_mode():
        return decode(vae, encode_mode(vae, batch))


def encode_mode(vae: AutoencoderKL, batch: torch.Tensor) -> torch.Tensor:
    """The posterior mean of `batch`'s latents."""
    return cast(AutoencoderKLOutput, vae.encode(batch)).latent_dist.mode()


def decode(vae: AutoencoderKL, latents: torch.Tensor) -> torch.Tensor:
    """`latents` decoded to N x 3 x H x W images, roughly in [-1, 1]."""
    # diffusers annotates `z` as FloatTensor where any float tensor will do
    return cast(DecoderOutput, vae.decode(latents)).sample  # pyright: ignore[reportArgumentType]


def fresh_renders(count: int, width: int, height: int, seed: int) -> list[np.ndarray]:
    """`count` random scenes rendered at width x height, reproducibly from `seed`."""
    rng = np.random.default_rng(seed)
    return [world.render(world.random_scene(rng), width, height, rng) for _ in range(count)]


def latent_scaling_factor(vae: AutoencoderKL, seed: int = 2024, count: int = 64) -> float:
    """1 / std of the latents of fresh 128 x 128 renders: scales latents to unit variance."""
    latents = []
    with torch.inference_mode():
        for start in range(0, count, 16):
            batch = to_tensor(fresh_renders(16, 128, 128, seed + start))
            latents.append(encode_mode(vae, batch))
    return float(1.0 / torch.cat(latents).std())


def export(vae: AutoencoderKL, directory: str | Path) -> float:
    """Saves `vae` in diffusers format (config.json + safetensors) with the scaling factor
    measured on fresh renders in its config; returns that factor."""
    factor = latent_scaling_factor(vae)
    vae.register_to_config(scaling_factor=factor)
    vae.save_pretrained(str(directory), safe_serialization=True)
    return factor
