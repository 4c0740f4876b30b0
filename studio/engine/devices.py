# pyright: standard
"""Which device and precision a model runs on (CUDA, then MPS, then CPU, unless told; half precision
on CUDA), and how it is placed there: whole, or with model CPU offload for GPUs with little memory."""

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


OFFLOAD_ENV = "STUDIO_OFFLOAD"
_YES = ("1", "true", "yes", "on")


def offload_wanted(option: bool | None = None) -> bool:
    """Whether model CPU offload is asked for: `option`, else $STUDIO_OFFLOAD (1, true, yes, on)."""
    if option is not None:
        return bool(option)
    return os.environ.get(OFFLOAD_ENV, "").strip().lower() in _YES


def use_offload_setting(on: bool) -> None:
    """The window's `offload` setting: asks for offload in this process unless $STUDIO_OFFLOAD says already."""
    if on:
        os.environ.setdefault(OFFLOAD_ENV, "1")


def offload_note(device: str) -> str:
    return (
        f"model CPU offload (--offload) is for CUDA GPUs with little memory; on {device} it does nothing "
        f"and the model is loaded whole"
    )


def place_pipeline(pipe, device: str, offload: bool) -> str | None:
    """Put `pipe` on `device`. With `offload` on a CUDA GPU each model moves to the GPU only while it
    runs (diffusers' `enable_model_cpu_offload`: a GPU with little memory runs SDXL, a little slower);
    elsewhere offload does nothing and the note saying so is returned."""
    if offload and device.startswith("cuda"):
        pipe.enable_model_cpu_offload(device=device)
        return None
    pipe.to(device)
    return offload_note(device) if offload else None


def attention_kind(pipe) -> str:
    """How the UNet computes attention: "sdpa (...)" for torch's scaled_dot_product_attention
    (diffusers' default processor where torch has it, as every torch 2 does), else the processor's name."""
    unet = getattr(pipe, "unet", None)
    processors = {type(p).__name__ for p in getattr(unet, "attn_processors", {}).values()}
    if not processors:
        return "none"
    names = ", ".join(sorted(processors))
    return f"sdpa ({names})" if processors <= {"AttnProcessor2_0", "FusedAttnProcessor2_0"} else names
