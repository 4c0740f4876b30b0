# pyright: standard
"""The thumbnail cache: small JPEGs of gallery images, keyed by file name, time and size.

A thumbnail is made once (in the background, by whoever asks first) and read from disk
afterwards. The cache holds nothing that cannot be made again from the images.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

from studio.recipe.walker import MAX_IMAGE_PIXELS

THUMB_SIDE = 256
BACKGROUND = (30, 31, 36)


def thumbnail_key(name: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha1(f"{name}\0{mtime_ns}\0{size}".encode("utf-8", "surrogatepass")).hexdigest()[:24]


def thumbnail_path(cache: Path, key: str) -> Path:
    return cache / key[:2] / f"{key}.jpg"


def make_thumbnail(source: Path, side: int = THUMB_SIDE):
    """A PIL image of at most side x side pixels; raises OSError/ValueError for broken files."""
    from PIL import Image

    with Image.open(source) as image:
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise ValueError(f"{image.width}x{image.height} is too large to show")
        image.draft("RGB", (side, side))
        image.thumbnail((side, side), Image.Resampling.BICUBIC, reducing_gap=2.0)
        if image.mode in ("RGBA", "LA", "P", "PA"):
            image = image.convert("RGBA")
            flat = Image.new("RGBA", image.size, (*BACKGROUND, 255))
            return Image.alpha_composite(flat, image).convert("RGB")
        return image.convert("RGB")


def cached_thumbnail(source: Path, cache: Path, key: str, side: int = THUMB_SIDE) -> Path:
    """The thumbnail file for `source`, made now if the cache lacks it."""
    target = thumbnail_path(cache, key)
    try:
        if target.stat().st_size > 0:
            return target
    except OSError:
        pass
    image = make_thumbnail(source, side)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A cache file needs no fsync: a damaged one reads as null and is made again.
    fd, temp = tempfile.mkstemp(prefix=".thumb.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getvalue())
        os.replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    return target


def prune(cache: Path, keep: set[str]) -> int:
    """Delete cached thumbnails whose key is not in `keep`; returns how many went."""
    removed = 0
    if not cache.is_dir():
        return 0
    for folder in cache.iterdir():
        if not folder.is_dir():
            continue
        for file in folder.iterdir():
            if (file.suffix == ".jpg" and file.stem not in keep) or file.suffix == ".tmp":
                try:
                    file.unlink()
                    removed += 1
                except OSError:
                    pass
    return removed
