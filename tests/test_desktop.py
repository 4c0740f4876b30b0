"""`studio install-desktop` and its uninstall: a freedesktop entry and the icon in the user's
hicolor theme, and a window that docks can match to them (desktop file name, icon, WM class)."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from studio import __version__
from studio.cli import main
from studio.cli_desktop import exec_line
from studio.resources import icon_path


def _installed(share: Path) -> dict[str, Path]:
    return {
        "desktop": share / "applications" / "studio.desktop",
        "svg": share / "icons" / "hicolor" / "scalable" / "apps" / "studio.svg",
        "png": share / "icons" / "hicolor" / "256x256" / "apps" / "studio.png",
    }


def _entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return dict(parser["Desktop Entry"])


@pytest.fixture
def share(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "share"
    monkeypatch.setenv("XDG_DATA_HOME", str(folder))
    return folder


def test_install_writes_the_entry_and_the_icons(share, capsys):
    assert main(["install-desktop"]) == 0

    files = _installed(share)
    entry = _entry(files["desktop"])
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Studio"
    assert entry["Icon"] == "studio"
    assert entry["StartupWMClass"] == "studio"
    assert entry["Categories"] == "Graphics;"
    assert entry["Terminal"] == "false"
    assert files["svg"].read_bytes() == icon_path().read_bytes()
    with Image.open(files["png"]) as png:
        assert png.size == (256, 256)
    out = capsys.readouterr().out
    for path in files.values():
        assert str(path) in out


def test_the_entry_starts_this_studio(share, capsys):
    assert main(["install-desktop"]) == 0
    command = shlex.split(_entry(_installed(share)["desktop"])["Exec"])
    assert Path(command[0]).is_absolute()
    result = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Studio {__version__}"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils is not installed")
def test_the_entry_is_valid_for_desktop_file_validate(share):
    assert main(["install-desktop"]) == 0
    result = subprocess.run(
        ["desktop-file-validate", str(_installed(share)["desktop"])], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout + result.stderr == ""


def test_without_xdg_data_home_the_entry_goes_under_home(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["install-desktop"]) == 0
    assert all(p.is_file() for p in _installed(tmp_path / ".local" / "share").values())


def test_uninstall_removes_exactly_what_install_wrote(share, capsys):
    others = [
        share / "applications" / "other.desktop",
        share / "icons" / "hicolor" / "scalable" / "apps" / "other.svg",
        share / "icons" / "hicolor" / "256x256" / "apps" / "other.png",
    ]
    for other in others:
        other.parent.mkdir(parents=True, exist_ok=True)
        other.write_text("someone else's")
    assert main(["install-desktop"]) == 0
    capsys.readouterr()

    assert main(["install-desktop", "--uninstall"]) == 0

    assert not any(p.exists() for p in _installed(share).values())
    assert all(p.read_text() == "someone else's" for p in others)
    out = capsys.readouterr().out
    assert all(str(p) in out for p in _installed(share).values())
    assert main(["install-desktop", "--uninstall"]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_install_again_replaces_its_own_entry(share):
    assert main(["install-desktop"]) == 0
    assert main(["install-desktop"]) == 0
    assert _entry(_installed(share)["desktop"])["Icon"] == "studio"


def test_someone_elses_studio_desktop_is_left_alone(share, capsys):
    foreign = _installed(share)["desktop"]
    foreign.parent.mkdir(parents=True)
    foreign.write_text("[Desktop Entry]\nType=Application\nName=Another Studio\nExec=another-studio\n")

    assert main(["install-desktop"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not written by Studio" in err
    assert main(["install-desktop", "--uninstall"]) == 1
    assert "Another Studio" in foreign.read_text()
    assert not _installed(share)["svg"].exists()


def test_exec_line_quotes_what_the_desktop_entry_spec_reserves():
    assert exec_line(["/usr/bin/studio"]) == "/usr/bin/studio"
    assert exec_line(["/opt/my apps/bin/python", "-m", "studio.cli"]) == '"/opt/my apps/bin/python" -m studio.cli'
    assert exec_line(["/a$b/studio"]) == '"/a\\\\$b/studio"'
    assert exec_line(["/50%/studio"]) == "/50%%/studio"


def test_the_app_names_its_desktop_file_and_has_the_icon(qapp):
    from studio.app import application

    app = application()
    assert app.desktopFileName() == "studio"
    assert not app.windowIcon().isNull()


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not (shutil.which("Xvfb") and shutil.which("xprop")),
    reason="needs Xvfb and xprop",
)
def test_the_window_wm_class_is_studio_under_x11(tmp_path):
    display = f":{200 + os.getpid() % 50}"
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "640x480x24"], stderr=subprocess.DEVNULL)
    try:
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        for _ in range(100):  # until the server answers
            if subprocess.run(["xprop", "-root"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        probe = (
            "import sys\n"
            "from PySide6.QtWidgets import QWidget\n"
            "from studio.app import application\n"
            "app = application(['/somewhere/launcher.py'])\n"
            "w = QWidget(); w.show(); app.processEvents()\n"
            "print(int(w.winId()), flush=True)\n"
            "sys.stdin.readline()\n"
        )
        window = subprocess.Popen(
            [sys.executable, "-c", probe], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            assert window.stdout is not None
            window_id = window.stdout.readline().strip()
            assert window_id, "the probe window did not start"
            said = ""
            for _ in range(50):
                said = subprocess.run(
                    ["xprop", "-id", window_id, "WM_CLASS"], env=env, capture_output=True, text=True
                ).stdout
                if "=" in said:
                    break
                time.sleep(0.1)
            assert said.strip() == 'WM_CLASS(STRING) = "studio", "Studio"'
        finally:
            window.kill()
            window.wait()
    finally:
        server.kill()
        server.wait()
