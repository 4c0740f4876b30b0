# pyright: standard
"""Distilling a draft decoder from a VAE: pairs of (latents, full decode), then a short fit.

Half the latents are tiles of pictures the model itself makes in a few short denoising runs
(`sample_latents`, its example prompts), so the decoder learns what the model draws. The
others come from pictures the VAE encodes (gradients and blobs as the preview factors use,
plus hard-edged shapes, stripes and noise at several scales, for edges and texture), each as
the posterior's mean or a sample, a mix of two, or with noise added as early denoising
guesses are. The target of each is the VAE's own decode of it, not the picture: the draft
decoder copies the VAE, errors included. Everything runs in small tiles (`TrainingPlan.tile`
latent pixels a side), so a full-size VAE costs a second or two a pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from studio.engine.draft_decoder import BLOCKS, WIDTH, DraftDecoder, build_network


@dataclass(frozen=True)
class TrainingPlan:
    """How much work one distillation does."""

    pairs: int = 96  # (latents, decode) pairs made with the VAE
    generated: int = 6  # pictures the model makes in short denoising runs; half the pairs are tiles of them
    held_out: int = 16  # of them, kept apart to measure the PSNR
    tile: int = 12  # latent pixels a side of each pair (x8 in pixels)
    steps: int = 1200
    batch: int = 8
    learning_rate: float = 2e-3
    width: int = WIDTH
    blocks: int = BLOCKS
    seed: int = 0


class Stopped(Exception):
    """The distillation was cancelled."""


Progress = Callable[[float], None]


def training_images(count: int, size: int, seed: int = 0):
    """`count` RGB pictures (count x 3 x size x size, in [-1, 1]) with smooth areas, hard
    edges and texture, different for every seed."""
    import torch

    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    images = []
    for k in range(count):
        colour = lambda: torch.rand(3, 1, 1, generator=g) * 2 - 1
        a, b = colour(), colour()
        image = a * xx + b * yy + colour() * 0.5
        for _ in range(int(torch.randint(1, 5, (1,), generator=g))):
            cx, cy, r = (torch.rand(3, generator=g) * 2 - 1).tolist()
            kind = k % 4
            if kind == 0:  # soft blob
                shape = torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) * (2 + 8 * abs(r)))
            elif kind == 1:  # hard disc
                shape = (((xx - cx) ** 2 + (yy - cy) ** 2) < (0.1 + 0.4 * abs(r)) ** 2).float()
            elif kind == 2:  # rectangle
                shape = ((xx - cx).abs() < 0.1 + 0.5 * abs(r)) & ((yy - cy).abs() < 0.1 + 0.5 * abs(cx * r))
                shape = shape.float()
            else:  # stripes at an angle
                angle = math.pi * r
                frequency = 2 + 14 * abs(cy)
                shape = (torch.sin((xx * math.cos(angle) + yy * math.sin(angle)) * frequency * math.pi) > 0).float()
            image = image * (1 - shape) + colour() * shape
        scale = int(2 ** int(torch.randint(1, 5, (1,), generator=g)))  # noise from coarse to fine
        noise = torch.rand(3, max(1, size // scale), max(1, size // scale), generator=g) * 2 - 1
        noise = torch.nn.functional.interpolate(noise[None], size=(size, size), mode="bilinear")[0]
        image = image + noise * float(torch.rand(1, generator=g)) * 0.5
        images.append(image.clamp(-1, 1))
    return torch.stack(images)


def make_pairs(
    vae,
    plan: TrainingPlan,
    stopped: Callable[[], bool] = lambda: False,
    progress: Progress | None = None,
    generated=None,
):
    """(latents, decodes): `plan.pairs` scaled latents (tile x tile) and the VAE's decodes of
    them (3 x 8 tile x 8 tile, in [-1, 1]), both float32 on the CPU. With `generated` (scaled
    latents of pictures the model made), half the pairs are tiles cut from those."""
    import torch

    param = next(vae.parameters())
    device, dtype = param.device, param.dtype
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    scaling = float(vae.config.scaling_factor)
    shift = float(getattr(vae.config, "shift_factor", None) or 0.0)
    g = torch.Generator().manual_seed(plan.seed + 1)
    latents_out, decodes_out = [], []
    per_call = 4
    cut = plan.pairs // 2 if generated is not None and len(generated) else 0
    for start in range(0, plan.pairs, per_call):
        if stopped():
            raise Stopped
        n = min(per_call, plan.pairs - start)
        with torch.inference_mode():
            if start < cut:
                raw = torch.stack([_tile(generated, plan.tile, g) for _ in range(n)]) / scaling + shift
            else:
                raw = _synthetic(vae, n, plan.tile * factor, plan.seed * 7919 + start, start // per_call, g)
            decoded = vae.decode(raw.to(device, dtype)).sample.float().cpu().clamp(-1, 1)
        latents_out.append((raw - shift) * scaling)
        decodes_out.append(decoded)
        if progress is not None:
            progress(min(1.0, (start + n) / plan.pairs))
    return torch.cat(latents_out), torch.cat(decodes_out)


def _tile(latents, side: int, g):
    """A random `side` x `side` tile of one of `latents` (all of it when it is smaller), mirrored at random."""
    import torch

    picture = latents[int(torch.randint(0, len(latents), (1,), generator=g))].float()
    h, w = picture.shape[-2:]
    y = int(torch.randint(0, max(1, h - side + 1), (1,), generator=g))
    x = int(torch.randint(0, max(1, w - side + 1), (1,), generator=g))
    tile = picture[:, y : y + side, x : x + side]
    return tile.flip(-1) if bool(torch.rand(1, generator=g) < 0.5) else tile


def _synthetic(vae, n: int, size: int, seed: int, call: int, g):
    """Raw latents of `n` synthetic pictures: posterior means or samples, mixes, or with noise added."""
    import torch

    param = next(vae.parameters())
    images = training_images(n, size, seed=seed)
    posterior = vae.encode(images.to(param.device, param.dtype)).latent_dist
    mean, std = posterior.mean.float().cpu(), posterior.std.float().cpu()
    raw = mean + std * torch.randn(mean.shape, generator=g) * (call % 2)
    kind = call % 3
    if kind == 1:  # a mix of two pictures' latents
        raw = raw.lerp(raw.roll(1, 0), float(torch.rand(1, generator=g)) * 0.5)
    elif kind == 2:  # an early denoising guess: the latents plus noise, shrunk
        noise = torch.randn(raw.shape, generator=g) * raw.std()
        mix = float(torch.rand(1, generator=g)) * 0.3
        raw = raw * (1 - mix) + noise * mix
    return raw


def _go_on(stopped: Callable[[], bool]) -> dict:
    if stopped():
        raise Stopped
    return {}


def sample_latents(
    pipe,
    prompts,
    count: int,
    side: int,
    steps: int,
    guidance: float,
    stopped: Callable[[], bool] = lambda: False,
    progress: Progress | None = None,
):
    """Scaled latents (count x C x side/8 x side/8, float32 CPU) of `count` pictures `pipe` makes
    from `prompts` (in turn) in `steps` steps: what the model really draws, for the pairs.
    `progress` hears 0-1 after every step."""
    import torch

    pipe.set_progress_bar_config(disable=True)
    out = []
    for k in range(count):
        if stopped():
            raise Stopped

        def step_end(_pipe, index, _timestep, _values, k=k) -> dict:
            if progress is not None:
                progress(min(1.0, (k * steps + index + 1) / (count * steps)))
            return _go_on(stopped)

        result = pipe(
            prompt=prompts[k % len(prompts)],
            num_inference_steps=steps,
            guidance_scale=guidance,
            width=side,
            height=side,
            generator=torch.Generator().manual_seed(k),
            output_type="latent",
            callback_on_step_end=step_end,
        )
        out.append(result.images.float().cpu())
    return torch.cat(out)


def psnr(guess, target) -> float:
    """Peak signal-to-noise ratio in dB of images in [-1, 1] (peak 2)."""
    import torch

    mse = float(torch.mean((guess.float() - target.float()) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(4.0 / mse)


def distil(
    vae,
    key: str,
    plan: TrainingPlan = TrainingPlan(),
    stopped: Callable[[], bool] = lambda: False,
    progress: Progress | None = None,
    generated=None,
) -> DraftDecoder:
    """A draft decoder fitted to `vae`'s decodes (its PSNR measured on pairs held out; see
    `make_pairs` for `generated`); raises Stopped as soon as `stopped()` says so. `progress`
    hears 0-1: making the pairs is the first fifth, the fit the rest."""
    import torch

    report = progress or (lambda fraction: None)
    latents, decodes = make_pairs(vae, plan, stopped, lambda f: report(0.2 * f), generated)
    held = max(1, min(plan.held_out, len(latents) // 4))
    train_latents, train_decodes = latents[held:], decodes[held:]
    torch.manual_seed(plan.seed)
    network = build_network(latents.shape[1], plan.width, plan.blocks)
    optimizer = torch.optim.Adam(network.parameters(), lr=plan.learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=plan.learning_rate, total_steps=max(1, plan.steps), pct_start=0.1
    )
    g = torch.Generator().manual_seed(plan.seed + 2)
    network.train()
    for step in range(plan.steps):
        if stopped():
            raise Stopped
        pick = torch.randint(0, len(train_latents), (min(plan.batch, len(train_latents)),), generator=g)
        x, y = train_latents[pick], train_decodes[pick]
        if step % 2:  # mirrored: the same decoder must draw both ways
            x, y = x.flip(-1), y.flip(-1)
        out = network(x)
        loss = torch.nn.functional.l1_loss(out, y) + torch.nn.functional.mse_loss(out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 20 == 0:
            report(0.2 + 0.8 * step / plan.steps)
    network.eval().requires_grad_(False)
    decoder = DraftDecoder(network, key, latents.shape[1], plan.width, plan.blocks, steps=plan.steps)
    decoder.psnr = psnr(decoder.decode(latents[:held]), decodes[:held])
    report(1.0)
    return decoder
