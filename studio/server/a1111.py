"""The AUTOMATIC1111 API's payloads as engine requests, and its answers.

A payload is checked here, before any work: unknown fields are ignored, invalid values
raise `RequestError` with the same one line the command line prints, and the server's
limits (pixels, steps, images, model names) are applied. A txt2img batch becomes one job
unit per image (seeds seed, seed + 1, ... as the engine gives them), so a batch spreads
over the replicas; an inpaint or outpaint stays one unit, as its candidates share a fill.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.engine.request import MAX_SEED, GenerateRequest
from studio.engine.schedulers import SCHEDULER_NAMES
from studio.errors import RequestError
from studio.server.config import Limits

# inpainting_fill: 0 fill, 1 original, 2 latent noise, 3 latent nothing
_FILLS = {0: "colour", 1: "original", 2: "noise", 3: "noise"}
_NO_SCHEDULER = ("", "automatic", "Automatic")
# /progress shows the running job's latest step and preview; AUTOMATIC1111 refreshes its own
# live preview once a second, and its clients poll about as often: a unit's progress comes
# back once a second, the first a second after it began (a faster picture ships none).
PROGRESS_REPORT_S = 1.0


@dataclass
class Plan:
    """What one request will do: the units to run, and what its answer reports."""

    kind: str  # "txt2img" | "outpaint" | "inpaint" | "img2img" | "upscale"
    base: GenerateRequest  # the first image's settings (count = all images)
    units: list[dict[str, Any]] = field(default_factory=list)  # specs for the worker, in image order
    images: int = 1
    image_steps: int = 0  # denoising steps per image when not base.steps (img2img, an upscale's tiles)
    previews: bool = True  # whether the engine makes x0 previews
    report_s: float = PROGRESS_REPORT_S  # a unit's progress comes back at most this often (see outbox)
    first_report_s: float = PROGRESS_REPORT_S  # and first this long after the unit began

    @property
    def steps_per_image(self) -> int:
        return self.image_steps or self.base.steps

    @property
    def seeds(self) -> list[int]:
        if self.kind in ("txt2img", "img2img", "upscale"):
            return [unit["request"]["seed"] for unit in self.units]
        return list(self.base.seeds)

    @property
    def variation_seeds(self) -> list[int]:
        if self.kind in ("txt2img", "img2img", "upscale"):
            return [unit["request"].get("variation_seed", -1) for unit in self.units]
        return list(getattr(self.base, "variation_seeds", [-1] * self.images))


Defaults = Callable[[str], Any]  # model name -> its ModelDefaults (RequestError when unknown)


def whole(value: Any) -> Any:
    """JSON's 20.0 as 20; anything else as it came (the request's checks name what is wrong)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def sampler(payload: dict[str, Any]) -> str | None:
    """The sampler a payload names: `sampler_name` (or the old `sampler_index`), with a
    separate `scheduler` such as 'Karras' joined on as AUTOMATIC1111 1.9+ sends it."""
    name = payload.get("sampler_name") or payload.get("sampler_index")
    if name is None:
        return None
    if not isinstance(name, str):
        raise RequestError(f"unknown scheduler {name!r}; known schedulers: {', '.join(SCHEDULER_NAMES)}")
    schedule = payload.get("scheduler")
    if isinstance(schedule, str) and schedule not in _NO_SCHEDULER:
        joined = f"{name} {schedule}"
        if joined in SCHEDULER_NAMES:
            return joined
    return name


def model_name(payload: dict[str, Any], current: str) -> str:
    """The model asked for: `override_settings.sd_model_checkpoint` (a title 'name [hash]' or a name)."""
    override = payload.get("override_settings")
    wanted = override.get("sd_model_checkpoint") if isinstance(override, dict) else None
    return checkpoint_name(wanted) if wanted else current


def checkpoint_name(title: Any) -> str:
    """'name [hash]' (AUTOMATIC1111's title) or 'name' as the library name."""
    if not isinstance(title, str) or not title.strip():
        raise RequestError("sd_model_checkpoint must name a model in the server's library")
    title = title.strip()
    if title.endswith("]") and " [" in title:
        title = title[: title.rindex(" [")]
    return title


def base_request(
    payload: dict[str, Any], model: str, defaults: Defaults, limits: Limits
) -> tuple[GenerateRequest, int]:
    """The first image's request and the number of images, checked against the engine and `limits`."""
    model_defaults = defaults(model)
    images = _images(payload, limits)
    seed = whole(payload.get("seed", -1))
    if seed is None or seed == -1:
        seed = secrets.randbelow(MAX_SEED + 1)
    steps = whole(payload.get("steps"))
    if isinstance(steps, int) and not isinstance(steps, bool) and steps > limits.max_steps:
        raise RequestError(f"steps must be 1 to {limits.max_steps} on this server, not {steps}")
    request = model_defaults.request(
        model,
        **_variation(payload),
        prompt=payload.get("prompt", ""),
        negative_prompt=payload.get("negative_prompt", ""),
        seed=seed,
        steps=steps,
        guidance_scale=whole(payload.get("cfg_scale")),
        width=whole(payload.get("width")),
        height=whole(payload.get("height")),
        scheduler=sampler(payload),
    )
    check_pixels(request.width, request.height, limits)
    return request, images


def _variation(payload: dict[str, Any]) -> dict[str, Any]:
    """`subseed` and `subseed_strength` as the engine's variation seed and strength (when it has them)."""
    import dataclasses

    if "variation_strength" not in {f.name for f in dataclasses.fields(GenerateRequest)}:
        return {}
    strength = whole(payload.get("subseed_strength", 0)) or 0
    seed = whole(payload.get("subseed", -1))
    if seed is None or seed == -1:
        seed = secrets.randbelow(MAX_SEED + 1)
    return {"variation_seed": seed, "variation_strength": strength} if strength else {}


def split(base: GenerateRequest, images: int) -> list[GenerateRequest]:
    """The request of each image of a batch of `images`, as `GenerateRequest.single` gives
    them (seeds, variation seeds), in batches the engine accepts."""
    from studio.engine.request import MAX_COUNT

    requests: list[GenerateRequest] = []
    varied = getattr(base, "variation_strength", 0) > 0
    for start in range(0, images, MAX_COUNT):
        changes: dict[str, Any] = {"count": min(MAX_COUNT, images - start)}
        changes["seed"] = base.seed if varied else (base.seed + start) % (MAX_SEED + 1)
        if hasattr(base, "variation_seed"):
            changes["variation_seed"] = (base.variation_seed + start) % (MAX_SEED + 1)
        batch = base.replace(**changes)
        requests += [batch.single(i) for i in range(batch.count)]
    return requests


def check_pixels(width: int, height: int, limits: Limits) -> None:
    if width * height > limits.max_pixels:
        raise RequestError(
            f"{width}x{height} is too large for this server: at most {limits.max_pixels:,} pixels per image"
        )


def _images(payload: dict[str, Any], limits: Limits) -> int:
    batch, rounds = whole(payload.get("batch_size", 1)), whole(payload.get("n_iter", 1))
    for name, value in (("batch_size", batch), ("n_iter", rounds)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RequestError(f"{name} must be a whole number of at least 1, not {value!r}")
    if batch * rounds > limits.max_batch:
        raise RequestError(
            f"batch count must be 1 to {limits.max_batch} on this server (batch_size x n_iter), not {batch * rounds}"
        )
    return batch * rounds


def txt2img_plan(payload: dict[str, Any], model: str, defaults: Defaults, limits: Limits) -> Plan:
    base, images = base_request(payload, model, defaults, limits)
    plan = Plan("txt2img", base.replace(count=1), images=images)
    plan.units = [
        {"kind": "generate", "first": i, "request": single.to_dict()} for i, single in enumerate(split(base, images))
    ]
    return plan


def img2img_plan(payload: dict[str, Any], model: str, defaults: Defaults, limits: Limits) -> Plan:
    """An inpaint (a `mask`), an outpaint (a mask that is the canvas around a kept rectangle),
    or a plain img2img (no mask; when the engine has `run_image`)."""
    from studio.engine.request import MAX_COUNT

    images_in = payload.get("init_images")
    if not isinstance(images_in, list) or not images_in:
        raise RequestError("init_images must hold one base64 image")
    canvas = decode_image(images_in[0], "init_images[0]", limits)
    base, images = base_request(payload, model, defaults, limits)
    height, width = canvas.shape[:2]
    base = base.replace(width=_snap(width), height=_snap(height))
    strength = payload.get("denoising_strength", 0.75)
    mask_text = payload.get("mask")
    if not mask_text:
        return _image_plan(canvas, base, images, strength)
    mask = decode_mask(mask_text, (width, height), limits)
    if whole(payload.get("inpainting_mask_invert", 0)) == 1:
        mask = 255 - mask
    if images > MAX_COUNT:
        raise RequestError(f"batch count must be 1 to {MAX_COUNT} for an inpaint or outpaint, not {images}")
    extend = outpaint_extension(mask)
    fill_code = whole(payload.get("inpainting_fill", 0))
    if extend is not None:
        kind, fill = "outpaint", "original" if fill_code == 1 else "edge"
    else:
        kind, fill = "inpaint", _FILLS.get(fill_code, "colour") if isinstance(fill_code, int) else "colour"
    request = base.replace(width=width, height=height, count=images) if _fits(width, height) else base
    edit = {"fill": fill, "kind": kind, "extend": extend or (0, 0, 0, 0), "strength": strength}
    check_edit(request, canvas, mask, edit)
    plan = Plan(kind, request, images=images)
    plan.units = [
        {"kind": "edit", "first": 0, "request": request.to_dict(), "image": canvas, "mask": mask, "edit": edit}
    ]
    return plan


def _image_plan(canvas: np.ndarray, base: GenerateRequest, images: int, strength: Any, **upscale: Any) -> Plan:
    """An img2img, or an upscale (`image_kind="upscale"`, `scale`, `upscaler`: a library name, whose
    file `upscaler_path` is): one unit per image."""
    from studio.engine.image_request import ImageRequest
    from studio.engine.upscale import job_steps

    kind = upscale.pop("image_kind", "img2img")
    path = upscale.pop("upscaler_path", "")
    checked = ImageRequest(  # checks the values
        base.replace(count=1), canvas, strength=strength, kind=kind, scale=upscale.get("scale", 1.0), upscaler=path
    )
    plan = Plan(kind, base.replace(count=1), images=images, image_steps=max(1, job_steps(checked)))
    plan.units = [
        {
            "kind": "image",
            "first": i,
            "request": single.to_dict(),
            "image": canvas,
            "strength": strength,
            "image_kind": kind,
            **upscale,
        }
        for i, single in enumerate(split(base.replace(count=1), images))
    ]
    return plan


def upscale_plan(payload: dict[str, Any], model: str, defaults: Defaults, limits: Limits, data: str) -> Plan:
    """An upscale of `payload["image"]` by `scale` (Lanczos, or `upscaler`: a file in the server's
    library, DATA_DIR, by name), redrawn at `strength`; the enlarged picture is held to the pixel limit."""
    from studio.engine.image_request import scaled_size
    from studio.server.models import upscaler_file

    upscaler = payload.get("upscaler") or ""
    path = upscaler_file(data, upscaler)
    canvas = decode_image(payload.get("image"), "image", limits)
    base, images = base_request(payload, model, defaults, limits)
    height, width = canvas.shape[:2]
    scale = payload.get("scale", 2.0)
    if isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale > 0:
        check_pixels(*scaled_size(width, height, float(scale)), limits)
    base = base.replace(width=_snap(width), height=_snap(height))
    return _image_plan(
        canvas,
        base,
        images,
        payload.get("strength", 0.2),
        image_kind="upscale",
        scale=scale,
        upscaler=upscaler,
        upscaler_path=path,
    )


def _snap(side: int) -> int:
    """A side as the request's checks accept it (the edit itself checks the canvas)."""
    return min(max(64, side - side % 8), 4096)


def _fits(width: int, height: int) -> bool:
    return width % 8 == 0 and height % 8 == 0 and min(width, height) >= 64


def check_edit(request: GenerateRequest, canvas: np.ndarray, mask: np.ndarray, edit: dict[str, Any]) -> None:
    """Build the EditRequest once here, so its one-line refusals come before any work."""
    from studio.engine.edit import EditRequest

    EditRequest(request, canvas, mask, **edit)


def outpaint_extension(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) when the mask is the whole canvas but one kept rectangle
    that touches fewer than all four edges (how clients ask to extend a picture); else None."""
    kept = mask < 128
    rows, cols = np.flatnonzero(kept.any(axis=1)), np.flatnonzero(kept.any(axis=0))
    if not len(rows):
        return None
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if not kept[top:bottom, left:right].all() or kept.sum() != (bottom - top) * (right - left):
        return None
    height, width = mask.shape
    extend = (left, top, width - right, height - bottom)
    return extend if any(extend) else None


def _b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise RequestError(f"{what} must be a base64 image")
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(f"{what} is not valid base64") from None


def _open(text: Any, what: str, limits: Limits):
    from PIL import Image, UnidentifiedImageError

    data = _b64(text, what)
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError):
        raise RequestError(f"{what} is not an image (PNG, JPEG or WebP)") from None
    width, height = image.size
    if width * height > limits.max_pixels:  # before the pixels are decoded
        raise RequestError(f"{what} is {width}x{height}: over this server's {limits.max_pixels:,} pixels")
    try:
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError):
        raise RequestError(f"{what} is damaged and cannot be read") from None
    return image


def decode_image(text: Any, what: str, limits: Limits) -> np.ndarray:
    """A base64 image (with or without a data: prefix) as H x W x 3 uint8."""
    image = _open(text, what, limits)
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        white = np.full((image.height, image.width, 3), 255, np.uint8)
        rgba = np.asarray(image)
        alpha = rgba[..., 3:4].astype(np.float32) / 255
        return (rgba[..., :3] * alpha + white * (1 - alpha)).round().astype(np.uint8)
    return np.asarray(image.convert("RGB"))


def decode_mask(text: Any, size: tuple[int, int], limits: Limits, exact: bool = False) -> np.ndarray:
    """A base64 mask (white = make anew) as H x W uint8, 255 or 0 (`exact`: as it is); the size must be the image's."""
    image = _open(text, "mask", limits)
    if image.size != size:
        raise RequestError(
            f"the mask is {image.width}x{image.height} but the image is {size[0]}x{size[1]}; they must be the same size"
        )
    if image.mode in ("RGBA", "LA"):  # drawn masks: painted where opaque and light
        grey = np.asarray(image.convert("LA"))
        values = grey[..., 0].astype(np.uint16) * grey[..., 1] // 255
    else:
        values = np.asarray(image.convert("L"))
    if exact:
        return np.ascontiguousarray(values, dtype=np.uint8)
    return np.where(values >= 128, 255, 0).astype(np.uint8)


def info(plan: Plan, infotexts: list[str], model_name: str, model_hash: str) -> str:
    """The `info` text of an answer: AUTOMATIC1111's JSON fields, for the images made."""
    base = plan.base
    seeds = plan.seeds
    return json.dumps(
        {
            "prompt": base.prompt,
            "all_prompts": [base.prompt] * plan.images,
            "negative_prompt": base.negative_prompt,
            "all_negative_prompts": [base.negative_prompt] * plan.images,
            "seed": base.seed,
            "all_seeds": seeds,
            "subseed": plan.variation_seeds[0] if plan.variation_seeds else -1,
            "all_subseeds": plan.variation_seeds,
            "subseed_strength": getattr(base, "variation_strength", 0),
            "width": base.width,
            "height": base.height,
            "sampler_name": base.scheduler,
            "cfg_scale": base.guidance_scale,
            "steps": base.steps,
            "batch_size": plan.images,
            "sd_model_name": model_name,
            "sd_model_hash": model_hash,
            "seed_resize_from_w": -1,
            "seed_resize_from_h": -1,
            "denoising_strength": None,
            "extra_generation_params": {},
            "index_of_first_image": 0,
            "infotexts": infotexts,
            "styles": [],
            "clip_skip": 1,
            "is_using_inpainting_conditioning": plan.kind in ("inpaint", "outpaint"),
        }
    )
