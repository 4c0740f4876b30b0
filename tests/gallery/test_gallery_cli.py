"""`studio gallery list` and `studio gallery import` end to end, as separate processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from studio.testing.gallery_samples import save_studio_png, write_examples


def _studio(*args):
    env = {**os.environ, "STUDIO_NO_PROGRESS": "1"}
    env.pop("STUDIO_DATA_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "studio.cli", *map(str, args)], capture_output=True, text=True, env=env, timeout=120
    )


def test_list_json_and_search(data, gallery_folder):
    write_examples(gallery_folder)
    (gallery_folder / "broken.png").write_bytes(b"not a png")
    result = _studio("gallery", "list", "--json", "--data-dir", data)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 9
    for record in records:
        assert {"path", "prompt", "seed", "model", "width", "height", "created"} <= set(record)
        assert os.path.isabs(record["path"]) and os.path.exists(record["path"])
    created = [r["created"] for r in records]
    assert created == sorted(created, reverse=True)
    comfy = next(r for r in records if r["path"].endswith("comfy.png"))
    assert (comfy["seed"], comfy["model"], comfy["width"], comfy["height"]) == (
        987654321,
        "v1-5-pruned-emaonly.safetensors",
        64,
        72,
    )
    assert "skipped broken.png: not a PNG, JPEG or WebP image" in result.stderr

    found = _studio("gallery", "list", "--search", "castle", "--json", "--data-dir", data)
    assert sorted(os.path.basename(json.loads(line)["path"]) for line in found.stdout.splitlines()) == [
        "a1111.jpg",
        "a1111.png",
    ]

    plain = _studio("gallery", "list", "--search", "astronaut", "--data-dir", data)
    assert plain.returncode == 0
    assert "an astronaut riding a horse" in plain.stdout and str(gallery_folder / "invoke.png") in plain.stdout


def test_import_copies_images_in_once(tmp_path, data):
    source = tmp_path / "elsewhere"
    write_examples(source / "nested")
    save_studio_png(source / "one.png", prompt="imported lake")
    (source / "notes.png").write_text("not an image")
    result = _studio("gallery", "import", source, "--data-dir", data)
    assert result.returncode == 0, result.stderr
    assert "imported 10 image(s), 0 already in the gallery, 1 skipped" in result.stderr
    assert len(list((data / "gallery").iterdir())) == 10
    assert os.path.getmtime(data / "gallery" / "one.png") == os.path.getmtime(source / "one.png")
    again = _studio("gallery", "import", source, "--data-dir", data)
    assert "imported 0 image(s), 10 already in the gallery" in again.stderr
    listed = _studio("gallery", "list", "--search", "imported lake", "--json", "--data-dir", data)
    assert len(listed.stdout.splitlines()) == 1


def test_import_of_a_missing_folder_is_one_line(tmp_path, data):
    result = _studio("gallery", "import", tmp_path / "nope", "--data-dir", data)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [f"studio: error: cannot import {tmp_path / 'nope'}: not a folder"]


def test_a_reader_bug_is_one_warning_line_not_a_traceback(data, gallery_folder):
    """A dialect reader that raises (a bug) is logged by the readers under studio.recipe: the
    gallery command shows it as one warning line, and the image is still listed."""
    save_studio_png(gallery_folder / "lake.png", prompt="a quiet lake", seed=3)
    script = (
        "import sys\n"
        "import studio.recipe.dialects as d\n"
        "def broken(texts):\n"
        "    raise RuntimeError('a reader bug')\n"
        "d.DIALECTS = (('studio', broken),) + d.DIALECTS[1:]\n"
        "from studio.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    env = {**os.environ, "STUDIO_NO_PROGRESS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script, "gallery", "list", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "warning: reading the 'studio' text failed" in result.stderr
    assert "a quiet lake" in result.stdout
