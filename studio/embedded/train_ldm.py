"""Train the embedded model's text encoder and UNet together on the landscape world.

    python -m studio.embedded.train_ldm --vae assets/models/landscape/vae --out runs/ldm \
        [--steps N] [--batch 32] [--threads 1] [--device cuda|cpu] [--resume]

The autoencoder is trained first (train_vae) and frozen here. Scenes are rendered at
three shapes (square, 2:1, 1:2), encoded once into a latent cache, and each training step
draws one shape, fresh captions for its scenes (canonical, shortened to the ground or to
the other clauses, synonyms, or empty for classifier-free guidance) and v-prediction targets. An exponential moving average
of the UNet is what gets exported. The learning rate warms up, then follows a cosine down
to a tenth over --steps. Checkpoints every few minutes; --resume continues. On a 2-core CPU
10,000 steps take about 100 minutes; on a CUDA GPU (used when present) a few minutes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from studio.embedded.architecture import (
    TEXT_LAYERS,
    TOKENIZER_MAX_LENGTH,
    build_scheduler,
    build_text_encoder,
    build_unet,
)
from studio.embedded.checkpoints import load_checkpoint, save_checkpoint, warmup_cosine
from studio.embedded.captions import SHORT_HEADS

# Shortened training prompts keep the ground or neither at their head, never the time alone:
# trained on "a sunset landscape" (ground free), the time word learns which grounds go with
# it, and as no sunset scene is snowy that prior drew sand under "a sunset landscape with
# snowy hills" (held-out ground 71 % with all three heads; 93 % without time-only prompts).
TRAINING_SHORT_HEADS = ("ground", "neither")

SHAPES = {(128, 128): 0.6, (256, 128): 0.2, (128, 256): 0.2}


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


def load_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    from studio.embedded.captions import vocabulary
    from studio.embedded.tokenizer import write_clip_tokenizer

    write_clip_tokenizer(vocabulary(), folder, model_max_length=TOKENIZER_MAX_LENGTH)
    return CLIPTokenizer.from_pretrained(folder)


class Trainer:
    def __init__(self, vae_path: str, out: Path, scenes_per_shape: int, seed: int, lr: float, batch: int, channels,
                 device: str = "cpu", text_layers: int = TEXT_LAYERS, short_heads: tuple[str, ...] = TRAINING_SHORT_HEADS):
        import torch
        from diffusers import AutoencoderKL

        self.out, self.batch, self.seed, self.device = out, batch, seed, device
        self.short_heads = short_heads
        out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(seed)
        self.tokenizer = load_tokenizer(out / "tokenizer")
        self.text_encoder = build_text_encoder(self.tokenizer, layers=text_layers)
        self.unet = build_unet(channels)
        self.ema = build_unet(channels)
        self.ema.load_state_dict(self.unet.state_dict())
        self.ema.requires_grad_(False)
        self.scheduler = build_scheduler()
        for model in (self.text_encoder, self.unet, self.ema):
            model.to(device)
        params = list(self.unet.parameters()) + list(self.text_encoder.parameters())
        self.optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
        self.lr = lr
        self.total_steps = 30000
        self.step = 0
        self.rng = np.random.default_rng(seed)
        self.data = {}
        cache = out / "latents.pt"
        if cache.exists():
            self.data = torch.load(cache, weights_only=False)
        else:
            vae = AutoencoderKL.from_pretrained(vae_path).eval()
            for i, (w, h) in enumerate(SHAPES):
                count = scenes_per_shape if w == h else scenes_per_shape // 2
                self.data[(w, h)] = encode_scenes(vae, count, w, h, seed + 101 * i)
            torch.save(self.data, cache)

    def train_step(self) -> float:
        import torch

        from studio.embedded.captions import caption_variant

        shapes = list(SHAPES)
        shape = shapes[self.rng.choice(len(shapes), p=list(SHAPES.values()))]
        scenes, latents = self.data[shape]
        index = self.rng.integers(len(scenes), size=self.batch)
        x0 = latents[index].float().to(self.device)
        prompts = [caption_variant(scenes[i], self.rng, short_heads=self.short_heads) for i in index]
        ids = self.tokenizer(prompts, padding="max_length", max_length=TOKENIZER_MAX_LENGTH, truncation=True, return_tensors="pt").input_ids.to(self.device)
        context = self.text_encoder(ids)[0]
        noise = torch.from_numpy(self.rng.standard_normal(x0.shape).astype(np.float32)).to(self.device)
        t = torch.from_numpy(self.rng.integers(0, 1000, size=self.batch))
        a = self.scheduler.alphas_cumprod[t].view(-1, 1, 1, 1).to(self.device)
        t = t.to(self.device)
        noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
        target = a.sqrt() * noise - (1 - a).sqrt() * x0
        prediction = self.unet(noisy, t, encoder_hidden_states=context).sample
        loss = torch.nn.functional.mse_loss(prediction, target)
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr()
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(self.unet.parameters()) + list(self.text_encoder.parameters()), 1.0)
        self.optimizer.step()
        self._update_ema()
        self.step += 1
        return float(loss.detach())

    def _lr(self) -> float:
        return warmup_cosine(self.step, self.lr, self.total_steps, warmup=500, floor_share=0.1)

    def _update_ema(self) -> None:
        import torch

        decay = min(0.999, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            for ema, live in zip(self.ema.parameters(), self.unet.parameters()):
                ema.lerp_(live, 1 - decay)

    def save(self) -> None:
        import torch

        state = {
            "step": self.step,
            "unet": self.unet.state_dict(),
            "ema": self.ema.state_dict(),
            "text_encoder": self.text_encoder.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }
        save_checkpoint(state, self.out / "checkpoint.pt")

    def resume(self) -> bool:
        import torch

        file = self.out / "checkpoint.pt"
        if not file.exists():
            return False
        state = load_checkpoint(file)
        self.unet.load_state_dict(state["unet"])
        self.ema.load_state_dict(state["ema"])
        self.text_encoder.load_state_dict(state["text_encoder"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        self.step = state["step"]
        return True


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vae", default="assets/models/landscape/vae")
    parser.add_argument("--out", default="runs/ldm", type=Path)
    parser.add_argument("--steps", type=int, default=30000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--scenes", type=int, default=12000, help="scenes per square shape (half for wide and tall)")
    parser.add_argument("--channels", default="32,64,128")
    parser.add_argument("--text-layers", type=int, default=TEXT_LAYERS,
                        help="transformer layers of the text encoder (0: each word's embedding on its own)")
    parser.add_argument("--short-heads", default=",".join(TRAINING_SHORT_HEADS),
                        help="what shortened training prompts may keep at their head: time, ground, neither")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", help="cuda or cpu (default: cuda when present)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--log-every", type=int, default=100)
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    channels = tuple(int(c) for c in args.channels.split(","))
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    heads = tuple(args.short_heads.split(","))
    if not heads or set(heads) - set(SHORT_HEADS):
        parser.error(f"--short-heads takes some of {', '.join(SHORT_HEADS)}")
    trainer = Trainer(args.vae, args.out, args.scenes, args.seed, args.lr, args.batch, channels, device,
                      args.text_layers, heads)
    trainer.total_steps = args.steps
    if args.resume and trainer.resume():
        print(f"resumed at step {trainer.step}", flush=True)
    (args.out / "config.json").write_text(json.dumps({**vars(args), "out": str(args.out)}, indent=2))
    log = open(args.out / "train.log", "a", encoding="utf-8")
    losses: list[float] = []
    last_save = began = time.time()
    while trainer.step < args.steps:
        losses.append(trainer.train_step())
        if trainer.step % args.log_every == 0:
            line = f"step {trainer.step} loss {np.mean(losses):.4f} lr {trainer._lr():.2e} {time.time() - began:.0f}s"
            print(line, flush=True)
            log.write(line + "\n")
            log.flush()
            losses.clear()
        if time.time() - last_save > args.checkpoint_minutes * 60:
            trainer.save()
            last_save = time.time()
    trainer.save()


if __name__ == "__main__":
    main()
