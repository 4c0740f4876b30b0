# pyright: standard
"""The UNet on the CPU in bf16 autocast: the fallback when OpenVINO is not installed or declines a UNet.

`bench/cpu_backends.py` measured it on the SD 1.5 UNet at 512x512 (batch 2) on a 2-core
AVX512-BF16 machine: 1.64x as fast as torch eager fp32, its output 57.6 dB PSNR from eager's
(OpenVINO bf16: 2.11x). It pays only where the CPU computes bf16 natively (AVX512-BF16 or
AMX-BF16, `bf16_native`); elsewhere bf16 is emulated and slower than fp32, so auto never picks it
there (see `cpu_backend.candidates`).

Only the UNet's call runs under `torch.autocast("cpu", bfloat16)`, without autocast's weight
cache (each weight is cast at its op and let go, so memory stays that of fp32): its weights stay
fp32 (so LoRAs load and fuse as on torch), and its output is cast back to fp32 so guidance and the
scheduler work as before. As with OpenVINO, only the UNet's `forward` is replaced, on the
instance, so the pipelines made from the loaded one, LoRAs, previews, cancel and events see the
same module. A call that is not fp32 on the CPU goes to torch.

The VAE's decode runs the same way where the UNet is full-size and the CPU computes bf16
natively, whichever backend runs the UNet (`install_decode`): on the SD VAE at 512x512 it
measured 1.89x as fast as fp32, 47.3 dB PSNR from fp32's picture. Its encode (img2img) and the
text encoder are untouched.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

NATIVE_BF16 = ("avx512_bf16", "amx_bf16")  # x86 flags with bf16 dot products in hardware


def cpu_capabilities() -> Mapping[str, Any]:
    """What torch reports of this CPU (`torch.cpu.get_capabilities`); empty where it cannot say."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return {}
    get = getattr(torch.cpu, "get_capabilities", None)
    try:
        return get() if get is not None else {}
    except RuntimeError:
        return {}


def bf16_native(capabilities: Mapping[str, Any] | None = None) -> bool:
    """Whether the CPU of `capabilities` (default: this one) computes bf16 natively. Other CPUs
    (ARM's bf16 included) are left out until bf16 autocast is measured faster on them."""
    found = cpu_capabilities() if capabilities is None else capabilities
    return any(bool(found.get(flag)) for flag in NATIVE_BF16)


def install(unet) -> None:
    """Run `unet`'s calls under bf16 autocast."""
    unet.forward = Bf16Forward(unet)


def installed(unet) -> bool:
    return isinstance(getattr(unet, "__dict__", {}).get("forward"), Bf16Forward)


def install_decode(vae) -> None:
    """Run `vae`'s decodes (whole or in tiles) under bf16 autocast."""
    vae.decode = Bf16Decode(vae)


def decode_installed(vae) -> bool:
    return isinstance(getattr(vae, "__dict__", {}).get("decode"), Bf16Decode)


def _in_bf16(sample, call: Callable[[], Any]):
    """`call()` under bf16 autocast, its tensor output (first of a tuple, or `.sample`) cast back
    to fp32; None, without calling, when `sample` (its input) is not an fp32 CPU tensor."""
    import torch

    if not isinstance(sample, torch.Tensor) or sample.dtype != torch.float32 or sample.device.type != "cpu":
        return None
    # autocast's cache would keep a bf16 copy of every weight until the call ends (+5 GB for
    # SDXL's UNet); each weight is used once per call, so casting it at its op costs nothing more.
    with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
        out = call()
    if isinstance(out, tuple):
        return (out[0].float(), *out[1:])
    out.sample = out.sample.float()
    return out


class Bf16Decode:
    """The VAE's own decode under bf16 autocast on the CPU, the pixels cast back to fp32."""

    def __init__(self, vae):
        self.vae = vae

    def __call__(self, z, *args: Any, **kwargs: Any):
        decode = functools.partial(type(self.vae).decode, self.vae, z, *args, **kwargs)
        out = _in_bf16(z, decode)
        return decode() if out is None else out


class Bf16Forward:
    """The UNet's own forward under bf16 autocast on the CPU, its output cast back to fp32."""

    def __init__(self, unet):
        self.unet = unet
        self.calls = {"bf16": 0, "torch": 0}

    def __call__(self, *args: Any, **kwargs: Any):
        forward = functools.partial(type(self.unet).forward, self.unet, *args, **kwargs)
        out = _in_bf16(args[0] if args else kwargs.get("sample"), forward)
        if out is None:
            self.calls["torch"] += 1
            return forward()
        self.calls["bf16"] += 1
        return out
