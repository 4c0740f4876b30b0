# pyright: standard
"""Studio's own recipe format: JSON with the whole request, in the `studio` text chunk.

`encode` writes a `Recipe`, `decode` reads one back whole (or raises ValueError), and `read`
gives what any JSON of this shape says as a `FoundRecipe`, even when it is not whole enough
to run (a newer version, a hand-edited file).
"""

from __future__ import annotations

import json
from typing import Any

from studio.engine.request import GenerateRequest
from studio.recipe.schema import FoundRecipe, Recipe, lora_pairs

STUDIO_KEY = "studio"
RECIPE_FORMAT = 1


def encode(recipe: Recipe) -> str:
    data = {
        "format": RECIPE_FORMAT,
        "kind": recipe.kind,
        "studio_version": recipe.version,
        "model_name": recipe.model_name,
        "model_hash": recipe.model_hash,
        "lora_hashes": [list(pair) for pair in recipe.lora_hashes],
        "vae": recipe.vae,
        "vae_hash": recipe.vae_hash,
        "request": recipe.request.to_dict(),
        "extra": recipe.extra,
    }
    return json.dumps(data, ensure_ascii=True, sort_keys=True)


def decode(text: str) -> Recipe:
    """The Recipe in `text`; ValueError (a RequestError for values out of range) when there is none."""
    data = json_object(text)
    request, extra = data.get("request"), data.get("extra") or {}
    if not isinstance(request, dict) or not isinstance(extra, dict):
        raise ValueError("not a Studio recipe")
    try:
        request = GenerateRequest.from_dict(request)
    except TypeError as exc:  # a value of a type the checks cannot compare
        raise ValueError(str(exc)) from None
    return Recipe(
        request=request,
        model_name=str(data.get("model_name", "")),
        kind=str(data.get("kind", "txt2img")),
        version=str(data.get("studio_version", "")),
        extra=extra,
        model_hash=str(data.get("model_hash", "") or ""),
        lora_hashes=lora_pairs(data.get("lora_hashes")),
        vae=str(data.get("vae", "") or ""),
        vae_hash=str(data.get("vae_hash", "") or ""),
    )


def read(text: str) -> FoundRecipe | None:
    """What a Studio recipe JSON says, field by field; None when it is not one."""
    try:
        data = json_object(text)
    except ValueError:
        return None
    request = data.get("request")
    if not isinstance(request, dict):
        return None
    return FoundRecipe.checked(
        "studio",
        prompt=request.get("prompt", ""),
        negative_prompt=request.get("negative_prompt", ""),
        seed=request.get("seed"),
        steps=request.get("steps"),
        guidance_scale=request.get("guidance_scale"),
        scheduler=request.get("scheduler", ""),
        model=data.get("model_name", "") or request.get("model", ""),
        model_hash=data.get("model_hash", ""),
        lora_hashes=data.get("lora_hashes"),
        vae=data.get("vae", ""),
        vae_hash=data.get("vae_hash", ""),
        width=request.get("width"),
        height=request.get("height"),
        variation_seed=request.get("variation_seed") if request.get("variation_strength") else None,
        variation_strength=request.get("variation_strength") or None,
        quality=request.get("quality", ""),
        kind=data.get("kind"),
        extra=data.get("extra"),
        studio=text,
    )


def json_object(text: str) -> dict[str, Any]:
    """`text` as a JSON object; ValueError when it is not one (deep nesting included)."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def object_or_none(text: str) -> dict[str, Any] | None:
    """`text` as a JSON object, or None."""
    try:
        return json_object(text) if text else None
    except ValueError:
        return None
