"""Writing files so that a crash never leaves half of one, and OS errors in words a person reads.

A file is written to a hidden temporary file beside its target, flushed to disk, then
renamed over it (or linked to a name no file holds, for a new file). A name can be claimed
first (created empty, exclusively) so that two writers never take the same one. Temporary
files that a killed write left behind are removed by the next write into that folder, once
they are old enough to be nobody's.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import BinaryIO

from studio.errors import WriteError

TEMP_SUFFIX = ".tmp"
STALE_TEMP_S = 15 * 60  # a temporary file untouched this long is the leftover of a killed write
NAME_MAX = 255  # bytes in one file name, on the file systems Studio writes to
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp\Z", re.DOTALL)  # ".<name>.<8 random>.tmp", ours only
_TEMP_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_tidied: set[str] = set()  # folders whose stale temporary files this process has removed


def write_atomic(
    path: str | os.PathLike,
    data: bytes | BinaryIO,
    *,
    times_from: str | os.PathLike | None = None,
    exclusive: bool = False,
) -> Path:
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
    sync_folder(target.parent)
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
        source = os.stat(times_from) if times_from is not None else None
        if exclusive:
            link_new(temp_name, target)
        else:
            os.replace(temp_name, target)
        if source is not None:  # only now: a temporary file with old times would look like a stale leftover
            os.utime(target, ns=(source.st_atime_ns, source.st_mtime_ns))
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


def link_new(temp_name: str, target: Path) -> None:
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


def sync_folder(folder: Path) -> None:
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
