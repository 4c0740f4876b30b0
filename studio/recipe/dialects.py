# pyright: standard
"""Which text of an image file holds its recipe, in which tool's dialect, in order of trust.

Studio's own JSON first, then AUTOMATIC1111/Forge `parameters` (or Fooocus JSON there),
ComfyUI's `prompt` and `workflow`, InvokeAI's `invokeai_metadata` and older `sd-metadata`,
then the texts of EXIF and of free-form comments. `recipe_fields` tries them and never
raises; `runnable` turns what was found into a Recipe Studio can run as it is.
"""

from __future__ import annotations

import logging
from typing import Callable

from studio.engine.request import MAX_SEED, GenerateRequest
from studio.recipe import a1111, comfyui, invokeai, studio_json
from studio.recipe.schema import RUNNABLE, FoundRecipe, Recipe

log = logging.getLogger(__name__)

# Each text key with its reader; a reader returns a FoundRecipe or None.
DIALECTS: tuple[tuple[str, Callable[[dict[str, str]], FoundRecipe | None]], ...] = (
    ("studio", lambda texts: studio_json.read(texts["studio"])),
    ("parameters", lambda texts: a1111.read(texts["parameters"])),
    ("prompt", lambda texts: comfyui.read(texts.get("prompt", ""), texts.get("workflow", ""))),
    ("workflow", lambda texts: comfyui.read("", texts["workflow"])),
    ("invokeai_metadata", lambda texts: invokeai.read(texts["invokeai_metadata"])),
    ("sd-metadata", lambda texts: invokeai.read_v2(texts["sd-metadata"])),
    ("exif", lambda texts: a1111.read(texts["exif"])),
    ("comment", lambda texts: a1111.read(texts["comment"], strict=True)),
    ("description", lambda texts: a1111.read(texts["description"], strict=True)),
)


def recipe_fields(texts: dict[str, str]) -> FoundRecipe | None:
    """The recipe found in a file's texts (by key), the most trusted one; None when none. Never raises."""
    for key, read in DIALECTS:
        if not texts.get(key):
            continue
        try:
            found = read(texts)
        except Exception:  # a dialect bug must not hide the image; the fuzz tests call DIALECTS directly
            log.exception("reading the %r text failed", key)
            found = None
        if found is not None:
            if key == "studio" and texts.get("parameters"):
                found = found.replace(parameters=texts["parameters"])
            return found
    return None


def runnable(found: FoundRecipe | None, size: tuple[int, int] | None = None) -> Recipe | None:
    """A Recipe Studio can run as it is: Studio's own whole JSON, else one made of the found
    fields when they say everything a request needs (`size`, the picture's, when they lack one)."""
    if found is None:
        return None
    if found.studio:
        try:
            return studio_json.decode(found.studio)
        except ValueError:
            pass
    settings = found.settings(size)
    if not set(RUNNABLE) <= set(settings):
        return None
    request = GenerateRequest(model=found.model or GenerateRequest().model, **settings)
    if found.variation_seed is not None and found.variation_strength and found.variation_seed <= MAX_SEED:
        request = request.replace(variation_seed=found.variation_seed, variation_strength=found.variation_strength)
    return Recipe(
        request=request,
        model_name=found.model,
        kind=found.kind,
        version="",
        extra=found.extra,
        model_hash=found.model_hash,
        lora_hashes=found.lora_hashes,
        vae=found.vae,
        vae_hash=found.vae_hash,
    )
