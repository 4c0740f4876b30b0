# pyright: standard
"""Exporting gallery images as PNG, JPEG or WebP with their recipe, the way AUTOMATIC1111 does.

PNG gets a `parameters` text chunk (and Studio's own `studio` chunk when the image has
one); JPEG and WebP get the same text as an EXIF UserComment. The picture is opened the
safe way (`pictures`): turned upright by its EXIF orientation, in 8-bit RGB or RGBA. Files
are written atomically, and only over a regular file or a new name.
"""

from __future__ import annotations

from pathlib import Path

from studio.errors import StudioError
from studio.files import write_atomic
from studio.recipe.a1111 import found_text
from studio.recipe.embed import encode
from studio.recipe.walker import ImageInfo, Unreadable, inspect_file

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


class ExportError(StudioError):
    """An image could not be exported; the message says which and why."""


def export_format(path: str | Path) -> str:
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ExportError(f"cannot export to {Path(path).name}: use a .png, .jpg or .webp name")
    return fmt


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
        data = encode(picture.image, fmt, found_text(info.recipe), info.recipe.studio if info.recipe else "")
    except PictureError as exc:
        raise ExportError(f"cannot export {source.name}: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ExportError(f"cannot export {source.name}: {exc}") from None
    return write_atomic(target, data)
