"""Exporting gallery images as PNG, JPEG or WebP with their recipe, the way AUTOMATIC1111 does.

PNG gets a `parameters` text chunk (and Studio's own `studio` chunk when the image has
one); JPEG and WebP get the same text as an EXIF UserComment. The picture is opened the
safe way (`pictures`): turned upright by its EXIF orientation, in 8-bit RGB or RGBA. Files
are written atomically, and only over a regular file or a new name.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

from studio.engine.errors import StudioError
from studio.engine.recipe import PARAMETERS_KEY, STUDIO_KEY, write_atomic
from studio.gallery.readers import EXIF_IFD_TAG, USER_COMMENT_TAG, ImageInfo, Unreadable, encode_user_comment, inspect_file

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
QUALITY = 92


class ExportError(StudioError):
    """An image could not be exported; the message says which and why."""


def export_format(path: str | Path) -> str:
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ExportError(f"cannot export to {Path(path).name}: use a .png, .jpg or .webp name")
    return fmt


def encode(image, fmt: str, recipe_text: str = "", studio_json: str = "") -> bytes:
    """`image` (PIL) encoded as `fmt` with the recipe embedded."""
    buffer = io.BytesIO()
    if fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        if recipe_text:
            info.add_text(PARAMETERS_KEY, recipe_text)
        if studio_json:
            info.add_text(STUDIO_KEY, studio_json)
        image.save(buffer, format="PNG", pnginfo=info)
        return buffer.getvalue()
    if fmt == "JPEG" and image.mode != "RGB":
        image = _flatten(image)
    elif fmt == "WEBP" and image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    options = {"quality": QUALITY}
    if recipe_text:
        options["exif"] = user_comment_exif(recipe_text)
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


_LONG, _UNDEFINED = 4, 7


def user_comment_exif(text: str) -> bytes:
    """An EXIF block (with its 'Exif' header) holding only `text` as the UserComment, laid out
    as AUTOMATIC1111's writer does: big-endian TIFF, IFD0 pointing at an Exif IFD whose one
    entry is the UserComment of type UNDEFINED ('UNICODE' prefix, UTF-16 big-endian text).
    Readers built on piexif (sd-prompt-reader, A1111 itself) need that type."""
    comment = encode_user_comment(text)
    exif_ifd = 8 + 2 + 12 + 4  # after the header and IFD0 (one entry, no next IFD)
    data = exif_ifd + 2 + 12 + 4
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)
    tiff += struct.pack(">H", 1) + struct.pack(">HHII", EXIF_IFD_TAG, _LONG, 1, exif_ifd) + struct.pack(">I", 0)
    tiff += struct.pack(">H", 1) + struct.pack(">HHII", USER_COMMENT_TAG, _UNDEFINED, len(comment), data) + struct.pack(">I", 0)
    return b"Exif\x00\x00" + tiff + comment


def _flatten(image):
    from PIL import Image

    image = image.convert("RGBA")
    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, image).convert("RGB")


def export_image(source: str | Path, target: str | Path, info: ImageInfo | None = None) -> Path:
    """Write `source` to `target` in the format its name asks for, upright, the recipe going along.

    `target` must be a regular file or a new name (see `targets`); it is checked before the
    picture is read."""
    from studio.gallery.pictures import PictureError, open_picture
    from studio.gallery.targets import TargetError, check_target_file

    source, target = Path(source), Path(target)
    fmt = export_format(target)
    try:
        check_target_file(target)
    except TargetError as exc:
        raise ExportError(str(exc)) from None
    if info is None:
        found = inspect_file(source)
        if isinstance(found, Unreadable):
            raise ExportError(f"cannot export {source.name}: {found.reason}")
        info = found
    try:
        picture = open_picture(source, alpha=True)
        data = encode(picture.image, fmt, info.parameters_text(), info.studio)
    except PictureError as exc:
        raise ExportError(f"cannot export {source.name}: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ExportError(f"cannot export {source.name}: {exc}") from None
    return write_atomic(target, data)
