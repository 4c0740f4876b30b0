# pyright: standard
"""The starting noise of a variation (AUTOMATIC1111's "Variation seed" and "Variation seed strength").

A variation starts from the noise of the image's seed turned towards the noise of its
variation seed by the variation strength, along the great circle between the two (spherical
interpolation keeps the noise's size; a straight mix would shrink it and wash the picture
out). Strength 0 is the seed's noise, strength 1 the variation seed's. The seed's noise is
drawn from the generator the pipeline then goes on using, exactly as the pipeline itself would
draw it, so a sampler that adds noise at each step draws the same numbers as without variations.
"""

from __future__ import annotations

from typing import Any

# Above this cosine the two noises are so nearly parallel that the arc is a straight line.
PARALLEL = 0.9995


def slerp(t: float, low, high):
    """The point a fraction `t` of the way from tensor `low` to tensor `high` along the great
    circle between them (computed in float64, returned in `low`'s dtype); exact at 0 and 1."""
    import torch

    a, b = low.double(), high.double()
    cosine = float((a.flatten() @ b.flatten()) / (a.norm() * b.norm()))
    if abs(cosine) > PARALLEL:
        mixed = (1.0 - t) * a + t * b
    else:
        omega = torch.tensor(cosine, dtype=torch.float64).clamp(-1.0, 1.0).acos()
        sine = omega.sin()
        mixed = ((1.0 - t) * omega).sin() / sine * a + (t * omega).sin() / sine * b
    return mixed.to(low.dtype)


def variation_noise(shape: tuple[int, ...], seed: Any, variation_seed: int, strength: float, dtype, device: Any):
    """The starting latents of shape `shape` for `seed` (a number, or the CPU generator seeded
    with it, which this draws from as the pipeline would) varied towards `variation_seed`."""
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    generator = seed if isinstance(seed, torch.Generator) else torch.Generator("cpu").manual_seed(int(seed))
    base = randn_tensor(shape, generator=generator, device=torch.device(device), dtype=dtype)
    if strength <= 0:
        return base
    other = randn_tensor(
        shape,
        generator=torch.Generator("cpu").manual_seed(int(variation_seed)),
        device=torch.device(device),
        dtype=dtype,
    )
    return slerp(float(strength), base, other)
