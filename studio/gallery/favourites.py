# pyright: standard
"""Favourite images, by file name, in DATA_DIR/favourites.json (apart from the index cache)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from studio.files import write_atomic

log = logging.getLogger("studio.gallery")


class Favourites:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.names: set[str] = set()
        self.load()

    def load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("cannot read favourites from %s: %s", self.path, exc)
            return
        if isinstance(data, list):
            self.names = {n for n in data if isinstance(n, str)}

    def set(self, names, favourite: bool) -> None:
        """Mark (or unmark) the names; written at once, atomically."""
        changed = set(self.names)
        if favourite:
            changed |= set(names)
        else:
            changed -= set(names)
        if changed != self.names:
            write_atomic(self.path, json.dumps(sorted(changed), indent=0).encode("utf-8"))
            self.names = changed

    def __contains__(self, name: str) -> bool:
        return name in self.names
