"""The Ray Serve application: an ingress (the HTTP API, one replica) in front of N engine replicas.

The only module of Studio that imports Ray. `start(config, address)` joins a Ray cluster
(or starts a small local one on 127.0.0.1), starts Serve's HTTP proxy on the configured
host and port, and deploys the application; `stop()` takes it all down again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ray import serve

from studio.server.config import ServerConfig
from studio.server.worker import EngineWorker

log = logging.getLogger(__name__)

APP_NAME = "studio"
WORKER_NAME = "EngineWorker"
READY_CHECK_S = 0.5  # how often the ingress asks Serve's controller while replicas start
OBJECT_STORE_BYTES = 256 * 1024 * 1024
PASSED_ON = ("HF_HUB_OFFLINE", "HF_HOME", "STUDIO_DATA_DIR")  # to replicas on other machines too


@serve.deployment(
    name=WORKER_NAME,
    max_ongoing_requests=1,  # one unit at a time: the ingress's slots keep every replica busy
    health_check_period_s=2,
    health_check_timeout_s=30,
    graceful_shutdown_timeout_s=2,
)
class WorkerDeployment(EngineWorker):
    """One engine per replica."""


@serve.deployment(
    name="Ingress",
    num_replicas=1,  # the job board, /progress and /interrupt see every job
    max_ongoing_requests=1000,
    ray_actor_options={"num_cpus": 0},
    graceful_shutdown_timeout_s=2,
)
@serve.ingress()
class Ingress:
    def __init__(self, worker, config: ServerConfig):
        from studio.server.jobs import Board
        from studio.server.models import Models

        self.config = config
        self.worker = worker.options(stream=True)
        self.models = Models(config.data, config.model)
        self.board = Board(self._run_unit, config.replicas, config.limits.max_queue, config.retries)
        self._up, self._asked = 0, 0.0

    def _run_unit(self, spec: dict[str, Any]):
        return self.worker.run.remote(spec)

    async def _replicas_up(self) -> int:
        """Engine replicas up, as Serve's controller says (asked at most every READY_CHECK_S)."""
        if time.monotonic() - self._asked >= READY_CHECK_S:
            self._asked = time.monotonic()
            self._up = await asyncio.to_thread(replicas_running)
        return self._up

    def __serve_build_asgi_app__(self):
        from studio.server.api import build_app

        return build_app(self.board, self.models, self.config, self._replicas_up)


def replicas_running() -> int:
    """How many engine replicas Serve has running (0 while the application deploys)."""
    try:
        application = serve.status().applications.get(APP_NAME)
    except Exception as exc:  # the controller is busy or restarting: ask again later
        log.warning("could not ask Serve for the replicas: %s", exc)
        return 0
    deployment = application.deployments.get(WORKER_NAME) if application is not None else None
    if deployment is None:
        return 0
    return sum(count for state, count in deployment.replica_states.items() if state == "RUNNING")


def application(config: ServerConfig):
    """The bound application for `serve.run`: `config.replicas` engines behind one ingress."""
    import os

    actor: dict[str, Any] = {"num_cpus": config.threads, "num_gpus": config.gpus}
    env = {"OMP_NUM_THREADS": str(config.threads)}
    env.update({k: v for k, v in os.environ.items() if k in PASSED_ON})
    actor["runtime_env"] = {"env_vars": env}
    worker = WorkerDeployment.options(num_replicas=config.replicas, ray_actor_options=actor).bind(config)
    return Ingress.bind(worker, config)


def connect(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the Ray cluster at `address`, or start a local one on 127.0.0.1 (no dashboard)."""
    import ray

    if address:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        return
    ray.init(
        address="local",
        num_cpus=num_cpus,
        include_dashboard=False,
        object_store_memory=OBJECT_STORE_BYTES,
        _node_ip_address="127.0.0.1",
        logging_level=logging.WARNING,
        log_to_driver=False,
    )


def deploy(config: ServerConfig) -> None:
    """Start Serve's HTTP proxy on the configured address and run the application on it."""
    serve.start(http_options={"host": config.host, "port": config.port}, logging_config={"log_level": "WARNING"})
    serve.run(application(config), name=APP_NAME, route_prefix="/", blocking=False)


def cluster_shape(replicas: int) -> tuple[int, float]:
    """Torch threads and GPUs per replica on the cluster this process has joined."""
    import ray

    resources = ray.cluster_resources()
    gpus = resources.get("GPU", 0)
    if gpus >= 1:
        return 1, 1.0
    cpus = int(resources.get("CPU", 1))
    return max(1, cpus // max(1, replicas)), 0.0


def stop() -> None:
    import ray

    if not ray.is_initialized():  # never connected: serve.shutdown() would start a Ray of its own
        return
    try:
        serve.shutdown()
    finally:
        ray.shutdown()
