# pyright: standard
"""The recipe of an image, in the request's field names.

`Recipe` is what Studio made an image with: the whole request (count 1, its own seed), the
model's name, the kind of job (txt2img, outpaint, inpaint, img2img, upscale) and what an
edit adds (`extra`: source, extension per side, strength, window, scale). `FoundRecipe` is what an image file says
about how it was made, whichever tool wrote it: the same field names, each checked (a number
out of any sane range reads as unknown), and any of them missing. Other tools' sampler names
become Studio's scheduler names here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from studio import __version__
from studio.engine.request import QUALITIES, GenerateRequest
from studio.engine.schedulers import SCHEDULER_NAMES

EDIT_KINDS = ("outpaint", "inpaint")
IMAGE_KINDS = ("img2img", "upscale")  # a new picture made from a whole one
SIDES = ("left", "top", "right", "bottom")
RUNNABLE = ("seed", "steps", "guidance_scale", "scheduler", "width", "height")  # what a request needs from a file


@dataclass(frozen=True)
class Recipe:
    """How Studio made an image: the request of its own (count 1, its own seed) and context."""

    request: GenerateRequest
    model_name: str
    kind: str = "txt2img"
    version: str = __version__
    extra: dict[str, Any] = field(default_factory=dict)
    model_hash: str = ""  # the model file's short sha256, as AUTOMATIC1111 writes "Model hash"
    lora_hashes: tuple[tuple[str, str], ...] = ()  # (name, short hash) of each LoRA the prompt used
    vae: str = ""  # the VAE chosen instead of the model's own ("" = the model's)
    vae_hash: str = ""


@dataclass(frozen=True)
class FoundRecipe:
    """A recipe as an image file tells it; what the file does not say is None or ""."""

    source: str  # who wrote it: studio, a1111, forge, fooocus, comfyui, invokeai
    prompt: str = ""
    negative_prompt: str = ""
    seed: int | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    scheduler: str = ""  # Studio's name when Studio has the sampler, else the other tool's
    width: int | None = None
    height: int | None = None
    model: str = ""  # the model's name as the file gives it
    model_hash: str = ""  # the model's short hash as the file gives it ("Model hash")
    lora_hashes: tuple[tuple[str, str], ...] = ()  # (name, short hash) as "Lora hashes" gives them
    vae: str = ""
    vae_hash: str = ""
    variation_seed: int | None = None  # AUTOMATIC1111's "Variation seed"
    variation_strength: float | None = None  # "Variation seed strength", 0-1
    quality: str = ""  # "draft" when the picture was drawn by the draft decoder, "full", or unknown
    kind: str = "txt2img"
    extra: dict[str, Any] = field(default_factory=dict)  # what an outpaint or inpaint adds
    parameters: str = ""  # the AUTOMATIC1111-style text as found in the file
    studio: str = ""  # Studio's own recipe JSON, when the file has it

    @classmethod
    def checked(cls, source: str, **fields: Any) -> FoundRecipe:
        """A FoundRecipe from what a reader found, whatever the types: texts become text,
        numbers out of range or of the wrong kind become None. Unknown names are dropped."""
        text = lambda v: v if isinstance(v, str) else ("" if v is None else str(v))
        extra = fields.get("extra")
        return cls(
            source=text(source),
            prompt=text(fields.get("prompt")),
            negative_prompt=text(fields.get("negative_prompt")),
            seed=_int(fields.get("seed"), 0, 2**64 - 1),
            steps=_int(fields.get("steps"), 1, 10_000),
            guidance_scale=_float(fields.get("guidance_scale")),
            scheduler=text(fields.get("scheduler")),
            width=_int(fields.get("width"), 1, 1 << 20),
            height=_int(fields.get("height"), 1, 1 << 20),
            model=text(fields.get("model")),
            model_hash=_hash(fields.get("model_hash")),
            lora_hashes=lora_pairs(fields.get("lora_hashes")),
            vae=text(fields.get("vae")),
            vae_hash=_hash(fields.get("vae_hash")),
            variation_seed=_int(fields.get("variation_seed"), 0, 2**64 - 1),
            variation_strength=_fraction(fields.get("variation_strength")),
            quality=text(fields.get("quality")) if fields.get("quality") in QUALITIES else "",
            kind=text(fields.get("kind")) or "txt2img",
            extra=extra if isinstance(extra, dict) else {},
            parameters=text(fields.get("parameters")),
            studio=text(fields.get("studio")),
        )

    def replace(self, **changes: Any) -> FoundRecipe:
        return dataclasses.replace(self, **changes)

    def settings(self, size: tuple[int, int] | None = None) -> dict[str, Any]:
        """The request fields this recipe gives, only those Studio can use as they are;
        `size` (the picture's own) stands in for a recipe that does not say its size."""
        out: dict[str, Any] = {"prompt": self.prompt, "negative_prompt": self.negative_prompt}
        base = GenerateRequest()
        candidates = {
            "seed": self.seed,
            "steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "scheduler": self.scheduler if self.scheduler in SCHEDULER_NAMES else None,
        }
        for key, value in candidates.items():
            if value is not None and _valid(base, **{key: value}):
                out[key] = value
        width, height = self.width, self.height
        if (not width or not height) and size:
            width, height = size
        if _valid(base, width=width, height=height):
            out["width"], out["height"] = width, height
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FoundRecipe:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        return cls.checked(values.pop("source", ""), **values)


def _valid(base: GenerateRequest, **changes: Any) -> bool:
    try:
        base.replace(**changes)
    except (ValueError, TypeError):  # RequestError is a ValueError; a value of an odd type may be a TypeError
        return False
    return True


def _int(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value) if not isinstance(value, float) else int(value) if value.is_integer() else None
    except (TypeError, ValueError, OverflowError):
        try:
            number = int(float(value))
        except (TypeError, ValueError, OverflowError):
            return None
    if number is None or not low <= number <= high:
        return None
    return number


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number == number and abs(number) < 1e6 else None


def _fraction(value: Any) -> float | None:
    number = _float(value)
    return number if number is not None and 0 <= number <= 1 else None


# Sampler names of other tools, as Studio names them.
_SAMPLER_ALIASES = {
    "euler": "Euler",
    "euler_a": "Euler a",
    "euler_ancestral": "Euler a",
    "ddim": "DDIM",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_k": "DPM++ 2M Karras",
    "dpmpp_2m_sde_k": "DPM++ 2M SDE Karras",
    "uni_pc": "UniPC",
    "unipc": "UniPC",
    "lcm": "LCM",
}
_KARRAS = {
    "DPM++ 2M": "DPM++ 2M Karras",
    "DPM++ 2M SDE": "DPM++ 2M SDE Karras",
    "dpmpp_2m": "DPM++ 2M Karras",
    "dpmpp_2m_sde": "DPM++ 2M SDE Karras",
    "dpmpp_2m_sde_gpu": "DPM++ 2M SDE Karras",
}


def scheduler_name(name: Any, schedule: Any = "") -> str:
    """Studio's name for another tool's sampler (with its noise schedule, "karras" or not);
    a name Studio does not know is kept as it is."""
    if not isinstance(name, str):
        return ""
    if isinstance(schedule, str) and schedule.lower() == "karras" and name in _KARRAS:
        return _KARRAS[name]
    return name if name in SCHEDULER_NAMES else _SAMPLER_ALIASES.get(name, name)


def _hash(value: Any) -> str:
    """A model hash as hex digits (AUTOMATIC1111's 10, or more), lower case; anything else reads as unknown."""
    if not isinstance(value, str):
        return ""
    value = value.strip().lower()
    return value if 8 <= len(value) <= 64 and all(c in "0123456789abcdef" for c in value) else ""


def lora_pairs(value: Any) -> tuple[tuple[str, str], ...]:
    """(name, short hash) pairs from a list of pairs or AUTOMATIC1111's "name: hash, name: hash" text;
    a pair whose hash is not hex keeps its name with hash ""."""
    if isinstance(value, str):
        value = [part.rsplit(":", 1) for part in value.split(",") if ":" in part]
    if not isinstance(value, (list, tuple)):
        return ()
    pairs = []
    for item in value[:100]:
        if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str) and item[0].strip():
            pairs.append((item[0].strip(), _hash(item[1])))
    return tuple(pairs)
