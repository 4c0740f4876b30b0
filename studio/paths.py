"""Where Studio keeps its data: DATA_DIR, from --data-dir, STUDIO_DATA_DIR or the platform."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "STUDIO_DATA_DIR"


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The data folder: the explicit override, else $STUDIO_DATA_DIR, else the user data folder."""
    if override:
        return Path(override).expanduser()
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("Studio", appauthor=False))


def gallery_dir(base: Path) -> Path:
    """The folder that holds every finished image, inside DATA_DIR."""
    return base / "gallery"
