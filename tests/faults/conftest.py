"""Fixtures for the fault tests: a fresh DATA_DIR, and real small or read-only file systems.

`small_disk(size)` mounts a tmpfs of that size and `read_only(path)` makes a folder a
read-only bind mount of itself; both need root (or the test is skipped, saying why) and
are undone when the test ends.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def data(tmp_path) -> Path:
    folder = tmp_path / "data"
    (folder / "gallery").mkdir(parents=True)
    return folder


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture
def small_disk(tmp_path):
    """small_disk(bytes) -> an empty folder on a tmpfs of that size."""
    mounted: list[Path] = []

    def make(size: int) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'})")
        mounted.append(folder)
        return folder

    yield make
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def read_only():
    """read_only(folder): the folder becomes a read-only bind mount of itself (for root too)."""
    mounted: list[Path] = []

    def make(folder: Path) -> Path:
        done = _mount("--bind", str(folder), str(folder))
        if done.returncode != 0:
            pytest.skip(f"cannot bind-mount here ({done.stderr.strip() or 'mount failed'})")
        mounted.append(folder)
        done = _mount("-o", "remount,ro,bind", str(folder))
        if done.returncode != 0:
            pytest.skip(f"cannot remount read-only here ({done.stderr.strip()})")
        assert not os.access(folder, os.W_OK)
        return folder

    yield make
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], check=False)
