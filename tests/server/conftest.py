"""A real `studio serve` (a local Ray instance on 127.0.0.1) for the server tests.

Ray takes a while to start, so each test module starts one server and shares it.
"""

from __future__ import annotations

import base64
import io

import pytest

pytest.importorskip("ray.serve", reason="the server tests need Ray Serve: pip install 'studio[serve]'")

from studio.testing.server_process import (
    PASSWORD,
    STUDIO,
    TOKEN,
    USER,
    Server,
    start_server,
    stop_server,
)

__all__ = ["PASSWORD", "STUDIO", "TOKEN", "USER", "Server", "png_of", "start_server", "stop_server"]


def png_of(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
