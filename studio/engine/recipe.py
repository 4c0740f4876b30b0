"""An image's recipe and how it travels inside a PNG.

A finished PNG carries its recipe twice: an AUTOMATIC1111-style `parameters` text chunk
that other tools read, and a `studio` JSON chunk with the whole request. An outpaint or
inpaint says so in both: the recipe's `kind` and `extra` (source, extension per side,
strength, window), and `Edit`, `Denoising strength`, `Extend` and `Source` settings. Both parse back
into a request. PNGs are written atomically: encoded in memory, written to a hidden
temporary file beside the target, flushed to disk, then renamed over it (or linked to a
name no file holds, for a new image). Temporary files that a killed write left behind are
removed by the next write into that folder, once they are old enough to be nobody's.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from studio import __version__
from studio.engine.errors import WriteError
from studio.engine.request import GenerateRequest
from studio.engine.schedulers import SCHEDULER_NAMES

PARAMETERS_KEY = "parameters"
STUDIO_KEY = "studio"
RECIPE_FORMAT = 1


@dataclass(frozen=True)
class Recipe:
    """How an image was made: the request of its own (count 1, its own seed) and context."""

    request: GenerateRequest
    model_name: str
    kind: str = "txt2img"
    version: str = __version__
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = {
            "format": RECIPE_FORMAT,
            "kind": self.kind,
            "studio_version": self.version,
            "model_name": self.model_name,
            "request": self.request.to_dict(),
            "extra": self.extra,
        }
        return json.dumps(data, ensure_ascii=True, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        data = json.loads(text)
        return cls(
            request=GenerateRequest.from_dict(data["request"]),
            model_name=str(data.get("model_name", "")),
            kind=str(data.get("kind", "txt2img")),
            version=str(data.get("studio_version", "")),
            extra=dict(data.get("extra") or {}),
        )


def parameters_text(recipe: Recipe) -> str:
    """The recipe as AUTOMATIC1111 writes it: prompt, negative prompt, then settings."""
    r = recipe.request
    settings = {
        "Steps": r.steps,
        "Sampler": r.scheduler,
        "CFG scale": f"{r.guidance_scale:g}",
        "Seed": r.seed,
        "Size": f"{r.width}x{r.height}",
        "Model": recipe.model_name,
        **_edit_settings(recipe),
        "Version": f"Studio {recipe.version}",
    }
    lines = [r.prompt]
    if r.negative_prompt:
        lines.append(f"Negative prompt: {r.negative_prompt}")
    lines.append(", ".join(f"{k}: {_quote(str(v))}" for k, v in settings.items()))
    return "\n".join(lines)


EDIT_KINDS = ("outpaint", "inpaint")
SIDES = ("left", "top", "right", "bottom")


def _edit_settings(recipe: Recipe) -> dict[str, Any]:
    """For an outpaint or inpaint: its kind, strength, extension per side and source file."""
    if recipe.kind not in EDIT_KINDS:
        return {}
    extra = recipe.extra
    settings: dict[str, Any] = {"Edit": recipe.kind}
    if "strength" in extra:
        settings["Denoising strength"] = f"{float(extra['strength']):g}"
    extend = extra.get("extend") or {}
    if any(extend.get(side) for side in SIDES):
        settings["Extend"] = " ".join(f"{side} {int(extend.get(side, 0))}" for side in SIDES)
    if extra.get("source"):
        settings["Source"] = os.path.basename(str(extra["source"]))
    return settings


def _edit_from_settings(settings: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The kind and recipe extra that `_edit_settings` wrote, read back."""
    kind = settings.get("Edit", "")
    if kind not in EDIT_KINDS:
        return "txt2img", {}
    extra: dict[str, Any] = {}
    if "Denoising strength" in settings:
        extra["strength"] = float(settings["Denoising strength"])
    words = settings.get("Extend", "").split()
    pairs = dict(zip(words[0::2], words[1::2]))
    extra["extend"] = {side: int(pairs.get(side, 0)) for side in SIDES}
    if settings.get("Source"):
        extra["source"] = settings["Source"]
    return kind, extra


def _quote(value: str) -> str:
    if any(c in value for c in ',:"\n'):
        return json.dumps(value, ensure_ascii=False)
    return value




def parse_parameters(text: str) -> dict[str, Any]:
    """Split an AUTOMATIC1111 `parameters` text into prompt, negative prompt and settings."""
    lines = text.strip("\n").split("\n")
    settings: dict[str, str] = {}
    if len(lines) > 1 or _looks_like_settings(lines[-1]):
        candidate = lines[-1]
        if _looks_like_settings(candidate):
            lines = lines[:-1]
            settings = {key: value.strip() for key, value in split_settings(candidate).items()}
    prompt, negative = split_prompts(lines)
    return {"prompt": prompt, "negative_prompt": negative, "settings": settings}


def split_prompts(lines: list[str]) -> tuple[str, str]:
    """The prompt and negative prompt of an A1111 text's lines (without its settings line):
    everything from a line that starts "Negative prompt:" on is the negative prompt."""
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    target = prompt_lines
    for line in lines:
        if line.startswith("Negative prompt:"):
            target = negative_lines
            line = line[len("Negative prompt:"):].lstrip()
        target.append(line)
    return "\n".join(prompt_lines), "\n".join(negative_lines)


def _looks_like_settings(line: str) -> bool:
    return line.lstrip().startswith("Steps:") and len(split_settings(line)) >= 3


def split_settings(line: str) -> dict[str, str]:
    """'Key: value, Key: "quoted, value", ...' as a dict, in one pass over the line."""
    out: dict[str, str] = {}
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] in " ,":
            i += 1
        colon = line.find(":", i)
        if colon < 0:
            break
        key = line[i:colon].strip()
        i = colon + 1
        while i < n and line[i] == " ":
            i += 1
        if i < n and line[i] == '"':
            k = i + 1
            while k < n and line[k] != '"':
                k += 2 if line[k] == "\\" else 1
            raw = line[i : k + 1]
            i = k + 1
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw.strip('"')
            if not isinstance(value, str):
                value = str(value)
        else:
            comma = line.find(",", i)
            comma = n if comma < 0 else comma
            value = line[i:comma].strip()
            i = comma
        if key and len(out) < 500:
            out.setdefault(key, value)
    return out


def request_from_parameters(text: str, **fallback: Any) -> GenerateRequest:
    """A request from an AUTOMATIC1111 `parameters` text; `fallback` fills what it lacks."""
    parsed = parse_parameters(text)
    s = parsed["settings"]
    values: dict[str, Any] = dict(fallback)
    values["prompt"] = parsed["prompt"]
    values["negative_prompt"] = parsed["negative_prompt"]
    if "Steps" in s:
        values["steps"] = int(s["Steps"])
    if s.get("Sampler") in SCHEDULER_NAMES:
        values["scheduler"] = s["Sampler"]
    if "CFG scale" in s:
        values["guidance_scale"] = float(s["CFG scale"])
    if "Seed" in s:
        values["seed"] = int(s["Seed"])
    if "Size" in s:
        width, height = s["Size"].lower().split("x")
        values["width"], values["height"] = int(width), int(height)
    if s.get("Model"):
        values["model"] = s["Model"]
    return GenerateRequest(**values)


def png_bytes(image, recipe: Recipe) -> bytes:
    """The image encoded as PNG with both recipe chunks."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(PARAMETERS_KEY, parameters_text(recipe).replace("\0", ""))  # a NUL would end the text early
    info.add_text(STUDIO_KEY, recipe.to_json())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


TEMP_SUFFIX = ".tmp"
STALE_TEMP_S = 15 * 60  # a temporary file untouched this long is the leftover of a killed write
NAME_MAX = 255  # bytes in one file name, on the file systems Studio writes to
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp\Z", re.DOTALL)  # ".<name>.<8 random>.tmp", ours only
_TEMP_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_tidied: set[str] = set()  # folders whose stale temporary files this process has removed


def write_atomic(path: str | os.PathLike, data: bytes | BinaryIO, *,
                 times_from: str | os.PathLike | None = None, exclusive: bool = False) -> Path:
    """Write `data` (bytes, or a binary stream read to its end) to `path` so that a crash
    leaves either the old file or the whole new one. The new file's permissions follow the
    umask; `times_from` copies that file's access and modification times onto it. With
    `exclusive`, an existing `path` is never replaced: FileExistsError says it is taken.
    A path taken with `claim` is filled, or given up (removed) when the write fails."""
    target = Path(path)
    try:
        _write(target, data, times_from, exclusive)
    except BaseException:
        release_claim(target)
        raise
    _claims.discard(os.fspath(target))
    _sync_folder(target.parent)
    _tidy_once(target.parent)
    return target


def _write(target: Path, data, times_from, exclusive: bool) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = _create_temp(target)
    except OSError as exc:
        raise WriteError(f"cannot write {target}: {os_error_reason(exc)}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(data, (bytes, bytearray, memoryview)):
                handle.write(data)
            else:
                shutil.copyfileobj(data, handle, 1024 * 1024)
            handle.flush()
            os.fsync(handle.fileno())
        if times_from is not None:
            source = os.stat(times_from)
            os.utime(temp_name, ns=(source.st_atime_ns, source.st_mtime_ns))
        if exclusive:
            _link_new(temp_name, target)
        else:
            os.replace(temp_name, target)
    except BaseException as exc:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, FileExistsError):
            raise WriteError(f"cannot write {target}: {os_error_reason(exc)}") from exc
        raise


_claims: set[str] = set()  # paths this process claimed and has not written yet


def claim(path: str | os.PathLike) -> bool:
    """Take `path` for a file about to be written, atomically: create it empty unless a file
    holds it (then False). Two writers never get the same path; `write_atomic` fills it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666))
    except FileExistsError:
        return False
    _claims.add(os.fspath(path))
    return True


def release_claim(target: str | os.PathLike) -> None:
    """Give back a path taken with `claim` that will not be written (removed while still empty)."""
    target = Path(target)
    key = os.fspath(target)
    if key not in _claims:
        return
    _claims.discard(key)
    try:
        if target.stat().st_size == 0:
            os.unlink(target)
    except OSError:
        pass


def temp_name_for(name: str) -> str:
    """A hidden temporary name beside `name` (shortened so that it fits NAME_MAX)."""
    token = "".join(secrets.choice(_TEMP_LETTERS) for _ in range(8))
    room = NAME_MAX - len(f"..{token}{TEMP_SUFFIX}")
    while len(name_bytes(name)) > room:
        name = name[:-1]
    return f".{name}.{token}{TEMP_SUFFIX}"


def name_bytes(name: str) -> bytes:
    """A file name as the bytes the file system holds (any str, even one with stray surrogates)."""
    try:
        return os.fsencode(name)
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogatepass")


def _create_temp(target: Path) -> tuple[int, str]:
    """A new temporary file beside `target`, opened for writing; mode 0666 less the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        temp = str(target.parent / temp_name_for(target.name))
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(target.parent))


def _link_new(temp_name: str, target: Path) -> None:
    """Give the finished temporary file the name `target` only if no file holds it (atomic)."""
    try:
        os.link(temp_name, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # A file system without hard links (FAT, some network shares): as close as it allows.
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "file exists", str(target)) from None
        os.rename(temp_name, target)
        return
    os.unlink(temp_name)


def is_temp_name(name: str) -> bool:
    """Whether `name` has the form of the temporary files `write_atomic` makes."""
    return _TEMP_NAME.match(name) is not None


def remove_stale_temp_files(folder: str | os.PathLike, older_than: float = STALE_TEMP_S) -> int:
    """Delete the temporary files of killed writes in `folder`: only names of our own form,
    only those untouched for `older_than` seconds (another process may be writing a newer one)."""
    removed = 0
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not is_temp_name(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and now - entry.stat(follow_symlinks=False).st_mtime > older_than:
                os.unlink(entry.path)
                removed += 1
        except OSError:
            pass
    return removed


def _tidy_once(folder: Path) -> None:
    key = os.fspath(folder)
    if key not in _tidied:
        _tidied.add(key)
        remove_stale_temp_files(folder)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def os_error_reason(exc: OSError) -> str:
    """A short reason for an OS error, in words a person reads, such as 'the disk is full'."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "the disk is read-only"
    if exc.errno == errno.ENAMETOOLONG:
        return "the file name is too long"
    return exc.strerror or str(exc)


def write_png(path: str | os.PathLike, image, recipe: Recipe) -> Path:
    """Write `image` as a PNG carrying `recipe`, atomically."""
    try:
        data = png_bytes(image, recipe)
    except BaseException:
        release_claim(Path(path))
        raise
    return write_atomic(path, data)


def read_recipe(source) -> Recipe | None:
    """The recipe inside a PNG (path or open PIL image): the Studio chunk, else `parameters`.

    Returns None for an image without a readable recipe.
    """
    from PIL import Image

    image = source if isinstance(source, Image.Image) else Image.open(source)
    text = getattr(image, "text", None) or image.info
    if text.get(STUDIO_KEY):
        try:
            return Recipe.from_json(text[STUDIO_KEY])
        except (ValueError, KeyError, TypeError):
            pass
    if text.get(PARAMETERS_KEY):
        try:
            parsed = parse_parameters(text[PARAMETERS_KEY])
            request = request_from_parameters(
                text[PARAMETERS_KEY], width=image.width, height=image.height
            )
        except (ValueError, KeyError, TypeError):
            return None
        model_name = parsed["settings"].get("Model", "")
        try:
            kind, extra = _edit_from_settings(parsed["settings"])
        except ValueError:
            kind, extra = "txt2img", {}
        return Recipe(request=request, model_name=model_name, kind=kind, version="", extra=extra)
    return None

