"""Any failure reading the gallery index means: rebuild it from the files (they are the truth)."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from studio.gallery.store import Gallery
from studio.paths import gallery_index_path
from studio.testing.gallery_samples import save_studio_png

from .test_gallery_names import studio

PROMPTS = [f"a quiet lake number {i}" for i in range(6)]


def _fill(data):
    for i, prompt in enumerate(PROMPTS):
        save_studio_png(data / "gallery" / f"lake-{i}.png", prompt=prompt, seed=100 + i)
    gallery = Gallery(data)
    gallery.sync()
    gallery.close()  # checkpointed: everything is in the main file


def _flip_a_text_byte(index):
    raw = bytearray(index.read_bytes())
    at = raw.find(b"a quiet lake number 3")
    assert at > 0
    raw[at + 2] = 0xFF  # no longer UTF-8; SQLite's quick_check does not look at text
    index.write_bytes(bytes(raw))
    db = sqlite3.connect(index)
    assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    db.close()


def _sql(*statements):
    def damage(index):
        db = sqlite3.connect(index)
        for statement in statements:
            db.execute(statement)
        db.commit()
        db.close()

    return damage


def _folder(index):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{index}{suffix}"):
            os.unlink(f"{index}{suffix}")
    index.mkdir()


DAMAGES = {
    "flipped byte": _flip_a_text_byte,
    "bad json": _sql("UPDATE images SET info = '{\"prompt\": ' WHERE name = 'lake-2.png'"),
    "json of another shape": _sql("UPDATE images SET info = '[1, 2]' WHERE name = 'lake-2.png'"),
    "wrong type": _sql("UPDATE images SET seed = 'many', created = 'yesterday' WHERE name = 'lake-4.png'"),
    "missing table": _sql("DROP TABLE favourites"),
    "missing skipped table": _sql("DROP TABLE skipped"),
    "index is a folder": _folder,
}


@pytest.mark.parametrize("damage", list(DAMAGES), ids=list(DAMAGES))
def test_a_damaged_index_is_rebuilt_from_the_files(data, damage):
    _fill(data)
    index = gallery_index_path(data)
    DAMAGES[damage](index)
    for _ in range(2):  # the first run rebuilds; the second reads what it wrote
        for flag in ((), ("--json",)):
            result = studio("gallery", "list", *flag, "--data-dir", data)
            assert result.returncode == 0, result.stderr
            assert "Traceback" not in result.stderr, result.stderr
            assert len([line for line in result.stderr.splitlines() if "rebuilding" in line]) <= 1, result.stderr
            if flag:
                records = [json.loads(line) for line in result.stdout.splitlines()]
                assert sorted(r["prompt"] for r in records) == PROMPTS
                assert sorted(r["seed"] for r in records) == list(range(100, 106))
            else:
                assert all(p in result.stdout for p in PROMPTS)
    assert index.is_file()
    db = sqlite3.connect(index)
    assert db.execute("SELECT count(*) FROM images").fetchone()[0] == len(PROMPTS)
    db.close()


def test_damage_found_while_open_is_rebuilt_in_the_same_session(data):
    _fill(data)
    gallery = Gallery(data)
    gallery.sync()
    gallery.set_favourite(["lake-1.png"], True)
    _sql("UPDATE images SET info = 'not json', seed = 'x' WHERE name = 'lake-1.png'")(gallery_index_path(data))
    assert sorted(r.prompt for r in gallery.query()) == PROMPTS
    assert gallery.info("lake-1.png").recipe.prompt == PROMPTS[1]
    assert [r.name for r in gallery.query(favourites=True)] == ["lake-1.png"]  # favourites live apart from the index
    assert gallery.index.models() == ["tiny"]
    gallery.close()
