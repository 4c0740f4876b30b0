# pyright: standard
"""The AUTOMATIC1111 `parameters` text: the one writer and the one parser.

The text is the prompt, a "Negative prompt:" line, then one line of settings ('Steps: 20,
Sampler: Euler a, CFG scale: 7, ...', a value with a comma, colon or quote in JSON quotes).
Forge and Fooocus write the same text (their `Version` says which); Fooocus may write JSON
in its place. An outpaint or inpaint adds `Edit`, `Denoising strength`, `Extend` and
`Source` settings; an img2img `Edit`, `Denoising strength` and `Source`; an upscale those and
`Upscale by` and `Upscaler`. A variation adds `Variation seed` and `Variation seed strength`,
a picture drawn by the draft decoder `Quality: draft`.
`read` never raises: damage gives None or fewer fields.
"""

from __future__ import annotations

import json
import os
from typing import Any

from studio.recipe.schema import EDIT_KINDS, IMAGE_KINDS, SIDES, FoundRecipe, Recipe, scheduler_name
from studio.recipe.studio_json import json_object

PARAMETERS_KEY = "parameters"
SETTING_KEYS = ("Steps", "Sampler", "CFG scale", "Seed", "Size", "Model")
MAX_SETTINGS = 500


# Writing.


def write(prompt: str, negative_prompt: str, settings: dict[str, Any]) -> str:
    """The text of a prompt, negative prompt and settings (those that are None left out)."""
    lines = [prompt]
    if negative_prompt:
        lines.append(f"Negative prompt: {negative_prompt}")
    line = ", ".join(f"{key}: {_quote(str(value))}" for key, value in settings.items() if value is not None)
    if line:
        lines.append(line)
    return "\n".join(lines)


def recipe_text(recipe: Recipe, size: tuple[int, int] | None = None) -> str:
    """A Studio recipe as AUTOMATIC1111 writes it; `size` is the picture's own when the model
    worked on a padded canvas (sides that are no multiples of 8, cropped back)."""
    r = recipe.request
    width, height = size or (r.width, r.height)
    settings = {
        "Steps": r.steps,
        "Sampler": r.scheduler,
        "CFG scale": f"{r.guidance_scale:g}",
        "Seed": r.seed,
        "Size": f"{width}x{height}",
        "Model hash": recipe.model_hash or None,
        "Model": recipe.model_name,
        "VAE hash": recipe.vae_hash or None,
        "VAE": recipe.vae or None,
        "Lora hashes": lora_text(recipe.lora_hashes),
        **_variation_settings(r.variation_seed, r.variation_strength),
        "Quality": "draft" if r.quality == "draft" else None,
        **_edit_settings(recipe.kind, recipe.extra),
        "Version": f"Studio {recipe.version}",
    }
    return write(r.prompt, r.negative_prompt, settings)


def found_text(found: FoundRecipe | None) -> str:
    """A found recipe as AUTOMATIC1111 writes it: the file's own text when it had one."""
    if found is None:
        return ""
    if found.parameters:
        return found.parameters
    settings = {
        "Steps": found.steps,
        "Sampler": found.scheduler or None,
        "CFG scale": None if found.guidance_scale is None else f"{found.guidance_scale:g}",
        "Seed": found.seed,
        "Size": f"{found.width}x{found.height}" if found.width and found.height else None,
        "Model hash": found.model_hash or None,
        "Model": found.model or None,
        "VAE hash": found.vae_hash or None,
        "VAE": found.vae or None,
        "Lora hashes": lora_text(found.lora_hashes),
        **_variation_settings(found.variation_seed, found.variation_strength),
        "Quality": "draft" if found.quality == "draft" else None,
    }
    return write(found.prompt, found.negative_prompt, settings)


def lora_text(pairs) -> str | None:
    """AUTOMATIC1111's "Lora hashes" value: "name: hash, name: hash" (None when there are none)."""
    return ", ".join(f"{name}: {digest}" for name, digest in pairs) or None


def _variation_settings(seed: int | None, strength: float | None) -> dict[str, Any]:
    """AUTOMATIC1111's "Variation seed" and "Variation seed strength", written only when on."""
    if seed is None or not strength:
        return {}
    return {"Variation seed": seed, "Variation seed strength": f"{strength:g}"}


def _quote(value: str) -> str:
    if any(c in value for c in ',:"\n'):
        return json.dumps(value, ensure_ascii=False)
    return value


def _edit_settings(kind: str, extra: dict[str, Any]) -> dict[str, Any]:
    """For an outpaint, inpaint, img2img or upscale: its kind, strength, extension per side
    (an edit), factor and upscaler (an upscale) and source file."""
    if kind not in EDIT_KINDS + IMAGE_KINDS:
        return {}
    settings: dict[str, Any] = {"Edit": kind}
    if "strength" in extra:
        settings["Denoising strength"] = f"{float(extra['strength']):g}"
    extend = extra.get("extend") or {}
    if any(extend.get(side) for side in SIDES):
        settings["Extend"] = " ".join(f"{side} {int(extend.get(side, 0))}" for side in SIDES)
    if kind == "upscale":
        settings["Upscale by"] = f"{float(extra.get('scale', 1)):g}"
        settings["Upscaler"] = extra.get("upscaler") or None
    if extra.get("source"):
        settings["Source"] = os.path.basename(str(extra["source"]))
    return settings


def _edit_from_settings(settings: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The kind and recipe extra that `_edit_settings` wrote, read back; ValueError when damaged."""
    kind = settings.get("Edit", "")
    if kind not in EDIT_KINDS + IMAGE_KINDS:
        return "txt2img", {}
    extra: dict[str, Any] = {}
    if "Denoising strength" in settings:
        extra["strength"] = float(settings["Denoising strength"])
    if kind in EDIT_KINDS:
        words = settings.get("Extend", "").split()
        pairs = dict(zip(words[0::2], words[1::2]))
        extra["extend"] = {side: int(pairs.get(side, 0)) for side in SIDES}
    if kind == "upscale":
        extra["scale"] = float(settings.get("Upscale by", "1"))
        if settings.get("Upscaler"):
            extra["upscaler"] = settings["Upscaler"]
    if settings.get("Source"):
        extra["source"] = settings["Source"]
    return kind, extra


# Parsing.


def parse(text: str) -> dict[str, Any]:
    """Prompt, negative prompt and settings (a dict of texts) of a `parameters` text.

    The last line holds the settings when it starts with "Steps:", or names two of the
    usual settings near its start; otherwise the whole text is prompt."""
    lines = text.replace("\r\n", "\n").strip("\n").split("\n")
    settings: dict[str, str] = {}
    last = lines[-1].strip()
    if last.startswith("Steps:") or ":" in last[:40]:
        candidate = split_settings(last)
        if last.startswith("Steps:") or len(set(candidate) & set(SETTING_KEYS)) >= 2:
            settings = candidate
            lines = lines[:-1]
    prompt, negative = split_prompts(lines)
    return {"prompt": prompt, "negative_prompt": negative, "settings": settings}


def split_prompts(lines: list[str]) -> tuple[str, str]:
    """The prompt and negative prompt of a text's lines (without its settings line):
    everything from a line that starts "Negative prompt:" on is the negative prompt."""
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    target = prompt_lines
    for line in lines:
        if line.startswith("Negative prompt:"):
            target = negative_lines
            line = line[len("Negative prompt:") :].lstrip()
        target.append(line)
    return "\n".join(prompt_lines), "\n".join(negative_lines)


def split_settings(line: str) -> dict[str, str]:
    """'Key: value, Key: "quoted, value", ...' as a dict, in one pass over the line."""
    out: dict[str, str] = {}
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] in " ,":
            i += 1
        colon = line.find(":", i)
        if colon < 0:
            break
        key = line[i:colon].strip()
        i = colon + 1
        while i < n and line[i] == " ":
            i += 1
        if i < n and line[i] == '"':
            k = i + 1
            while k < n and line[k] != '"':
                k += 2 if line[k] == "\\" else 1
            raw = line[i : k + 1]
            i = k + 1
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw.strip('"')
            if not isinstance(value, str):
                value = str(value)
        else:
            comma = line.find(",", i)
            comma = n if comma < 0 else comma
            value = line[i:comma].strip()
            i = comma
        if key and len(out) < MAX_SETTINGS:
            out.setdefault(key, value)
    return out


def read(text: str, strict: bool = False) -> FoundRecipe | None:
    """What a `parameters` text says (or Fooocus JSON in its place); None when it says nothing.
    With `strict` (a free-form comment or description), only a text with settings counts."""
    if text.strip().startswith("{"):
        try:
            return _from_fooocus_json(json_object(text.strip()))
        except ValueError:
            pass
    parsed = parse(text)
    s = parsed["settings"]
    if (strict and not s) or (not s and not parsed["prompt"].strip()):
        return None
    width = height = None
    if "x" in s.get("Size", ""):
        width, height = s["Size"].lower().split("x", 1)
    version = s.get("Version", "")
    source = (
        "fooocus"
        if version.startswith("Fooocus")
        else "forge"
        if version[:1] == "f" and version[1:2].isdigit()
        else "a1111"
    )
    if version.startswith("Studio"):
        source = "studio"
    try:
        kind, extra = _edit_from_settings(s)
    except ValueError:
        kind, extra = "txt2img", {}
    return FoundRecipe.checked(
        source,
        prompt=parsed["prompt"],
        negative_prompt=parsed["negative_prompt"],
        seed=s.get("Seed"),
        steps=s.get("Steps"),
        guidance_scale=s.get("CFG scale"),
        scheduler=scheduler_name(s.get("Sampler"), s.get("Schedule type", "")),
        model=s.get("Model", ""),
        model_hash=s.get("Model hash", ""),
        lora_hashes=s.get("Lora hashes", ""),
        variation_seed=s.get("Variation seed"),
        variation_strength=s.get("Variation seed strength"),
        quality=s.get("Quality", ""),
        vae=s.get("VAE", ""),
        vae_hash=s.get("VAE hash", ""),
        width=width,
        height=height,
        kind=kind,
        extra=extra,
        parameters=text,
    )


def _from_fooocus_json(data: dict[str, Any]) -> FoundRecipe | None:
    d = {str(k).lower().replace(" ", "_"): v for k, v in data.items()}
    if "prompt" not in d:
        return None
    width = height = None
    resolution = d.get("resolution")
    if isinstance(resolution, str):
        parts = [p for p in resolution.strip("()[] ").replace("x", ",").replace("×", ",").split(",") if p.strip()]
        if len(parts) == 2:
            width, height = parts[0].strip(), parts[1].strip()
    elif isinstance(resolution, (list, tuple)) and len(resolution) == 2:
        width, height = resolution
    return FoundRecipe.checked(
        "fooocus",
        prompt=d.get("prompt", ""),
        negative_prompt=d.get("negative_prompt", ""),
        seed=d.get("seed"),
        steps=d.get("steps"),
        guidance_scale=d.get("guidance_scale", d.get("cfg_scale")),
        scheduler=scheduler_name(d.get("sampler"), d.get("scheduler", "")),
        model=d.get("base_model", d.get("model", "")),
        width=width,
        height=height,
    )
