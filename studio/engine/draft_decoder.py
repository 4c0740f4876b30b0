# pyright: standard
"""A small convolutional decoder fitted to one model's VAE: latents to pixels in milliseconds.

The network reads the scaled latents the UNet works on and draws the picture at full size:
a stem and a few residual blocks at latent resolution, then three pixel-shuffle stages, each
doubling the sides with fewer channels, the last one giving RGB at eight times the latent
size. It is distilled from the VAE's own decodes (see `draft_decoder_training`) and saved as
a safetensors file whose metadata says which VAE it was fitted to and how well it matched.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

ARCHITECTURE = "draft-1"  # changes whenever the layers below change; old cache files are then refitted
WIDTH = 64  # channels at latent resolution; 48, 32 and 24... after each doubling (see `_widths`)
BLOCKS = 3  # residual blocks at latent resolution


def _widths(width: int) -> tuple[int, int, int]:
    return max(8, width * 3 // 4), max(8, width // 2), max(8, width * 3 // 8)


def build_network(latent_channels: int, width: int = WIDTH, blocks: int = BLOCKS):
    """The untrained network: (N, latent_channels, h, w) -> (N, 3, 8h, 8w) in [-1, 1] (roughly)."""
    import torch
    from torch import nn

    class Residual(nn.Module):
        def __init__(self, channels: int):
            super().__init__()
            self.first = nn.Conv2d(channels, channels, 3, padding=1)
            self.second = nn.Conv2d(channels, channels, 3, padding=1)
            with torch.no_grad():  # each block starts as the identity
                for parameter in self.second.parameters():
                    parameter.zero_()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.second(nn.functional.silu(self.first(x)))

    def up(inputs: int, outputs: int) -> list[nn.Module]:
        return [nn.Conv2d(inputs, outputs * 4, 3, padding=1), nn.PixelShuffle(2)]

    half, quarter, eighth = _widths(width)
    layers: list[nn.Module] = [nn.Conv2d(latent_channels, width, 3, padding=1), nn.SiLU()]
    layers += [Residual(width) for _ in range(blocks)]
    layers += [*up(width, half), nn.SiLU(), Residual(half)]
    layers += [*up(half, quarter), nn.SiLU(), nn.Conv2d(quarter, eighth, 3, padding=1), nn.SiLU()]
    layers += up(eighth, 3)
    return nn.Sequential(*layers)


@dataclass
class DraftDecoder:
    """A trained draft decoder for one VAE (`key`), ready to decode on the CPU."""

    network: Any
    key: str
    latent_channels: int
    width: int = WIDTH
    blocks: int = BLOCKS
    psnr: float = 0.0  # against the full decode, on pairs it was not trained on
    steps: int = 0

    def decode(self, latents):
        """Scaled latents (N x C x h x w, any device/dtype) -> images (N x 3 x 8h x 8w, float32 CPU, [-1, 1])."""
        import torch

        with torch.inference_mode():
            x = latents.detach().to("cpu", torch.float32)
            return self.network(x).clamp(-1, 1)

    def rgb(self, latents) -> np.ndarray:
        """The first image of `latents` as H x W x 3 uint8 pixels."""
        image = self.decode(latents[:1])[0]
        return ((image + 1.0) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()

    def pixels(self, latents) -> np.ndarray:
        """All images of `latents` as N x H x W x 3 floats in [0, 1], as a pipeline's `output_type="np"` gives."""
        images = self.decode(latents)
        return ((images + 1.0) / 2).permute(0, 2, 3, 1).numpy()

    def save(self, path: Path) -> None:
        """Write the weights and what they were fitted to, atomically."""
        from safetensors.torch import save

        from studio.files import write_atomic

        metadata = {
            "architecture": ARCHITECTURE,
            "key": self.key,
            "shape": json.dumps({"latent_channels": self.latent_channels, "width": self.width, "blocks": self.blocks}),
            "psnr": f"{self.psnr:.3f}",
            "steps": str(self.steps),
        }
        tensors = {name: t.detach().contiguous() for name, t in self.network.state_dict().items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, save(tensors, metadata=metadata))


def load_decoder(path: Path, key: str) -> DraftDecoder:
    """The decoder saved at `path` for the VAE `key`; ValueError when the file is damaged or
    holds another VAE's or another architecture's decoder."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        data = path.read_bytes()
        tensors = load(data)
        metadata = _metadata(data)
        if metadata.get("architecture") != ARCHITECTURE or metadata.get("key") != key:
            raise ValueError("it was fitted to another VAE or is of another version")
        shape = json.loads(metadata["shape"])
        network = build_network(int(shape["latent_channels"]), int(shape["width"]), int(shape["blocks"]))
        network.load_state_dict(tensors, strict=True)
    except (OSError, SafetensorError, KeyError, TypeError, RuntimeError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    network.eval().requires_grad_(False)
    return DraftDecoder(
        network,
        key,
        int(shape["latent_channels"]),
        int(shape["width"]),
        int(shape["blocks"]),
        psnr=float(metadata.get("psnr", 0)),
        steps=int(metadata.get("steps", 0)),
    )


def _metadata(data: bytes) -> dict[str, str]:
    """The `__metadata__` of a safetensors file's header."""
    if len(data) < 8:
        raise ValueError("the file is too short")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise ValueError("the header is cut short")
    header = json.loads(data[8 : 8 + size])
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict):
        raise ValueError("no metadata")
    return metadata


def parameter_count(network) -> int:
    return sum(p.numel() for p in network.parameters())
