"""`--out` and `--out-dir` are checked before anything is generated: a FIFO, a device node, a
folder or a link to one is refused with one line, and left as it was."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio import cli


def _special(tmp_path: Path, kind: str) -> Path:
    target = tmp_path / "target.png"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "link to a fifo":
        os.mkfifo(tmp_path / "pipe")
        target.symlink_to(tmp_path / "pipe")
    elif kind == "link to /dev/null":
        target.symlink_to("/dev/null")
    elif kind == "device node":
        try:
            os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a second /dev/null
        except PermissionError:
            pytest.skip("making a device node needs root")
    elif kind == "folder":
        target.mkdir()
    return target


def _kind(path: Path) -> tuple[bool, int]:
    info = os.lstat(path)
    return stat.S_ISLNK(info.st_mode), stat.S_IFMT(os.stat(path).st_mode)


SPECIALS = ["fifo", "link to a fifo", "link to /dev/null", "device node", "folder"]


@pytest.mark.parametrize("kind", SPECIALS)
def test_generate_refuses_an_out_that_is_not_a_regular_file(tiny_model, tmp_path, capsys, kind):
    target = _special(tmp_path, kind)
    before = _kind(target)
    code = cli.main(
        [
            "generate",
            "a lake",
            "--model",
            str(tiny_model),
            "--steps",
            "1",
            "--seed",
            "1",
            "--out",
            str(target),
            "--data-dir",
            str(tmp_path / "data"),
        ]
    )
    captured = capsys.readouterr()
    assert code == cli.EXIT_ERROR
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and str(target) in lines[0] and "not a regular file" in lines[0], lines
    assert captured.out == ""
    assert _kind(target) == before


def test_out_is_checked_before_the_model_is_even_looked_at(tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe.png")
    code = cli.main(["generate", "a lake", "--model", str(tmp_path / "no model"), "--out", str(tmp_path / "pipe.png")])
    assert code == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "pipe.png" in err and "not a regular file" in err and "model folder" not in err


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/null", "device node"])
def test_outpaint_refuses_a_special_out(tiny_model, tmp_path, capsys, kind):
    source = tmp_path / "in.png"
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(source)
    target = _special(tmp_path, kind)
    before = _kind(target)
    code = cli.main(
        ["outpaint", str(source), "--right", "8", "--model", str(tiny_model), "--steps", "1", "--out", str(target)]
    )
    assert code == cli.EXIT_ERROR
    assert "not a regular file" in capsys.readouterr().err
    assert _kind(target) == before


def test_outpaint_checks_every_candidate_name(tiny_model, tmp_path, capsys):
    source = tmp_path / "in.png"
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(source)
    os.mkfifo(tmp_path / "wide-2.png")
    code = cli.main(
        [
            "outpaint",
            str(source),
            "--right",
            "8",
            "--model",
            str(tiny_model),
            "--steps",
            "1",
            "--candidates",
            "2",
            "--out",
            str(tmp_path / "wide.png"),
        ]
    )
    assert code == cli.EXIT_ERROR
    assert "wide-2.png" in capsys.readouterr().err
    assert not (tmp_path / "wide-1.png").exists()  # nothing was generated
    assert stat.S_ISFIFO(os.lstat(tmp_path / "wide-2.png").st_mode)


def test_out_dir_that_is_a_file_is_refused_before_generating(tmp_path, capsys):
    (tmp_path / "taken").write_text("mine")
    code = cli.main(["generate", "a lake", "--model", str(tmp_path / "no model"), "--out-dir", str(tmp_path / "taken")])
    assert code == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "taken" in err and "not a folder" in err and "model folder" not in err
    assert (tmp_path / "taken").read_text() == "mine"


def test_gallery_under_a_data_dir_that_is_a_file_is_refused_before_generating(tmp_path, capsys):
    (tmp_path / "data").write_text("mine")
    code = cli.main(["generate", "a lake", "--model", str(tmp_path / "no model"), "--data-dir", str(tmp_path / "data")])
    assert code == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "data" in err and "not a folder" in err and "model folder" not in err


def test_out_under_a_file_is_refused_before_generating(tmp_path, capsys):
    (tmp_path / "file").write_text("mine")
    code = cli.main(
        ["generate", "a lake", "--model", str(tmp_path / "no model"), "--out", str(tmp_path / "file" / "x.png")]
    )
    assert code == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "not a folder" in err and "model folder" not in err


def test_a_regular_file_and_a_new_path_are_fine(tiny_model, tmp_path, capsys):
    old = tmp_path / "old.png"
    old.write_bytes(b"old")
    for target in (old, tmp_path / "new" / "deeper" / "new.png"):
        code = cli.main(
            [
                "generate",
                "a lake",
                "--model",
                str(tiny_model),
                "--steps",
                "1",
                "--seed",
                "1",
                "--out",
                str(target),
                "--data-dir",
                str(tmp_path / "data"),
            ]
        )
        assert code == 0, capsys.readouterr().err
        assert Image.open(target).size == (64, 64)
