"""Trains the embedded model's autoencoder on landscapes rendered on the fly.

    python -m studio.embedded.train_vae --out runs/vae [--steps N] [--threads 1] [--device cuda|cpu] [--resume]
    python -m studio.embedded.train_vae --out runs/vae --export-only --export DIR

Each step sees about two 128 x 128 images' worth of pixels: 64 x 64 crops, whole squares,
panoramas or tall views, so the model works at every size the app renders. Checkpoints
(model, optimizer, step, random states) go to OUT/checkpoint.pt every few minutes and
--resume continues from there; at the end the model is exported in diffusers format with
its latent scaling factor.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from studio.embedded import world
from studio.embedded.checkpoints import load_checkpoint, save_checkpoint, warmup_cosine
from studio.embedded.vae import DEFAULT_CHANNELS, NORM_GROUPS, build_vae, export, psnr, to_tensor

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "train.log"


@dataclass
class TrainConfig:
    steps: int = 28000
    lr: float = 1e-3
    min_lr_share: float = 0.05  # the cosine decay ends at lr * min_lr_share
    warmup_steps: int = 300
    weight_decay: float = 1e-4
    kl_weight: float = 1e-6
    edge_weight: float = 0.5
    grad_clip: float = 1.0
    seed: int = 0
    channels: tuple[int, ...] = DEFAULT_CHANNELS
    norm_groups: int = NORM_GROUPS
    crop: int = 64
    crops_per_batch: int = 8
    # Each batch kind and its share of the steps; all cost about the same per step.
    batch_kinds: tuple[tuple[str, float], ...] = (("crops", 0.4), ("square", 0.3), ("wide", 0.15), ("tall", 0.15))
    log_every: int = 100
    checkpoint_minutes: float = 5.0


def training_batch(kind: str, config: TrainConfig, rng: np.random.Generator) -> torch.Tensor:
    """A batch of fresh renders of one kind, as N x 3 x H x W in [-1, 1]."""

    def renders(count, width, height):
        return [world.render(world.random_scene(rng), width, height, rng) for _ in range(count)]

    if kind == "crops":
        crops = []
        for image in renders(config.crops_per_batch, 128, 128):
            y, x = rng.integers(0, 128 - config.crop + 1, size=2)
            crops.append(image[y : y + config.crop, x : x + config.crop])
        return to_tensor(crops)
    sizes = {"square": (2, 128, 128), "wide": (1, 256, 128), "tall": (1, 128, 256)}
    return to_tensor(renders(*sizes[kind]))


def losses(
    vae, batch: torch.Tensor, config: TrainConfig, generator: torch.Generator | None = None
) -> dict[str, torch.Tensor]:
    """Reconstruction (L1 + MSE + L1 of image gradients, for crisp edges) and KL terms."""
    posterior = vae.encode(batch).latent_dist
    reconstruction = vae.decode(posterior.sample(generator)).sample
    error = reconstruction - batch
    mse = error.pow(2).mean()
    edges = (error[..., 1:, :] - error[..., :-1, :]).abs().mean() + (
        error[..., :, 1:] - error[..., :, :-1]
    ).abs().mean()
    kl = posterior.kl().sum() / batch.numel()
    total = error.abs().mean() + mse + config.edge_weight * edges + config.kl_weight * kl
    return {"total": total, "mse": mse.detach(), "kl": kl.detach()}


def learning_rate(step: int, config: TrainConfig) -> float:
    return warmup_cosine(step, config.lr, config.steps, config.warmup_steps, config.min_lr_share)


class Trainer:
    """The model, optimizer and random state of one run, saved and restored as a whole."""

    def __init__(self, config: TrainConfig, out: Path, log=print, device: str = "cpu") -> None:
        self.config, self.out, self.log, self.device = config, Path(out), log, device
        torch.manual_seed(config.seed)  # the initial weights
        self.rng = np.random.default_rng(config.seed)  # scenes, crops and batch kinds
        self.torch_rng = torch.Generator().manual_seed(config.seed)  # latent sampling
        # pyright reads diffusers' functools.wraps-copied `to` as taking the model as `device`
        self.vae = build_vae(config.channels, config.norm_groups).to(device)  # pyright: ignore[reportArgumentType]
        self.optimizer = torch.optim.AdamW(self.vae.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.step = 0
        kinds, shares = zip(*config.batch_kinds)
        self.kinds, self.shares = kinds, np.asarray(shares) / sum(shares)

    @property
    def checkpoint_path(self) -> Path:
        return self.out / CHECKPOINT_NAME

    def save_checkpoint(self) -> None:
        state = {
            "config": dataclasses.asdict(self.config),
            "model": self.vae.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "numpy_rng": self.rng.bit_generator.state,
            "torch_rng": self.torch_rng.get_state(),
        }
        save_checkpoint(state, self.checkpoint_path)

    def load_checkpoint(self) -> None:
        state = load_checkpoint(self.checkpoint_path)
        self.vae.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = state["step"]
        self.rng.bit_generator.state = state["numpy_rng"]
        self.torch_rng.set_state(state["torch_rng"])

    def train_step(self) -> dict[str, float]:
        kind = self.kinds[self.rng.choice(len(self.kinds), p=self.shares)]
        batch = training_batch(kind, self.config, self.rng).to(self.device)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.step, self.config)
        self.vae.train()
        terms = losses(self.vae, batch, self.config, self.torch_rng)
        self.optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        torch.nn.utils.clip_grad_norm_(self.vae.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.step += 1
        return {name: float(value.detach()) for name, value in terms.items()}

    def train(self, until_step: int | None = None) -> list[dict[str, float]]:
        """Trains up to `until_step` (default: the configured steps), logging and
        checkpointing on the way; returns the per-step loss terms."""
        until_step = self.config.steps if until_step is None else until_step
        history, window = [], []
        started = last_checkpoint = last_log = time.monotonic()
        first_step = self.step
        while self.step < until_step:
            terms = self.train_step()
            history.append(terms)
            window.append(terms)
            if self.step % self.config.log_every == 0 or self.step == until_step:
                now = time.monotonic()
                self.log(self._log_line(window, now - last_log, now - started, first_step))
                window, last_log = [], now
            if time.monotonic() - last_checkpoint > 60 * self.config.checkpoint_minutes:
                self.save_checkpoint()
                last_checkpoint = time.monotonic()
        self.save_checkpoint()
        return history

    def _log_line(self, window, window_seconds, total_seconds, first_step) -> str:
        loss = np.mean([t["total"] for t in window])
        mse = float(np.mean([t["mse"] for t in window])) / 4  # [-1, 1] -> [0, 1] scale
        rate = len(window) / max(window_seconds, 1e-9)
        remaining = (self.config.steps - self.step) / rate / 60
        return (
            f"step {self.step:6d}  loss {loss:.4f}  psnr {psnr(mse):5.2f} dB  "
            f"lr {learning_rate(self.step, self.config):.2e}  {rate:.2f} steps/s  "
            f"elapsed {total_seconds / 60:.1f} min  left ~{remaining:.0f} min"
        )


def saved_config(checkpoint: Path) -> TrainConfig:
    """The configuration a checkpoint was trained with."""
    saved = load_checkpoint(checkpoint)["config"]
    saved["channels"] = tuple(saved["channels"])
    saved["batch_kinds"] = tuple(tuple(kind) for kind in saved["batch_kinds"])
    return TrainConfig(**saved)


def vae_from_checkpoint(checkpoint: Path):
    """The autoencoder saved in a training checkpoint, in eval mode."""
    config = saved_config(checkpoint)
    vae = build_vae(config.channels, config.norm_groups)
    vae.load_state_dict(load_checkpoint(checkpoint)["model"])
    return vae.eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="run folder: log and checkpoint")
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    parser.add_argument(
        "--channels",
        type=lambda s: tuple(int(c) for c in s.split(",")),
        default=DEFAULT_CHANNELS,
        help="e.g. 16,32,64,64",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", help="cuda or cpu (default: cuda when present)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--export", type=Path, help="export folder (default OUT/export)")
    parser.add_argument("--export-only", action="store_true", help="export the last checkpoint without training")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    args.out.mkdir(parents=True, exist_ok=True)
    log_file = open(args.out / LOG_NAME, "a", buffering=1)  # noqa: SIM115 (open for the whole run)

    def log(line: str) -> None:
        print(line, flush=True)
        log_file.write(line + "\n")

    config = TrainConfig(steps=args.steps, lr=args.lr, seed=args.seed, channels=args.channels)
    checkpoint = args.out / CHECKPOINT_NAME
    if (args.resume or args.export_only) and checkpoint.exists():
        config = dataclasses.replace(saved_config(checkpoint), steps=args.steps)
    elif args.export_only:
        sys.exit(f"no checkpoint at {checkpoint}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    trainer = Trainer(config, args.out, log, device)
    if checkpoint.exists() and (args.resume or args.export_only):
        trainer.load_checkpoint()
        log(f"resumed at step {trainer.step} from {checkpoint}")
    else:
        weights = sum(p.numel() for p in trainer.vae.parameters())
        log(f"new run: {config}  ({weights / 1e6:.2f} M parameters)")
    if not args.export_only:
        trainer.train()
    destination = args.export or args.out / "export"
    factor = export(trainer.vae.cpu().eval(), destination)
    log(f"exported step {trainer.step} to {destination} (scaling_factor {factor:.4f})")


if __name__ == "__main__":
    main()
