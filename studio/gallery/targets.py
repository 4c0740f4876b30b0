# pyright: standard
"""Checking where a file is to be written, before the work that makes it is done.

A target must be a regular file (to be replaced) or a new name; a FIFO, a device node, a
socket, a folder, or a link to one of them is refused, since an atomic write would put a
picture in its place (and, run as root, over a device). Its folder must be one, or be
creatable, and writable. Every refusal is a `TargetError` with one line.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from studio.errors import StudioError
from studio.files import os_error_reason


class TargetError(StudioError):
    """A file or folder cannot be written where asked; the message says which and why."""


def check_target_file(path: str | os.PathLike, what: str = "") -> Path:
    """`path`, when a file may be written there (replacing a regular file); else TargetError."""
    target = Path(path)
    label = f"{what} {target}" if what else str(target)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None  # a new name (or a link to nowhere, which the write replaces)
    except NotADirectoryError:
        raise TargetError(f"cannot write {label}: a part of its path is not a folder") from None
    except OSError as exc:
        raise TargetError(f"cannot write {label}: {os_error_reason(exc)}") from None
    if mode is not None:
        if stat.S_ISDIR(mode):
            raise TargetError(f"cannot write {label}: it is a folder, not a regular file")
        if not stat.S_ISREG(mode):
            raise TargetError(f"cannot write {label}: it is a {file_kind(mode)}, not a regular file")
    check_target_folder(target.parent, label=label)
    return target


def check_target_folder(path: str | os.PathLike, what: str = "", label: str = "") -> Path:
    """`path`, when files may be written into it (it may not exist yet); else TargetError."""
    folder = Path(path)
    label = label or (f"{what} {folder}" if what else str(folder))
    existing = folder
    while True:
        try:
            mode = os.stat(existing).st_mode
            break
        except FileNotFoundError:
            if existing.parent == existing:
                raise TargetError(f"cannot write {label}: its folder does not exist") from None
            existing = existing.parent
        except NotADirectoryError:
            existing = existing.parent
        except OSError as exc:
            raise TargetError(f"cannot write {label}: {os_error_reason(exc)}") from None
    if not stat.S_ISDIR(mode):
        raise TargetError(f"cannot write {label}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TargetError(f"cannot write {label}: permission denied in {existing}")
    return folder


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in words."""
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"
