"""The server's settings: where it listens, who may call it, and how much one request may ask."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from studio.engine.request import EMBEDDED_MODEL, MAX_PIXELS, MAX_STEPS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
MAX_BODY = 32 * 1024 * 1024  # bytes of one request: base64 images are a third larger than their PNGs
# Each replica holds the unit it runs and the next one, which waits on the replica's engine
# lock: when a unit ends the replica starts the next at once, rather than idling while the
# news travels to the ingress and a new unit travels back (a few per cent of a fast image's
# time). The queue stays fair: a job sent later waits at most one unit more per replica.
UNITS_PER_REPLICA = 2


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; anything over is refused before any work."""

    max_pixels: int = MAX_PIXELS  # width x height of one image
    max_steps: int = MAX_STEPS
    max_batch: int = 100  # images in one request (batch_size x n_iter)
    max_body: int = MAX_BODY
    max_queue: int = 200  # images waiting or running in all; past it new requests get 503


@dataclass(frozen=True)
class ServerConfig:
    """Everything the replicas need to know; plain data, so Ray can hand it to every process."""

    data: str  # DATA_DIR: the models library (and settings) the server uses
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    replicas: int = 1
    device: str | None = None
    threads: int = 1  # torch threads per replica
    gpus: float = 0.0  # GPUs per replica (1 on a cluster with GPUs)
    token: str = field(default="", repr=False)
    basic: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (user, password) pairs
    cors_origins: tuple[str, ...] = ()
    model: str = EMBEDDED_MODEL  # sd_model_checkpoint until /options changes it
    limits: Limits = Limits()
    retries: int = 4  # how often a unit whose replica died is sent again (after 1, 2, 4, 8 s: a replica restarts)

    @property
    def needs_auth(self) -> bool:
        return bool(self.token or self.basic)


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
