"""The models a server offers: the embedded one and its library's checkpoints, by name only.

A client never names a path: a name that is not in the list is refused, so nothing a
request says makes the server open a file the library does not already hold.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from studio.engine.request import EMBEDDED_MODEL
from studio.errors import RequestError, StudioError

DEFAULTS_KEPT_S = 10.0  # a model's settings changed in the library reach requests this late at most


class Models:
    def __init__(self, data: str, current: str = EMBEDDED_MODEL):
        from studio.engine.models import use_model_finder, use_resource_finder
        from studio.library.catalog import Library
        from studio.library.resources import resource_finder

        self.library = Library(Path(data))
        use_model_finder(self.library.finder)
        use_resource_finder(resource_finder(self.library))
        self._lock = threading.Lock()
        self._defaults: dict[str, tuple[float, Any]] = {}  # name: (when it was looked up, its defaults)
        self._current = EMBEDDED_MODEL
        self.current = self.check(current)

    @property
    def current(self) -> str:
        with self._lock:
            return self._current

    @current.setter
    def current(self, name: str) -> None:
        with self._lock:
            self._current = name

    def entries(self) -> list[Any]:
        return [e for e in self.library.entries("checkpoints") if not e.problem]

    def names(self) -> list[str]:
        return [EMBEDDED_MODEL, *(e.name for e in self.entries())]

    def check(self, name: Any) -> str:
        """The library's own spelling of `name`; RequestError when the server has no such model."""
        if not isinstance(name, str) or not name.strip():
            raise RequestError("the model must be named (see GET /sdapi/v1/sd-models)")
        name = name.strip()
        if name == EMBEDDED_MODEL:
            return name
        entries = self.entries()
        for entry in entries:
            if name in (entry.name, entry.short_hash, entry.sha256):
                return entry.name
        folded = [e.name for e in entries if e.name.casefold() == name.casefold()]
        if len(folded) == 1:
            return folded[0]
        raise RequestError(f"unknown model {name!r}: name one of the server's models (GET /sdapi/v1/sd-models)")

    def defaults(self, name: str):
        """The ModelDefaults of a checked name; a model that cannot be used is a RequestError.
        Looking a model up reads its folder's files, so what it found is kept `DEFAULTS_KEPT_S`."""
        import time

        from studio.engine.models import resolve_model

        now = time.monotonic()
        with self._lock:
            kept = self._defaults.get(name)
        if kept is not None and now - kept[0] < DEFAULTS_KEPT_S:
            return kept[1]
        try:
            defaults = resolve_model(name).defaults
        except StudioError as exc:
            raise RequestError(str(exc)) from None
        with self._lock:
            self._defaults[name] = (now, defaults)
        return defaults

    def listing(self) -> list[dict[str, Any]]:
        """GET /sdapi/v1/sd-models: titles, names and hashes (never where the files are)."""
        rows = [
            {
                "title": EMBEDDED_MODEL,
                "model_name": EMBEDDED_MODEL,
                "hash": None,
                "sha256": None,
                "filename": EMBEDDED_MODEL,
                "config": None,
            }
        ]
        for entry in self.entries():
            short = entry.short_hash or None
            rows.append(
                {
                    "title": f"{entry.name} [{short}]" if short else entry.name,
                    "model_name": entry.name,
                    "hash": short,
                    "sha256": entry.sha256 or None,
                    "filename": entry.name,
                    "config": None,
                }
            )
        return rows


NOT_A_PATH = "name an upscaler in the server's library (models/upscalers), not a path"


def upscaler_file(data: str, name: Any) -> str:
    """The upscaler file `name` names in DATA_DIR/models/upscalers ("" for none: Lanczos);
    RequestError for a path or a name the library does not hold."""
    from studio.paths import models_dir

    if name in (None, ""):
        return ""
    if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
        raise RequestError(NOT_A_PATH)
    folder = models_dir(Path(data)) / "upscalers"
    for candidate in (folder / name, folder / f"{name}.safetensors"):
        if candidate.is_file():
            return str(candidate)
    raise RequestError(f"unknown upscaler {name!r}: the server has no such file in its models/upscalers")
