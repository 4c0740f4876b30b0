"""The files Studio ships inside its package (studio/assets/): the embedded model, the judge,
the icon. Found through `importlib.resources`, so a source checkout, an installed wheel and a
frozen bundle all find them the same way."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

APP_ID = "studio"  # the desktop file's name, the icon's name and the window's WM class


def asset(*parts: str) -> Path:
    """The shipped file or folder studio/assets/PARTS (it may be missing: callers check).

    Diffusers and Qt need real paths; Studio is installed as files (a wheel, a checkout or a
    one-folder bundle), never imported from an archive."""
    return Path(str(files("studio").joinpath("assets", *parts)))


def embedded_model_dir() -> Path:
    """The embedded model: a Stable-Diffusion-format diffusers folder."""
    return asset("models", "landscape")


def judge_dir() -> Path:
    """The judge that reads the landscape world's attributes back from pixels (weights and config)."""
    return asset("judge")


def icon_path() -> Path:
    """Studio's icon, scalable (SVG)."""
    return asset("icons", f"{APP_ID}.svg")


def icon_png_path() -> Path:
    """Studio's icon as a 256 x 256 PNG (rendered from the SVG by packaging/render_icon.py)."""
    return asset("icons", f"{APP_ID}-256.png")
