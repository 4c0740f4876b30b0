"""Reading what an image file says about itself, safely: its size and the recipe it carries.

Recipes come in many dialects: Studio's own `studio` JSON chunk, AUTOMATIC1111/Forge/
Fooocus `parameters` text (Fooocus also as JSON), ComfyUI `prompt`/`workflow` JSON,
InvokeAI `invokeai_metadata` (and the older `sd-metadata`), and an EXIF UserComment in
JPEG and WebP files. Files are read by walking their chunk or segment headers, never by
decoding pixels, so a broken or hostile file costs little: sizes are checked against a
pixel limit before anything decodes, text chunks above a limit are skipped, and
truncated files are noticed. `inspect_file` and `inspect_bytes` never raise: they return
an `ImageInfo` or an `Unreadable` with the reason.
"""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

from studio.engine.recipe import split_settings
from studio.engine.request import GenerateRequest
from studio.engine.schedulers import SCHEDULER_NAMES

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MAX_IMAGE_PIXELS = 64 * 1024 * 1024  # 8192 x 8192; larger files are refused before decoding
MAX_TEXT_CHUNK = 1024 * 1024  # one text chunk (after decompression)
MAX_TEXT_TOTAL = 4 * 1024 * 1024  # all text chunks of one file
MAX_CHUNKS = 200_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
USER_COMMENT_TAG = 0x9286
EXIF_IFD_TAG = 0x8769
IMAGE_DESCRIPTION_TAG = 0x010E

# Sampler names of other tools, as Studio names them.
_SAMPLER_ALIASES = {
    "euler": "Euler", "euler_a": "Euler a", "euler_ancestral": "Euler a", "ddim": "DDIM",
    "dpmpp_2m": "DPM++ 2M", "dpmpp_2m_k": "DPM++ 2M Karras", "dpmpp_2m_sde_k": "DPM++ 2M SDE Karras",
    "uni_pc": "UniPC", "unipc": "UniPC", "lcm": "LCM",
}
_KARRAS = {"DPM++ 2M": "DPM++ 2M Karras", "DPM++ 2M SDE": "DPM++ 2M SDE Karras", "dpmpp_2m": "DPM++ 2M Karras",
           "dpmpp_2m_sde": "DPM++ 2M SDE Karras", "dpmpp_2m_sde_gpu": "DPM++ 2M SDE Karras"}


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
            return _inspect(handle, info.st_size)
    except OSError as exc:
        return Unreadable(f"cannot read it: {exc.strerror or exc}")
    except Exception as exc:  # a reader bug must never take the gallery down
        return Unreadable(f"cannot read it: {type(exc).__name__}")
    finally:
        os.close(fd)


def inspect_bytes(data: bytes) -> ImageInfo | Unreadable:
    """Like `inspect_file`, for bytes in memory."""
    try:
        return _inspect(io.BytesIO(data), len(data))
    except Exception as exc:
        return Unreadable(f"cannot read it: {type(exc).__name__}")


def _inspect(handle: BinaryIO, size: int) -> ImageInfo | Unreadable:
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
        else:
            sample = body[:256]
            even, odd = sample[0::2].count(0), sample[1::2].count(0)
            encoding = "utf-16-le" if odd > even else "utf-16-be"
        return body[: len(body) // 2 * 2].decode(encoding, errors="replace").rstrip("\0")
    if prefix in (b"ASCII\0\0\0", b"\0" * 8, b"JIS\0\0\0\0\0"):
        return body.decode("utf-8", errors="replace").rstrip("\0")
    return bytes(raw).decode("utf-8", errors="replace").rstrip("\0")


def encode_user_comment(text: str) -> bytes:
    """A UserComment as AUTOMATIC1111 writes it: 'UNICODE' prefix, then UTF-16 big-endian."""
    return b"UNICODE\0" + text.encode("utf-16-be")


# Recipes from the texts found.

def _with_recipe(info: ImageInfo, texts: _Texts) -> ImageInfo:
    fields = recipe_fields(texts.values)
    notes = tuple(texts.notes)
    return ImageInfo(**{**info.to_dict(), **fields, "notes": notes})


def recipe_fields(texts: dict[str, str]) -> dict[str, Any]:
    """The recipe fields (of ImageInfo) found in a file's text chunks; {} when none. Never raises."""
    readers = (
        ("studio", lambda: _from_studio(texts["studio"])),
        ("parameters", lambda: _from_parameters(texts["parameters"])),
        ("prompt", lambda: _from_comfyui(texts.get("prompt", ""), texts.get("workflow", ""))),
        ("workflow", lambda: _from_comfyui("", texts["workflow"])),
        ("invokeai_metadata", lambda: _from_invokeai(texts["invokeai_metadata"])),
        ("sd-metadata", lambda: _from_invokeai_v2(texts["sd-metadata"])),
        ("exif", lambda: _from_parameters(texts["exif"])),
        ("comment", lambda: _from_parameters(texts["comment"], strict=True)),
        ("description", lambda: _from_parameters(texts["description"], strict=True)),
    )
    for key, read in readers:
        if not texts.get(key):
            continue
        try:
            fields = read()
        except Exception:
            fields = None
        if fields:
            if key == "studio" and texts.get("parameters"):
                fields["parameters"] = texts["parameters"]
            return _clean(fields)
    return {}


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"source": str(fields.get("source", ""))}
    for key in ("prompt", "negative_prompt", "sampler", "model", "parameters", "studio"):
        value = fields.get(key)
        out[key] = value if isinstance(value, str) else ("" if value is None else str(value))
    out["seed"] = _int(fields.get("seed"), 0, 2**64 - 1)
    out["steps"] = _int(fields.get("steps"), 1, 10_000)
    out["cfg"] = _float(fields.get("cfg"))
    out["recipe_width"] = _int(fields.get("width"), 1, 1 << 20)
    out["recipe_height"] = _int(fields.get("height"), 1, 1 << 20)
    return out


def _int(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value) if not isinstance(value, float) else int(value) if value.is_integer() else None
    except (TypeError, ValueError, OverflowError):
        try:
            number = int(float(value))
        except (TypeError, ValueError, OverflowError):
            return None
    if number is None or not low <= number <= high:
        return None
    return number


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number == number and abs(number) < 1e6 else None


def _sampler(name: Any, scheduler: Any = "") -> str:
    if not isinstance(name, str):
        return ""
    if isinstance(scheduler, str) and scheduler.lower() == "karras" and name in _KARRAS:
        return _KARRAS[name]
    return name if name in SCHEDULER_NAMES else _SAMPLER_ALIASES.get(name, name)


def _from_studio(text: str) -> dict[str, Any] | None:
    data = json.loads(text)
    request = data["request"]
    if not isinstance(request, dict):
        return None
    return {
        "source": "studio", "prompt": request.get("prompt", ""), "negative_prompt": request.get("negative_prompt", ""),
        "seed": request.get("seed"), "steps": request.get("steps"), "cfg": request.get("guidance_scale"),
        "sampler": request.get("scheduler", ""), "model": data.get("model_name", "") or request.get("model", ""),
        "width": request.get("width"), "height": request.get("height"), "studio": text,
    }


_SETTING_KEYS = ("Steps", "Sampler", "CFG scale", "Seed", "Size", "Model")


def parse_a1111(text: str) -> dict[str, Any]:
    """Prompt, negative prompt and settings of an AUTOMATIC1111 `parameters` text."""
    lines = text.replace("\r\n", "\n").strip("\n").split("\n")
    settings: dict[str, str] = {}
    last = lines[-1].strip()
    if last.startswith("Steps:") or (
        ":" in last[:40] and len(set(split_settings(last)) & set(_SETTING_KEYS)) >= 2
    ):
        settings = split_settings(last)
        lines = lines[:-1]
    prompt, negative, target = [], [], None
    target = prompt
    for line in lines:
        if line.startswith("Negative prompt:"):
            target = negative
            line = line[len("Negative prompt:"):].lstrip()
        target.append(line)
    return {"prompt": "\n".join(prompt), "negative_prompt": "\n".join(negative), "settings": settings}


def _from_parameters(text: str, strict: bool = False) -> dict[str, Any] | None:
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return _from_fooocus_json(data, text)
    parsed = parse_a1111(text)
    s = parsed["settings"]
    if strict and not s:
        return None
    if not s and not parsed["prompt"].strip():
        return None
    width = height = None
    if "x" in s.get("Size", ""):
        width, height = s["Size"].lower().split("x", 1)
    version = s.get("Version", "")
    source = "fooocus" if version.startswith("Fooocus") else "forge" if version[:1] == "f" and version[1:2].isdigit() else "a1111"
    if version.startswith("Studio"):
        source = "studio"
    return {
        "source": source, "prompt": parsed["prompt"], "negative_prompt": parsed["negative_prompt"],
        "seed": s.get("Seed"), "steps": s.get("Steps"), "cfg": s.get("CFG scale"),
        "sampler": _sampler(s.get("Sampler"), s.get("Schedule type", "")), "model": s.get("Model", ""),
        "width": width, "height": height, "parameters": text,
    }


def _from_fooocus_json(data: dict[str, Any], text: str) -> dict[str, Any] | None:
    d = {str(k).lower().replace(" ", "_"): v for k, v in data.items()}
    if "prompt" not in d:
        return None
    width = height = None
    resolution = d.get("resolution")
    if isinstance(resolution, str):
        parts = [p for p in resolution.strip("()[] ").replace("x", ",").replace("×", ",").split(",") if p.strip()]
        if len(parts) == 2:
            width, height = parts[0].strip(), parts[1].strip()
    elif isinstance(resolution, (list, tuple)) and len(resolution) == 2:
        width, height = resolution
    return {
        "source": "fooocus", "prompt": d.get("prompt", ""), "negative_prompt": d.get("negative_prompt", ""),
        "seed": d.get("seed"), "steps": d.get("steps"), "cfg": d.get("guidance_scale", d.get("cfg_scale")),
        "sampler": _sampler(d.get("sampler"), d.get("scheduler", "")), "model": d.get("base_model", d.get("model", "")),
        "width": width, "height": height,
    }


def _json_dict(text: str) -> dict | None:
    if not text:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _from_comfyui(prompt_text: str, workflow_text: str) -> dict[str, Any] | None:
    graph = _json_dict(prompt_text)
    if graph:
        fields = _comfy_api(graph)
        if fields:
            return fields
    workflow = _json_dict(workflow_text)
    return _comfy_workflow(workflow) if workflow else None


def _comfy_api(graph: dict) -> dict[str, Any] | None:
    nodes = {str(k): v for k, v in graph.items() if isinstance(v, dict) and isinstance(v.get("inputs"), dict)}

    def node_of(link) -> dict | None:
        if isinstance(link, list) and link and str(link[0]) in nodes:
            return nodes[str(link[0])]
        return None

    def value(v, names, depth=0):
        """A plain value, following links into the nodes that make it."""
        if depth > 8:
            return None
        node = node_of(v)
        if node is None:
            return v
        inputs = node["inputs"]
        for name in names:
            if name in inputs:
                return value(inputs[name], names, depth + 1)
        return None

    def text(link, depth=0) -> str:
        node = node_of(link)
        if node is None or depth > 8:
            return ""
        inputs = node["inputs"]
        for name in ("text", "text_g", "string", "value", "prompt"):
            if name in inputs:
                found = value(inputs[name], ("text", "string", "value", "prompt"))
                if isinstance(found, str):
                    return found
        for name, v in inputs.items():  # conditioning passing through other nodes
            if node_of(v) is not None and name not in ("clip", "model", "vae", "image", "control_net"):
                found = text(v, depth + 1)
                if found:
                    return found
        return ""

    sampler = next((n for n in nodes.values() if "positive" in n["inputs"] and ("seed" in n["inputs"] or "noise_seed" in n["inputs"] or "steps" in n["inputs"])), None)
    if sampler is None:
        return None
    inputs = sampler["inputs"]
    model = next((n["inputs"].get("ckpt_name") or n["inputs"].get("unet_name") for n in nodes.values() if "ckpt_name" in n["inputs"] or "unet_name" in n["inputs"]), "")
    latent = next((n["inputs"] for n in nodes.values() if str(n.get("class_type", "")).startswith("Empty") and "width" in n["inputs"]), {})
    seed = value(inputs.get("seed", inputs.get("noise_seed")), ("seed", "noise_seed", "value", "int"))
    return {
        "source": "comfyui", "prompt": text(inputs.get("positive")), "negative_prompt": text(inputs.get("negative")),
        "seed": seed, "steps": value(inputs.get("steps"), ("steps", "value", "int")),
        "cfg": value(inputs.get("cfg"), ("cfg", "value", "float")),
        "sampler": _sampler(value(inputs.get("sampler_name"), ("sampler_name",)), value(inputs.get("scheduler"), ("scheduler",))),
        "model": model if isinstance(model, str) else "",
        "width": value(latent.get("width"), ("width", "value", "int")), "height": value(latent.get("height"), ("height", "value", "int")),
    }


def _comfy_workflow(workflow: dict) -> dict[str, Any] | None:
    raw_nodes = workflow.get("nodes")
    if not isinstance(raw_nodes, list):
        return None
    nodes = {n.get("id"): n for n in raw_nodes if isinstance(n, dict) and isinstance(n.get("widgets_values", []), list)}
    links = {}
    for link in workflow.get("links") or []:
        if isinstance(link, list) and len(link) >= 4:
            links[link[0]] = link[1]
        elif isinstance(link, dict):
            links[link.get("id")] = link.get("origin_id")

    def widgets(node) -> list:
        return node.get("widgets_values") or []

    def source_node(node, name):
        for slot in node.get("inputs") or []:
            if isinstance(slot, dict) and slot.get("name") == name:
                return nodes.get(links.get(slot.get("link")))
        return None

    def text(node, depth=0) -> str:
        if node is None or depth > 8:
            return ""
        if "CLIPTextEncode" in str(node.get("type", "")):
            strings = [w for w in widgets(node) if isinstance(w, str)]
            if strings:
                return strings[0]
        for slot in node.get("inputs") or []:
            if isinstance(slot, dict) and slot.get("link") is not None:
                found = text(nodes.get(links.get(slot.get("link"))), depth + 1)
                if found:
                    return found
        return ""

    sampler = next((n for n in nodes.values() if str(n.get("type", "")).startswith("KSampler")), None)
    if sampler is None:
        return None
    w = widgets(sampler)
    advanced = str(sampler.get("type")) == "KSamplerAdvanced"
    offset = 1 if advanced else 0  # KSamplerAdvanced starts with add_noise
    get = lambda i: w[i] if len(w) > i else None  # noqa: E731
    checkpoint = next((widgets(n)[0] for n in nodes.values() if "CheckpointLoader" in str(n.get("type", "")) and widgets(n)), "")
    latent = next((widgets(n) for n in nodes.values() if str(n.get("type", "")).startswith("EmptyLatentImage")), [])
    return {
        "source": "comfyui", "prompt": text(source_node(sampler, "positive")), "negative_prompt": text(source_node(sampler, "negative")),
        "seed": get(offset), "steps": get(offset + 2), "cfg": get(offset + 3), "sampler": _sampler(get(offset + 4), get(offset + 5)),
        "model": checkpoint if isinstance(checkpoint, str) else "",
        "width": latent[0] if len(latent) > 1 else None, "height": latent[1] if len(latent) > 1 else None,
    }


def _from_invokeai(text: str) -> dict[str, Any] | None:
    data = _json_dict(text)
    if not data:
        return None
    model = data.get("model")
    if isinstance(model, dict):
        model = model.get("name") or model.get("model_name") or ""
    prompt = data.get("positive_prompt", data.get("prompt", ""))
    return {
        "source": "invokeai", "prompt": prompt if isinstance(prompt, str) else "", "negative_prompt": data.get("negative_prompt", ""),
        "seed": data.get("seed"), "steps": data.get("steps"), "cfg": data.get("cfg_scale"),
        "sampler": _sampler(data.get("scheduler", "")), "model": model if isinstance(model, str) else "",
        "width": data.get("width"), "height": data.get("height"),
    }


def _from_invokeai_v2(text: str) -> dict[str, Any] | None:
    data = _json_dict(text)
    image = data.get("image") if data else None
    if not isinstance(image, dict):
        return None
    prompt = image.get("prompt")
    if isinstance(prompt, list):
        prompt = " ".join(p.get("prompt", "") for p in prompt if isinstance(p, dict) and isinstance(p.get("prompt", ""), str))
    return {
        "source": "invokeai", "prompt": prompt if isinstance(prompt, str) else "", "seed": image.get("seed"),
        "steps": image.get("steps"), "cfg": image.get("cfg_scale"), "sampler": _sampler(image.get("sampler", "")),
        "model": data.get("model_weights", "") if isinstance(data.get("model_weights", ""), str) else "",
        "width": image.get("width"), "height": image.get("height"),
    }


def recipe_of(path: str | os.PathLike):
    """The Studio Recipe an image file carries (any dialect, when complete enough), else None."""
    info = inspect_file(path)
    return info.to_recipe() if isinstance(info, ImageInfo) else None
