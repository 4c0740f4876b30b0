# pyright: standard
"""A LoRA's trigger words: the words its trainer wrote into the file's metadata, when it did.

`modelspec.trigger_phrase` (comma-separated) says them outright; failing that, kohya-ss's
`ss_tag_frequency` (per training folder, each caption tag and how many images carried it) gives
the tags seen most often, which lead with the words the LoRA was trained to answer to. Only the
safetensors header is read, and what was read is kept until the file changes. Anything missing,
malformed or unreadable gives no words, never an error.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from studio.engine.checkpoints import read_header
from studio.errors import ModelError

LIMIT = 10
_KEPT = 512  # files whose words are remembered
_known: dict[tuple[str, int, int], tuple[str, ...]] = {}
_lock = threading.Lock()


def trigger_words(path: Path, limit: int = LIMIT) -> tuple[str, ...]:
    """Up to `limit` trigger words of the LoRA at `path`, the likeliest first; () when it names none."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        return ()
    try:
        info = path.stat()
        key = (str(path.resolve()), info.st_size, info.st_mtime_ns)
    except OSError:
        return ()
    with _lock:
        words = _known.get(key)
    if words is None:
        words = _read(path)
        with _lock:
            if len(_known) >= _KEPT:
                _known.clear()
            _known[key] = words
    return words[:limit]


def _read(path: Path) -> tuple[str, ...]:
    try:
        metadata = read_header(path).metadata
    except ModelError:
        return ()
    phrase = metadata.get("modelspec.trigger_phrase", "")
    words = _unique(part.strip() for part in phrase.split(","))
    return words or _most_frequent(metadata.get("ss_tag_frequency", ""))


def _most_frequent(raw: str) -> tuple[str, ...]:
    try:
        folders = json.loads(raw) if raw else {}
    except (ValueError, RecursionError):
        return ()
    counts: dict[str, int] = {}
    for tags in folders.values() if isinstance(folders, dict) else ():
        if not isinstance(tags, dict):
            continue
        for tag, count in tags.items():
            word = str(tag).strip()
            if word and isinstance(count, int | float) and count > 0:
                counts[word] = counts.get(word, 0) + int(count)
    ranked = sorted(counts.items(), key=lambda item: -item[1])  # stable: ties keep the order they were written in
    return tuple(word for word, _ in ranked)


def _unique(words) -> tuple[str, ...]:
    return tuple(dict.fromkeys(word for word in words if word))
