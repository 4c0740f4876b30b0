"""The judge: a small CNN that reads every attribute of the landscape-world spec back from an
image, so that the embedded model's pictures can be scored against their prompts.

It is trained only on true renders of the spec (see `train_judge`), at every shape the app
makes, and reads any image size: each picture is resized to 128 x 128 first. Two coordinate
channels are added to the pixels so that the network knows left from right and sky from
ground; the head sees both pooled features (for counting trees) and a coarse map (for where
things are).

    judge = Judge.load()
    judge.read([image, ...])  # -> [{"time": "night", "ground": "snowy", "body": "left",
                              #      "mountains": True, "lake": False, "trees": 2}, ...]

Train: python -m studio.embedded.judge --train [--steps N] [--threads 1] [--resume]
Check: python -m studio.embedded.judge --check [--count N]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from studio.embedded.scene import BODY_SIDES, GROUNDS, TIMES, TREE_COUNTS
from studio.resources import judge_dir

# Each attribute, in Scene's field order, and its classes in the network's output order.
CLASSES: dict[str, tuple] = {
    "time": TIMES,
    "ground": GROUNDS,
    "body": BODY_SIDES,
    "mountains": (False, True),
    "lake": (False, True),
    "trees": TREE_COUNTS,
}
ATTRIBUTES = tuple(CLASSES)
INPUT_SIZE = 128
DEFAULT_CHANNELS = (16, 32, 64, 96)
MAP_CHANNELS = 4  # channels of the coarse 8 x 8 map the head sees besides the pooled features
HIDDEN = 64
JUDGE_DIR = judge_dir()  # package data: studio/assets/judge
DEFAULT_PATH = JUDGE_DIR / "judge.safetensors"
CONFIG_NAME = "config.json"
READ_BATCH = 64


def _conv(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class JudgeNet(nn.Module):
    """Four stages of two 3x3 convolutions (the first of each halves the size after the
    first stage), 128 -> 8 pixels; one shared hidden layer; one linear head per attribute."""

    def __init__(
        self, channels: Sequence[int] = DEFAULT_CHANNELS, hidden: int = HIDDEN, map_channels: int = MAP_CHANNELS
    ) -> None:
        super().__init__()
        layers, previous = [], 5  # RGB + x, y coordinates
        for stage, width in enumerate(channels):
            layers.append(_conv(previous, width, stride=2 if stage else 1))
            layers.append(_conv(width, width, stride=2 if stage == 0 else 1))
            previous = width
        self.features = nn.Sequential(*layers)
        self.to_map = nn.Conv2d(previous, map_channels, 1)
        map_size = INPUT_SIZE // 2 ** len(channels)
        self.hidden = nn.Sequential(nn.Linear(2 * previous + map_channels * map_size**2, hidden), nn.ReLU(inplace=True))
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, len(classes)) for name, classes in CLASSES.items()})

    def forward(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        """`pixels`: N x 3 x 128 x 128 in [-1, 1]; returns the logits of every attribute."""
        n, _, h, w = pixels.shape
        ys = torch.linspace(-1, 1, h, device=pixels.device).view(1, 1, h, 1).expand(n, 1, h, w)
        xs = torch.linspace(-1, 1, w, device=pixels.device).view(1, 1, 1, w).expand(n, 1, h, w)
        features = self.features(torch.cat([pixels, xs, ys], dim=1))
        summary = torch.cat(
            [
                features.mean(dim=(2, 3)),
                features.amax(dim=(2, 3)),
                self.to_map(features).flatten(1),
            ],
            dim=1,
        )
        shared = self.hidden(summary)
        return {name: head(shared) for name, head in self.heads.items()}


def to_pixels(images: Sequence) -> torch.Tensor:
    """PIL images or H x W x 3 uint8 arrays of any size -> N x 3 x 128 x 128 in [-1, 1]
    (bilinear, antialiased)."""
    batch = []
    for image in images:
        if not isinstance(image, np.ndarray):
            image = image.convert("RGB")
        tensor = torch.from_numpy(np.array(image, dtype=np.uint8)[..., :3].copy()).permute(2, 0, 1)
        tensor = tensor.float().unsqueeze(0) / 127.5 - 1.0
        if tensor.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            tensor = F.interpolate(
                tensor, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True
            )
        batch.append(tensor)
    return torch.cat(batch)


def decode(logits: dict[str, torch.Tensor]) -> list[dict]:
    """The most likely class of every attribute, one dict per image, keyed like Scene."""
    picks = {name: value.argmax(dim=1).tolist() for name, value in logits.items()}
    count = len(next(iter(picks.values())))
    return [{name: CLASSES[name][picks[name][i]] for name in ATTRIBUTES} for i in range(count)]


class Judge:
    """A trained JudgeNet and its configuration, in eval mode."""

    def __init__(self, net: JudgeNet, config: dict | None = None) -> None:
        self.net = net.eval()
        self.config = config or {}

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PATH) -> Judge:
        """The judge saved at `path` (safetensors) with its config.json beside it."""
        from safetensors.torch import load_file

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"no judge weights at {path}; train them with python -m studio.embedded.judge --train"
            )
        config = json.loads((path.parent / CONFIG_NAME).read_text(encoding="utf-8"))
        net = JudgeNet(config["channels"], config["hidden"], config["map_channels"])
        net.load_state_dict(load_file(path))
        return cls(net, config)

    def save(self, path: str | Path = DEFAULT_PATH, extra: dict | None = None) -> Path:
        """Writes the weights (safetensors) and config.json (architecture and `extra`)."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {name: tensor.detach().contiguous() for name, tensor in self.net.state_dict().items()}
        save_file(state, path)
        self.config = {**self.config, **architecture(self.net), **(extra or {})}
        (path.parent / CONFIG_NAME).write_text(json.dumps(self.config, indent=2) + "\n", encoding="utf-8")
        return path

    @torch.no_grad()
    def logits(self, images: Sequence) -> dict[str, torch.Tensor]:
        chunks = [self.net(to_pixels(images[i : i + READ_BATCH])) for i in range(0, len(images), READ_BATCH)]
        return {name: torch.cat([chunk[name] for chunk in chunks]) for name in ATTRIBUTES}

    def read(self, images: Sequence) -> list[dict]:
        """The attributes of each image (PIL or H x W x 3 uint8, any size), keyed like Scene."""
        if not len(images):
            return []
        return decode(self.logits(list(images)))


def architecture(net: JudgeNet) -> dict:
    """What it takes to rebuild `net`, for config.json."""
    convs = [layer for layer in net.features.modules() if isinstance(layer, nn.Conv2d)]
    channels = [conv.out_channels for conv in convs[::2]]  # the first of each stage's two
    return {
        "channels": channels,
        "hidden": net.hidden[0].out_features,
        "map_channels": net.to_map.out_channels,
        "input_size": INPUT_SIZE,
        "classes": {name: list(classes) for name, classes in CLASSES.items()},
        "parameters": sum(p.numel() for p in net.parameters()),
    }


if __name__ == "__main__":
    from studio.embedded.train_judge import main

    main()
