"""The jobs the window makes from a picture: Generate from the canvas picture (img2img, when
Strength is below 100 %), Upscale, and Variations of a picture's recipe.

Each builder reads the session's settings and the picture being edited (`Edits`) and returns
the frozen request the job router submits, or raises StudioError with the one line to show.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from studio.engine.request import MAX_SEED, GenerateRequest
from studio.errors import StudioError

if TYPE_CHECKING:
    from studio.engine.image_request import ImageRequest
    from studio.model.edits import Edits
    from studio.model.session import Session

UPSCALES = (1.5, 2.0)  # what the window offers
VARIATIONS = 4  # how many Variations makes when the batch count is 1


def generate_request(session: Session, edits: Edits) -> GenerateRequest | ImageRequest:
    """Generate: text to image at Strength 100 % or with nothing on the canvas; below 100 %,
    a new picture from the canvas picture (its committed pixels) with the prompt."""
    request = session.request()
    strength = float(session["strength"])
    if strength >= 1 or edits.picture is None:
        return request.replace(quality=session["quality"])  # only text to image has a draft decode
    from studio.engine.image_request import ImageRequest

    picture = edits.picture
    return ImageRequest(request, picture.base, strength=strength, source=picture.path)


def upscale_request(session: Session, edits: Edits, scale: float) -> ImageRequest:
    """The canvas picture enlarged `scale` times and redrawn at the upscale strength, with the prompt."""
    from studio.engine.image_request import ImageRequest

    picture = edits.picture
    if picture is None:
        raise StudioError("Nothing to upscale: open, drop or generate a picture first")
    if edits.locked:
        raise StudioError("Wait for the job on this picture to end, then accept or discard its candidates")
    if edits.extended:
        raise StudioError("Fill the canvas's new area (Outpaint) or crop it back before upscaling")
    request = session.request().replace(count=1)
    return ImageRequest(
        request,
        picture.base,
        strength=float(session["upscale_strength"]),
        kind="upscale",
        scale=scale,
        source=picture.path,
    )


def variations_request(session: Session, recipe: object) -> GenerateRequest:
    """Pictures close to the one `recipe` made: its request with a random variation seed at the
    session's variation strength, as many as the batch count (or 4 when that is 1), with the
    model chosen now (`recipe`: the picture's Recipe, or None)."""
    from studio.recipe.schema import Recipe

    if not isinstance(recipe, Recipe):
        raise StudioError("This picture has no recipe to vary; set Strength below 100 % to start from it instead")
    if recipe.kind != "txt2img":
        raise StudioError(
            f"Variations start from a picture made from text; this one was made by {recipe.kind}. "
            "Set Strength below 100 % to start from it instead"
        )
    count = int(session["count"])
    return recipe.request.replace(
        model=session["model"],
        count=count if count > 1 else VARIATIONS,
        variation_seed=secrets.randbelow(MAX_SEED + 1),
        variation_strength=float(session["variation_strength"]),
    )
