# pyright: standard
"""A pickled checkpoint (.ckpt, .pt, .pth, .bin) turned into a safetensors file beside it.

A pickle can run code when it is loaded, so Studio never unpickles one on the way to a
generation. Converting reads the file once with torch's restricted loader
(`weights_only=True`), which builds tensors and plain containers and refuses every other
global; a file that asks for one is refused, unread, with what it asked for named. There is
no unrestricted fallback. Files in torch's zip format are memory-mapped, so a checkpoint of
several GB is not read into memory whole.

The tensors are the file's top level, or what sits under "state_dict" (A1111 and Lightning
checkpoints), "model" or "module"; nested dicts become dotted names, and entries that are
not tensors (global_step, optimizer state, ...) are left out and listed in the result.
Tensors that overlap in memory, which safetensors refuses, are written from copies (only
those). The new file is written under a hidden temporary name in its folder, flushed, and
then given its name, which must be free: nothing is overwritten, and a failed write leaves
nothing behind.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import stat
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from studio import __version__
from studio.errors import ModelError, WriteError
from studio.files import link_new, os_error_reason, remove_stale_temp_files, sync_folder, temp_name_for

if TYPE_CHECKING:
    import torch

ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6
PICKLE_PROTOCOLS = range(2, 6)  # a pickle of protocol 2+ starts with 0x80 and its protocol number
ROOT_KEYS = ("state_dict", "model", "module")
HEADER_ROOM = 64 * 1024  # bytes beyond the tensors' own: the header, generously
SHOWN_DROPPED = 5


@dataclass(frozen=True)
class ConvertResult:
    """What `convert_pickle` wrote: the new file, how many tensors it holds, the entries left out, its size."""

    path: Path
    tensors: int
    dropped: tuple[str, ...]
    bytes_written: int


def convert_pickle(path: str | os.PathLike, out: str | os.PathLike | None = None) -> ConvertResult:
    """Write the tensors of the pickled checkpoint `path` to `out` (default: the same name
    with .safetensors, beside it). Bad input is a ModelError, a failed write a WriteError;
    either says what and why in one line."""
    source = Path(path)
    zipped = _check_source(source)
    target = Path(out) if out is not None else source.with_suffix(".safetensors")
    _check_free_name(target)
    temp = _create_temp(target)  # before the long read: a folder that cannot be written fails now
    try:
        tensors, dropped = _tensors_of(source, _load(source, zipped))
        tensors = separate_shared(tensors)
        _check_room(target, tensors)
        metadata = {"format": "pt", "converted_from": source.name, "converted_by": f"Studio {__version__}"}
        _save(source, target, tensors, temp, metadata)
        _give_name(temp, target)
    except BaseException:
        _remove(temp)
        raise
    sync_folder(target.parent)
    return ConvertResult(target, len(tensors), tuple(dropped), target.stat().st_size)


def _check_source(source: Path) -> bool:
    """Refuse what is no pickled checkpoint, from its kind and first bytes; True for torch's zip format."""
    try:
        info = os.stat(source)
    except (FileNotFoundError, NotADirectoryError):
        raise ModelError(f"{source} does not exist") from None
    except OSError as exc:
        raise ModelError(f"cannot read {source}: {os_error_reason(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ModelError(f"{source} is a folder, not a checkpoint file")
    if not stat.S_ISREG(info.st_mode):
        raise ModelError(f"{source} is a {_kind(info.st_mode)}, not a regular file")
    if info.st_size == 0:
        raise ModelError(f"{source} is empty")
    head = _head(source)
    if _is_safetensors(head, info.st_size):
        raise ModelError(f"{source} is already a safetensors file; it loads as it is")
    if head.startswith(ZIP_MAGIC):
        return True
    if len(head) >= 2 and head[0] == 0x80 and head[1] in PICKLE_PROTOCOLS:
        return False
    raise ModelError(f"{source} is not a PyTorch checkpoint: it is neither torch's zip format nor a pickle")


def _head(source: Path) -> bytes:
    """The first bytes of `source`, opened so that a FIFO put in its place meanwhile is not waited on."""
    try:
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ModelError(f"{source} is not a regular file")
            return os.read(fd, 16)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ModelError(f"cannot read {source}: {os_error_reason(exc)}") from None


def _is_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    (header_size,) = struct.unpack("<Q", head[:8])
    return 8 + header_size <= size and head[8:9] == b"{"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _load(source: Path, zipped: bool):
    """The file unpickled by torch's restricted loader; what it refuses is refused here."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's advice about protocols and TorchScript; the errors say enough
            return torch.load(source, map_location="cpu", weights_only=True, mmap=zipped)
    except pickle.UnpicklingError as exc:
        raise ModelError(_refusal(source, str(exc))) from None
    except OSError as exc:
        raise ModelError(f"cannot read {source}: {os_error_reason(exc)}") from None
    except (RuntimeError, ValueError, EOFError, KeyError, TypeError, AttributeError, IndexError) as exc:
        text = str(exc)
        if "TorchScript" in text:
            raise ModelError(
                f"{source} is a TorchScript archive, not a checkpoint of weights; Studio does not read those"
            ) from None
        raise ModelError(
            f"cannot read {source}: it is damaged or not a PyTorch checkpoint ({_first_sentence(text)})"
        ) from None


def _refusal(source: Path, text: str) -> str:
    """The one line for a file the restricted loader refused, naming what it asked for where torch says."""
    asked = re.search(r"GLOBAL ([\w.]+)", text)
    if asked:
        what = f"it asks for {asked.group(1)}, which is not tensor data"
    else:
        detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
        reason = detail.group(1).strip() if detail else _first_sentence(text)
        what = f"it holds pickle instructions that the safe loader does not read ({reason})"
    return (
        f"{source} was not loaded: {what}, and loading it could run code; Studio reads only tensors from pickled files"
    )


def _first_sentence(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "no reason given")
    return line.split(". ")[0].rstrip(".")[:200]


def _tensors_of(source: Path, loaded) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The tensors by dotted name, and the names of the entries that are not tensors."""
    if not isinstance(loaded, Mapping):
        raise ModelError(f"{source} holds no tensors by name (it holds a {type(loaded).__name__})")
    tensors: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    root, prefix = loaded, ""
    for key in ROOT_KEYS:
        inner = loaded.get(key)
        if isinstance(inner, Mapping) and _holds_tensor(inner):
            root, prefix = inner, f"{key}."
            dropped = [str(other) for other in loaded if other != key]
            break
    _flatten(source, root, "", prefix, tensors, dropped)
    if not tensors:
        raise ModelError(f"{source} holds no tensors")
    return tensors, dropped


def _holds_tensor(mapping: Mapping) -> bool:
    import torch

    return any(
        isinstance(value, torch.Tensor) or (isinstance(value, Mapping) and _holds_tensor(value))
        for value in mapping.values()
    )


def _flatten(source: Path, mapping: Mapping, name: str, prefix: str, tensors: dict, dropped: list[str]) -> None:
    import torch

    for key, value in mapping.items():
        full = f"{name}{key}"
        if isinstance(value, Mapping):
            _flatten(source, value, f"{full}.", prefix, tensors, dropped)
        elif isinstance(value, torch.Tensor):
            if full in tensors:
                raise ModelError(f"{source} holds two tensors named {full!r}")
            if value.layout != torch.strided:
                raise ModelError(f"{source} holds a sparse tensor, {full!r}, which a safetensors file cannot hold")
            tensors[full] = value
        else:
            dropped.append(f"{prefix}{full}")


def separate_shared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors, each contiguous and none overlapping another's memory (as safetensors asks):
    a tensor that overlaps one kept before it, or is not contiguous, is copied; the others are
    kept as they are, still mapped from the file, so memory grows only by the shared ones."""
    apart: dict[str, torch.Tensor] = {}
    spans: list[tuple[int, int, str]] = []
    for name, tensor in tensors.items():
        if not tensor.is_contiguous():
            apart[name] = tensor.contiguous()
        else:
            apart[name] = tensor
            if tensor.numel():
                start = tensor.data_ptr()
                spans.append((start, start + tensor.numel() * tensor.element_size(), name))
    reach = 0
    for start, end, name in sorted(spans):
        if start < reach:
            apart[name] = tensors[name].clone()
        else:
            reach = max(reach, end)
    return apart


def _check_free_name(target: Path) -> None:
    if os.path.lexists(target):
        raise WriteError(f"{target} already exists; it was not overwritten")


def _where(target: Path) -> str:
    return f"cannot write {target.name} in {target.parent}"


def _create_temp(target: Path) -> Path:
    """A new, empty, hidden file beside `target`, ours alone (a killed conversion's old ones are removed first)."""
    folder = target.parent
    if not folder.is_dir():
        raise WriteError(f"{_where(target)}: the folder does not exist")
    remove_stale_temp_files(folder)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        temp = folder / temp_name_for(target.name)
        try:
            os.close(os.open(temp, flags, 0o666))
            return temp
        except FileExistsError:
            continue
        except OSError as exc:
            raise WriteError(f"{_where(target)}: {os_error_reason(exc)}") from None
    raise WriteError(f"{_where(target)}: no free temporary name")


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _check_room(target: Path, tensors: dict[str, torch.Tensor]) -> None:
    needed = sum(t.numel() * t.element_size() for t in tensors.values()) + HEADER_ROOM
    free = _free_bytes(target.parent)
    if free is not None and needed > free:
        raise WriteError(f"{_where(target)}: the disk is full ({_size(needed)} needed, {_size(free)} free)")


def _size(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def _save(source: Path, target: Path, tensors: dict[str, torch.Tensor], temp: Path, metadata: dict[str, str]) -> None:
    """Write the file under its temporary name and flush it to disk."""
    from safetensors.torch import save_file

    try:
        save_file(tensors, temp, metadata=metadata)
    except (OSError, MemoryError):
        raise
    except Exception as exc:  # safetensors' own error carries the OS error only in its text
        code = re.search(r"os error (\d+)", str(exc))
        if code:
            number = int(code.group(1))
            reason = os_error_reason(OSError(number, os.strerror(number)))
            raise WriteError(f"{_where(target)}: {reason}") from None
        raise ModelError(f"cannot convert {source}: {_first_sentence(str(exc))}") from None
    try:
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise WriteError(f"{_where(target)}: {os_error_reason(exc)}") from None


def _give_name(temp: Path, target: Path) -> None:
    """Name the finished file `target`, only if no file holds that name."""
    try:
        link_new(os.fspath(temp), target)
    except FileExistsError:
        raise WriteError(f"{target} already exists; it was not overwritten") from None
    except OSError as exc:
        raise WriteError(f"{_where(target)}: {os_error_reason(exc)}") from None


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def summary(result: ConvertResult) -> str:
    """One line about a conversion: the tensors written, their size, the entries left out."""
    line = f"wrote {result.tensors} tensor{'s' * (result.tensors != 1)} ({_size(result.bytes_written)}) to {result.path.name}"
    if result.dropped:
        names = ", ".join(result.dropped[:SHOWN_DROPPED])
        more = f" and {len(result.dropped) - SHOWN_DROPPED} more" if len(result.dropped) > SHOWN_DROPPED else ""
        count = len(result.dropped)
        line += f"; left out {count} entr{'ies' if count != 1 else 'y'} that {'are' if count != 1 else 'is'} not tensors: {names}{more}"
    return line
