"""kill -9 of a real `studio` process while it writes: nothing already made is lost, no
half-written image appears, and the next run and the gallery listing work."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

import pytest

from studio.testing.gallery_samples import fast_gallery, write_examples
from studio.testing.processes import ENV, STUDIO, broken, digests, images, lost, run_studio

PROMPT = "a day landscape with green hills and a lake"


def kill_while_writing(args, data, rng):
    """Start `studio ARGS`; once its first file shows up in the gallery, SIGKILL it a random moment later."""
    gallery = data / "gallery"
    start = {p.name for p in gallery.iterdir()}
    process = subprocess.Popen(
        [*STUDIO, *args, "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ENV},
    )
    while process.poll() is None and {p.name for p in gallery.iterdir()} <= start:
        time.sleep(0.002)
    time.sleep(rng.uniform(0, 0.3))
    process.send_signal(signal.SIGKILL)
    return process.communicate()[1]


def assert_intact(data, before):
    assert lost(before) == []
    assert broken(data / "gallery") == []
    listing = run_studio(["gallery", "list", "--json"], data)
    assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
    listed = {json.loads(line)["path"] for line in listing.stdout.splitlines()}
    assert {str(p) for p in images(data / "gallery")} <= listed


@pytest.mark.parametrize("seed", [0, 1])
def test_generate_killed_while_writing_leaves_every_image_whole(tmp_path, seed):
    data = tmp_path / "data"
    before = digests(write_examples(data / "gallery").values())
    stderr = kill_while_writing(
        ["generate", PROMPT, "--steps", "1", "--count", "6", "--seed", str(seed)], data, random.Random(seed)
    )
    assert "Traceback" not in stderr
    assert_intact(data, before)
    again = run_studio(["generate", PROMPT, "--steps", "1", "--seed", "9"], data)
    assert again.returncode == 0, again.stderr
    assert_intact(data, before)


@pytest.mark.parametrize("seed", [0, 1])
def test_import_killed_while_copying_leaves_every_image_whole(tmp_path, seed):
    data = tmp_path / "data"
    source = tmp_path / "source"
    fast_gallery(source, 60, side=128, seed=seed)
    before = digests(write_examples(data / "gallery").values())
    stderr = kill_while_writing(["gallery", "import", str(source)], data, random.Random(seed))
    assert "Traceback" not in stderr
    assert_intact(data, before)
    again = run_studio(["gallery", "import", str(source)], data)
    assert again.returncode == 0, again.stderr
    assert_intact(data, before)
    assert len(images(data / "gallery")) == len(before) + 60
