"""One rule for every command's exit status: 2 when the command line is wrong, 1 when the
command could not be carried out, 130 when it was cancelled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from studio import cli

USAGE, FAILURE, CANCELLED = 2, 1, 130


def _studio(*args):
    return subprocess.run(
        [sys.executable, "-m", "studio.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "STUDIO_NO_PROGRESS": "1"},
    )


def test_the_codes_are_named():
    assert (cli.EXIT_USAGE, cli.EXIT_ERROR, cli.EXIT_CANCELLED) == (USAGE, FAILURE, CANCELLED)


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(path)
    return path


@pytest.mark.parametrize(
    "args, code",
    [
        # The command line itself is wrong.
        (["generate", "x", "--no-such-option"], USAGE),
        (["generate", "x", "--steps", "many"], USAGE),
        (["generate", "x", "--steps", "0"], USAGE),
        (["generate", "x", "--width", "100"], USAGE),
        (["generate"], USAGE),
        (["generate", "x", "--count", "2", "--out", "{tmp}/a.png"], USAGE),
        (["generate", "x", "--prompts-file", "{tmp}/p.txt"], USAGE),  # a prompt and a prompts file
        (["outpaint", "{picture}", "--out", "{tmp}/o.png"], USAGE),  # no side to extend
        (["outpaint", "{picture}", "--right", "-8", "--out", "{tmp}/o.png"], USAGE),
        (["outpaint", "{picture}", "--right", "8"], USAGE),  # no --out
        (["gallery"], USAGE),
        (["frobnicate"], USAGE),
        # The command line is fine; the world is not.
        (["generate", "x", "--model", "{tmp}/no model"], FAILURE),
        (["generate", "--prompts-file", "{tmp}/none.txt"], FAILURE),
        (["outpaint", "{tmp}/none.png", "--right", "8", "--out", "{tmp}/o.png"], FAILURE),
        (["outpaint", "{tmp}/text.png", "--right", "8", "--out", "{tmp}/o.png"], FAILURE),
        (["outpaint", "{picture}", "--right", "8", "--model", "{tmp}/no model", "--out", "{tmp}/o.png"], FAILURE),
        (["gallery", "import", "{tmp}/no folder"], FAILURE),
    ],
)
def test_exit_status(tmp_path, picture, args, code):
    (tmp_path / "text.png").write_text("not a picture")
    (tmp_path / "p.txt").write_text("a lake\n")
    argv = [a.format(tmp=tmp_path, picture=picture) for a in args]
    result = _studio(*argv, "--data-dir", tmp_path / "data")
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip(), "a failure says why"


def test_outpaint_cancelled_is_130(tiny_model, tmp_path, picture):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "studio.cli",
            "outpaint",
            str(picture),
            "--right",
            "64",
            "--model",
            str(tiny_model),
            "--steps",
            "150",
            "--candidates",
            "9",
            "--out",
            str(tmp_path / "o.png"),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "STUDIO_NO_PROGRESS": "1"},
    )
    first = json.loads(process.stdout.readline())
    process.send_signal(signal.SIGINT)
    rest, errors = process.communicate(timeout=120)
    assert process.returncode == CANCELLED
    assert "cancelled" in errors and "Traceback" not in errors
    written = [first["path"]] + [json.loads(line)["path"] for line in rest.splitlines()]
    assert len(written) < 9 and all(os.path.exists(p) for p in written)


@pytest.mark.parametrize("args", [["--prompts-file", "{name}"], ["a lake", "--out", "{name}/x.png"]])
def test_error_lines_never_carry_terminal_escapes(tmp_path, args):
    hostile = tmp_path / "missing\x1b]0;retitled\x07\x9b2J"
    if "--out" in args:
        hostile.write_text("a file where a folder should be")
    done = _studio("generate", *[a.format(name=hostile) for a in args], "--steps", "1", "--data-dir", tmp_path / "data")
    assert done.returncode == FAILURE
    assert "missing\\x1b]0;retitled\\x07\\x9b2J" in done.stderr
    assert not any(c in done.stderr for c in "\x1b\x07\x9b")
