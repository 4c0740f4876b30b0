"""Real `studio` processes for the fault tests and bench/faults.py: run one, or kill one at a
random moment, and check a gallery folder the way a person would after it."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from studio.recipe.walker import IMAGE_SUFFIXES, ImageInfo, inspect_file

STUDIO = [sys.executable, "-c", "import sys; from studio.cli import main; sys.exit(main())"]
ENV = {"HF_HUB_OFFLINE": "1", "QT_QPA_PLATFORM": "offscreen"}


def run_studio(args: list[str], data: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """`studio ARGS --data-dir DATA` to the end, its output captured as text."""
    return subprocess.run(
        [*STUDIO, *args, "--data-dir", str(data)],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
        timeout=timeout,
    )


def kill_at_random(args: list[str], data: Path, span: float, rng: random.Random) -> str:
    """Start `studio ARGS`, SIGKILL it after a random 5-100 % of `span` seconds (unless it ended); its stderr."""
    process = subprocess.Popen(
        [*STUDIO, *args, "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ENV},
    )
    try:
        process.wait(timeout=rng.uniform(0.05, 1.0) * span)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
    return process.communicate()[1]


def digests(paths) -> dict[Path, str]:
    return {Path(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def images(gallery: Path) -> list[Path]:
    """The image files a person sees in the gallery folder (hidden temp files excluded)."""
    return sorted(
        p
        for p in gallery.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def lost(before: dict[Path, str]) -> list[Path]:
    """The files of `before` that are gone or whose bytes changed."""
    now = digests(p for p in before if p.exists())
    return [p for p, digest in before.items() if now.get(p) != digest]


def broken(gallery: Path) -> list[Path]:
    """Image files in the gallery that do not open as an image."""
    return [p for p in images(gallery) if not isinstance(inspect_file(p), ImageInfo)]
