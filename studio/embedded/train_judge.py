"""Trains the judge on true renders of the landscape world, drawn on the fly.

    python -m studio.embedded.judge --train [--out runs/judge] [--steps N] [--threads 1] [--resume]
    python -m studio.embedded.judge --export-only [--out runs/judge]
    python -m studio.embedded.judge --check [--count N] [--seed S]

Every batch mixes squares, panoramas, tall views and other multiples of 8, each resized to
128 x 128 as the judge reads them, with a little blur and noise now and then so that soft
pictures (a decoder's) read the same. The loss is the sum of one cross-entropy per attribute.
Checkpoints (model, optimizer, step, random states) go to OUT/checkpoint.pt every few
minutes; --resume continues from there. Accuracy on a fixed validation set of every main
shape is logged as training goes; at the end the judge is exported to studio/assets/judge.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F

from studio.embedded import world
from studio.embedded.checkpoints import load_checkpoint, save_checkpoint, warmup_cosine
from studio.embedded.judge import ATTRIBUTES, CLASSES, DEFAULT_CHANNELS, DEFAULT_PATH, Judge, JudgeNet, to_pixels

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "train.log"
# The shapes the judge must read (width, height), and other sizes it learns too.
MAIN_SHAPES = {"square": (128, 128), "wide": (256, 128), "tall": (128, 256)}
OTHER_SIZES = (
    (64, 64),
    (96, 96),
    (192, 192),
    (256, 256),
    (192, 128),
    (128, 192),
    (128, 64),
    (64, 128),
    (256, 192),
    (192, 256),
)


@dataclass
class TrainConfig:
    steps: int = 12000
    batch: int = 32
    lr: float = 2e-3
    min_lr_share: float = 0.02
    warmup_steps: int = 200
    seed: int = 0
    channels: tuple[int, ...] = DEFAULT_CHANNELS
    main_shape_share: float = 0.8  # the rest are OTHER_SIZES
    blur_probability: float = 0.25
    noise_probability: float = 0.25
    log_every: int = 100
    validate_every: int = 1000
    validation_count: int = 256  # per main shape
    validation_seed: int = 10_000
    checkpoint_minutes: float = 5.0


def scene_labels(scenes) -> dict[str, torch.Tensor]:
    """The class index of every attribute of every scene."""
    return {name: torch.tensor([CLASSES[name].index(getattr(s, name)) for s in scenes]) for name in ATTRIBUTES}


def random_size(config: TrainConfig, rng: np.random.Generator) -> tuple[int, int]:
    if rng.random() < config.main_shape_share:
        shapes = list(MAIN_SHAPES.values())
        return shapes[rng.choice(len(shapes), p=[0.4, 0.3, 0.3])]
    return OTHER_SIZES[rng.integers(len(OTHER_SIZES))]


def blurred(pixels: torch.Tensor, sigma: float) -> torch.Tensor:
    """A separable Gaussian blur of one 1 x 3 x H x W image."""
    radius = max(1, math.ceil(2.5 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).repeat(3, 1, 1, 1)
    padded = F.pad(pixels, (radius, radius, radius, radius), mode="replicate")
    pixels = F.conv2d(padded, kernel.view(3, 1, 1, -1), groups=3)
    return F.conv2d(pixels, kernel.view(3, 1, -1, 1), groups=3)


def training_batch(config: TrainConfig, rng: np.random.Generator):
    """Fresh renders of random scenes, resized (and sometimes softened) as the judge reads
    them: N x 3 x 128 x 128 and the labels."""
    scenes = [world.random_scene(rng) for _ in range(config.batch)]
    images = []
    for scene in scenes:
        pixels = to_pixels([world.render(scene, *random_size(config, rng), rng)])
        if rng.random() < config.blur_probability:
            pixels = blurred(pixels, rng.uniform(0.3, 1.2))
        if rng.random() < config.noise_probability:
            noise = torch.from_numpy(rng.standard_normal(pixels.shape).astype(np.float32))
            pixels = pixels + noise * rng.uniform(0.005, 0.04)
        images.append(pixels)
    return torch.cat(images), scene_labels(scenes)


def validation_set(count: int, seed: int) -> dict[str, tuple[list, list]]:
    """For each main shape, `count` seeded scenes and their true renders."""
    sets = {}
    for index, (name, size) in enumerate(MAIN_SHAPES.items()):
        rng = np.random.default_rng([seed, index])
        scenes = [world.random_scene(rng) for _ in range(count)]
        sets[name] = (scenes, [world.render(scene, *size, rng) for scene in scenes])
    return sets


def accuracy(judge: Judge, scenes, images) -> dict[str, float]:
    """The share of images whose attribute the judge reads right, per attribute."""
    reads = judge.read(images)
    return {
        name: float(np.mean([read[name] == getattr(scene, name) for read, scene in zip(reads, scenes)]))
        for name in ATTRIBUTES
    }


def learning_rate(step: int, config: TrainConfig) -> float:
    return warmup_cosine(step, config.lr, config.steps, config.warmup_steps, config.min_lr_share)


class Trainer:
    """The network, optimizer and random state of one run, saved and restored as a whole."""

    def __init__(self, config: TrainConfig, out: Path, log=print) -> None:
        self.config, self.out, self.log = config, Path(out), log
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.net = JudgeNet(config.channels)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.step = 0
        self._validation = None

    @property
    def checkpoint_path(self) -> Path:
        return self.out / CHECKPOINT_NAME

    def save_checkpoint(self) -> None:
        state = {
            "config": dataclasses.asdict(self.config),
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "numpy_rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }
        save_checkpoint(state, self.checkpoint_path)

    def load_checkpoint(self) -> None:
        state = load_checkpoint(self.checkpoint_path)
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = state["step"]
        self.rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])

    def train_step(self) -> float:
        pixels, labels = training_batch(self.config, self.rng)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.step, self.config)
        self.net.train()
        logits = self.net(pixels)
        loss = cast(torch.Tensor, sum(F.cross_entropy(logits[name], labels[name]) for name in ATTRIBUTES))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return float(loss.detach())

    def validate(self) -> dict[str, dict[str, float]]:
        """Per main shape, the accuracy of every attribute on the fixed validation set."""
        if self._validation is None:
            self._validation = validation_set(self.config.validation_count, self.config.validation_seed)
        judge = Judge(self.net)
        scores = {shape: accuracy(judge, *data) for shape, data in self._validation.items()}
        self.net.train()
        return scores

    def train(self) -> dict[str, dict[str, float]] | None:
        """Trains up to the configured steps, logging, validating and checkpointing; returns
        the last validation scores (None when there was nothing left to train)."""
        window, started, scores = [], time.monotonic(), None
        last_checkpoint = last_log = started
        while self.step < self.config.steps:
            window.append(self.train_step())
            if self.step % self.config.log_every == 0 or self.step == self.config.steps:
                now = time.monotonic()
                rate = len(window) / max(now - last_log, 1e-9)
                left = (self.config.steps - self.step) / rate / 60
                self.log(
                    f"step {self.step:6d}  loss {np.mean(window):.4f}  "
                    f"lr {learning_rate(self.step, self.config):.2e}  {rate:.2f} steps/s  "
                    f"elapsed {(now - started) / 60:.1f} min  left ~{left:.0f} min"
                )
                window, last_log = [], now
            if self.step % self.config.validate_every == 0 or self.step == self.config.steps:
                scores = self.validate()
                self.log(format_scores(scores, f"validation at step {self.step}"))
            if time.monotonic() - last_checkpoint > 60 * self.config.checkpoint_minutes:
                self.save_checkpoint()
                last_checkpoint = time.monotonic()
        self.save_checkpoint()
        return scores


def format_scores(scores: dict[str, dict[str, float]], title: str) -> str:
    """A table: one row per shape, one column per attribute, in percent."""
    lines = [title, f"  {'shape':8s}" + "".join(f"{name:>10s}" for name in ATTRIBUTES)]
    for shape, row in scores.items():
        lines.append(f"  {shape:8s}" + "".join(f"{100 * row[name]:9.1f}%" for name in ATTRIBUTES))
    return "\n".join(lines)


def saved_config(checkpoint: Path) -> TrainConfig:
    saved = load_checkpoint(checkpoint)["config"]
    saved["channels"] = tuple(saved["channels"])
    return TrainConfig(**saved)


def check(count: int, seed: int, path: Path = DEFAULT_PATH) -> dict[str, dict[str, float]]:
    """The shipped judge's accuracy on `count` fresh true renders of each main shape."""
    judge = Judge.load(path)
    return {shape: accuracy(judge, *data) for shape, data in validation_set(count, seed).items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m studio.embedded.judge", description=(__doc__ or "").split("\n\n")[0]
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--train", action="store_true", help="train, then export")
    action.add_argument("--export-only", action="store_true", help="export the last checkpoint")
    action.add_argument("--check", action="store_true", help="accuracy of the exported judge on fresh true renders")
    parser.add_argument("--out", type=Path, default=Path("runs/judge"), help="log and checkpoint")
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument(
        "--seed", type=int, default=None, help=f"training seed ({TrainConfig.seed}); with --check, the scenes' seed"
    )
    parser.add_argument("--count", type=int, default=1000, help="--check: renders per shape")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--export", type=Path, default=DEFAULT_PATH, help="judge weights file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.check:
        seed = 20_000 if args.seed is None else args.seed
        print(
            format_scores(
                check(args.count, seed, args.export),
                f"{args.export}: {args.count} fresh renders per shape (seed {seed})",
            )
        )
        return

    args.out.mkdir(parents=True, exist_ok=True)
    log_file = open(args.out / LOG_NAME, "a", buffering=1)  # noqa: SIM115 (open for the whole run)

    def log(line: str) -> None:
        print(line, flush=True)
        log_file.write(line + "\n")

    seed = TrainConfig.seed if args.seed is None else args.seed
    config = TrainConfig(steps=args.steps, lr=args.lr, seed=seed)
    checkpoint = args.out / CHECKPOINT_NAME
    resuming = (args.resume or args.export_only) and checkpoint.exists()
    if resuming:
        config = dataclasses.replace(saved_config(checkpoint), steps=args.steps)
    elif args.export_only:
        sys.exit(f"no checkpoint at {checkpoint}")
    trainer = Trainer(config, args.out, log)
    if resuming:
        trainer.load_checkpoint()
        log(f"resumed at step {trainer.step} from {checkpoint}")
    else:
        weights = sum(p.numel() for p in trainer.net.parameters())
        log(f"new run: {config}  ({weights / 1e3:.0f} k parameters)")
    scores = trainer.train() if args.train else None
    scores = scores or trainer.validate()
    Judge(trainer.net).save(
        args.export,
        extra={
            "trained_steps": trainer.step,
            "seed": config.seed,
            "validation_accuracy": {shape: {k: round(v, 4) for k, v in row.items()} for shape, row in scores.items()},
        },
    )
    log(format_scores(scores, f"exported step {trainer.step} to {args.export}"))
