# pyright: standard
"""Opening a picture file for its pixels, the one safe way every command uses.

`open_picture` refuses what is not a regular file (a FIFO would hang, a device never ends)
and pictures over a pixel limit before any pixel is decoded; reads the recipe with the
gallery's chunk walker (text chunks over its limits are skipped and named in `notes`), and
gives PIL a PNG without its text chunks, so a hostile chunk never reaches it; turns the
picture upright by its EXIF orientation; and converts every mode to 8-bit RGB (or RGBA),
16-bit greyscale scaled rather than clipped to white. Every failure is a `PictureError`
with one line naming the file and the reason.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import struct
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from studio.errors import StudioError
from studio.files import os_error_reason
from studio.gallery.targets import file_kind
from studio.recipe import studio_json
from studio.recipe.schema import FoundRecipe
from studio.recipe.walker import MAX_IMAGE_PIXELS, PNG_SIGNATURE, ImageInfo, Unreadable, inspect_file

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

# What PIL needs of a PNG to decode it; text and other compressed chunks are left out.
_PNG_KEPT = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"eXIf", b"sBIT", b"pHYs"}
_SIXTEEN_BIT_GREY = {"I;16", "I;16L", "I;16B", "I;16N"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


class PictureError(StudioError):
    """A picture file cannot be used; the message names it and says why."""


@dataclass(frozen=True)
class Picture:
    """A picture as it is shown: upright, 8-bit RGB or RGBA, and what its file says."""

    image: Image.Image
    info: ImageInfo | None  # size and recipe from the file's chunks (None for formats other than PNG, JPEG, WebP)
    notes: tuple[str, ...] = ()  # what was skipped while reading (oversized text chunks, a damaged orientation)

    def pixels(self) -> np.ndarray:
        """H x W x 3 uint8."""
        image = self.image if self.image.mode == "RGB" else self.image.convert("RGB")
        return np.asarray(image)

    @property
    def recipe(self) -> FoundRecipe | None:
        return self.info.recipe if self.info else None

    @property
    def prompt(self) -> str:
        return self.recipe.prompt if self.recipe else ""

    @property
    def negative_prompt(self) -> str:
        return self.recipe.negative_prompt if self.recipe else ""

    @property
    def model(self) -> str:
        """The model the recipe names: Studio's own reference (a folder or id) when it has one."""
        if self.recipe is None:
            return ""
        if self.recipe.studio:
            try:
                return studio_json.decode(self.recipe.studio).request.model
            except ValueError:  # not a whole Studio recipe: the name it gives, below
                pass
        return self.recipe.model

    @property
    def model_hash(self) -> str:
        """The short hash of the model the recipe names ("" when it gives none)."""
        return self.recipe.model_hash if self.recipe else ""


def check_picture_file(path: str | os.PathLike) -> None:
    """Raise PictureError unless `path` is an existing regular file (links followed)."""
    name = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise PictureError(f"cannot read image {name}: no such file") from None
    except OSError as exc:
        raise PictureError(f"cannot read image {name}: {os_error_reason(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise PictureError(f"cannot read image {name}: it is a folder")
    if not stat.S_ISREG(info.st_mode):
        raise PictureError(f"cannot read image {name}: it is a {file_kind(info.st_mode)}, not a regular file")


def open_picture(
    path: str | os.PathLike, max_pixels: int = MAX_IMAGE_PIXELS, alpha: bool = False, too_large: str = ""
) -> Picture:
    """The picture at `path`, upright and decoded; RGBA when `alpha` and the file has alpha, else RGB.

    A picture of more than `max_pixels` is refused before decoding; `too_large` ends that message.
    """
    name = str(path)
    check_picture_file(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise PictureError(f"cannot read image {name}: {os_error_reason(exc)}") from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):  # swapped since the check
            raise PictureError(f"cannot read image {name}: it is a {file_kind(mode)}, not a regular file")
        head = handle.read(16)
        handle.seek(0)
        info = None
        if _walkable(head):
            found = inspect_file(path)
            if isinstance(found, Unreadable):
                raise PictureError(f"cannot read image {name}: {found.reason}")
            info = found
        try:
            image = _decode(handle, head, name, max_pixels, too_large)
            notes = list(info.notes if info else ())
            image = _eight_bit(_upright(image, notes), alpha)
        except PictureError:
            raise
        except MemoryError:
            raise PictureError(f"cannot read image {name}: not enough memory to decode it") from None
        except Exception as exc:  # PIL raises many kinds for damaged files
            log.debug("decoding %s failed", name, exc_info=True)  # damage, not a bug: no traceback on stderr
            raise PictureError(f"cannot read image {name}: {_decode_reason(exc)}") from None
    return Picture(image, info, tuple(notes))


def _walkable(head: bytes) -> bool:
    return (
        head.startswith(PNG_SIGNATURE)
        or head.startswith(b"\xff\xd8\xff")
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    )


def _decode(handle: BinaryIO, head: bytes, name: str, max_pixels: int, too_large: str):
    from PIL import Image, UnidentifiedImageError

    source = _png_for_decoding(handle) if head.startswith(PNG_SIGNATURE) else handle
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's own size warning: the limit here is checked below
        try:
            image = Image.open(source)
        except UnidentifiedImageError:
            raise PictureError(f"cannot read image {name}: not an image file") from None
        except Image.DecompressionBombError:
            raise PictureError(
                f"cannot use image {name}: it is over the limit of {max_pixels / 1e6:.1f} megapixels; refused before decoding"
            ) from None
        width, height = image.size
        if width * height > max_pixels:
            raise PictureError(
                f"cannot use image {name}: it is {width}x{height}, {width * height / 1e6:.1f} megapixels, "
                f"over the limit of {max_pixels / 1e6:.1f}; refused before decoding"
                + (f" ({too_large})" if too_large else "")
            )
        image.load()
    return image


def _png_for_decoding(handle: BinaryIO) -> BinaryIO:
    """The PNG's chunks that PIL needs to decode it, in memory: its text and compressed chunks
    (which the walker has read within limits) are left out."""
    out = io.BytesIO()
    out.write(handle.read(8))
    while True:
        header = handle.read(8)
        if len(header) < 8:
            break
        length, kind = struct.unpack(">I4s", header)
        if kind in _PNG_KEPT:
            out.write(header)
            out.write(handle.read(length + 4))
        else:
            handle.seek(length + 4, os.SEEK_CUR)
        if kind == b"IEND":
            break
    out.seek(0)
    return out


def _upright(image, notes: list[str]):
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # PIL raises many kinds for a damaged orientation
        log.debug("turning a picture upright by its EXIF orientation failed", exc_info=True)
        notes.append("its EXIF orientation is damaged; used as stored")
        return image


def _eight_bit(image, alpha: bool):
    """The image as 8-bit RGB, or RGBA when `alpha` and it has transparency."""
    from PIL import Image

    mode = image.mode
    if mode in _SIXTEEN_BIT_GREY or mode == "I":
        values = np.asarray(image).astype(np.int64)
        if mode == "I" and values.max(initial=0) <= 255:
            grey = np.clip(values, 0, 255).astype(np.uint8)
        else:
            grey = ((np.clip(values, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float32))
        scale = 255.0 if values.max(initial=0.0) <= 1.0 else 1.0
        return Image.fromarray(np.clip(np.round(values * scale), 0, 255).astype(np.uint8), "L").convert("RGB")
    has_alpha = mode in _ALPHA_MODES or (mode in ("P", "L", "RGB") and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        return rgba if alpha else rgba.convert("RGB")
    return image if mode == "RGB" else image.convert("RGB")


def _decode_reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    if isinstance(exc, OSError) and "truncated" in str(exc):
        return "the file is truncated"
    return f"it is damaged ({text[0] if text else type(exc).__name__})"
