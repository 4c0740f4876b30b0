"""Delete goes to the trash and undoes; the trash empties after 30 days or on demand; export of many."""

from __future__ import annotations

import time

from studio.gallery.store import Gallery
from studio.gallery.trash import RETENTION_DAYS
from studio.recipe.walker import inspect_file
from studio.testing.gallery_samples import save_studio_png, write_examples


def test_delete_and_undo_keep_the_file_and_its_favourite(data, gallery_folder):
    write_examples(gallery_folder)
    gallery = Gallery(data)
    gallery.sync()
    original = (gallery_folder / "comfy.png").read_bytes()
    gallery.set_favourite(["comfy.png"], True)
    batch = gallery.delete(["comfy.png", "invoke.png"])
    assert not (gallery_folder / "comfy.png").exists()
    assert {r.name for r in gallery.query()}.isdisjoint({"comfy.png", "invoke.png"})
    assert gallery.trash.count() == 2
    assert gallery.sync().removed == 0  # the index already knew
    assert sorted(gallery.restore(batch)) == ["comfy.png", "invoke.png"]
    assert (gallery_folder / "comfy.png").read_bytes() == original
    assert [r.name for r in gallery.query(favourites=True)] == ["comfy.png"]
    assert gallery.trash.count() == 0
    gallery.close()


def test_trash_empties_after_30_days_or_on_demand(data, gallery_folder):
    write_examples(gallery_folder)
    gallery = Gallery(data)
    gallery.sync()
    gallery.set_favourite(["plain.png"], True)
    gallery.delete(["plain.png"])
    gallery.delete(["comfy.png"])
    assert gallery.purge_trash() == 0  # both fresh
    later = time.time() + (RETENTION_DAYS + 1) * 86400
    assert gallery.trash.purge(now=later) == 2
    assert gallery.trash.count() == 0
    gallery.delete(["invoke.png"])
    assert gallery.purge_trash(days=0) == 1  # on demand
    assert gallery.favourites.names == set()
    gallery.close()


def test_restore_trash_brings_back_deletes_of_earlier_sessions(data, gallery_folder):
    write_examples(gallery_folder)
    gallery = Gallery(data)
    gallery.sync()
    comfy = (gallery_folder / "comfy.png").read_bytes()
    gallery.delete(["comfy.png"])
    second = gallery.delete(["invoke.png", "plain.png"])
    (second.folder / "manifest.json").unlink()  # its way back by name lost: the files come home all the same
    gallery.close()

    gallery = Gallery(data)  # a later session: no batch objects in hand, only the trash on disk
    gallery.sync()
    (gallery_folder / "comfy.png").write_bytes(b"a newer file took the name")
    assert sorted(gallery.restore_trash()) == ["comfy-2.png", "invoke.png", "plain.png"]
    assert (gallery_folder / "comfy-2.png").read_bytes() == comfy
    assert {"comfy-2.png", "invoke.png", "plain.png"} <= {r.name for r in gallery.query()}
    assert gallery.trash.count() == 0 and gallery.trash.batches() == []
    assert gallery.restore_trash() == []
    gallery.close()


def test_export_many_into_a_folder(data, gallery_folder, tmp_path):
    write_examples(gallery_folder)
    gallery = Gallery(data)
    gallery.sync()
    out = tmp_path / "out"
    out.mkdir()
    written = gallery.export(["comfy.png", "invoke.png"], out, ".webp")
    assert sorted(p.name for p in written) == ["comfy.webp", "invoke.webp"]
    assert inspect_file(out / "invoke.webp").recipe.prompt == "an astronaut riding a horse"
    single = gallery.export(["studio.png"], tmp_path / "one.jpg")
    assert inspect_file(single[0]).recipe.seed == 42
    gallery.close()


def test_a_new_image_is_indexed_at_once(data, gallery_folder):
    gallery = Gallery(data)
    path = save_studio_png(gallery_folder / "made-now.png", prompt="just made")
    gallery.add_files([path])
    assert [r.prompt for r in gallery.query()] == ["just made"]
    gallery.close()


def test_import_that_runs_out_of_room_names_the_file_and_leaves_nothing_partial(data, gallery_folder, tmp_path):
    import subprocess
    import sys
    import textwrap

    source = tmp_path / "incoming"
    source.mkdir()
    save_studio_png(source / "small.png", "a small one")
    import numpy as np
    from PIL import Image

    noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    Image.fromarray(noise).save(source / "zz-large.png")
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        from studio.errors import WriteError
        from studio.gallery.store import Gallery
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        gallery = Gallery({str(data)!r})
        resource.setrlimit(resource.RLIMIT_FSIZE, (60000, 60000))
        try:
            gallery.import_folder({str(source)!r})
        except WriteError as exc:
            print(exc)
            sys.exit(3)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 3, result.stderr
    assert result.stdout.startswith("cannot copy zz-large.png into the gallery: "), result.stdout
    assert sorted(p.name for p in gallery_folder.iterdir()) == ["small.png"]
    assert [row.name for row in Gallery(data).query()] == ["small.png"]


def test_import_takes_files_and_folders_and_says_what_it_left(data, gallery_folder, tmp_path):
    import threading

    write_examples(gallery_folder)
    gallery = Gallery(data)
    gallery.sync()
    outside = tmp_path / "outside"
    nested = outside / "2026-11-28" / "more"
    nested.mkdir(parents=True)
    save_studio_png(outside / "lighthouse.png", prompt="a lighthouse", seed=1)
    save_studio_png(nested / "barn.png", prompt="a barn", seed=2)
    (nested / "notes.txt").write_text("not an image, and not named: passed over")
    (outside / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    notes = tmp_path / "readme.txt"
    notes.write_text("named on its own: reported")
    single = save_studio_png(tmp_path / "single.png", prompt="a windmill", seed=3)

    report = gallery.import_paths([outside, notes, single, gallery_folder / "comfy.png", tmp_path / "gone.png"])
    assert sorted(report.imported) == ["barn.png", "lighthouse.png", "single.png"]
    assert report.duplicates == [str(gallery_folder / "comfy.png")]  # already the gallery's own file
    reasons = dict(report.skipped)
    assert reasons[str(notes)] == "not an image file" and reasons[str(tmp_path / "gone.png")] == "no such file"
    assert "broken" in reasons[str(outside / "broken.png")] and len(reasons) == 3
    assert gallery.info("barn.png").recipe.prompt == "a barn" and (gallery_folder / "single.png").exists()
    again = gallery.import_paths([outside])
    assert again.imported == [] and len(again.duplicates) == 2

    stop = threading.Event()
    stop.set()
    save_studio_png(tmp_path / "late.png", prompt="too late", seed=4)
    assert gallery.import_paths([tmp_path / "late.png"], stop=stop).imported == []
    assert not (gallery_folder / "late.png").exists()
    gallery.close()
