# pyright: standard
"""Names and places of image files in the gallery folder.

A new image's name is claimed atomically: `new_image_path` creates the file, empty, with
an exclusive create, so two processes saving the same prompt and seed in the same second
get two names; the image is then written over its own empty claim (a failed write gives the
claim up). A claim left empty by a killed process is removed once it is old. Names are bytes on disk and may not be UTF-8;
`display_name` is how such a name is shown.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime
from pathlib import Path

from studio.files import NAME_MAX, STALE_TEMP_S, claim, name_bytes, remove_stale_temp_files

SLUG_WORDS = 6
SLUG_CHARS = 48
_CLAIM = re.compile(r"\d{8}-\d{6}-\d+-[a-z0-9-]+(-\d+)?\.png\Z")  # the names new_image_path gives
_tidied: set[str] = set()


def slug(prompt: str) -> str:
    """A short, file-name-safe summary of a prompt ('untitled' when empty)."""
    words = re.findall(r"[a-z0-9]+", prompt.lower())[:SLUG_WORDS]
    return "-".join(words)[:SLUG_CHARS].strip("-") or "untitled"


def new_image_path(folder: Path, prompt: str, seed: int, when: datetime | None = None) -> Path:
    """A new path in `folder`, from the time, seed and the start of the prompt, claimed for
    the caller: the file exists (empty) when this returns, so no other writer takes it."""
    folder = Path(folder)
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
    stem = f"{stamp}-{seed}-{slug(prompt)}"
    folder.mkdir(parents=True, exist_ok=True)
    _tidy_once(folder)
    path, counter = folder / f"{stem}.png", 2
    while not claim(path):
        path = folder / f"{stem}-{counter}.png"
        counter += 1
    return path


def is_fresh_claim(name: str, size: int, mtime: float) -> bool:
    """An empty file that `new_image_path` made moments ago: its image is being written."""
    return size == 0 and time.time() - mtime < STALE_TEMP_S and _CLAIM.match(name) is not None


def remove_leftovers(folder: Path) -> None:
    """Remove what killed writes left in `folder`: old temporary files, and old empty claims."""
    remove_stale_temp_files(folder)
    now = time.time()
    try:
        entries = [e for e in os.scandir(folder) if _CLAIM.match(e.name)]
    except OSError:
        return
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
            if st.st_size == 0 and now - st.st_mtime > STALE_TEMP_S and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
        except OSError:
            pass


def _tidy_once(folder: Path) -> None:
    if os.fspath(folder) not in _tidied:
        _tidied.add(os.fspath(folder))
        remove_leftovers(folder)


def display_name(name: str) -> str:
    """A file name as a person sees it: bytes that are not UTF-8 become replacement characters."""
    return name_bytes(name).decode("utf-8", "replace")


def fit_name(name: str, room: int = NAME_MAX - 8) -> str:
    """`name`, shortened (its suffix kept) to at most `room` bytes: a long name from another
    file system, with space left for a '-2' that makes it unique."""
    if len(name_bytes(name)) <= room:
        return name
    stem, suffix = os.path.splitext(name)
    while stem and len(name_bytes(stem + suffix)) > room:
        stem = stem[:-1]
    return (stem.rstrip(" .") or "image") + suffix
