# pyright: standard
"""Putting a model into the library atomically: copied under a hidden partial name, flushed, renamed;
or linked with one symlink call (atomic, and it never replaces a name that exists).

A copy that fails (full disk, read-only folder) or is cancelled removes its partial, so a
half-copied model never appears in the library. A partial left by a killed process is hidden
from the listing and removed by a later add once it is a day old.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from studio.errors import ModelError, StudioError, WriteError
from studio.files import NAME_MAX, name_bytes, os_error_reason, sync_folder

BLOCK = 8 * 1024 * 1024
PARTIAL = ".partial"
STALE_PARTIAL_S = 24 * 3600

Progress = Callable[[int, int], None]


class CopyCancelled(StudioError):
    """Adding a model was cancelled; nothing of it was kept."""


def partial_name(name: str) -> str:
    """A hidden name beside `name` for the copy in progress (shortened so that it fits NAME_MAX)."""
    token = secrets.token_hex(4)
    room = NAME_MAX - len(f"..{token}{PARTIAL}")
    while len(name_bytes(name)) > room:
        name = name[:-1]
    return f".{name}.{token}{PARTIAL}"


def files_of(source: Path) -> list[tuple[Path, Path]]:
    """(file, its path inside the copy) for a file or for a folder's files (hidden ones left out)."""
    if not source.is_dir():
        return [(source, Path())]
    found = []
    for root, dirs, files in os.walk(source, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                path = Path(root) / name
                found.append((path, path.relative_to(source)))
    return found


def copy_in(source: Path, target: Path, progress: Progress | None = None, cancel: threading.Event | None = None):
    """Copy file or folder `source` to `target` (a new name), atomically."""
    files = files_of(source)
    total = sum(file.stat().st_size for file, _ in files)
    _check_room(source, target.parent, total)
    _tidy(target.parent)
    partial = target.parent / partial_name(target.name)
    try:
        if source.is_dir():
            partial.mkdir()
            done = 0
            for file, inside in files:
                (partial / inside).parent.mkdir(parents=True, exist_ok=True)
                done = _copy_file(file, partial / inside, done, total, progress, cancel)
            for folder in sorted({(partial / inside).parent for _, inside in files}, reverse=True):
                sync_folder(folder)
        else:
            _copy_file(source, partial, 0, total, progress, cancel)
        _publish(partial, target)
        sync_folder(target.parent)
    except BaseException as exc:
        _remove(partial)
        if isinstance(exc, FileExistsError):
            raise ModelError(f"the library already has {target.name} ({target})") from None
        if isinstance(exc, OSError) and not isinstance(exc, StudioError):
            raise WriteError(f"cannot add {source.name} to {target.parent}: {os_error_reason(exc)}") from None
        raise


def link_in(source: Path, target: Path) -> None:
    """Make `target` a symlink to `source`: one call, atomic, never over an existing name."""
    try:
        os.symlink(source.resolve(), target, target_is_directory=source.is_dir())
    except FileExistsError:
        raise ModelError(f"the library already has {target.name} ({target})") from None
    except OSError as exc:
        raise WriteError(f"cannot link {source.name} into {target.parent}: {os_error_reason(exc)}") from None
    sync_folder(target.parent)


def _check_room(source: Path, folder: Path, total: int) -> None:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < total:
        raise WriteError(
            f"cannot add {source.name} to {folder}: the disk is full ({_size(total)} needed, {_size(free)} free)"
        )


def _size(count: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return str(count)


def _copy_file(
    source: Path, target: Path, done: int, total: int, progress: Progress | None, cancel: threading.Event | None
) -> int:
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    with open(source, "rb", buffering=0) as reader, open(os.open(target, flags, 0o666), "wb", buffering=0) as writer:
        while True:
            if cancel is not None and cancel.is_set():
                raise CopyCancelled(f"adding {source.name} was cancelled; nothing of it was kept")
            count = reader.readinto(buffer)
            if not count:
                break
            written = 0
            while written < count:
                written += writer.write(view[written:count]) or 0
            done += count
            if progress is not None:
                progress(done, total)
        os.fsync(writer.fileno())
    shutil.copystat(source, target, follow_symlinks=True)
    return done


def _publish(partial: Path, target: Path) -> None:
    """Give the finished copy its name, never over a model that took the name meanwhile."""
    if partial.is_dir():
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "exists", str(target))
        os.rename(partial, target)
        return
    try:
        os.link(partial, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if os.path.lexists(target):  # a file system without hard links: as close as it allows
            raise FileExistsError(errno.EEXIST, "exists", str(target)) from None
        os.rename(partial, target)
        return
    os.unlink(partial)


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def _tidy(folder: Path) -> None:
    """Remove the partials of killed copies (a day old: no copy runs that long untouched)."""
    now = time.time()
    try:
        items = [e for e in os.scandir(folder) if e.name.startswith(".") and e.name.endswith(PARTIAL)]
    except OSError:
        return
    for item in items:
        try:
            if now - item.stat(follow_symlinks=False).st_mtime > STALE_PARTIAL_S:
                _remove(Path(item.path))
        except OSError:
            pass
