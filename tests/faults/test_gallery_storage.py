"""A read-only data folder or a full disk: list what is there, keep the index whole, say so once."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time

from studio.gallery.store import Gallery
from studio.paths import gallery_index_path
from studio.testing.gallery_samples import save_studio_png

from .test_gallery_names import studio


def _fill(data, count, start=0):
    for i in range(start, start + count):
        save_studio_png(data / "gallery" / f"pic-{i:02d}.png", prompt=f"picture number {i}", seed=i)


def _index(data):
    gallery = Gallery(data)
    gallery.sync()
    gallery.close()


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _listed(result):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return sorted(os.path.basename(json.loads(line)["path"]) for line in result.stdout.splitlines())


def test_read_only_data_folder_lists_what_is_there(data, read_only):
    _fill(data, 5)
    _index(data)
    _fill(data, 2, start=5)  # not in the index yet
    os.unlink(data / "gallery" / "pic-00.png")  # in the index, gone from the folder
    before = _digest(gallery_index_path(data))
    read_only(data)
    for _ in range(2):
        result = studio("gallery", "list", "--json", "--data-dir", data)
        assert _listed(result) == [f"pic-{i:02d}.png" for i in range(1, 7)]
        notes = [line for line in result.stderr.splitlines() if "read-only" in line]
        assert len(notes) == 1 and "cannot be saved" in notes[0], result.stderr
    assert _digest(gallery_index_path(data)) == before


def test_read_only_data_folder_without_an_index(data, read_only):
    _fill(data, 3)
    read_only(data)
    result = studio("gallery", "list", "--json", "--data-dir", data)
    assert _listed(result) == [f"pic-{i:02d}.png" for i in range(3)]
    assert not (data / "cache").exists()


def test_read_only_data_folder_in_the_window(qtbot, data, read_only):
    from studio.model.gallery import GalleryModel

    _fill(data, 4)
    _index(data)
    read_only(data)
    model = GalleryModel(data)
    said = []
    model.statusChanged.connect(said.append)
    with qtbot.waitSignal(model.synced, timeout=20000):
        model.start()
    try:
        assert model.image_count() == 4
        assert sum("read-only" in text for text in said) == 1, said
        model.sync()
        qtbot.waitUntil(lambda: not model._syncing, timeout=20000)
        assert sum("read-only" in text for text in said) == 1, said
    finally:
        model.close()


def _fill_the_disk(folder):
    with open(folder / "filler", "wb") as handle:
        block = b"\0" * 65536
        try:
            while True:
                handle.write(block)
                handle.flush()
        except OSError:
            pass
    size = 4096
    while size:  # the last partial blocks too
        try:
            with open(folder / f"filler-{size}", "wb") as handle:
                handle.write(b"\0" * size)
        except OSError:
            size //= 2


def test_full_disk_lists_what_the_index_knows_and_keeps_it(data, small_disk):
    disk = small_disk(4 * 1024 * 1024)
    data = disk / "data"
    (data / "gallery").mkdir(parents=True)
    _fill(data, 12)
    _index(data)
    index = gallery_index_path(data)
    before = _digest(index)
    _fill_the_disk(disk)
    for _ in range(2):
        result = studio("gallery", "list", "--json", "--data-dir", data)
        assert _listed(result) == [f"pic-{i:02d}.png" for i in range(12)]
        assert _digest(index) == before
    gallery = Gallery(data)
    assert not gallery.index.rebuilt
    assert len(gallery.query()) == 12
    gallery.close()


def test_full_disk_with_new_files_still_lists_the_old_ones(data, small_disk):
    disk = small_disk(4 * 1024 * 1024)
    data = disk / "data"
    (data / "gallery").mkdir(parents=True)
    _fill(data, 10)
    _index(data)
    _fill(data, 30, start=10)  # new since the index was written: indexing them needs space
    _fill_the_disk(disk)
    result = studio("gallery", "list", "--json", "--data-dir", data)
    assert set(_listed(result)) >= {f"pic-{i:02d}.png" for i in range(10)}
    db = sqlite3.connect(f"file:{gallery_index_path(data)}?immutable=1", uri=True)  # nothing written, even a lock
    known = {name for (name,) in db.execute("SELECT name FROM images")}
    db.close()
    assert known >= {f"pic-{i:02d}.png" for i in range(10)}  # what it knew is still there


def test_a_gallery_folder_that_cannot_be_read_keeps_what_the_index_knows():
    """The folder is readable only by its owner; `gallery list` runs as another user (as
    root: a process that drops to nobody). The index is not emptied: the folder is not."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    import pytest

    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("needs root, to run a process as another user")
    base = Path(tempfile.mkdtemp(prefix="studio-locked-"))
    try:
        os.chmod(base, 0o777)
        data = base / "data"
        (data / "gallery").mkdir(parents=True)
        _fill(data, 3)
        _index(data)
        for folder in (data, data / "cache"):
            os.chmod(folder, 0o777)
        for file in (data / "cache").iterdir():
            os.chmod(file, 0o666)
        os.chmod(data / "gallery", 0o700)
        code = (
            "import os, sys, locale, encodings.idna\n"
            "from studio.cli import build_parser\n"
            "from studio.cli_gallery import run_gallery_command\n"
            "import studio.gallery.store, PIL.Image, PIL.TiffImagePlugin\n"
            "args = build_parser().parse_args(['gallery', 'list', '--json', '--data-dir', sys.argv[1]])\n"
            "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
            "sys.exit(run_gallery_command(args))\n"
        )
        root = Path(__file__).resolve().parents[2]
        result = subprocess.run(
            [sys.executable, "-c", code, str(data)],
            capture_output=True,
            text=True,
            cwd=root,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        assert _listed(result) == ["pic-00.png", "pic-01.png", "pic-02.png"]
        assert "cannot read the gallery folder" in result.stderr and "permission denied" in result.stderr
        gallery = Gallery(data)  # as root again: the index still knows them all
        assert len(gallery.index.query()) == 3
        gallery.close()
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def _index_writes_fail(gallery: Gallery, monkeypatch) -> None:
    """The index refuses every write from now on, as SQLite does on a full disk."""
    from studio.gallery.index import IndexWriteError

    def refuse(*_args, **_kwargs):
        raise IndexWriteError("cannot update the gallery index: database or disk is full")

    monkeypatch.setattr(gallery.index, "remove", refuse)
    monkeypatch.setattr(gallery, "_record", refuse)


def test_a_delete_whose_index_write_fails_can_still_be_undone(data, monkeypatch):
    folder = data / "gallery"
    save_studio_png(folder / "a.png", "a lake", seed=1)
    gallery = Gallery(data)
    gallery.sync()
    _index_writes_fail(gallery, monkeypatch)
    batch = gallery.delete(["a.png"])  # the files moved: the undo must be there
    assert not (folder / "a.png").exists()
    assert gallery.restore(batch) == ["a.png"]
    assert (folder / "a.png").exists()
    monkeypatch.undo()
    gallery.sync()
    assert [row.name for row in gallery.query()] == ["a.png"]
    gallery.close()


def test_a_copy_in_progress_never_looks_like_a_stale_leftover(tmp_path, monkeypatch):
    """Import keeps the source's times; its temporary file must not carry them before its rename,
    or another process's clean-up of stale temporary files could take it."""
    from studio.files import STALE_TEMP_S, write_atomic

    source = tmp_path / "old.png"
    source.write_bytes(b"a picture from long ago")
    os.utime(source, (1_000_000_000, 1_000_000_000))
    ages, rename = [], os.replace

    def watched_replace(temp, target):
        ages.append(time.time() - os.stat(temp).st_mtime)  # what a clean-up would see at this moment
        rename(temp, target)

    monkeypatch.setattr(os, "replace", watched_replace)
    target = write_atomic(tmp_path / "copy.png", source.read_bytes(), times_from=source)
    assert ages and all(age < STALE_TEMP_S for age in ages)
    assert target.stat().st_mtime == 1_000_000_000
