"""Studio's own job payload (`POST /studio/v1/jobs`): the request as `studio generate` and
`studio outpaint` build it, so the server makes the same pixels as the local engine.

    {"kind": "txt2img" | "outpaint" | "inpaint", "prompt", "negative_prompt", "seed", "steps",
     "guidance_scale", "width", "height", "scheduler", "count", "model", "quality" ("full" or "draft"),
     outpaint: "image" (base64 PNG), "extend" [left, top, right, bottom], "fill", "strength", "source"
     or an edit as the window holds it: "image" (the whole canvas) and "mask" (a greyscale PNG,
     255 = make anew, values between kept as they are), "extend", "fill", "strength", "source";
     img2img: "image" and "strength";
     upscale: "image", "scale", "strength" and "upscaler" (a file in the server's models/upscalers,
     by name; none: Lanczos)}

A value left out (or null) is the model's default, as on the command line. "previews"
(default true) asks for the x0 previews as the job runs; they and the steps come a few times a
second (`REPORT_S`), the last step of each image always.
"""

from __future__ import annotations

from typing import Any

from studio.errors import RequestError
from studio.server import a1111
from studio.server.a1111 import Defaults, Plan
from studio.server.config import Limits

KINDS = ("txt2img", "outpaint", "inpaint", "img2img", "upscale")
REPORT_S = 0.2  # progress five times a second, the first with the first step


def native_plan(payload: dict[str, Any], model: str, defaults: Defaults, limits: Limits, data: str = "") -> Plan:
    """The plan of one job; `data` is the server's DATA_DIR (where an upscale's upscaler is found)."""
    previews = True if payload.get("previews") is None else payload["previews"]
    if not isinstance(previews, bool):
        raise RequestError(f"previews must be true or false, not {previews!r}")
    plan = _plan(payload, model, defaults, limits, data)
    plan.previews, plan.report_s, plan.first_report_s = previews, REPORT_S, 0.0
    quality = payload.get("quality")
    if quality is not None and quality != plan.base.quality:
        plan.base = plan.base.replace(quality=quality)  # checks it
        for unit in plan.units:
            unit["request"] = {**unit["request"], "quality": plan.base.quality}
    return plan


def _plan(payload: dict[str, Any], model: str, defaults: Defaults, limits: Limits, data: str) -> Plan:
    kind = payload.get("kind", "txt2img")
    if kind not in KINDS:
        raise RequestError(f"unknown job kind {kind!r}; use one of {', '.join(KINDS)}")
    settings = {
        "prompt": payload.get("prompt", ""),
        "negative_prompt": payload.get("negative_prompt", ""),
        "seed": payload.get("seed", -1),
        "steps": payload.get("steps"),
        "cfg_scale": payload.get("guidance_scale"),
        "width": payload.get("width"),
        "height": payload.get("height"),
        "sampler_name": payload.get("scheduler"),
        "batch_size": payload.get("count", 1),
        "subseed": payload.get("variation_seed", -1),
        "subseed_strength": payload.get("variation_strength", 0),
    }
    if kind == "txt2img":
        return a1111.txt2img_plan(settings, model, defaults, limits)
    if kind == "img2img":
        settings.update(init_images=[payload.get("image")], denoising_strength=payload.get("strength", 0.5))
        return a1111.img2img_plan(settings, model, defaults, limits)
    if kind == "upscale":
        for key in ("image", "scale", "strength", "upscaler"):
            if payload.get(key) is not None:
                settings[key] = payload[key]
        return a1111.upscale_plan(settings, model, defaults, limits, data)
    return _edit(payload, settings, model, defaults, limits)


def _edit(payload: dict[str, Any], settings: dict[str, Any], model: str, defaults: Defaults, limits: Limits) -> Plan:
    from studio.engine.edit import extend_canvas
    from studio.engine.request import MAX_COUNT

    image = a1111.decode_image(payload.get("image"), "image", limits)
    extend = payload.get("extend", [0, 0, 0, 0])
    if not isinstance(extend, list) or len(extend) != 4:
        raise RequestError("extend must be four whole numbers of pixels (left, top, right, bottom)")
    extend = [a1111.whole(v) for v in extend]
    if payload.get("mask") is not None:
        canvas = image
        mask = a1111.decode_mask(payload["mask"], (image.shape[1], image.shape[0]), limits, exact=True)
    elif payload.get("kind") == "outpaint":
        canvas, mask = extend_canvas(image, *extend)
    else:
        raise RequestError("an inpaint needs a mask")
    a1111.check_pixels(canvas.shape[1], canvas.shape[0], limits)
    base, images = a1111.base_request(settings, model, defaults, limits)
    if images > MAX_COUNT:
        raise RequestError(f"batch count must be 1 to {MAX_COUNT}, not {images}")
    request = base.replace(count=images)
    edit = {
        "fill": payload.get("fill", "edge"),
        "kind": payload.get("kind"),
        "extend": tuple(extend),
        "strength": payload.get("strength", 1.0),
        "source": payload.get("source"),
    }
    a1111.check_edit(request, canvas, mask, edit)
    plan = Plan(str(payload.get("kind")), request, images=images)
    plan.units = [
        {"kind": "edit", "first": 0, "request": request.to_dict(), "image": canvas, "mask": mask, "edit": edit}
    ]
    return plan
