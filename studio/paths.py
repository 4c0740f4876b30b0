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


def gallery_index_path(base: Path) -> Path:
    """The gallery's SQLite index: a cache, rebuilt from the image files whenever needed."""
    return base / "cache" / "gallery.sqlite3"


def thumbnail_dir(base: Path) -> Path:
    """Where the gallery keeps its thumbnails (a cache)."""
    return base / "cache" / "thumbnails"


def trash_dir(base: Path) -> Path:
    """Deleted gallery images wait here (for undo) until the trash is emptied."""
    return base / "trash"


def favourites_path(base: Path) -> Path:
    """The names of the favourite images (kept apart from the index, which is only a cache)."""
    return base / "favourites.json"


def log_dir(base: Path) -> Path:
    """Studio's log files: studio.log (rotated) and crash.log (what a crash left)."""
    return base / "logs"


MODEL_KINDS = ("checkpoints", "loras", "embeddings", "vae")


def models_dir(base: Path) -> Path:
    """The models library: one folder per kind (checkpoints, loras, embeddings, vae)."""
    return base / "models"


def model_kind_dir(base: Path, kind: str) -> Path:
    """The library's own folder for models of `kind` (one of MODEL_KINDS)."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown kind of model {kind!r}")
    return models_dir(base) / kind
