# pyright: standard
"""Which device and precision a model runs on: CUDA, then MPS, then CPU, unless told."""

from __future__ import annotations

import os

DEVICE_ENV = "STUDIO_DEVICE"
DEVICES = ("cuda", "mps", "cpu")


def pick_device(override: str | None = None) -> str:
    """The device to run on: `override`, else $STUDIO_DEVICE, else the best one present."""
    import torch

    from studio.errors import RequestError

    wanted = override or os.environ.get(DEVICE_ENV) or ""
    if wanted:
        kind = wanted.split(":")[0]
        if kind not in DEVICES:
            raise RequestError(f"unknown device {wanted!r}; use one of {', '.join(DEVICES)}")
        if kind == "cuda" and not torch.cuda.is_available():
            raise RequestError("device 'cuda' was asked for, but no CUDA GPU is available")
        if kind == "mps" and not torch.backends.mps.is_available():
            raise RequestError("device 'mps' was asked for, but MPS is not available")
        return wanted
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def dtype_for(device: str):
    """Half precision on CUDA, full precision elsewhere."""
    import torch

    return torch.float16 if device.startswith("cuda") else torch.float32
