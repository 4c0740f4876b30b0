"""The index is a cache of the files: rebuilt identically, updated incrementally, searched and filtered."""

from __future__ import annotations

import json
import os
import sqlite3

from studio.gallery.index import SCHEMA_VERSION
from studio.gallery.store import Gallery
from studio.paths import gallery_index_path
from studio.testing.gallery_samples import save_studio_png, write_examples

DAY = 86400


def _fill(folder):
    files = write_examples(folder)
    for i in range(6):
        save_studio_png(
            folder / f"lake-{i}.png", prompt=f"a quiet lake number {i}", seed=100 + i, mtime=1_700_100_000 + i * DAY
        )
    return files


def _listing(data):
    gallery = Gallery(data)
    gallery.sync()
    rows, dump = gallery.query(), gallery.index.dump()
    gallery.close()
    return rows, dump


def test_rebuilds_identically_when_missing_damaged_or_stale(data, gallery_folder):
    _fill(gallery_folder)
    rows, dump = _listing(data)
    assert len(rows) == 15
    index = gallery_index_path(data)

    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{index}{suffix}"):
            os.unlink(f"{index}{suffix}")
    assert _listing(data) == (rows, dump)

    index.write_bytes(b"this is not a database" * 100)  # damaged
    assert _listing(data) == (rows, dump)

    db = sqlite3.connect(index)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION + 1),))  # another version
    db.execute("DELETE FROM images")
    db.commit()
    db.close()
    gallery = Gallery(data)
    assert gallery.index.rebuilt
    gallery.close()
    assert _listing(data) == (rows, dump)


def test_incremental_reads_only_what_changed(data, gallery_folder):
    _fill(gallery_folder)
    gallery = Gallery(data)
    assert gallery.sync().added == 15
    again = gallery.sync()
    assert (again.added, again.removed, again.seen) == (0, 0, 15)
    save_studio_png(gallery_folder / "lake-0.png", prompt="a stormy sea", seed=7)
    os.unlink(gallery_folder / "lake-1.png")
    report = gallery.sync()
    assert (report.added, report.removed) == (1, 1)
    assert [r.name for r in gallery.query(search="stormy")] == ["lake-0.png"]
    assert gallery.query(search="quiet lake number 1") == []
    gallery.close()


def test_search_matches_prompt_negative_model_and_seed(data, gallery_folder):
    _fill(gallery_folder)
    gallery = Gallery(data)
    gallery.sync()
    names = lambda **f: sorted(r.name for r in gallery.query(**f))
    assert names(search="CASTLE sunset") == ["a1111.jpg", "a1111.png"]
    assert names(search="watermark") == ["comfy.png"]  # negative prompt
    assert names(search="juggernaut") == ["fooocus.png"]  # model
    assert names(search="3141592") == ["invoke.png"]  # seed
    assert names(search="castle fox") == []  # every word must match
    assert names(model="tiny") == sorted(["studio.png", "studio.webp"] + [f"lake-{i}.png" for i in range(6)])
    assert names(size=(64, 72)) == names()
    assert names(size=(512, 512)) == []
    since = 1_700_100_000 + 2 * DAY
    assert names(since=since) == ["lake-2.png", "lake-3.png", "lake-4.png", "lake-5.png"]
    assert names(since=since, until=since + DAY) == ["lake-2.png"]
    created = [r.created for r in gallery.query()]
    assert created == sorted(created, reverse=True)  # newest first
    assert gallery.index.models()[0] == "dreamshaper_8" and (64, 72) in gallery.index.sizes()
    gallery.close()


def test_favourites_survive_a_rebuild(data, gallery_folder):
    _fill(gallery_folder)
    gallery = Gallery(data)
    gallery.sync()
    gallery.set_favourite(["comfy.png", "lake-3.png"], True)
    gallery.set_favourite(["lake-3.png"], False)
    assert [r.name for r in gallery.query(favourites=True)] == ["comfy.png"]
    gallery.close()
    os.unlink(gallery_index_path(data))
    gallery = Gallery(data)
    gallery.sync()
    assert [r.name for r in gallery.query(favourites=True)] == ["comfy.png"]
    assert [r.favourite for r in gallery.query(search="glass bottle")] == [True]
    gallery.close()


def test_new_files_are_added_one_by_one_and_hidden_temp_files_never(data, gallery_folder):
    gallery = Gallery(data)
    gallery.sync()
    path = save_studio_png(gallery_folder / "new.png", prompt="fresh")
    (gallery_folder / ".new2.png.abc.tmp").write_bytes(b"half a png")
    gallery.add_files([path, gallery_folder / ".new2.png.abc.tmp"])
    assert [r.name for r in gallery.query()] == ["new.png"]
    assert gallery.sync().seen == 1
    gallery.close()


def test_an_index_of_the_flat_recipe_version_is_rebuilt(data, gallery_folder):
    """Version 1 kept the recipe flat in `info` (cfg, sampler, recipe_width); opening it rebuilds, nothing is misread."""
    save_studio_png(gallery_folder / "lake.png", prompt="a quiet lake", seed=7)
    gallery = Gallery(data)
    gallery.sync()
    gallery.close()
    old_info = {
        "width": 64,
        "height": 72,
        "format": "PNG",
        "source": "studio",
        "prompt": "a quiet lake",
        "negative_prompt": "blurry",
        "seed": 7,
        "steps": 12,
        "cfg": 6.5,
        "sampler": "Euler a",
        "model": "tiny",
        "recipe_width": 64,
        "recipe_height": 72,
        "parameters": "",
        "studio": "",
        "notes": [],
    }
    db = sqlite3.connect(gallery_index_path(data))
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    db.execute("UPDATE images SET info = ?", (json.dumps(old_info),))
    db.commit()
    db.close()
    gallery = Gallery(data)
    gallery.sync()
    info = gallery.info("lake.png")
    gallery.close()
    assert info.recipe is not None
    assert (info.recipe.prompt, info.recipe.guidance_scale, info.recipe.scheduler, info.recipe.width) == (
        "a quiet lake",
        6.5,
        "Euler a",
        64,
    )
