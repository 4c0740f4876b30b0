# pyright: standard
"""DATA_DIR/models/library.json: the extra folders the library reads and what the person chose per model.

    {"folders": ["/abs/folder", ...],
     "models": {"<resolved path>": {"defaults": {"steps": 4, ...}, "prediction": "v", "vae": "NAME"}}}

Every change reads the file afresh, changes it and writes it atomically, so a window and a
command working at the same time lose nothing of each other's. A damaged file reads as empty;
before it is replaced it is kept beside as library.json.damaged.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from studio.paths import models_dir

log = logging.getLogger(__name__)


def settings_path(data: Path) -> Path:
    return models_dir(data) / "library.json"


def empty() -> dict:
    return {"folders": [], "models": {}}


class LibrarySettings:
    def __init__(self, data: Path):
        self.file = settings_path(data)

    def load(self) -> dict:
        """The settings, cleaned of anything of the wrong type; empty when missing or damaged."""
        raw = self._read()
        return _clean(raw) if raw is not None else empty()

    def update(self, change: Callable[[dict], None]) -> dict:
        """Apply `change` to the settings as they are on disk now, and save them."""
        from studio.files import write_atomic

        raw = self._read()
        if raw is None and self.file.exists():
            try:
                os.replace(self.file, self.file.with_name(self.file.name + ".damaged"))
            except OSError:
                pass
        settings = _clean(raw) if raw is not None else empty()
        change(settings)
        text = json.dumps(settings, indent=2, ensure_ascii=False, sort_keys=True)
        write_atomic(self.file, text.encode("utf-8"))
        return settings

    def model(self, path: Path) -> dict:
        """What was saved for the model at `path`: {"defaults": {...}, "prediction": "v"} or parts of it."""
        return self.load()["models"].get(model_key(path), {})

    def _read(self) -> dict | None:
        try:
            raw = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return empty()
        except (OSError, ValueError, RecursionError) as exc:
            log.warning("%s cannot be read (%s); the library starts from nothing", self.file, exc)
            return None
        if not isinstance(raw, dict):
            log.warning("%s is not a JSON object; the library starts from nothing", self.file)
            return None
        return raw


def model_key(path: Path) -> str:
    """Models are saved under their resolved path."""
    return str(Path(path).expanduser().resolve())


def _clean(raw: dict) -> dict:
    folders = raw.get("folders")
    models = raw.get("models")
    clean = empty()
    if isinstance(folders, list):
        clean["folders"] = [f for f in folders if isinstance(f, str) and f]
    if isinstance(models, dict):
        for key, value in models.items():
            if not isinstance(value, dict):
                continue
            entry = {}
            if isinstance(value.get("defaults"), dict):
                entry["defaults"] = dict(value["defaults"])
            if value.get("prediction") in ("v", "epsilon"):
                entry["prediction"] = value["prediction"]
            if isinstance(value.get("vae"), str) and value["vae"]:
                entry["vae"] = value["vae"]
            if entry:
                clean["models"][str(key)] = entry
    return clean
