"""The window's picture files: opened the one safe way the command line uses, saved only
where a file may be written, and atomically.

Opening refuses what is not a regular file before reading it (a FIFO would hang the
window) and a picture over the pixel limit before decoding it; turns it upright by its EXIF
orientation and scales 16-bit grey. Saving refuses a FIFO, a device, a socket, a folder or a
link to one of them, which a write would replace. Every failure is a StudioError of one line.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QImage

from studio.model.pixels import to_qimage

if TYPE_CHECKING:
    from studio.recipe.schema import Recipe


@dataclass(frozen=True)
class OpenedPicture:
    image: QImage  # upright, RGB888
    recipe: Recipe | None  # when the file carries one Studio can use
    notes: tuple[str, ...]  # what was skipped while reading it, for the person


def read_picture(path: str | os.PathLike, side: int | None = None) -> OpenedPicture:
    """The picture at `path`; with `side`, shrunk to fit a square of that side (a thumbnail)."""
    import numpy as np
    from PIL import Image

    from studio.gallery.pictures import open_picture
    from studio.recipe.dialects import runnable

    picture = open_picture(path)
    image = picture.image
    assert isinstance(image, Image.Image)  # what open_picture opens with
    if side is not None and max(image.size) > side:
        image = image.copy()
        image.thumbnail((side, side))
    pixels = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    recipe = runnable(picture.recipe, picture.info.size) if picture.info is not None else None
    return OpenedPicture(to_qimage(pixels), recipe, picture.notes)


def save_picture(path: str | os.PathLike, pixels, recipe=None) -> None:
    """H x W x 3 uint8 `pixels` as a PNG at `path` (with `recipe` inside when given)."""
    from PIL import Image

    from studio.files import write_atomic
    from studio.gallery.targets import check_target_file
    from studio.recipe.embed import write_png

    check_target_file(path)
    image = Image.fromarray(pixels)
    if recipe is not None:
        write_png(path, image, recipe)
    else:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        write_atomic(path, buffer.getvalue())


def save_steps(path: str | os.PathLike, frames: list, size: tuple[int, int]) -> None:
    """The steps of a picture as an animated GIF or WebP at `path`."""
    from studio.gallery.animation import save_animation
    from studio.gallery.targets import check_target_file

    check_target_file(path)
    save_animation(frames, Path(path), size)
