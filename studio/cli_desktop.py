"""`studio install-desktop [--uninstall]`: Studio in the desktop's application menu, for the
current user (freedesktop: Linux and the BSDs).

Writes $XDG_DATA_HOME/applications/studio.desktop (default ~/.local/share) and the icon in the
user's hicolor theme (scalable SVG and 256 x 256 PNG); the uninstall removes exactly those. The
entry's Icon and StartupWMClass are "studio", the name the window gives itself (studio.app), so
docks group the window under the entry. A studio.desktop that Studio did not write is left alone.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from studio.errors import StudioError
from studio.resources import APP_ID, icon_path, icon_png_path

MARK = "X-Studio-Installer"  # the key that says Studio wrote the entry
_RESERVED = re.compile(r"""[\s"'\\><~|&;$*?#()`]""")


def add_desktop_parser(commands, common) -> None:
    desktop = commands.add_parser(
        "install-desktop",
        parents=[common],
        help="add Studio to the desktop's application menu (a .desktop entry and the icon) for this user",
        description="Write $XDG_DATA_HOME/applications/studio.desktop (default ~/.local/share) and Studio's "
        "icon in the hicolor icon theme, for the current user; --uninstall removes them again.",
    )
    desktop.add_argument("--uninstall", action="store_true", help="remove the entry and the icons")


def run_desktop(args) -> int:
    share = _data_home()
    targets = _targets(share)
    _check_ours(targets["desktop"])
    if args.uninstall:
        removed = [path for path in targets.values() if _remove(path)]
        for path in removed:
            print(f"removed {path}")
        if not removed:
            print(f"nothing to remove under {share}")
    else:
        _install(targets)
        for path in targets.values():
            print(f"wrote {path}")
    return 0


def _data_home() -> Path:
    value = os.environ.get("XDG_DATA_HOME", "")
    if value and Path(value).is_absolute():  # the spec says to ignore a relative one
        return Path(value)
    return Path.home() / ".local" / "share"


def _targets(share: Path) -> dict[str, Path]:
    apps = Path("icons") / "hicolor"
    return {
        "desktop": share / "applications" / f"{APP_ID}.desktop",
        "svg": share / apps / "scalable" / "apps" / f"{APP_ID}.svg",
        "png": share / apps / "256x256" / "apps" / f"{APP_ID}.png",
    }


def _check_ours(desktop: Path) -> None:
    try:
        text = desktop.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StudioError(f"cannot read {desktop}: {exc.strerror or exc}") from None
    if f"\n{MARK}=" not in text:
        raise StudioError(f"{desktop} was not written by Studio; move it away first if Studio may replace it")


def _install(targets: dict[str, Path]) -> None:
    from studio import __version__
    from studio.files import write_atomic

    for key, source in (("svg", icon_path()), ("png", icon_png_path())):
        if not source.is_file():
            raise StudioError(f"Studio's icon is missing from {source}; reinstall Studio")
        _write(targets[key], source.read_bytes(), write_atomic)
    entry = "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Name=Studio",
            "GenericName=Image Generator",
            "Comment=Turn a sentence into a picture",
            f"Exec={exec_line(launcher())}",
            f"Icon={APP_ID}",
            "Terminal=false",
            "Categories=Graphics;",
            "Keywords=diffusion;image;picture;generate;prompt;",
            f"StartupWMClass={APP_ID}",
            "StartupNotify=true",
            f"{MARK}={__version__}",
            "",
        ]
    )
    _write(targets["desktop"], entry.encode("utf-8"), write_atomic)


def _write(path: Path, data: bytes, write_atomic) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError as exc:
        raise StudioError(f"cannot write {path}: {exc.strerror or exc}") from None


def _remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StudioError(f"cannot remove {path}: {exc.strerror or exc}") from None
    return True


def launcher() -> list[str]:
    """The command that starts this Studio: the bundle itself, the `studio` script beside this
    Python (a virtualenv, pipx), or this Python with -m studio.cli."""
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).resolve())]
    bin_dir = Path(sys.executable).parent
    for name in ("studio", "studio.exe"):
        script = bin_dir / name
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "studio.cli"]


def exec_line(argv: list[str]) -> str:
    """`argv` as a desktop entry's Exec value: arguments with reserved characters in double
    quotes (with ", `, $ and \\ escaped), then the string escape of backslashes; % doubled."""
    words = []
    for arg in argv:
        if _RESERVED.search(arg):
            arg = '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'
        words.append(arg.replace("\\", "\\\\").replace("%", "%%"))
    return " ".join(words)
