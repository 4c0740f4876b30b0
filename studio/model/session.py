"""The session's settings: what the controls show, kept between runs in DATA_DIR/settings.json."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import reprlib
import secrets
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from studio.engine.request import (
    EMBEDDED_MODEL,
    MAX_COUNT,
    MAX_GUIDANCE,
    MAX_SEED,
    MAX_SIDE,
    MAX_STEPS,
    MIN_SIDE,
    QUALITIES,
    SIZE_MULTIPLE,
    GenerateRequest,
)
from studio.engine.schedulers import SCHEDULER_NAMES

log = logging.getLogger(__name__)

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
    "strength": 1.0,  # Generate: 1 = from text; below 1, how far the canvas picture is redrawn (img2img)
    "upscale_strength": 0.2,  # how far an upscale redraws the enlarged picture
    "variation_strength": 0.25,  # how far Variations stray from the picture
    "quality": "full",  # how Generate's pictures are decoded: full (the VAE) or draft (see engine.draft_decoders)
    "offload": False,  # model CPU offload on a CUDA GPU (engine.devices); settings.json only
    "defaults_for": "",  # the model whose own defaults the settings were last reset to
    "theme": "dark",
    "negative_open": False,
    "geometry": "",
    "window_state": "",
}

MODEL_KEYS = ("width", "height", "steps", "guidance_scale", "scheduler")
FILLS = ("edge", "noise", "colour")  # what the edit bar offers
THEMES = ("dark", "light")
BRUSH_MIN, BRUSH_MAX = 4, 256


def _whole(low: int, high: int, multiple: int = 1) -> Callable[[Any], bool]:
    return lambda v: type(v) is int and low <= v <= high and v % multiple == 0


def _number(low: float, high: float) -> Callable[[Any], bool]:
    return lambda v: type(v) in (int, float) and math.isfinite(v) and low <= v <= high


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and v in choices


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _flag(value: Any) -> bool:
    return type(value) is bool


def _model(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _base64(value: Any) -> bool:
    """Saved window geometry or dock state: ASCII base64 (or nothing)."""
    if not isinstance(value, str) or not value.isascii():
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


VALID: dict[str, Callable[[Any], bool]] = {
    "prompt": _text,
    "negative_prompt": _text,
    "model": _model,
    "models": lambda v: isinstance(v, list) and all(_model(m) for m in v),
    "width": _whole(MIN_SIDE, MAX_SIDE, SIZE_MULTIPLE),
    "height": _whole(MIN_SIDE, MAX_SIDE, SIZE_MULTIPLE),
    "steps": _whole(1, MAX_STEPS),
    "guidance_scale": _number(0.0, MAX_GUIDANCE),
    "scheduler": _one_of(SCHEDULER_NAMES),
    "seed": _whole(0, MAX_SEED),
    "random_seed": _flag,
    "count": _whole(1, MAX_COUNT),
    "candidates": _whole(1, MAX_COUNT),
    "fill": _one_of(FILLS),
    "auto_outpaint": _flag,
    "brush_size": _whole(BRUSH_MIN, BRUSH_MAX),
    "strength": _number(0.0, 1.0),
    "upscale_strength": _number(0.0, 1.0),
    "variation_strength": _number(0.0, 1.0),
    "quality": _one_of(QUALITIES),
    "offload": _flag,
    "defaults_for": _text,
    "theme": _one_of(THEMES),
    "negative_open": _flag,
    "geometry": _base64,
    "window_state": _base64,
}


class Session(QObject):
    """Named values with a change signal; `request()` turns them into a GenerateRequest."""

    changed = Signal(str)

    def __init__(self, path: Path | None = None, parent=None):
        super().__init__(parent)
        self.path = path
        self._values = dict(DEFAULTS)
        self._saved = dict(self._values)  # as the file holds them (or would, unwritten)
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

    def start_from_model_defaults(self, ref: str, defaults=None) -> None:
        """A model new to these settings starts from its own defaults: those given (once it has
        loaded), else those its files name (read without its weights), so that the controls never
        show another model's values while it loads."""
        if self["defaults_for"] == ref:
            return
        if defaults is None:
            from studio.engine.models import resolve_model
            from studio.errors import StudioError

            try:
                defaults = resolve_model(ref).defaults
            except (StudioError, OSError):
                return  # loading it will say what is wrong
        self.apply_model_defaults(defaults)
        self.set("defaults_for", ref)

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
        """Read the settings file; a value that is not valid keeps its default and says so in one log line
        (as does a file that cannot be read): a damaged settings file is never fatal."""
        if self.path is None or not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("%s cannot be read (%s); using the default settings", self.path, str(exc).splitlines()[0])
            return
        if not isinstance(data, dict):
            log.warning("%s does not hold an object of settings; using the default settings", self.path)
            return
        for key, value in data.items():
            if key not in DEFAULTS:
                continue  # from a newer version
            if VALID[key](value):
                self.set(key, float(value) if isinstance(DEFAULTS[key], float) else value)
            else:
                log.warning(
                    "%s: %s = %s is not valid; using the default, %r",
                    self.path.name,
                    key,
                    reprlib.repr(value),
                    DEFAULTS[key],
                )
        self._saved = dict(self._values)

    def save(self) -> None:
        """Write the settings file, when a value changed since it was read or last written."""
        if self.path is None or self._values == self._saved:
            return
        from studio.files import write_atomic

        try:
            write_atomic(self.path, json.dumps(self._values, indent=2).encode("utf-8"))
        except OSError:
            return  # settings are a convenience; a full disk must not stop the app closing
        self._saved = dict(self._values)
