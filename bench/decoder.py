"""The draft decoder against the full VAE decode: speed side by side, and PSNR.

Two cases, each with a draft decoder distilled here exactly as the engine does it
(`draft_decoder_training.distil`, the default plan unless --steps/--pairs say otherwise):

    embedded   the embedded model (real weights, studio/assets): its VAE's decode of the
               latents of real pictures, made by the model from its example prompts at its
               default size and steps (seeds the distillation's own short runs did not use)
    sd-vae     the full-size SD 1.x VAE (bench/scale.py's numbers) with random weights, at
               512 x 512: there the distillation target and the reference are that random
               VAE's own decodes (of latents of held-out synthetic pictures), not of any
               real picture

For each: the decoder's parameters, the time the distillation took (and the torch threads it
had), the seconds of one full decode and one draft decode of a picture, alternating
(full, draft, full, draft, ...) after a warm-up, medians and their ratio, and the PSNR of the
draft decode against the full decode (and, for scale, that of the linear preview factors,
upsampled to full size, on the embedded model). Writes bench/results/decoder-cpu.json.

Run: python bench/decoder.py [--cases embedded,sd-vae] [--rounds 5] [--steps N] [--pairs N]
     [--out bench/results/decoder-cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def alternate(full, draft, rounds: int) -> tuple[float, float]:
    """Median seconds of `full()` and `draft()`, called in turn `rounds` times after one warm-up each."""
    full(), draft()
    seconds: dict[str, list[float]] = {"full": [], "draft": []}
    for _ in range(rounds):
        for name, call in (("full", full), ("draft", draft)):
            began = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - began)
    return statistics.median(seconds["full"]), statistics.median(seconds["draft"])


def distilled(vae, plan, label: str, sampler=None):
    import torch

    from studio.engine.draft_decoder_training import distil

    began = time.perf_counter()
    generated = sampler(plan.generated, lambda: False) if sampler and plan.generated else None
    decoder = distil(vae, label, plan, progress=_progress(label), generated=generated)
    print(file=sys.stderr)
    return decoder, time.perf_counter() - began, torch.get_num_threads()


def _progress(label: str):
    def report(fraction: float) -> None:
        print(f"\r{label}: distilling {fraction:.0%}", end="", file=sys.stderr, flush=True)

    return report


def embedded_case(plan, rounds: int) -> dict:
    import torch

    from studio.engine.draft_decoder_training import psnr
    from studio.engine.draft_decoders import _sampler
    from studio.engine.loader import ModelCache

    model = ModelCache("cpu").get("embedded")
    vae, pipe = model.pipe.vae, model.pipe
    decoder, train_s, threads = distilled(vae, plan, "embedded", _sampler(model))
    defaults = model.info.defaults
    latents = []
    for k, prompt in enumerate(model.info.studio.get("examples", [])[:6]):
        out = pipe(
            prompt=prompt,
            num_inference_steps=defaults.steps,
            guidance_scale=defaults.guidance_scale,
            width=defaults.width,
            height=defaults.height,
            generator=torch.Generator().manual_seed(1000 + k),  # not the seeds the distillation saw
            output_type="latent",
        )
        latents.append(out.images)
    latents = torch.cat(latents)

    def full(x=latents):
        with torch.inference_mode():
            return vae.decode(x / vae.config.scaling_factor).sample.clamp(-1, 1)

    reference = full()
    draft = decoder.decode(latents)
    linear = _linear(model.previewer, latents, reference.shape[-2:])
    one = latents[:1]
    full_s, draft_s = alternate(lambda: full(one), lambda: decoder.decode(one), rounds)
    return {
        "case": "embedded",
        "what": "embedded model (real weights); reference: its VAE's decode of 6 pictures it made from its examples",
        "size": f"{defaults.width}x{defaults.height}",
        **_common(decoder, vae, train_s, threads, full_s, draft_s),
        "psnr_db": psnr(draft, reference),
        "linear_preview_psnr_db": psnr(linear, reference),
    }


def _common(decoder, vae, train_s: float, threads: int, full_s: float, draft_s: float) -> dict:
    """The figures every case reports alike: sizes of both decoders, the distillation, the timings."""
    from studio.engine.draft_decoder import parameter_count

    return {
        "draft_parameters": parameter_count(decoder.network),
        "vae_decoder_parameters": parameter_count(vae.decoder),
        "distil_s": round(train_s, 1),
        "distil_threads": threads,
        "full_decode_s": full_s,
        "draft_decode_s": draft_s,
        "speedup": full_s / draft_s,
        "psnr_held_out_pairs_db": decoder.psnr,
    }


def _linear(previewer, latents, size):
    """The linear preview factors' picture of each latent, upsampled to `size` (bilinear), in [-1, 1]."""
    import torch

    weight = torch.tensor(previewer.factors.factors).T
    bias = torch.tensor(previewer.factors.bias)
    small = torch.einsum("bchw,rc->brhw", latents.float(), weight) + bias[None, :, None, None]
    return torch.nn.functional.interpolate(small, size=tuple(size), mode="bilinear").clamp(-1, 1)


def sd_vae_case(plan, rounds: int, size: int = 512) -> dict:
    import torch
    from diffusers import AutoencoderKL
    from scale import SD_VAE

    from studio.engine.draft_decoder_training import psnr, training_images

    torch.manual_seed(0)
    vae = AutoencoderKL(**SD_VAE).eval().requires_grad_(False)
    decoder, train_s, threads = distilled(vae, plan, "sd-vae")  # no UNet here: synthetic pictures only
    images = training_images(2, size, seed=12345)  # pictures the decoder never saw
    with torch.inference_mode():
        latents = vae.encode(images).latent_dist.mean * vae.config.scaling_factor

    def full(x):
        with torch.inference_mode():
            return vae.decode(x / vae.config.scaling_factor).sample.clamp(-1, 1)

    one = latents[:1]
    reference = full(latents[1:])  # the timed calls below decode the first one
    full_s, draft_s = alternate(lambda: full(one), lambda: decoder.decode(one), rounds)
    return {
        "case": "sd-vae",
        "what": "full-size SD 1.x VAE (bench/scale.py's numbers) with RANDOM weights; the distillation target "
        "and the reference are that random VAE's own decodes (of latents of a held-out synthetic picture)",
        "size": f"{size}x{size}",
        **_common(decoder, vae, train_s, threads, full_s, draft_s),
        "psnr_db": psnr(decoder.decode(latents[1:]), reference),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="embedded,sd-vae")
    parser.add_argument("--rounds", type=int, default=5, help="timed decodes of each kind, alternating")
    parser.add_argument("--steps", type=int, help="distillation steps (default: the engine's plan)")
    parser.add_argument("--pairs", type=int, help="(latents, decode) pairs (default: the engine's plan)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "decoder-cpu.json"))
    args = parser.parse_args(argv)
    import dataclasses

    from studio.engine.draft_decoder_training import TrainingPlan

    plan = TrainingPlan()
    changes = {k: v for k, v in (("steps", args.steps), ("pairs", args.pairs)) if v is not None}
    plan = dataclasses.replace(plan, **changes)
    runs = {"embedded": embedded_case, "sd-vae": sd_vae_case}
    results = []
    for name in args.cases.split(","):
        results.append(runs[name](plan, args.rounds))
        _print(results)
        record = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": "python bench/decoder.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": {
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average_at_end": os.getloadavg(),
            },
            "plan": dataclasses.asdict(plan),
            "results": results,
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    return 0


def _print(results: list[dict]) -> None:
    print("| case | size | draft params | distil s | full decode s | draft decode s | speed-up | PSNR dB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['case']} | {r['size']} | {r['draft_parameters']:,} | {r['distil_s']} ({r['distil_threads']} threads) "
            f"| {r['full_decode_s']:.4f} | {r['draft_decode_s']:.4f} | {r['speedup']:.1f}x | {r['psnr_db']:.2f} |"
        )
    for r in results:
        extra = f", linear preview {r['linear_preview_psnr_db']:.2f} dB" if "linear_preview_psnr_db" in r else ""
        print(f"{r['case']}: held-out pairs {r['psnr_held_out_pairs_db']:.2f} dB{extra}")


if __name__ == "__main__":
    sys.exit(main())
