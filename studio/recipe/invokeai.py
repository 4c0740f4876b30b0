# pyright: standard
"""InvokeAI's recipes: `invokeai_metadata` JSON, and `sd-metadata` of its older versions. `read` never raises."""

from __future__ import annotations

from typing import Any

from studio.recipe.schema import FoundRecipe, scheduler_name
from studio.recipe.studio_json import object_or_none


def read(text: str) -> FoundRecipe | None:
    """What `invokeai_metadata` says; None when it is not a JSON object."""
    data = object_or_none(text)
    if not data:
        return None
    model = data.get("model")
    if isinstance(model, dict):
        model = model.get("name") or model.get("model_name") or ""
    prompt = data.get("positive_prompt", data.get("prompt", ""))
    return _found(
        {
            "prompt": prompt if isinstance(prompt, str) else "",
            "negative_prompt": data.get("negative_prompt", ""),
            "seed": data.get("seed"),
            "steps": data.get("steps"),
            "guidance_scale": data.get("cfg_scale"),
            "scheduler": scheduler_name(data.get("scheduler", "")),
            "model": model if isinstance(model, str) else "",
            "width": data.get("width"),
            "height": data.get("height"),
        }
    )


def read_v2(text: str) -> FoundRecipe | None:
    """What the older `sd-metadata` says; None when it holds no image."""
    data = object_or_none(text)
    if not data:
        return None
    image = data.get("image")
    if not isinstance(image, dict):
        return None
    prompt = image.get("prompt")
    if isinstance(prompt, list):
        prompt = " ".join(
            p.get("prompt", "") for p in prompt if isinstance(p, dict) and isinstance(p.get("prompt", ""), str)
        )
    return _found(
        {
            "prompt": prompt if isinstance(prompt, str) else "",
            "seed": image.get("seed"),
            "steps": image.get("steps"),
            "guidance_scale": image.get("cfg_scale"),
            "scheduler": scheduler_name(image.get("sampler", "")),
            "model": data.get("model_weights", "") if isinstance(data.get("model_weights", ""), str) else "",
            "width": image.get("width"),
            "height": image.get("height"),
        }
    )


def _found(fields: dict[str, Any]) -> FoundRecipe:
    return FoundRecipe.checked("invokeai", **fields)
