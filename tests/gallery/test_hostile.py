"""Broken and hostile files are skipped with a warning; they never crash or stall the gallery."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import pytest

from studio.gallery.store import Gallery
from studio.recipe.walker import MAX_IMAGE_PIXELS, MAX_TEXT_CHUNK, ImageInfo, Unreadable, inspect_file
from studio.testing.gallery_samples import png_chunk, raw_png, save_studio_png

ROOT = Path(__file__).resolve().parents[2]


def _sync_with(data, gallery_folder, name, content):
    save_studio_png(gallery_folder / "good.png", prompt="a good image")
    (gallery_folder / name).write_bytes(content)
    gallery = Gallery(data)
    report = gallery.sync()
    listed = [r.name for r in gallery.query()]
    gallery.close()
    return listed, dict(report.skipped)


def test_truncated_png_is_skipped(data, gallery_folder, caplog):
    whole = save_studio_png(gallery_folder / "whole.png").read_bytes()
    os.unlink(gallery_folder / "whole.png")
    for cut in (len(whole) // 2, len(whole) - 5, 40):
        with caplog.at_level(logging.WARNING, logger="studio.gallery"):
            listed, skipped = _sync_with(data, gallery_folder, f"cut-{cut}.png", whole[:cut])
        assert listed == ["good.png"]
        assert "truncated PNG" in skipped[f"cut-{cut}.png"]
    assert "cut-40.png" in caplog.text


def test_decompression_bomb_is_refused_by_pixel_count(data, gallery_folder):
    side = 100_000
    bomb = raw_png(side, side, idat=zlib.compress(b"\0" * 1000))  # 10 gigapixels claimed, a few bytes on disk
    listed, skipped = _sync_with(data, gallery_folder, "bomb.png", bomb)
    assert listed == ["good.png"]
    assert "refused before decoding" in skipped["bomb.png"]
    assert side * side > MAX_IMAGE_PIXELS


def test_multi_megabyte_text_chunk_is_capped(data, gallery_folder, caplog):
    huge = b"parameters\0" + b"x" * (5 * MAX_TEXT_CHUNK)
    bomb_text = b"workflow\0\0" + zlib.compress(b"{" * (50 * MAX_TEXT_CHUNK))  # small on disk, 50 MB inflated
    content = raw_png(64, 64, png_chunk(b"tEXt", huge) + png_chunk(b"zTXt", bomb_text))
    with caplog.at_level(logging.WARNING, logger="studio.gallery"):
        listed, _skipped = _sync_with(data, gallery_folder, "big-text.png", content)
    assert sorted(listed) == ["big-text.png", "good.png"]  # the image stays; its oversized text does not
    info = inspect_file(data / "gallery" / "big-text.png")
    assert isinstance(info, ImageInfo) and info.recipe is None
    assert any("'parameters' of 5.2 MB skipped" in n for n in info.notes)
    assert any("'workflow' expands past" in n for n in info.notes)
    assert "skipped" in caplog.text


@pytest.mark.parametrize(
    "content", [b"", b"hello, I am text\n" * 10, b"\x89PNG\r\n\x1a\n" + b"\0" * 30, os.urandom(2048)]
)
def test_non_images_with_image_names_are_skipped(data, gallery_folder, content):
    listed, skipped = _sync_with(data, gallery_folder, "fake.png", content)
    assert listed == ["good.png"] and "fake.png" in skipped


def test_a_fifo_named_png_does_not_stall(data, gallery_folder):
    os.mkfifo(gallery_folder / "pipe.png")
    listed, skipped = _sync_with(data, gallery_folder, "other.jpg", b"\xff\xd8\xff\xe0")
    assert listed == ["good.png"]
    assert skipped["pipe.png"] == "not a regular file"


def test_unreadable_permissions_are_skipped(tmp_path):
    """One file readable only by its owner; listed by a process of another user (as root, one that drops to nobody)."""
    if not hasattr(os, "geteuid"):
        pytest.skip("needs a POSIX system")
    base = Path(tempfile.mkdtemp(prefix="studio-perm-"))
    try:
        os.chmod(base, 0o777)
        folder = base / "gallery"
        folder.mkdir()
        os.chmod(folder, 0o777)
        save_studio_png(folder / "open.png", prompt="readable")
        secret = save_studio_png(folder / "secret.png", prompt="private")
        os.chmod(folder / "open.png", 0o644)
        os.chmod(secret, 0o600)
        if os.geteuid() != 0:
            os.chmod(secret, 0o000)
        # Everything is imported first: after dropping to nobody, the interpreter's own files may be out of reach.
        code = (
            "import os, sys, sqlite3, json, logging\n"
            "from studio.gallery.store import Gallery\n"
            "import PIL.Image, PIL.TiffImagePlugin\n"
            "if os.geteuid() == 0:\n"
            "    os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
            "g = Gallery(sys.argv[1]); r = g.sync()\n"
            "print([x.name for x in g.query()]); print(dict(r.skipped))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code, str(base)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert result.returncode == 0, result.stderr
        listed, skipped = result.stdout.splitlines()
        assert listed == "['open.png']"
        assert "'secret.png': 'permission denied'" in skipped
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_unreadable_results_say_why():
    assert isinstance(inspect_file("/no/such/file.png"), Unreadable)
