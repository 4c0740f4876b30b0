"""Names and places of image files in the gallery folder."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

SLUG_WORDS = 6
SLUG_CHARS = 48


def slug(prompt: str) -> str:
    """A short, file-name-safe summary of a prompt ('untitled' when empty)."""
    words = re.findall(r"[a-z0-9]+", prompt.lower())[:SLUG_WORDS]
    return "-".join(words)[:SLUG_CHARS].strip("-") or "untitled"


def new_image_path(folder: Path, prompt: str, seed: int, when: datetime | None = None) -> Path:
    """A path in `folder` no file holds yet: time, seed and the start of the prompt."""
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
    stem = f"{stamp}-{seed}-{slug(prompt)}"
    path = folder / f"{stem}.png"
    counter = 2
    while path.exists():
        path = folder / f"{stem}-{counter}.png"
        counter += 1
    return path
