"""How well the autoencoder reproduces the landscape world, and how fast it decodes.

    python -m studio.embedded.evaluate_vae --model studio/assets/models/landscape/vae
    python -m studio.embedded.evaluate_vae --checkpoint runs/vae/checkpoint.pt --grid runs/vae/grid.png

Reports reconstruction PSNR on fresh renders (square, wide and tall; over the whole set and
for the worst image) and the median time to decode one 128 x 128 latent.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from PIL import Image

from studio.embedded.vae import decode, fresh_renders, psnr, reconstruct, to_images, to_tensor

SHAPES = {"square": (128, 128), "wide": (256, 128), "tall": (128, 256)}
EVALUATION_SEED = 90210  # far from any training stream


def reconstruction_psnr(
    vae: AutoencoderKL, width: int, height: int, count: int = 48, seed: int = EVALUATION_SEED
) -> dict[str, float]:
    """PSNR (dB) of the whole set of `count` fresh renders and of its worst image."""
    errors = []
    for start in range(0, count, 8):
        batch = to_tensor(fresh_renders(min(8, count - start), width, height, seed + start))
        errors.append(((reconstruct(vae, batch) - batch) / 2).pow(2).mean(dim=(1, 2, 3)))
    errors = torch.cat(errors)
    return {"psnr": psnr(float(errors.mean())), "worst": psnr(float(errors.max()))}


def decode_milliseconds(vae: AutoencoderKL, threads: int = 2, repeats: int = 20) -> float:
    """Median time to decode one 128 x 128 image's latent on `threads` CPU threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    latent = torch.randn(1, vae.config["latent_channels"], 16, 16)
    timings = []
    try:
        with torch.inference_mode():
            for attempt in range(repeats + 3):
                started = time.perf_counter()
                decode(vae, latent)
                if attempt >= 3:  # the first calls set up kernels
                    timings.append(time.perf_counter() - started)
    finally:
        torch.set_num_threads(previous)
    return 1000 * float(np.median(timings))


def comparison_grid(vae: AutoencoderKL, seed: int = EVALUATION_SEED + 1) -> np.ndarray:
    """Six squares and one panorama: originals above their reconstructions."""
    squares = np.stack(fresh_renders(6, 128, 128, seed))
    wide = np.stack(fresh_renders(1, 256, 128, seed + 1))
    rebuilt_squares = to_images(reconstruct(vae, to_tensor(squares)))
    rebuilt_wide = to_images(reconstruct(vae, to_tensor(wide)))[0]
    rows = [np.concatenate(list(squares), axis=1), np.concatenate(list(rebuilt_squares), axis=1)]
    filler = np.zeros((128, 128 * 6 - 2 * 256, 3), np.uint8)
    rows.append(np.concatenate([wide[0], rebuilt_wide, filler], axis=1))
    return np.concatenate(rows, axis=0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="an exported diffusers AutoencoderKL folder")
    source.add_argument("--checkpoint", type=Path, help="a train_vae checkpoint.pt")
    parser.add_argument("--count", type=int, default=48, help="renders per shape")
    parser.add_argument("--threads", type=int, default=2, help="threads for the decode timing")
    parser.add_argument("--eval-threads", type=int, default=1, help="threads for the PSNR pass")
    parser.add_argument("--grid", type=Path, help="save originals over reconstructions here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.eval_threads)
    if args.model:
        vae = AutoencoderKL.from_pretrained(args.model).eval()
    else:
        from studio.embedded.train_vae import vae_from_checkpoint

        vae = vae_from_checkpoint(args.checkpoint)
    megabytes = sum(p.numel() for p in vae.parameters()) * 4 / 1e6
    print(f"channels {tuple(vae.config['block_out_channels'])}  {megabytes:.2f} MB in fp32")
    for name, (width, height) in SHAPES.items():
        result = reconstruction_psnr(vae, width, height, args.count)
        print(f"{name:6s} {width}x{height}: PSNR {result['psnr']:.2f} dB (worst image {result['worst']:.2f} dB)")
    print(f"decode 128x128: {decode_milliseconds(vae, args.threads):.1f} ms on {args.threads} threads")
    if args.grid:
        Image.fromarray(comparison_grid(vae)).save(args.grid)
        print(f"comparison grid: {args.grid}")


if __name__ == "__main__":
    main()
