# pyright: standard
"""The typed events a job emits while it runs, in order:

Started, then for each image of the batch Step and Preview once per denoising step and
ImageDone, then exactly one of Finished, Cancelled or Failed (an edit job's previews are
EditPreviews, which can also draw themselves onto the whole canvas). They hold plain data only
(numpy arrays, PIL images, dataclasses), so they can cross threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from studio.engine.request import GenerateRequest

if TYPE_CHECKING:
    from PIL.Image import Image

    from studio.engine.edit import EditWindow
    from studio.recipe.schema import Recipe


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

    `rgb` is the guess drawn cheaply (uint8): at latent resolution (H/8 x W/8 x 3) by the
    linear preview factors, or, for a text-to-image job once the model has its draft decoder
    (see `draft_decoders`), at full size (H x W x 3); `latents` is the guess itself
    (channels x H/8 x W/8, float32).
    """

    index: int
    step: int
    total: int
    rgb: np.ndarray = field(repr=False)
    latents: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class EditPreview(Preview):
    """A step preview of an outpaint or inpaint job: `rgb` and `latents` cover the window that
    goes through the model; `canvas_rgb()` draws it in place on the whole canvas."""

    window: EditWindow | None = field(default=None, repr=False)
    base: np.ndarray | None = field(default=None, repr=False)  # the canvas (H x W x 3 uint8)
    alpha: np.ndarray | None = field(default=None, repr=False)  # the blend over the window

    def canvas_rgb(self) -> np.ndarray:
        """The canvas (H x W x 3 uint8) with this preview blended into the area being made."""
        from studio.engine.edit_pixels import composite_preview

        assert self.base is not None and self.window is not None and self.alpha is not None
        return composite_preview(self.base, self.window, self.rgb, self.alpha)


@dataclass(frozen=True)
class GeneratedImage:
    index: int
    seed: int
    image: Image = field(repr=False)
    recipe: Recipe
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


Event = Started | Step | Preview | ImageDone | Finished | Cancelled | Failed
FinalEvent = Finished | Cancelled | Failed  # how a job ends
