"""The session's settings: what the controls show, kept between runs in DATA_DIR/settings.json."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from studio.engine.request import EMBEDDED_MODEL, MAX_SEED, GenerateRequest

DEFAULTS: dict[str, Any] = {
    "prompt": "",
    "negative_prompt": "",
    "model": EMBEDDED_MODEL,
    "models": [],  # model folders the person added
    "width": 128,
    "height": 128,
    "steps": 20,
    "guidance_scale": 5.0,
    "scheduler": "DPM++ 2M Karras",
    "seed": 0,
    "random_seed": True,
    "count": 1,
    "candidates": 3,  # outpaint and inpaint jobs
    "fill": "edge",  # how an outpaint's new area starts: edge, noise, colour
    "auto_outpaint": False,  # outpaint as soon as a canvas handle is released
    "brush_size": 32,
    "defaults_for": "",  # the model whose own defaults the settings were last reset to
    "theme": "dark",
    "negative_open": False,
    "geometry": "",
    "window_state": "",
}

MODEL_KEYS = ("width", "height", "steps", "guidance_scale", "scheduler")


class Session(QObject):
    """Named values with a change signal; `request()` turns them into a GenerateRequest."""

    changed = Signal(str)

    def __init__(self, path: Path | None = None, parent=None):
        super().__init__(parent)
        self.path = path
        self._values = dict(DEFAULTS)
        self.last_seed: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def set(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(key)
        if self._values.get(key) != value:
            self._values[key] = value
            self.changed.emit(key)

    def remember_model(self, ref: str) -> None:
        """Keep a model folder in the picker's list."""
        if ref != EMBEDDED_MODEL and ref not in self["models"]:
            self.set("models", [*self["models"], ref])

    def apply_model_defaults(self, defaults) -> None:
        for key in MODEL_KEYS:
            self.set(key, getattr(defaults, key))

    def request(self) -> GenerateRequest:
        """The request for the next job; a fresh seed when the seed is random."""
        seed = secrets.randbelow(MAX_SEED + 1) if self["random_seed"] else int(self["seed"])
        request = GenerateRequest(
            prompt=self["prompt"],
            negative_prompt=self["negative_prompt"],
            seed=seed,
            steps=int(self["steps"]),
            guidance_scale=float(self["guidance_scale"]),
            width=int(self["width"]),
            height=int(self["height"]),
            scheduler=self["scheduler"],
            count=int(self["count"]),
            model=self["model"],
        )
        self.last_seed = seed
        return request

    def apply_request(self, request: GenerateRequest) -> None:
        """Fill the settings from a request (reusing an image's parameters, seed included)."""
        for key in ("prompt", "negative_prompt", "steps", "guidance_scale", "width", "height", "scheduler", "seed"):
            self.set(key, getattr(request, key))
        self.set("random_seed", False)

    def load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # a damaged settings file is replaced by defaults, never fatal
        if isinstance(data, dict):
            for key, value in data.items():
                if key in DEFAULTS and isinstance(value, type(DEFAULTS[key])) or (
                    key in DEFAULTS and isinstance(DEFAULTS[key], float) and isinstance(value, int)
                ):
                    self.set(key, value)

    def save(self) -> None:
        if self.path is None:
            return
        from studio.engine.recipe import write_atomic

        try:
            write_atomic(self.path, json.dumps(self._values, indent=2).encode("utf-8"))
        except OSError:
            pass  # settings are a convenience; a full disk must not stop the app closing
