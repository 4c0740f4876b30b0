"""`studio doctor`: what Studio sees on this machine, read from the real environment (torch, Qt,
the data folder, the models library, the embedded model), and what to do about each problem."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys

import pytest

from studio import __version__
from studio.cli import main
from studio.engine import models


def _doctor(capsys, *args: str) -> tuple[int, dict]:
    code = main(["doctor", "--json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)


def _check(report: dict, name: str) -> dict:
    found = [c for c in report["checks"] if c["name"] == name]
    assert len(found) == 1, [c["name"] for c in report["checks"]]
    return found[0]


def test_the_real_environment_is_usable_and_described(capsys, tmp_path):
    import torch

    from studio.engine.devices import pick_device
    from studio.library.catalog import Library

    data = tmp_path / "data"
    Library(data).add(models.embedded_model_path(), link=True)  # one checkpoint in the library

    code, report = _doctor(capsys, "--data-dir", str(data))

    assert code == 0, report
    assert report["usable"] is True
    assert _check(report, "Python")["details"]["version"] == platform.python_version()
    assert _check(report, "Studio")["details"]["version"] == __version__
    torch_check = _check(report, "torch")
    assert torch_check["status"] == "ok"
    assert torch_check["details"]["version"] == torch.__version__
    assert torch_check["details"]["device"] == pick_device()
    assert torch_check["details"]["build"] in ("CPU", "MPS") or torch_check["details"]["build"].startswith(
        ("CUDA", "ROCm")
    )
    memory = _check(report, "Memory")["details"]
    assert 0 < memory["available_bytes"] <= memory["total_bytes"]
    qt = _check(report, "Qt")
    assert qt["status"] == "ok", qt
    assert qt["details"]["platform"] == os.environ["QT_QPA_PLATFORM"] == "offscreen"
    folder = _check(report, "Data folder")
    assert folder["status"] == "ok"
    assert folder["details"]["path"] == str(data)
    assert folder["details"]["exists"] is folder["details"]["writable"] is True
    assert 0 < folder["details"]["free_bytes"] <= shutil.disk_usage(data).total
    assert _check(report, "Models")["details"]["counts"] == {"checkpoints": 1, "loras": 0, "embeddings": 0, "vae": 0}
    embedded = _check(report, "Embedded model")
    assert embedded["status"] == "ok"
    assert embedded["details"]["path"] == str(models.embedded_model_path())
    assert not [c for c in report["checks"] if c["status"] == "problem"]


def test_the_text_report_names_each_thing_and_ends_with_the_verdict(capsys, tmp_path):
    code = main(["doctor", "--data-dir", str(tmp_path / "new")])
    out = capsys.readouterr().out
    assert code == 0
    for name in ("Python", "Studio", "torch", "Memory", "GPU", "Qt", "Data folder", "Models", "Embedded model"):
        assert any(line.strip().startswith(name) for line in out.splitlines()), (name, out)
    assert str(tmp_path / "new") in out
    assert "will be made when first used" in out
    assert out.rstrip().splitlines()[-1] == "Studio can run here."
    assert not (tmp_path / "new").exists()  # the doctor looks; it makes nothing


def test_a_data_folder_that_cannot_be_made_is_a_problem_with_a_fix(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    code, report = _doctor(capsys, "--data-dir", str(blocker / "data"))

    assert code == 1
    assert report["usable"] is False
    folder = _check(report, "Data folder")
    assert folder["status"] == "problem"
    assert folder["details"]["writable"] is False
    assert "--data-dir" in folder["fix"] and "STUDIO_DATA_DIR" in folder["fix"]


def test_a_data_folder_that_is_a_file_is_a_problem(capsys, tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")

    code, report = _doctor(capsys, "--data-dir", str(blocker))

    assert code == 1
    folder = _check(report, "Data folder")
    assert folder["status"] == "problem"
    assert "not a folder" in folder["value"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_data_folder_is_a_problem(capsys, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o500)
    try:
        code, report = _doctor(capsys, "--data-dir", str(data))
    finally:
        data.chmod(0o700)
    assert code == 1
    assert _check(report, "Data folder")["details"]["writable"] is False


def test_a_missing_embedded_model_is_a_problem_that_says_to_reinstall(capsys, tmp_path, monkeypatch):
    empty = tmp_path / "landscape"
    shutil.copytree(models.embedded_model_path(), empty, ignore=shutil.ignore_patterns("*.safetensors", "*.json"))
    monkeypatch.setattr(models, "EMBEDDED_PATH", empty)

    code, report = _doctor(capsys, "--data-dir", str(tmp_path / "data"))

    assert code == 1
    embedded = _check(report, "Embedded model")
    assert embedded["status"] == "problem"
    assert str(empty) in embedded["value"]
    assert "reinstall" in embedded["fix"]
    code = main(["doctor", "--data-dir", str(tmp_path / "data")])
    out = capsys.readouterr().out
    assert code == 1
    assert "Embedded model" in out and "reinstall" in out
    assert out.rstrip().splitlines()[-1].startswith("Studio cannot run here")


def test_a_device_that_is_not_here_is_a_problem(capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    code, report = _doctor(capsys, "--data-dir", str(tmp_path), "--device", "cuda")
    assert code == 1
    torch_check = _check(report, "torch")
    assert torch_check["status"] == "problem"
    assert "cuda" in torch_check["value"]


def test_no_display_is_a_warning_for_the_window_not_a_problem(capsys, tmp_path, monkeypatch):
    if not sys.platform.startswith("linux"):
        pytest.skip("DISPLAY and WAYLAND_DISPLAY are how Linux finds a desktop")
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)

    code, report = _doctor(capsys, "--data-dir", str(tmp_path))

    assert code == 0
    qt = _check(report, "Qt")
    assert qt["status"] == "warning"
    assert "display" in qt["value"]
    assert "studio generate" in qt["fix"]


def test_the_command_runs_as_the_studio_script_does(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "studio.cli", "doctor", "--json", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["usable"] is True
