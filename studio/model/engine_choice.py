"""Where the window's jobs run: on this computer, or on a `studio serve` server.

The choice lives in DATA_DIR/engine.json ({"mode": "local" | "server", "url", "token"}),
readable by its owner only, since it may hold the server's token. A damaged or missing file
means this computer. `EngineChoice.factory()` is what the worker builds its engine with.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE_NAME = "engine.json"
MODES = ("local", "server")


@dataclass(frozen=True)
class EngineChoice:
    mode: str = "local"
    url: str = ""
    token: str = ""

    @property
    def remote(self) -> bool:
        return self.mode == "server" and bool(self.url)

    def factory(self):
        """None for this computer's engine; else a maker of the server's RemoteEngine."""
        if not self.remote:
            return None
        url, token = self.url, self.token

        def make():
            from studio.server_client import RemoteEngine

            return RemoteEngine(url, token)

        return make

    def label(self) -> str:
        return f"Engine: server {self.url}" if self.remote else "Engine: this computer"


def load_choice(data: Path) -> EngineChoice:
    try:
        values: Any = json.loads((Path(data) / FILE_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return EngineChoice()
    except (OSError, ValueError, RecursionError) as exc:
        log.warning("ignoring %s: %s", FILE_NAME, exc)
        return EngineChoice()
    if not isinstance(values, dict) or values.get("mode") not in MODES:
        return EngineChoice()
    url, token = values.get("url", ""), values.get("token", "")
    return EngineChoice(values["mode"], url if isinstance(url, str) else "", token if isinstance(token, str) else "")


def save_choice(data: Path, choice: EngineChoice) -> None:
    """Write the choice atomically, readable by its owner only (it may hold a token)."""
    from studio.files import write_atomic

    target = Path(data) / FILE_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, (json.dumps(asdict(choice)) + "\n").encode())
    os.chmod(target, 0o600)


def check_server(url: str, token: str) -> str:
    """'' when a Studio server answers at `url` with this token; else one line why not."""
    from studio.errors import StudioError
    from studio.server_client import ServerClient

    try:
        health = ServerClient(url, token, timeout=5).get("/studio/v1/health")
    except StudioError as exc:
        return str(exc)
    if not isinstance(health, dict) or not health.get("ok"):
        return f"{url} does not answer as a Studio server"
    return ""
