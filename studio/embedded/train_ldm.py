"""Train the embedded model's text encoder and UNet together on the landscape world.

    python -m studio.embedded.train_ldm --vae studio/assets/models/landscape/vae --out runs/ldm \
        [--steps N] [--batch 32] [--threads 1] [--device cuda|cpu] [--resume]

The autoencoder is trained first (train_vae) and frozen here. Scenes are rendered at
three shapes (square, 2:1, 1:2), encoded once into a latent cache, and each training step
draws one shape, fresh captions for its scenes (canonical, shortened to the ground or to
the other clauses, synonyms, or empty for classifier-free guidance) and v-prediction targets. An exponential moving average
of the UNet is what gets exported. The learning rate warms up, then follows a cosine down
to a tenth over --steps. On a 2-core CPU 10,000 steps take about 100 minutes; on a CUDA GPU
(used when present) a few minutes.

Every setting is in TrainConfig, saved in each checkpoint (every few minutes). --resume reads
it back: --steps, --log-every and --checkpoint-minutes given then win (one log line each);
any other setting given that differs from the saved one is refused. The latent cache
(OUT/latents.pt) records what made it (the autoencoder's files, the scene and render code,
the shapes, counts and seeds) and is made again when any of them differs.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.embedded.architecture import (
    TEXT_LAYERS,
    TOKENIZER_MAX_LENGTH,
    build_scheduler,
    build_text_encoder,
    build_unet,
)
from studio.embedded.captions import SHORT_HEADS
from studio.embedded.checkpoints import load_checkpoint, save_checkpoint, warmup_cosine

CHECKPOINT_NAME = "checkpoint.pt"
CACHE_NAME = "latents.pt"
LOG_NAME = "train.log"

# Shortened training prompts keep the ground or neither at their head, never the time alone:
# trained on "a sunset landscape" (ground free), the time word learns which grounds go with
# it, and as no sunset scene is snowy that prior drew sand under "a sunset landscape with
# snowy hills" (held-out ground 71 % with all three heads; 93 % without time-only prompts).
TRAINING_SHORT_HEADS = ("ground", "neither")


@dataclass(frozen=True)
class TrainConfig:
    vae: str = "studio/assets/models/landscape/vae"
    steps: int = 30000
    batch: int = 32
    lr: float = 5e-4
    min_lr_share: float = 0.1  # the cosine decay ends at lr * min_lr_share
    warmup_steps: int = 500
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    scenes: int = 12000  # per square shape; half for each other shape
    channels: tuple[int, ...] = (32, 64, 128)
    text_layers: int = TEXT_LAYERS
    short_heads: tuple[str, ...] = TRAINING_SHORT_HEADS
    # Each shape (width, height) and its share of the steps.
    shapes: tuple[tuple[int, int, float], ...] = ((128, 128, 0.6), (256, 128, 0.2), (128, 256, 0.2))
    log_every: int = 100
    checkpoint_minutes: float = 5.0


# Settings that only say how long to go on and how often to report: --resume takes them.
CHANGEABLE_ON_RESUME = ("steps", "log_every", "checkpoint_minutes")


def encode_scenes(vae, count: int, width: int, height: int, seed: int, batch: int = 32):
    """Render `count` random training scenes at width x height; encode them (scaled latent means)."""
    import torch

    from studio.embedded.splits import training_scene
    from studio.embedded.world import render

    rng = np.random.default_rng(seed)
    scenes, chunks = [], []
    for start in range(0, count, batch):
        group = [training_scene(rng) for _ in range(min(batch, count - start))]
        images = np.stack([render(s, width, height, rng) for s in group])
        pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
        with torch.no_grad():
            latents = vae.encode(pixels).latent_dist.mean * vae.config.scaling_factor
        scenes.extend(group)
        chunks.append(latents.half())
    return scenes, torch.cat(chunks)


def cache_plan(config: TrainConfig) -> list[tuple[int, int, int, int]]:
    """(width, height, scene count, seed) of each shape's part of the latent cache."""
    return [
        (w, h, config.scenes if w == h else config.scenes // 2, config.seed + 101 * i)
        for i, (w, h, _) in enumerate(config.shapes)
    ]


def files_digest(paths) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def cache_makers(config: TrainConfig) -> dict:
    """What determines the latent cache's content."""
    from studio.embedded import scene, splits, world

    vae = Path(config.vae)
    sources = [Path(inspect.getfile(module)) for module in (scene, splits, world)]
    return {
        "autoencoder": files_digest(sorted(p for p in vae.rglob("*") if p.is_file())),
        "scene and render code": hashlib.sha256(
            (files_digest(sources) + inspect.getsource(encode_scenes)).encode()
        ).hexdigest(),
        "shapes, counts and seeds": [list(part) for part in cache_plan(config)],
    }


def latent_cache(config: TrainConfig, file: Path, log=print) -> dict:
    """{(width, height): (scenes, latents)}, read from `file` when the same makers made it,
    else encoded afresh with the config's autoencoder and written there."""
    import torch
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    makers = cache_makers(config)
    if file.exists():
        cached = torch.load(file, weights_only=False)
        made_by = cached.get("made_by", {}) if isinstance(cached, dict) else {}
        if made_by == makers:
            return cached["shapes"]
        changed = [name for name in makers if made_by.get(name) != makers[name]]
        log(f"latents: {file} was made with another {', '.join(changed)}; encoding again")
    vae = AutoencoderKL.from_pretrained(config.vae).eval()
    data = {(w, h): encode_scenes(vae, count, w, h, seed) for w, h, count, seed in cache_plan(config)}
    save_checkpoint({"made_by": makers, "shapes": data}, file)
    return data


def load_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    from studio.embedded.captions import vocabulary
    from studio.embedded.tokenizer import write_clip_tokenizer

    write_clip_tokenizer(vocabulary(), folder, model_max_length=TOKENIZER_MAX_LENGTH)
    return CLIPTokenizer.from_pretrained(folder)


class Trainer:
    """The text encoder, UNet, its moving average, optimizer and random state of one run."""

    def __init__(self, config: TrainConfig, out: Path, log=print, device: str = "cpu") -> None:
        import torch

        self.config, self.out, self.log, self.device = config, Path(out), log, device
        self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(config.seed)
        self.tokenizer = load_tokenizer(self.out / "tokenizer")
        self.text_encoder = build_text_encoder(self.tokenizer, layers=config.text_layers)
        self.unet = build_unet(config.channels)
        self.ema = build_unet(config.channels)
        self.ema.load_state_dict(self.unet.state_dict())
        self.ema.requires_grad_(False)
        self.scheduler = build_scheduler()
        for model in (self.text_encoder, self.unet, self.ema):
            # pyright reads the functools.wraps-copied `to` as taking the model as `device`
            model.to(device)  # pyright: ignore[reportArgumentType]
        self.params = list(self.unet.parameters()) + list(self.text_encoder.parameters())
        self.optimizer = torch.optim.AdamW(self.params, lr=config.lr, weight_decay=config.weight_decay)
        self.step = 0
        self.rng = np.random.default_rng(config.seed)
        self.data = latent_cache(config, self.out / CACHE_NAME, log)
        self.shapes = [(w, h) for w, h, _ in config.shapes]
        shares = np.asarray([share for _, _, share in config.shapes])
        self.shares = shares / shares.sum()

    @property
    def checkpoint_path(self) -> Path:
        return self.out / CHECKPOINT_NAME

    def learning_rate(self) -> float:
        config = self.config
        return warmup_cosine(self.step, config.lr, config.steps, config.warmup_steps, config.min_lr_share)

    def train_step(self) -> float:
        import torch

        from studio.embedded.captions import caption_variant

        shape = self.shapes[self.rng.choice(len(self.shapes), p=self.shares)]
        scenes, latents = self.data[shape]
        batch = self.config.batch
        index = self.rng.integers(len(scenes), size=batch)
        x0 = latents[index].float().to(self.device)
        prompts = [caption_variant(scenes[i], self.rng, short_heads=self.config.short_heads) for i in index]
        ids = self.tokenizer(
            prompts, padding="max_length", max_length=TOKENIZER_MAX_LENGTH, truncation=True, return_tensors="pt"
        ).input_ids.to(self.device)
        context = self.text_encoder(ids)[0]
        noise = torch.from_numpy(self.rng.standard_normal(x0.shape).astype(np.float32)).to(self.device)
        t = torch.from_numpy(self.rng.integers(0, 1000, size=batch))
        a = self.scheduler.alphas_cumprod[t].view(-1, 1, 1, 1).to(self.device)
        t = t.to(self.device)
        noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
        target = a.sqrt() * noise - (1 - a).sqrt() * x0
        prediction = self.unet(noisy, t, encoder_hidden_states=context).sample
        loss = torch.nn.functional.mse_loss(prediction, target)
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
        self.optimizer.step()
        self._update_ema()
        self.step += 1
        return float(loss.detach())

    def _update_ema(self) -> None:
        import torch

        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            for ema, live in zip(self.ema.parameters(), self.unet.parameters()):
                ema.lerp_(live, 1 - decay)

    def save(self) -> None:
        import torch

        state = {
            "config": dataclasses.asdict(self.config),
            "step": self.step,
            "unet": self.unet.state_dict(),
            "ema": self.ema.state_dict(),
            "text_encoder": self.text_encoder.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }
        save_checkpoint(state, self.checkpoint_path)

    def resume(self) -> None:
        import torch

        state = load_checkpoint(self.checkpoint_path)
        self.unet.load_state_dict(state["unet"])
        self.ema.load_state_dict(state["ema"])
        self.text_encoder.load_state_dict(state["text_encoder"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        self.step = state["step"]

    def train(self) -> None:
        """Trains up to the configured steps, logging and checkpointing on the way."""
        losses: list[float] = []
        last_save = began = time.monotonic()
        while self.step < self.config.steps:
            losses.append(self.train_step())
            if self.step % self.config.log_every == 0:
                self.log(
                    f"step {self.step} loss {np.mean(losses):.4f} lr {self.learning_rate():.2e} "
                    f"{time.monotonic() - began:.0f}s"
                )
                losses.clear()
            if time.monotonic() - last_save > self.config.checkpoint_minutes * 60:
                self.save()
                last_save = time.monotonic()
        self.save()


def config_from(values: dict) -> TrainConfig:
    """A TrainConfig from its saved dictionary (lists back to tuples)."""
    values = dict(values)
    for name in ("channels", "short_heads"):
        values[name] = tuple(values[name])
    values["shapes"] = tuple(tuple(shape) for shape in values["shapes"])
    return TrainConfig(**values)


def saved_config(checkpoint: Path) -> TrainConfig:
    """The configuration a checkpoint was trained with. Runs from before checkpoints held
    it have the command line's settings in config.json beside the checkpoint."""
    state = load_checkpoint(checkpoint)
    if "config" in state:
        return config_from(state["config"])
    flags = json.loads((checkpoint.parent / "config.json").read_text(encoding="utf-8"))
    known = {field.name for field in dataclasses.fields(TrainConfig)}
    values = {name: value for name, value in flags.items() if name in known}
    for name, parse in (("channels", int), ("short_heads", str)):
        if isinstance(values.get(name), str):
            values[name] = tuple(parse(part) for part in values[name].split(","))
    return dataclasses.replace(TrainConfig(), **values)


def numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split(","))


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def shown(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = TrainConfig()
    # Settings default to None: what is left out comes from TrainConfig, or on --resume from the checkpoint.
    for name, kind, note in (
        ("vae", str, "the trained autoencoder's folder"),
        ("steps", int, "where the cosine ends and training stops"),
        ("batch", int, ""),
        ("lr", float, "peak learning rate"),
        ("warmup_steps", int, ""),
        ("scenes", int, "scenes per square shape (half for wide and tall)"),
        ("channels", numbers, "UNet block widths, e.g. 32,64,128"),
        ("text_layers", int, "transformer layers of the text encoder (0: each word's embedding on its own)"),
        ("short_heads", words, "what shortened training prompts may keep at their head: time, ground, neither"),
        ("seed", int, ""),
        ("checkpoint_minutes", float, ""),
        ("log_every", int, ""),
    ):
        default = shown(getattr(defaults, name))
        parser.add_argument(
            flag(name),
            dest=name,
            type=kind,
            default=None,
            help=f"{note} (default {default})" if note else f"default {default}",
        )
    parser.add_argument("--out", default="runs/ldm", type=Path)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", help="cuda or cpu (default: cuda when present)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    args = parser.parse_args(argv)
    given = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(TrainConfig)
        if getattr(args, field.name, None) is not None
    }
    if "short_heads" in given and (not given["short_heads"] or set(given["short_heads"]) - set(SHORT_HEADS)):
        parser.error(f"--short-heads takes some of {', '.join(SHORT_HEADS)}")

    checkpoint = args.out / CHECKPOINT_NAME
    resuming = args.resume and checkpoint.exists()
    changes = []
    if resuming:
        config = saved_config(checkpoint)
        differing = {name: value for name, value in given.items() if value != getattr(config, name)}
        refused = [name for name in differing if name not in CHANGEABLE_ON_RESUME]
        if refused:
            sys.exit(
                f"{checkpoint} was trained with "
                + ", ".join(f"{flag(n)} {shown(getattr(config, n))}, not {shown(given[n])}" for n in refused)
                + "; leave those flags out to resume, or train into another --out"
            )
        changes = [
            f"{name}: {shown(getattr(config, name))} -> {shown(value)} (from the command line)"
            for name, value in differing.items()
        ]
        config = dataclasses.replace(config, **differing)
    else:
        config = dataclasses.replace(TrainConfig(), **given)
    if not Path(config.vae, "config.json").is_file():
        sys.exit(f"no autoencoder at {config.vae} (train one with studio.embedded.train_vae first)")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / LOG_NAME, "a", encoding="utf-8", buffering=1) as log_file:

        def log(line: str) -> None:
            print(line, flush=True)
            log_file.write(line + "\n")

        trainer = Trainer(config, args.out, log, device)
        if resuming:
            trainer.resume()
            log(f"resumed at step {trainer.step} from {checkpoint}")
            for line in changes:
                log(line)
        else:
            log(f"new run: {config}")
        trainer.train()


if __name__ == "__main__":
    main()
