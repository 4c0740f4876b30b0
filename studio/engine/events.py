"""The typed events a job emits while it runs, in order:

Started, then for each image of the batch Step and Preview once per denoising step and
ImageDone, then exactly one of Finished, Cancelled or Failed. They hold plain data only
(numpy arrays, PIL images, dataclasses), so they can cross threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

import numpy as np

from studio.engine.request import GenerateRequest

if TYPE_CHECKING:
    from PIL.Image import Image

    from studio.engine.recipe import Recipe


@dataclass(frozen=True)
class Started:
    request: GenerateRequest
    total_steps: int
    count: int


@dataclass(frozen=True)
class Step:
    """Denoising step `step` of `total` (1-based) of image `index` has finished."""

    index: int
    step: int
    total: int
    step_s: float
    elapsed_s: float


@dataclass(frozen=True)
class Preview:
    """The model's current guess of the clean image after step `step`.

    `rgb` is the guess drawn cheaply at latent resolution (H/8 x W/8 x 3, uint8); `latents`
    is the guess itself (channels x H/8 x W/8, float32).
    """

    index: int
    step: int
    total: int
    rgb: np.ndarray = field(repr=False)
    latents: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class GeneratedImage:
    index: int
    seed: int
    image: "Image" = field(repr=False)
    recipe: "Recipe"
    elapsed_s: float


@dataclass(frozen=True)
class ImageDone:
    """One image of the batch is finished (not yet written anywhere)."""

    result: GeneratedImage


@dataclass(frozen=True)
class Finished:
    results: tuple[GeneratedImage, ...]
    elapsed_s: float
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cancelled:
    """The job stopped at a step boundary; `completed` holds the images finished before."""

    completed: tuple[GeneratedImage, ...]
    at_index: int
    at_step: int


@dataclass(frozen=True)
class Failed:
    message: str
    detail: str = field(default="", repr=False)


Event = Union[Started, Step, Preview, ImageDone, Finished, Cancelled, Failed]
