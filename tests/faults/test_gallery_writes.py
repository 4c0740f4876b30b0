"""What Studio writes: never over another writer's image, with the usual permissions, no NUL
bytes in text chunks, and no temporary files left behind by a killed write."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

from studio.files import write_atomic
from studio.gallery.files import new_image_path
from studio.gallery.store import Gallery
from studio.recipe.embed import write_png
from studio.recipe.walker import inspect_file
from studio.testing.gallery_samples import picture, studio_recipe

ROOT = Path(__file__).resolve().parents[2]
PER_WRITER = 200

WRITER = """
import sys
from datetime import datetime
from pathlib import Path
from studio.recipe.embed import write_png
from studio.gallery.files import new_image_path
from studio.testing.gallery_samples import picture, studio_recipe
folder, who = sys.argv[1], sys.argv[2]
when = datetime(2024, 5, 1, 12, 0, 0)  # the same second for every image of both writers
image = picture(16, 16)
sys.stdin.readline()  # both start together
for i in range(int(sys.argv[3])):
    recipe = studio_recipe("the same prompt", 42, negative_prompt=f"{who}-{i}", width=64, height=64)
    write_png(new_image_path(Path(folder), "the same prompt", 42, when), image, recipe)
"""


def test_two_writers_with_the_same_name_keep_every_image(tmp_path):
    folder = tmp_path / "gallery"
    folder.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(folder), who, str(PER_WRITER)],
            stdin=subprocess.PIPE,
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
        )
        for who in ("a", "b")
    ]
    time.sleep(1.0)  # both have imported what they need
    for writer in writers:
        writer.stdin.write(b"go\n")
        writer.stdin.flush()
    for writer in writers:
        assert writer.wait(120) == 0, writer.stderr.read().decode()
    names = sorted(p.name for p in folder.iterdir())
    assert not [n for n in names if n.startswith(".")]
    marks = sorted(inspect_file(folder / n).recipe.negative_prompt for n in names)
    assert marks == sorted(f"{who}-{i}" for who in "ab" for i in range(PER_WRITER))  # none overwritten
    assert len(names) == 2 * PER_WRITER


def test_new_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = write_png(tmp_path / "new.png", picture(8, 8), studio_recipe(width=64, height=64))
        other = write_atomic(tmp_path / "favourites.json", b"[]")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640
    assert other.stat().st_mode & 0o777 == 0o640


def _age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def _leftovers(folder: Path) -> dict[str, Path]:
    made = {
        "ours, old": folder / ".20240501-120000-42-a-cat.png.k2x9_q7a.tmp",
        "ours, new": folder / ".20240501-120001-42-a-cat.png.ab12cd34.tmp",
        "theirs, hidden": folder / ".notes.tmp",
        "theirs, like ours but not": folder / ".draft.png.tmp",
        "theirs, plain": folder / "export.tmp",
    }
    for key, path in made.items():
        path.write_bytes(b"half")
        if key != "ours, new":
            _age(path, 7200)
    return made


def test_a_killed_write_leaves_no_temporary_file_for_long(tmp_path):
    gallery_data = tmp_path / "data"
    (gallery_data / "gallery").mkdir(parents=True)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    in_gallery = _leftovers(gallery_data / "gallery")
    in_out_dir = _leftovers(out_dir)

    gallery = Gallery(gallery_data)
    gallery.sync()
    gallery.close()
    write_png(new_image_path(out_dir, "a cat", 42), picture(8, 8), studio_recipe(width=64, height=64))  # the next run

    for made in (in_gallery, in_out_dir):
        assert not made["ours, old"].exists()
        assert made["ours, new"].exists()  # may be another process's write in progress
        assert all(made[k].exists() for k in made if k.startswith("theirs"))


def test_no_nul_bytes_reach_png_text_chunks(tmp_path):
    recipe = studio_recipe("a cat\0 on a mat", negative_prompt="dark\0", width=64, height=64)
    data = write_png(tmp_path / "nul.png", picture(8, 8), recipe).read_bytes()
    position, texts = 8, []
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if kind == b"tEXt":
            texts.append(body.split(b"\0", 1)[1])
        elif kind == b"zTXt":
            texts.append(zlib.decompress(body.split(b"\0", 1)[1][1:]))
        elif kind == b"iTXt":
            rest = body.split(b"\0", 1)[1]
            flag, rest = rest[0], rest[2:]
            text = rest.split(b"\0", 2)[2]
            texts.append(zlib.decompress(text) if flag else text)
        position += 12 + length
    assert len(texts) == 2
    assert all(b"\0" not in text for text in texts), texts
    from studio.recipe.walker import read_recipe

    assert read_recipe(tmp_path / "nul.png").request.prompt.replace("\0", "") == "a cat on a mat"  # JSON escapes it


def test_a_failed_write_gives_its_claimed_name_back(small_disk):
    import numpy as np
    import pytest
    from PIL import Image

    from studio.errors import WriteError

    folder = small_disk(256 * 1024)
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8))
    path = new_image_path(folder, "too big", 1)
    with pytest.raises(WriteError, match="the disk is full"):
        write_png(path, noise, studio_recipe("too big", 1, width=512, height=512))
    assert os.listdir(folder) == []  # neither the empty claim nor a temporary file
    path = new_image_path(folder, "fits", 2)
    write_png(path, picture(8, 8), studio_recipe("fits", 2, width=64, height=64))
    assert os.listdir(folder) == [path.name] and path.stat().st_size > 0
