# pyright: standard
"""Pictures written with their recipe inside, the way AUTOMATIC1111 does.

A PNG gets the `parameters` text chunk that other tools read and Studio's own `studio`
chunk with the whole request; JPEG and WebP get the same text as an EXIF UserComment.
`write_png` writes a finished image atomically (see `studio.files`).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from studio.files import release_claim, write_atomic
from studio.recipe import a1111, studio_json
from studio.recipe.exif import user_comment_exif
from studio.recipe.schema import Recipe

QUALITY = 92  # JPEG and WebP


def encode(image, fmt: str, parameters: str = "", studio: str = "") -> bytes:
    """`image` (PIL) encoded as `fmt` (PNG, JPEG or WEBP) with the recipe texts embedded."""
    buffer = io.BytesIO()
    if fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        if parameters:
            info.add_text(a1111.PARAMETERS_KEY, parameters.replace("\0", ""))  # a NUL would end the text early
        if studio:
            info.add_text(studio_json.STUDIO_KEY, studio)
        image.save(buffer, format="PNG", pnginfo=info)
        return buffer.getvalue()
    if fmt == "JPEG" and image.mode != "RGB":
        image = _flatten(image)
    elif fmt == "WEBP" and image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    options: dict[str, int | bytes] = {"quality": QUALITY}
    if parameters:
        options["exif"] = user_comment_exif(parameters)
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_bytes(image, recipe: Recipe) -> bytes:
    """The image encoded as PNG with both recipe chunks."""
    size = getattr(image, "size", None)  # a PIL image's (width, height); arrays keep the request's
    size = tuple(size) if isinstance(size, tuple) and len(size) == 2 else None
    return encode(image, "PNG", a1111.recipe_text(recipe, size), studio_json.encode(recipe))


def write_png(path: str | os.PathLike, image, recipe: Recipe) -> Path:
    """Write `image` as a PNG carrying `recipe`, atomically (a claimed `path` is given up when encoding fails)."""
    try:
        data = png_bytes(image, recipe)
    except BaseException:
        release_claim(Path(path))
        raise
    return write_atomic(path, data)


def _flatten(image):
    from PIL import Image

    image = image.convert("RGBA")
    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, image).convert("RGB")
