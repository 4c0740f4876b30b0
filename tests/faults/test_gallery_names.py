"""File names and texts from elsewhere: undecodable bytes, control characters, very long
names. Each is listed or skipped with a reason; none breaks a listing, an import or a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from studio.gallery.store import Gallery
from studio.testing.gallery_samples import save_png_with_texts, save_studio_png

ROOT = Path(__file__).resolve().parents[2]
LATIN1_NAME = b"caf\xe9 ol\xe9.png"  # as a Windows archive unzipped on Linux leaves it
SHOWN = "caf\ufffd ol\ufffd.png"


def studio(*args, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "STUDIO_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("STUDIO_DATA_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "studio.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
        **kwargs,
    )


def in_folder(folder: Path, raw_name: bytes) -> Path:
    """The path of a file whose name is these bytes (not necessarily UTF-8)."""
    return Path(os.fsdecode(os.path.join(os.fsencode(folder), raw_name)))


def test_an_undecodable_name_is_listed_with_replacement_characters(data):
    save_studio_png(data / "gallery" / "good.png", prompt="a good picture")
    save_studio_png(in_folder(data / "gallery", LATIN1_NAME), prompt="a picture from a zip", seed=7)
    for _ in range(2):  # the second run reads the index the first one wrote
        plain = studio("gallery", "list", "--data-dir", data)
        assert plain.returncode == 0, plain.stderr
        assert "Traceback" not in plain.stderr
        assert f"{data / 'gallery' / SHOWN}" in plain.stdout and "a picture from a zip" in plain.stdout
        assert "2 image(s)" in plain.stderr
    listed = studio("gallery", "list", "--json", "--data-dir", data)
    assert listed.returncode == 0, listed.stderr
    records = {os.path.basename(json.loads(line)["path"]): json.loads(line) for line in listed.stdout.splitlines()}
    assert sorted(records) == sorted(["good.png", SHOWN])
    assert records[SHOWN]["seed"] == 7


def test_import_of_an_undecodable_name_copies_it_and_lists_it(tmp_path, data):
    source = tmp_path / "unzipped"
    source.mkdir()
    save_studio_png(in_folder(source, LATIN1_NAME), prompt="from windows")
    save_studio_png(source / "plain.png", prompt="plain")
    result = studio("gallery", "import", source, "--data-dir", data)
    assert result.returncode == 0, result.stderr
    assert "imported 2 image(s)" in result.stderr
    assert sorted(os.listdir(os.fsencode(data / "gallery"))) == [
        LATIN1_NAME,
        b"plain.png",
    ]  # the bytes kept as they were
    listed = studio("gallery", "list", "--search", "windows", "--data-dir", data)
    assert listed.returncode == 0 and SHOWN in listed.stdout


def test_the_window_lists_an_undecodable_name(qtbot, data):
    from studio.model.gallery import NAME_ROLE, GalleryModel

    save_studio_png(data / "gallery" / "good.png", prompt="a good picture")
    save_png_with_texts(in_folder(data / "gallery", LATIN1_NAME), {})  # no recipe: the grid shows the name
    model = GalleryModel(data)
    with qtbot.waitSignal(model.synced, timeout=20000):
        model.start()
    try:
        assert model.image_count() == 2
        names = [model.name_at(r) for r in range(model.rowCount()) if model.name_at(r)]
        assert os.fsdecode(LATIN1_NAME) in names  # the real name, to open the file with
        row = model.row_of(os.fsdecode(LATIN1_NAME))
        assert model.data(model.index(row)) == SHOWN  # what the grid shows
        assert model.path(os.fsdecode(LATIN1_NAME)).exists()
        assert model.data(model.index(row), NAME_ROLE) is not None
    finally:
        model.close()


def test_list_escapes_control_characters_from_names_and_prompts(data):
    hostile = "\x1b]0;owned\x07\x1b[2J\x9b31m\x7f"
    save_studio_png(data / "gallery" / "title.png", prompt=f"a cat {hostile} on a mat")
    save_studio_png(data / "gallery" / "esc\x1b[2J\x9dname.png", prompt="plain")
    plain = studio("gallery", "list", "--data-dir", data)
    assert plain.returncode == 0, plain.stderr
    for stream in (plain.stdout, plain.stderr):
        assert not any((ord(c) < 32 and c != "\n") or 127 <= ord(c) < 160 for c in stream), repr(stream)
    assert "a cat \\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\x7f on a mat" in plain.stdout
    assert "esc\\x1b[2J\\x9dname.png" in plain.stdout
    listed = studio("gallery", "list", "--json", "--data-dir", data)
    assert listed.returncode == 0, listed.stderr
    assert not any((ord(c) < 32 and c != "\n") or 127 <= ord(c) < 160 for c in listed.stdout), repr(listed.stdout)
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    assert f"a cat {hostile} on a mat" in [r["prompt"] for r in records]  # escaped, not changed
    assert any(r["path"].endswith("esc\x1b[2J\x9dname.png") for r in records)


def test_one_overlong_name_does_not_abort_an_import(tmp_path, data):
    source = tmp_path / "downloads"
    source.mkdir()
    long_name = "a" * 246 + ".png"  # 250 bytes: fits the file system, not with a temporary suffix
    os.rename(save_studio_png(source / "1.png", prompt="a very long name"), source / long_name)
    save_studio_png(source / "short.png", prompt="a short name")
    os.rename(save_studio_png(source / "2.png", prompt="long in bytes"), source / ("é" * 125 + ".png"))  # 254 bytes
    result = studio("gallery", "import", source, "--data-dir", data)
    assert result.returncode == 0, result.stderr
    assert "imported 3 image(s)" in result.stderr
    names = os.listdir(data / "gallery")
    assert "short.png" in names and len(names) == 3
    assert all(len(os.fsencode(n)) <= 255 and n.endswith(".png") and not n.startswith(".") for n in names)
    gallery = Gallery(data)
    gallery.sync()
    assert sorted(r.prompt for r in gallery.query()) == ["a short name", "a very long name", "long in bytes"]
    gallery.close()


def test_list_into_a_closed_pipe_ends_quietly(data):
    source = save_studio_png(data / "gallery" / "img-000.png").read_bytes()
    for i in range(1, 400):  # enough lines to overflow the pipe's buffer
        (data / "gallery" / f"img-{i:03d}.png").write_bytes(source)
    env = {**os.environ, "STUDIO_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT)}
    command = f"{sys.executable} -m studio.cli gallery list --data-dir '{data}' | head -n 1"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT
    )
    assert len(result.stdout.splitlines()) == 1
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.returncode in (0, 141), result.stderr  # 141: killed by SIGPIPE, the usual quiet end


def test_listing_a_missing_data_dir_creates_nothing(tmp_path):
    missing = tmp_path / "not-yet"
    result = studio("gallery", "list", "--data-dir", missing)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "0 image(s)" in result.stderr
    assert not missing.exists()
