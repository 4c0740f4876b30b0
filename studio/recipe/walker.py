# pyright: standard
"""Reading what an image file says about itself, safely: its size and the recipe it carries.

The texts come from PNG text chunks and from the EXIF UserComment (or a comment) in JPEG
and WebP files; `dialects` turns them into a recipe. Files are read by walking their chunk
or segment headers, never by decoding pixels, so a broken or hostile file costs little:
sizes are checked against a pixel limit before anything decodes, text chunks above a limit
are skipped, and truncated files are noticed. `inspect_file` and `inspect_bytes` never
raise: they return an `ImageInfo` or an `Unreadable` with the reason. `read_recipe` is the
one way Studio gets an image file's recipe (the command line, the window and the gallery).
"""

from __future__ import annotations

import io
import logging
import os
import stat
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from studio.recipe import exif
from studio.recipe.dialects import recipe_fields, runnable
from studio.recipe.schema import FoundRecipe, Recipe

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MAX_IMAGE_PIXELS = 64 * 1024 * 1024  # 8192 x 8192; larger files are refused before decoding
MAX_TEXT_CHUNK = 1024 * 1024  # one text chunk (after decompression)
MAX_TEXT_TOTAL = 4 * 1024 * 1024  # all text chunks of one file
MAX_CHUNKS = 200_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class ImageInfo:
    """An image file's size and format, and its recipe as far as the file tells it."""

    width: int
    height: int
    format: str  # PNG, JPEG or WEBP
    recipe: FoundRecipe | None = None
    notes: tuple[str, ...] = field(default=())  # things skipped while reading (oversized chunks, ...)

    @property
    def has_recipe(self) -> bool:
        return self.recipe is not None

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def settings(self) -> dict[str, Any]:
        """The request fields its recipe gives that Studio can use as they are (the picture's
        own size when the recipe does not say one); {} without a recipe."""
        return self.recipe.settings(self.size) if self.recipe else {}

    def to_recipe(self) -> Recipe | None:
        """A Recipe Studio can run as it is, from what the file says (see `dialects.runnable`); else None."""
        return runnable(self.recipe, self.size)

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "recipe": self.recipe.to_dict() if self.recipe else None,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageInfo:
        recipe = data.get("recipe")
        return cls(
            int(data["width"]),
            int(data["height"]),
            str(data["format"]),
            FoundRecipe.from_dict(recipe) if isinstance(recipe, dict) else None,
            tuple(data.get("notes") or ()),
        )


@dataclass(frozen=True)
class Unreadable:
    """A file that cannot be read as an image, and why (one readable line)."""

    reason: str


# Whole files.


def inspect_file(path: str | os.PathLike) -> ImageInfo | Unreadable:
    """What the file at `path` is, without decoding its pixels; never raises."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except PermissionError:
        return Unreadable("permission denied")
    except OSError as exc:
        return Unreadable(f"cannot open it: {exc.strerror or exc}")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return Unreadable("not a regular file")
        with os.fdopen(fd, "rb", buffering=64 * 1024, closefd=False) as handle:
            return read_image(handle, info.st_size)
    except OSError as exc:
        return Unreadable(f"cannot read it: {exc.strerror or exc}")
    except Exception as exc:  # a reader bug must never take the gallery down; the fuzz tests call read_image
        log.exception("reading %s failed", os.fsdecode(path))
        return Unreadable(f"cannot read it: {type(exc).__name__}")
    finally:
        os.close(fd)


def inspect_bytes(data: bytes) -> ImageInfo | Unreadable:
    """Like `inspect_file`, for bytes in memory."""
    try:
        return read_image(io.BytesIO(data), len(data))
    except Exception as exc:
        log.exception("reading an image in memory failed")
        return Unreadable(f"cannot read it: {type(exc).__name__}")


def read_image(handle: BinaryIO, size: int) -> ImageInfo | Unreadable:
    """The parser behind `inspect_file`: what the `size` bytes in `handle` are. Damage gives Unreadable, not an error."""
    head = handle.read(16)
    handle.seek(0)
    if head.startswith(PNG_SIGNATURE):
        return _inspect_png(handle, size)
    if head.startswith(b"\xff\xd8\xff"):
        return _inspect_jpeg(handle, size)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _inspect_webp(handle, size)
    if not head:
        return Unreadable("empty file")
    return Unreadable("not a PNG, JPEG or WebP image")


def _check_pixels(width: int, height: int) -> Unreadable | None:
    if width <= 0 or height <= 0:
        return Unreadable(f"impossible size {width}x{height}")
    if width * height > MAX_IMAGE_PIXELS:
        return Unreadable(
            f"{width}x{height} is {width * height / 1e6:.0f} megapixels, over the limit of "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f}; refused before decoding (a decompression bomb?)"
        )
    return None


class _Texts:
    """Text chunks of one file, with the size limits applied; notes say what was skipped."""

    def __init__(self):
        self.values: dict[str, str] = {}
        self.notes: list[str] = []
        self.total = 0

    def too_big(self, key: str, length: int) -> bool:
        if length > MAX_TEXT_CHUNK or self.total + length > MAX_TEXT_TOTAL:
            self.notes.append(
                f"text chunk {key!r} of {length / 1e6:.1f} MB skipped (limit {MAX_TEXT_CHUNK // 1024} KB)"
            )
            return True
        return False

    def add(self, key: str, value: str) -> None:
        if key and key not in self.values and not self.too_big(key, len(value)):
            self.total += len(value)
            self.values[key] = value


# PNG: a signature, then chunks (length, type, data, CRC); IHDR first, IEND last.


def _inspect_png(handle: BinaryIO, size: int) -> ImageInfo | Unreadable:
    handle.seek(8)
    texts = _Texts()
    width = height = None
    position, chunks = 8, 0
    while True:
        header = handle.read(8)
        if len(header) < 8:
            return Unreadable("truncated PNG (it ends before its last chunk)")
        length, kind = struct.unpack(">I4s", header)
        chunks += 1
        if chunks > MAX_CHUNKS:
            return Unreadable("PNG with too many chunks")
        end = position + 8 + length + 4
        if end > size:
            return Unreadable("truncated PNG (a chunk runs past the end of the file)")
        if width is None and kind != b"IHDR":
            return Unreadable("broken PNG (no IHDR chunk first)")
        if kind == b"IHDR":
            data = handle.read(length + 4)
            if length < 8 or zlib.crc32(kind + data[:length]) != struct.unpack(">I", data[length:])[0]:
                return Unreadable("broken PNG (damaged header)")
            width, height = struct.unpack(">II", data[:8])
            problem = _check_pixels(width, height)
            if problem:
                return problem
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            key = _peek_key(handle, length)
            if texts.too_big(key, length):
                handle.seek(end)
            else:
                data = handle.read(length + 4)
                if zlib.crc32(kind + data[:length]) == struct.unpack(">I", data[length:])[0]:
                    _png_text(kind, data[:length], texts)
                else:
                    texts.notes.append(f"text chunk {key!r} has a bad checksum; skipped")
        elif kind == b"IEND":
            break
        else:
            handle.seek(end)
        position = end
    assert width is not None and height is not None  # a chunk before IHDR returned early
    return _with_recipe(ImageInfo(width, height, "PNG"), texts)


def _peek_key(handle: BinaryIO, length: int) -> str:
    start = handle.tell()
    key = handle.read(min(length, 80)).split(b"\0", 1)[0]
    handle.seek(start)
    return key.decode("latin-1")


def _png_text(kind: bytes, data: bytes, texts: _Texts) -> None:
    key_bytes, _, rest = data.partition(b"\0")
    key = key_bytes.decode("latin-1")
    if kind == b"tEXt":
        texts.add(key, rest.decode("latin-1"))
    elif kind == b"zTXt":
        raw = _inflate(rest[1:], key, texts) if rest[:1] == b"\0" else None
        if raw is not None:
            texts.add(key, raw.decode("latin-1"))
    else:  # iTXt: compression flag, method, language\0, translated keyword\0, UTF-8 text
        if len(rest) < 2:
            return
        compressed, method, rest = rest[0], rest[1], rest[2:]
        _, _, rest = rest.partition(b"\0")
        _, _, body = rest.partition(b"\0")
        if compressed:
            body = _inflate(body, key, texts) if method == 0 else None
            if body is None:
                return
        texts.add(key, body.decode("utf-8", errors="replace"))


def _inflate(data: bytes, key: str, texts: _Texts) -> bytes | None:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_TEXT_CHUNK + 1)
    except zlib.error:
        texts.notes.append(f"text chunk {key!r} is damaged; skipped")
        return None
    if len(out) > MAX_TEXT_CHUNK or inflater.unconsumed_tail:
        texts.notes.append(f"compressed text chunk {key!r} expands past {MAX_TEXT_CHUNK // 1024} KB; skipped")
        return None
    return out


# JPEG: segments (marker, length, data) up to the start of scan, entropy data, then EOI.

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _inspect_jpeg(handle: BinaryIO, size: int) -> ImageInfo | Unreadable:
    handle.seek(2)
    texts = _Texts()
    width = height = None
    exif_block = b""
    while True:
        marker = handle.read(2)
        if len(marker) < 2:
            return Unreadable("truncated JPEG")
        if marker[0] != 0xFF:
            return Unreadable("broken JPEG (a segment is misplaced)")
        code = marker[1]
        if code == 0xFF:
            handle.seek(-1, os.SEEK_CUR)  # fill byte
            continue
        if code in (0x01, *range(0xD0, 0xD8)):
            continue
        if code == 0xD9:
            return Unreadable("broken JPEG (it ends before any picture)")
        raw_length = handle.read(2)
        if len(raw_length) < 2:
            return Unreadable("truncated JPEG")
        length = struct.unpack(">H", raw_length)[0] - 2
        if length < 0 or handle.tell() + length > size:
            return Unreadable("truncated JPEG")
        if code == 0xDA:  # start of scan: the picture data follows
            break
        if code not in _SOF and code not in (0xE1, 0xFE):
            handle.seek(length, os.SEEK_CUR)
            continue
        data = handle.read(length)
        if code in _SOF and len(data) >= 5:
            height, width = struct.unpack(">HH", data[1:5])
        elif code == 0xE1 and data.startswith(b"Exif\0\0") and not exif_block:
            exif_block = data
        elif code == 0xFE and data:
            texts.add("comment", data.decode("utf-8", errors="replace").rstrip("\0"))
    if width is None or height is None:
        return Unreadable("broken JPEG (no frame header)")
    problem = _check_pixels(width, height)
    if problem:
        return problem
    handle.seek(max(0, size - 4096))
    if b"\xff\xd9" not in handle.read():
        return Unreadable("truncated JPEG (no end marker)")
    _exif_texts(exif_block, texts)
    return _with_recipe(ImageInfo(width, height, "JPEG"), texts)


# WebP: a RIFF container of chunks (VP8, VP8L or VP8X first; EXIF among the rest).


def _inspect_webp(handle: BinaryIO, size: int) -> ImageInfo | Unreadable:
    riff_size = struct.unpack("<I", handle.read(12)[4:8])[0]
    if riff_size + 8 > size:
        return Unreadable("truncated WebP")
    end_of_riff = riff_size + 8
    texts = _Texts()
    width = height = None
    exif_block = b""
    position = 12
    chunks = 0
    while position + 8 <= end_of_riff:
        handle.seek(position)
        kind, length = struct.unpack("<4sI", handle.read(8))
        chunks += 1
        if position + 8 + length > end_of_riff or chunks > MAX_CHUNKS:
            return Unreadable("truncated WebP")
        if kind in (b"VP8X", b"VP8 ", b"VP8L") and width is None:
            width, height = _webp_size(kind, handle.read(min(length, 30)))
        elif kind == b"EXIF" and not exif_block:
            if length > MAX_TEXT_CHUNK:
                texts.notes.append(f"EXIF chunk of {length / 1e6:.1f} MB skipped")
            else:
                exif_block = handle.read(length)
        position += 8 + length + (length & 1)
    if width is None or height is None:
        return Unreadable("broken WebP (no picture header)")
    problem = _check_pixels(width, height)
    if problem:
        return problem
    _exif_texts(exif_block, texts)
    return _with_recipe(ImageInfo(width, height, "WEBP"), texts)


def _webp_size(kind: bytes, data: bytes) -> tuple[int | None, int | None]:
    if kind == b"VP8X" and len(data) >= 10:
        return 1 + int.from_bytes(data[4:7], "little"), 1 + int.from_bytes(data[7:10], "little")
    if kind == b"VP8 " and len(data) >= 10 and data[3:6] == b"\x9d\x01\x2a":
        return struct.unpack("<H", data[6:8])[0] & 0x3FFF, struct.unpack("<H", data[8:10])[0] & 0x3FFF
    if kind == b"VP8L" and len(data) >= 5 and data[0] == 0x2F:
        bits = int.from_bytes(data[1:5], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None, None


# EXIF: a TIFF structure; the recipe sits in the Exif IFD's UserComment.


def _exif_texts(block: bytes, texts: _Texts) -> None:
    if not block:
        return
    try:
        found = exif.read_texts(block)
    except Exception:  # PIL raises many kinds for a damaged block; the fuzz tests feed it damage
        log.debug("reading an EXIF block failed", exc_info=True)  # damage, not a bug: no traceback on stderr
        texts.notes.append("EXIF data is damaged; skipped")
        return
    for key, value in found.items():
        texts.add(key, value)


# Recipes from the texts found.


def _with_recipe(info: ImageInfo, texts: _Texts) -> ImageInfo:
    return ImageInfo(info.width, info.height, info.format, recipe_fields(texts.values), tuple(texts.notes))


def read_recipe(path: str | os.PathLike) -> Recipe | None:
    """The recipe of the image file at `path`, one Studio can run as it is (Studio's own, or
    another tool's when it says enough); None for a file without one, or not readable. Never
    raises, and reads hostile text chunks in linear time."""
    info = inspect_file(path)
    return info.to_recipe() if isinstance(info, ImageInfo) else None
