"""A kill at any moment, or a full disk, never loses an earlier image or lists a partial one."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from studio.gallery.store import Gallery
from studio.paths import gallery_index_path
from studio.recipe.walker import read_recipe
from studio.testing.gallery_samples import save_studio_png

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 16

WRITER = """
import sys, numpy as np
from PIL import Image
from studio.recipe.embed import write_png
from studio.gallery.store import Gallery
from studio.testing.gallery_samples import studio_recipe
data, start = sys.argv[1], int(sys.argv[2])
gallery = Gallery(data)
rng = np.random.default_rng(start)
print("ready", flush=True)
for i in range(start, start + 1000):
    pixels = rng.integers(0, 255, size=(192, 192, 3), dtype=np.uint8)
    path = gallery.folder / f"img-{i:05d}.png"
    write_png(path, Image.fromarray(pixels), studio_recipe(seed=i, width=192, height=192))
    gallery.add_files([path])
"""

INDEXER = """
import os, sys
from studio.gallery.store import Gallery
from studio.paths import gallery_index_path
os.unlink(gallery_index_path(__import__("pathlib").Path(sys.argv[1])))
gallery = Gallery(sys.argv[1])
print("ready", flush=True)
gallery.sync()
"""


def _run_and_kill(code: str, *args, delay: float) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )
    assert child.stdout.readline().strip() == b"ready"
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait(30)


def _check_listing(data: Path) -> list[str]:
    gallery = Gallery(data)
    gallery.sync()
    names = [row.name for row in gallery.query()]
    gallery.close()
    for name in names:
        assert not name.startswith("."), name
        with Image.open(data / "gallery" / name) as image:
            image.load()  # every listed image decodes in full
            assert image.size == (192, 192)
        assert read_recipe(data / "gallery" / name).request.seed == int(name[4:9])
    return names


def test_writer_and_indexer_killed_at_random_moments(data):
    rng = random.Random(1234)
    listed: list[str] = []
    for round_ in range(ROUNDS):
        if round_ % 4 == 3 and listed:
            _run_and_kill(INDEXER, data, delay=rng.uniform(0.0, 0.05))
        else:
            _run_and_kill(WRITER, data, round_ * 1000, delay=rng.uniform(0.0, 0.3))
        now = _check_listing(data)
        assert set(listed) <= set(now), "an earlier image went missing"
        listed = now
    finished = sorted(p.name for p in (data / "gallery").iterdir() if not p.name.startswith("."))
    assert sorted(listed) == finished  # every whole file is listed; only hidden temporaries are left out
    assert len(listed) > ROUNDS  # the writer did get images out between kills


LIMITED = """
import resource, signal, sys
import numpy as np
from PIL import Image
from studio.errors import StudioError
from studio.recipe.embed import write_png
from studio.gallery.store import Gallery
from studio.testing.gallery_samples import studio_recipe
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails like one on a full disk
data, limit = sys.argv[1], int(sys.argv[2])
gallery = Gallery(data)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
pixels = np.random.default_rng(0).integers(0, 255, size=(512, 512, 3), dtype=np.uint8)
try:
    write_png(gallery.folder / "big.png", Image.fromarray(pixels), studio_recipe(width=512, height=512))
except StudioError as exc:
    print("image:", exc)
try:
    gallery.sync()
except StudioError as exc:
    print("index:", exc)
"""


def test_full_disk_keeps_earlier_images_and_shows_no_partial_file(data, gallery_folder):
    for i in range(240):
        save_studio_png(
            gallery_folder / f"earlier-{i:03d}.png", prompt=f"an earlier picture {i} " + "word " * 60, seed=i
        )
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in gallery_folder.iterdir()}
    Gallery(data).close()  # an empty index exists before the disk fills
    result = subprocess.run(
        [sys.executable, "-c", LIMITED, str(data), str(200 * 1024)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "image: cannot write" in result.stdout and "big.png" in result.stdout
    assert "index: cannot update the gallery index" in result.stdout
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in gallery_folder.iterdir()}
    assert after == before  # nothing lost, nothing half-written left behind
    gallery = Gallery(data)
    assert not gallery.index.rebuilt  # the failed transaction rolled back; the index is whole
    gallery.sync()
    assert sorted(r.name for r in gallery.query()) == sorted(before)
    gallery.close()
    assert gallery_index_path(data).exists()
