"""Reading what an image file says about itself, safely: its size and the recipe it carries.

The texts come from PNG text chunks and from an EXIF UserComment in JPEG and WebP files;
`dialects` turns them into recipe fields. Files are read by walking their chunk or segment headers, never by
decoding pixels, so a broken or hostile file costs little: sizes are checked against a
pixel limit before anything decodes, text chunks above a limit are skipped, and
truncated files are noticed. `inspect_file` and `inspect_bytes` never raise: they return
an `ImageInfo` or an `Unreadable` with the reason.
"""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import struct
import unicodedata
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

from studio.engine.request import GenerateRequest
from studio.engine.schedulers import SCHEDULER_NAMES
from studio.gallery.dialects import recipe_fields

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MAX_IMAGE_PIXELS = 64 * 1024 * 1024  # 8192 x 8192; larger files are refused before decoding
MAX_TEXT_CHUNK = 1024 * 1024  # one text chunk (after decompression)
MAX_TEXT_TOTAL = 4 * 1024 * 1024  # all text chunks of one file
MAX_CHUNKS = 200_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
USER_COMMENT_TAG = 0x9286
EXIF_IFD_TAG = 0x8769
IMAGE_DESCRIPTION_TAG = 0x010E

@dataclass(frozen=True)
class ImageInfo:
    """An image file's size and format, and its recipe as far as the file tells it."""

    width: int
    height: int
    format: str  # PNG, JPEG or WEBP
    source: str = ""  # where the recipe came from: studio, a1111, forge, fooocus, comfyui, invokeai; "" for none
    prompt: str = ""
    negative_prompt: str = ""
    seed: int | None = None
    steps: int | None = None
    cfg: float | None = None
    sampler: str = ""
    model: str = ""
    recipe_width: int | None = None
    recipe_height: int | None = None
    parameters: str = ""  # the AUTOMATIC1111-style text as found in the file
    studio: str = ""  # Studio's own recipe JSON, when the file has it
    notes: tuple[str, ...] = field(default=())  # things skipped while reading (oversized chunks, ...)

    @property
    def has_recipe(self) -> bool:
        return bool(self.source)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageInfo:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        values["notes"] = tuple(values.get("notes") or ())
        return cls(**values)

    def parameters_text(self) -> str:
        """The recipe as AUTOMATIC1111 writes it (the original text when the file had one)."""
        if self.parameters:
            return self.parameters
        if not self.has_recipe:
            return ""
        settings = []
        for key, value in (
            ("Steps", self.steps), ("Sampler", self.sampler or None),
            ("CFG scale", None if self.cfg is None else f"{self.cfg:g}"), ("Seed", self.seed),
            ("Size", f"{self.recipe_width}x{self.recipe_height}" if self.recipe_width and self.recipe_height else None),
            ("Model", self.model or None),
        ):
            if value is not None:
                text = str(value)
                if any(c in text for c in ',:"\n'):
                    text = json.dumps(text, ensure_ascii=False)
                settings.append(f"{key}: {text}")
        lines = [self.prompt]
        if self.negative_prompt:
            lines.append(f"Negative prompt: {self.negative_prompt}")
        if settings:
            lines.append(", ".join(settings))
        return "\n".join(lines)

    def settings(self) -> dict[str, Any]:
        """The session settings this recipe gives, only the ones Studio can use as they are."""
        if not self.has_recipe:
            return {}
        out: dict[str, Any] = {"prompt": self.prompt, "negative_prompt": self.negative_prompt}
        base = GenerateRequest()
        candidates = {
            "seed": self.seed, "steps": self.steps, "guidance_scale": self.cfg,
            "scheduler": self.sampler if self.sampler in SCHEDULER_NAMES else None,
        }
        for key, value in candidates.items():
            if value is not None and _valid(base, **{key: value}):
                out[key] = value
        width, height = self.recipe_width or self.width, self.recipe_height or self.height
        if _valid(base, width=width, height=height):
            out["width"], out["height"] = width, height
        return out

    def to_recipe(self):
        """A full Studio Recipe when the file carries one Studio can run as it is, else None."""
        from studio.engine.recipe import Recipe

        if self.studio:
            try:
                return Recipe.from_json(self.studio)
            except Exception:
                pass
        settings = self.settings()
        if not {"seed", "steps", "guidance_scale", "scheduler", "width", "height"} <= set(settings):
            return None
        request = GenerateRequest(model=self.model or GenerateRequest().model, **settings)
        return Recipe(request=request, model_name=self.model, version="")


@dataclass(frozen=True)
class Unreadable:
    """A file the gallery skips, and why (one readable line)."""

    reason: str


def _valid(base: GenerateRequest, **changes: Any) -> bool:
    try:
        base.replace(**changes)
    except Exception:
        return False
    return True


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
            self.notes.append(f"text chunk {key!r} of {length / 1e6:.1f} MB skipped (limit {MAX_TEXT_CHUNK // 1024} KB)")
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
    exif = b""
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
        elif code == 0xE1 and data.startswith(b"Exif\0\0") and not exif:
            exif = data
        elif code == 0xFE and data:
            texts.add("comment", data.decode("utf-8", errors="replace").rstrip("\0"))
    if width is None:
        return Unreadable("broken JPEG (no frame header)")
    problem = _check_pixels(width, height)
    if problem:
        return problem
    handle.seek(max(0, size - 4096))
    if b"\xff\xd9" not in handle.read():
        return Unreadable("truncated JPEG (no end marker)")
    _exif_texts(exif, texts)
    return _with_recipe(ImageInfo(width, height, "JPEG"), texts)


# WebP: a RIFF container of chunks (VP8, VP8L or VP8X first; EXIF among the rest).

def _inspect_webp(handle: BinaryIO, size: int) -> ImageInfo | Unreadable:
    riff_size = struct.unpack("<I", handle.read(12)[4:8])[0]
    if riff_size + 8 > size:
        return Unreadable("truncated WebP")
    end_of_riff = riff_size + 8
    texts = _Texts()
    width = height = None
    exif = b""
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
        elif kind == b"EXIF" and not exif:
            if length > MAX_TEXT_CHUNK:
                texts.notes.append(f"EXIF chunk of {length / 1e6:.1f} MB skipped")
            else:
                exif = handle.read(length)
        position += 8 + length + (length & 1)
    if width is None:
        return Unreadable("broken WebP (no picture header)")
    problem = _check_pixels(width, height)
    if problem:
        return problem
    _exif_texts(exif, texts)
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

def _exif_texts(exif: bytes, texts: _Texts) -> None:
    if not exif:
        return
    from PIL import Image

    try:
        tags = Image.Exif()
        tags.load(exif if exif.startswith(b"Exif\0\0") else b"Exif\0\0" + exif)
        comment = tags.get_ifd(EXIF_IFD_TAG).get(USER_COMMENT_TAG)
        description = tags.get(IMAGE_DESCRIPTION_TAG)
    except Exception:
        texts.notes.append("EXIF data is damaged; skipped")
        return
    if comment is not None:
        texts.add("exif", decode_user_comment(comment))
    if isinstance(description, str):
        texts.add("description", description)


def decode_user_comment(raw: Any) -> str:
    """The text of an EXIF UserComment: an 8-byte character-code prefix, then the text."""
    if isinstance(raw, str):
        return raw.rstrip("\0")
    if not isinstance(raw, (bytes, bytearray)):
        return ""
    prefix, body = bytes(raw[:8]), bytes(raw[8:])
    if prefix == b"UNICODE\0":
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            encoding, body = ("utf-16-be" if body[:2] == b"\xfe\xff" else "utf-16-le"), body[2:]
            return body[: len(body) // 2 * 2].decode(encoding, errors="replace").rstrip("\0")
        # No byte-order mark: the reading with fewer control or unassigned characters, then with more
        # ASCII (prompts are mostly ASCII); big-endian, as AUTOMATIC1111 writes it, when neither is likelier.
        readings = [body[: len(body) // 2 * 2].decode(encoding, errors="replace").rstrip("\0")
                    for encoding in ("utf-16-be", "utf-16-le")]
        return min(readings, key=_unlikely_characters)
    if prefix in (b"ASCII\0\0\0", b"\0" * 8, b"JIS\0\0\0\0\0"):
        return body.decode("utf-8", errors="replace").rstrip("\0")
    return bytes(raw).decode("utf-8", errors="replace").rstrip("\0")


def _unlikely_characters(text: str) -> tuple[int, int]:
    odd = sum(unicodedata.category(c) in ("Cc", "Cn", "Co", "Cs") or c == "\ufffd" for c in text if c not in "\n\t")
    return odd, sum(not c.isascii() for c in text)


def encode_user_comment(text: str) -> bytes:
    """A UserComment as AUTOMATIC1111 writes it: 'UNICODE' prefix, then UTF-16 big-endian."""
    return b"UNICODE\0" + text.encode("utf-16-be")


# Recipes from the texts found.

def _with_recipe(info: ImageInfo, texts: _Texts) -> ImageInfo:
    fields = recipe_fields(texts.values)
    notes = tuple(texts.notes)
    return ImageInfo(**{**info.to_dict(), **fields, "notes": notes})


def recipe_of(path: str | os.PathLike):
    """The Studio Recipe an image file carries (any dialect, when complete enough), else None."""
    info = inspect_file(path)
    return info.to_recipe() if isinstance(info, ImageInfo) else None
