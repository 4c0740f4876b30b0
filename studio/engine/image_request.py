# pyright: standard
"""Image-to-image and upscale requests: a picture in, a new picture of a given size out.

`ImageRequest(generate, image, strength)` makes a new picture from `image` with the prompt
(img2img); with `kind="upscale"` and a `scale`, the picture is enlarged first and then
redrawn in tiles at the model's native size (see `upscale`). The output size is exact: the
input's for img2img, round(side * scale) for an upscale. The model works on that size padded
up to multiples of 8 (at least 64 px a side), which `generate.width` / `generate.height`
hold; the padding is cropped off again. This module is numpy only.

    request = ImageRequest(GenerateRequest(prompt=..., seed=3), pixels, strength=0.4, source="in.png")
    Engine().run_image(request, on_event, cancel)  # -> Finished with pictures of the input's size
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import numpy as np

from studio.engine.request import MAX_PIXELS, MAX_SIDE, MIN_SIDE, SIZE_MULTIPLE, GenerateRequest
from studio.engine.request_parts import GenerateSettings, frozen, is_number, rgb
from studio.errors import RequestError

KINDS = ("img2img", "upscale")
UPSCALER_SUFFIXES = (".safetensors",)
MIN_INPUT_SIDE = 8
MAX_SCALE = 8.0
# A sampler's schedule has at most this many steps (the models' training timesteps).
MAX_SCHEDULE = 1000


def padded_side(side: int) -> int:
    """The side the model works on for an output side of `side` pixels: the next multiple of 8, at least 64."""
    return max(MIN_SIDE, -(-side // SIZE_MULTIPLE) * SIZE_MULTIPLE)


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """An upscale's exact output size."""
    return max(1, round(width * scale)), max(1, round(height * scale))


def denoise_steps(steps: int, strength: float) -> tuple[int, int]:
    """(the schedule's length, the steps run on it) for `steps` at `strength`, as diffusers'
    img2img pipelines count them (the last int(steps * strength) steps of the schedule). When
    that is no step at all the schedule is lengthened until it is one, so a small strength is
    a small change rather than an error; (0, 0) when even the longest schedule gives none."""
    if strength <= 0:
        return 0, 0
    schedule = steps if int(steps * strength) >= 1 else min(MAX_SCHEDULE, math.ceil(1 / strength))
    while int(schedule * strength) < 1 and schedule < MAX_SCHEDULE:
        schedule += 1
    run = min(int(schedule * strength), schedule)
    return (schedule, run) if run >= 1 else (0, 0)


@dataclass(frozen=True, eq=False)
class ImageRequest(GenerateSettings):
    """An img2img or upscale job, checked when it is made.

    `generate` holds the prompt, seed, steps, sampler, model and `count` (candidates, seeds
    seed, seed + 1, ...); its width and height are set to the padded output size (variations
    are off: the noise is the picture's). `image` is the source (H x W x 3 uint8, at least 8 px
    a side; copied). `strength` is how far it is re-noised: 0 returns it unchanged (an upscale:
    just enlarged), 1 redraws it from noise. `scale` is an upscale's factor (img2img: 1).
    `upscaler` is an upscaler model file (through spandrel) to enlarge with, "" for Lanczos.
    """

    generate: GenerateRequest
    image: np.ndarray
    strength: float = 0.5
    kind: str = "img2img"
    scale: float = 1.0
    source: str | None = None
    upscaler: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.generate, GenerateRequest):
            raise RequestError("an image request needs a GenerateRequest for its prompt and settings")
        image = rgb(self.image)
        height, width = image.shape[:2]
        if min(width, height) < MIN_INPUT_SIDE:
            raise RequestError(f"the picture is {width}x{height}; each side must be at least {MIN_INPUT_SIDE} pixels")
        if self.kind not in KINDS:
            raise RequestError(f"unknown image job {self.kind!r}; use one of {', '.join(KINDS)}")
        if not is_number(self.strength) or not 0 <= self.strength <= 1:
            raise RequestError(f"strength must be 0 to 1, not {self.strength!r}")
        if not is_number(self.scale):
            raise RequestError(f"the scale must be a number, not {self.scale!r}")
        if self.kind == "img2img" and self.scale != 1:
            raise RequestError(f"img2img keeps the picture's size (scale 1), not scale {self.scale:g}; use upscale")
        if self.kind == "upscale" and not 1 < self.scale <= MAX_SCALE:
            raise RequestError(f"the scale must be above 1 and at most {MAX_SCALE:g}, not {self.scale:g}")
        if self.source is not None and not isinstance(self.source, str):
            raise RequestError("the source must be a path (text) or None")
        if not isinstance(self.upscaler, str):
            raise RequestError("the upscaler must be a file path (text), or empty for Lanczos")
        if self.upscaler and not self.upscaler.lower().endswith(UPSCALER_SUFFIXES):
            raise RequestError(
                f"upscaler {PurePath(self.upscaler).name}: only .safetensors upscalers are loaded (pickles can run code)"
            )
        out_width, out_height = scaled_size(width, height, float(self.scale))
        padded = padded_side(out_width), padded_side(out_height)
        if max(out_width, out_height) > MAX_SIDE or padded[0] * padded[1] > MAX_PIXELS:
            what = f"scale {float(self.scale):g} would make" if self.kind == "upscale" else "the picture is"
            raise RequestError(
                f"{what} {out_width}x{out_height}, over the engine's maximum of {MAX_SIDE} px a side "
                f"and {MAX_PIXELS:,} pixels (e.g. 2048x2048); use a smaller scale or a smaller picture"
            )
        object.__setattr__(self, "image", frozen(image))
        object.__setattr__(self, "strength", float(self.strength))
        object.__setattr__(self, "scale", float(self.scale))
        object.__setattr__(self, "output_size", (out_width, out_height))
        generate = self.generate
        if (generate.width, generate.height) != padded or generate.variation_strength:
            generate = generate.replace(width=padded[0], height=padded[1], variation_strength=0.0, variation_seed=0)
            object.__setattr__(self, "generate", generate)

    output_size: tuple[int, int] = dataclasses.field(default=(0, 0), init=False)

    @property
    def width(self) -> int:
        """The output's width (exact, not padded)."""
        return self.output_size[0]

    @property
    def height(self) -> int:
        return self.output_size[1]

    @property
    def denoise_steps(self) -> int:
        """Denoising steps each pass through the model runs (0 for strength 0)."""
        return denoise_steps(self.steps, self.strength)[1]

    def recipe_extra(self) -> dict[str, Any]:
        """What a saved result's recipe says about the job."""
        extra: dict[str, Any] = {"source": self.source, "strength": self.strength, "scale": self.scale}
        if self.kind == "upscale":
            extra["upscaler"] = upscaler_name(self.upscaler)
        return extra


def upscaler_name(path: str) -> str:
    """How the recipe names an upscaler: its file's name without the suffix, or Lanczos."""
    return PurePath(path).stem if path else "Lanczos"
