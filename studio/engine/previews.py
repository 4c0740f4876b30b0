# pyright: standard
"""Step previews: the model's current guess of the clean image, drawn without the VAE.

A linear map from latent channels to RGB (plus a bias) approximates the VAE decoder well
enough to watch a picture form, at almost no cost. SD 1.x/2.x and SDXL have well-known
published factors; a model folder may carry its own in `studio.json`; failing both, the
factors are fitted from the model's own autoencoder by least squares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np

if TYPE_CHECKING:
    from studio.engine.draft_decoders import DraftSlot

# Published latent -> RGB factors (as used by ComfyUI's and A1111's cheap previews),
# applied to the scaled latents the UNet works on; the result is in [-1, 1].
SD_FACTORS = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
SD_BIAS = (0.0, 0.0, 0.0)
SDXL_FACTORS = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)
SDXL_BIAS = (0.1084, -0.0175, -0.0011)


Triple = tuple[float, float, float]


@dataclass(frozen=True)
class PreviewFactors:
    """RGB = latents . factors + bias, per pixel; factors has one row per latent channel."""

    factors: tuple[tuple[float, float, float], ...]
    bias: tuple[float, float, float] = (0.0, 0.0, 0.0)
    source: str = ""

    @classmethod
    def from_dict(cls, data: dict, source: str = "model folder") -> PreviewFactors:
        factors = tuple(tuple(float(v) for v in row) for row in data["factors"])
        if not factors or any(len(row) != 3 for row in factors):
            raise ValueError("preview factors must be rows of three numbers, one row per latent channel")
        bias = tuple(float(v) for v in data.get("bias", (0.0, 0.0, 0.0)))
        if len(bias) != 3:
            raise ValueError("preview bias must be three numbers")
        return cls(factors=cast(tuple[Triple, ...], factors), bias=cast(Triple, bias), source=source)

    def to_dict(self) -> dict:
        return {"factors": [list(r) for r in self.factors], "bias": list(self.bias)}

    @property
    def channels(self) -> int:
        return len(self.factors)


SD = PreviewFactors(SD_FACTORS, SD_BIAS, "SD 1.x/2.x")
SDXL = PreviewFactors(SDXL_FACTORS, SDXL_BIAS, "SDXL")


class LatentPreviewer:
    """Turns a batch of latents into a uint8 RGB picture of the first image, cheaply: at latent
    resolution through the linear factors, or (`full_size()`) at full size through the VAE's
    draft decoder once `draft` holds one (see `draft_decoders`)."""

    def __init__(self, factors: PreviewFactors, draft: DraftSlot | None = None, full_size: bool = False):
        import torch

        from studio.engine.draft_decoders import DraftSlot

        self.factors = factors
        self.draft = draft or DraftSlot()
        self._full_size = full_size
        self._weight = torch.tensor(factors.factors, dtype=torch.float32).T.contiguous()
        self._bias = torch.tensor(factors.bias, dtype=torch.float32)

    def full_size(self) -> LatentPreviewer:
        """This previewer drawing full-size pictures with the draft decoder whenever it is ready."""
        return LatentPreviewer(self.factors, self.draft, full_size=True)

    def rgb(self, latents) -> np.ndarray:
        import torch

        decoder = self.draft.decoder if self._full_size else None
        if decoder is not None and decoder.latent_channels == latents.shape[1]:
            return decoder.rgb(latents)
        x = latents[0].detach().to("cpu", torch.float32)
        image = torch.nn.functional.linear(x.permute(1, 2, 0), self._weight, self._bias)
        return ((image + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()


def fit_preview_factors(vae, images, source: str = "fitted") -> PreviewFactors:
    """Least-squares latent -> RGB factors for `vae`, from `images` (N x 3 x H x W in [-1, 1]).

    The latents are scaled as the UNet sees them; the target is each image averaged over
    the patch that one latent pixel covers.
    """
    import torch

    with torch.no_grad():
        param = next(vae.parameters())
        posterior = vae.encode(images.to(param.device, param.dtype)).latent_dist
        latents = (posterior.mean * vae.config.scaling_factor).float().cpu()
    h, w = latents.shape[-2:]
    target = torch.nn.functional.adaptive_avg_pool2d(images.float().cpu(), (h, w))
    x = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
    y = target.permute(0, 2, 3, 1).reshape(-1, 3)
    design = torch.cat([x, torch.ones(len(x), 1)], dim=1)
    solution = torch.linalg.lstsq(design.double(), y.double()).solution.float()
    factors = tuple(tuple(float(v) for v in row) for row in solution[:-1])
    bias = tuple(float(v) for v in solution[-1])
    return PreviewFactors(cast(tuple[Triple, ...], factors), cast(Triple, bias), source)  # RGB: three columns


def calibration_images(count: int = 8, size: int = 64, seed: int = 0):
    """Smooth coloured images (gradients and blobs) to fit factors on, in [-1, 1]."""
    import torch

    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    images = []
    for _ in range(count):
        a, b, c = torch.rand(3, 3, generator=g) * 2 - 1
        centre = torch.rand(2, generator=g) * 2 - 1
        blob = torch.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) * 4)
        image = a[:, None, None] * xx + b[:, None, None] * yy + c[:, None, None] * blob
        images.append(image.clamp(-1, 1))
    return torch.stack(images)
