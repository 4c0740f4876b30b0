# pyright: standard
"""The request for one generation job: frozen, complete, and checked when it is made."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from studio.engine.schedulers import SCHEDULER_NAMES
from studio.errors import RequestError

EMBEDDED_MODEL = "embedded"
SIZE_MULTIPLE = 8
MIN_SIDE = 64
MAX_SIDE = 4096
# What one image may hold in all: the latents, attention maps and decoded image of a
# 2048 x 2048 picture already take several GB; bigger canvases are made by outpainting.
MAX_PIXELS = 2048 * 2048
MAX_STEPS = 150
MAX_GUIDANCE = 30.0
MAX_COUNT = 9
MAX_SEED = 2**32 - 1
QUALITIES = ("full", "draft")  # how the final picture is decoded: the model's VAE, or its draft decoder


def nearest_multiples(value: int, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """The multiples of `multiple` just below and just above `value`."""
    below = max(multiple, value // multiple * multiple)
    return below, below + multiple


@dataclass(frozen=True)
class GenerateRequest:
    """Everything one text-to-image job needs; invalid values are refused at construction."""

    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    steps: int = 20
    guidance_scale: float = 7.0
    width: int = 512
    height: int = 512
    scheduler: str = "DPM++ 2M Karras"
    count: int = 1
    model: str = EMBEDDED_MODEL
    # AUTOMATIC1111's variations: the noise of `seed` turned towards that of `variation_seed`
    # (spherically, see `noise.variation_noise`) by `variation_strength`; 0 = off.
    variation_seed: int = 0
    variation_strength: float = 0.0
    # "draft": the final picture drawn by the model's small draft decoder (see engine.draft_decoders)
    quality: str = "full"

    def __post_init__(self) -> None:
        for problem in _problems(self):
            raise RequestError(problem)

    @property
    def seeds(self) -> tuple[int, ...]:
        """One seed per image of the batch: seed, seed + 1, ...; with variations on, seed for
        every image (each has its own variation seed instead)."""
        if self.variation_strength > 0:
            return (self.seed,) * self.count
        return tuple((self.seed + i) % (MAX_SEED + 1) for i in range(self.count))

    @property
    def variation_seeds(self) -> tuple[int, ...]:
        """One variation seed per image of the batch: variation_seed, variation_seed + 1, ..."""
        return tuple((self.variation_seed + i) % (MAX_SEED + 1) for i in range(self.count))

    def single(self, index: int) -> GenerateRequest:
        """The request for image `index` of this batch alone (its own seeds, count 1)."""
        return dataclasses.replace(self, seed=self.seeds[index], variation_seed=self.variation_seeds[index], count=1)

    def replace(self, **changes: Any) -> GenerateRequest:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerateRequest:
        """Build a request from a dict, ignoring keys it does not know (newer versions)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _problems(r: GenerateRequest):
    if not isinstance(r.prompt, str) or not isinstance(r.negative_prompt, str):
        yield "the prompt and negative prompt must be text"
    for name in ("seed", "steps", "width", "height", "count", "variation_seed"):
        value = getattr(r, name)
        if isinstance(value, bool) or not isinstance(value, int):
            yield f"{name.replace('_', ' ')} must be a whole number, not {value!r}"
    for name, value in (("width", r.width), ("height", r.height)):
        if value % SIZE_MULTIPLE:
            low, high = nearest_multiples(value)
            yield f"{name} {value} is not a multiple of {SIZE_MULTIPLE}; the nearest valid sizes are {low} and {high}"
        if not MIN_SIDE <= value <= MAX_SIDE:
            yield f"{name} {value} is out of range: each side must be {MIN_SIDE} to {MAX_SIDE} pixels"
    if r.width * r.height > MAX_PIXELS:
        yield (
            f"{r.width}x{r.height} is too large: at most {MAX_PIXELS:,} pixels per image "
            f"(for example 2048x2048); outpaint to grow a picture beyond that"
        )
    if not 1 <= r.steps <= MAX_STEPS:
        yield f"steps must be 1 to {MAX_STEPS}, not {r.steps}"
    if isinstance(r.guidance_scale, bool) or not isinstance(r.guidance_scale, (int, float)):
        yield f"guidance scale must be a number, not {r.guidance_scale!r}"
    elif not 0 <= r.guidance_scale <= MAX_GUIDANCE:
        yield f"guidance scale must be 0 to {MAX_GUIDANCE:g}, not {r.guidance_scale:g}"
    if not 1 <= r.count <= MAX_COUNT:
        yield f"batch count must be 1 to {MAX_COUNT}, not {r.count}"
    if not 0 <= r.seed <= MAX_SEED:
        yield f"seed must be 0 to {MAX_SEED}, not {r.seed}"
    if not 0 <= r.variation_seed <= MAX_SEED:
        yield f"variation seed must be 0 to {MAX_SEED}, not {r.variation_seed}"
    strength = r.variation_strength
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 1:
        yield f"variation strength must be 0 to 1, not {strength!r}"
    if r.scheduler not in SCHEDULER_NAMES:
        yield f"unknown scheduler {r.scheduler!r}; known schedulers: {', '.join(SCHEDULER_NAMES)}"
    if r.quality not in QUALITIES:
        yield f"quality must be one of {', '.join(QUALITIES)}, not {r.quality!r}"
    if not isinstance(r.model, str) or not r.model.strip():
        yield "the model must be named (a folder, a Hugging Face repo id, or 'embedded')"
