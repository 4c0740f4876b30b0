"""Shared test setup: offline, offscreen, no network, and tiny real models built once."""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["STUDIO_NO_PROGRESS"] = "1"
import studio  # noqa: F401  (before any test imports torch: its OpenMP threads wait passively)

_real_connect = socket.socket.connect


def _loopback_only(self, address):
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            allowed = ipaddress.ip_address(host).is_loopback
        except ValueError:
            allowed = host == "localhost"
        if not allowed:
            raise OSError(f"tests may not reach the network (tried {host})")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny SD-format model whose UNet has learnt to denoise smooth latents."""
    from studio.testing.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny", seed=0, train_steps=150)


@pytest.fixture(scope="session")
def short_prompt_model(tmp_path_factory):
    """A tiny model whose text encoder reads only 16 tokens, to test long prompts."""
    from studio.testing.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("models") / "short", seed=3, max_length=16)


@pytest.fixture(scope="session")
def engine():
    from studio.engine.runner import Engine

    return Engine(device="cpu")
