"""The Ray Serve application: an ingress (the HTTP API, one replica) in front of N engine replicas.

The only module of Studio that imports Ray. `start(config, address)` joins a Ray cluster
(or starts a small local one on 127.0.0.1), starts Serve's HTTP proxy on the configured
host and port, and deploys the application; `stop()` takes it all down again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
from typing import Any

from ray import serve

from studio.errors import StudioError
from studio.server.config import UNITS_PER_REPLICA, ServerConfig
from studio.server.worker import EngineWorker

log = logging.getLogger(__name__)

APP_NAME = "studio"
WORKER_NAME = "EngineWorker"
READY_CHECK_S = 0.5  # how often the ingress asks Serve's controller while replicas start
OBJECT_STORE_BYTES = 256 * 1024 * 1024
PASSED_ON = ("HF_HUB_OFFLINE", "HF_HOME", "STUDIO_DATA_DIR")  # to replicas on other machines too
# On the local instance: Serve's controller looks over its replicas (and asks the GCS for
# every node's resources) twice a second rather than ten times, which costs a one-process
# server a few per cent of a core (a replica that dies is noticed that much later); and
# with no dashboard to show them, Ray's agent reads its processes' figures once a minute,
# not every 5 s.
LOCAL_SERVE_SETTINGS = {"RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "0.5", "REPORTER_UPDATE_INTERVAL_MS": "60000"}


@serve.deployment(
    name=WORKER_NAME,
    max_ongoing_requests=UNITS_PER_REPLICA,  # the worker runs one at a time; the ingress's slots fill them
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
        self.board = Board(self._run_unit, config.replicas * UNITS_PER_REPLICA, config.limits.max_queue, config.retries)
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
    return _running(_worker_status())


def _running(deployment) -> int:
    if deployment is None:
        return 0
    return sum(count for state, count in deployment.replica_states.items() if state == "RUNNING")


def _worker_status():
    """Serve's view of the engine replicas (a DeploymentStatusOverview), or None while it has none."""
    try:
        application = serve.status().applications.get(APP_NAME)
    except Exception as exc:  # the controller is busy or restarting: ask again later
        log.warning("could not ask Serve for the replicas: %s", exc)
        return None
    return application.deployments.get(WORKER_NAME) if application is not None else None


def check_room(config: ServerConfig, where: str) -> None:
    """Refuse (StudioError) replicas the Ray cluster can never place: each needs `config.threads`
    CPUs and `config.gpus` GPUs on one machine. `where` names the cluster in the message."""
    import ray

    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    needs = {"CPU": float(config.threads), "GPU": float(config.gpus)}
    replicas = f"{_count(config.replicas, 'replica')} {'needs' if config.replicas == 1 else 'need'}"
    for name, each in needs.items():
        has = sum(node.get(name, 0.0) for node in nodes)
        if each * config.replicas > has:
            raise StudioError(f"{replicas} {_count(each * config.replicas, name)}; {where} has {has:g}")
    room = sum(min(math.floor(node.get(k, 0.0) / v + 1e-9) for k, v in needs.items() if v > 0) for node in nodes)
    if room < config.replicas:
        each = " and ".join(_count(v, k) for k, v in needs.items() if v > 0)
        raise StudioError(f"{replicas} {each} each on one machine; {where} has room for {room}")


def wait_started(config: ServerConfig, timeout_s: float, stopping: threading.Event) -> bool:
    """Wait until every engine replica runs (True), `stopping` is set (False), or `timeout_s`
    passes (0: no limit) or Serve gives up on them: then a StudioError says which replicas
    never started and why, as far as Ray says."""
    deadline = time.monotonic() + timeout_s if timeout_s > 0 else math.inf
    while not stopping.wait(READY_CHECK_S):
        deployment = _worker_status()
        running = _running(deployment)
        if running >= config.replicas:
            return True
        failed = deployment is not None and deployment.status == "DEPLOY_FAILED"
        if failed or time.monotonic() >= deadline:
            waited = "could not be started" if failed else f"did not start within {timeout_s:g} s"
            missing = config.replicas - running
            raise StudioError(
                f"{missing} of {_count(config.replicas, 'engine replica')} {waited}: {_why(deployment, config)}"
            )
    return False


def _why(deployment, config: ServerConfig) -> str:
    """Ray's own word on the replicas (the first line of Serve's message), else what the cluster has free."""
    import ray

    message = (getattr(deployment, "message", "") or "").strip()
    if message:
        line = message.splitlines()[0]
        return f"Ray says: {line[:400]}"
    free = ray.available_resources()
    total = ray.cluster_resources()
    parts = [f"{free.get('CPU', 0.0):g} of {total.get('CPU', 0.0):g} CPUs free"]
    if config.gpus:
        parts.append(f"{free.get('GPU', 0.0):g} of {total.get('GPU', 0.0):g} GPUs free")
    each = _count(config.threads, "CPU") + (f" and {_count(config.gpus, 'GPU')}" if config.gpus else "")
    return f"Ray has not placed {'it' if config.replicas - _running(deployment) == 1 else 'them'}; the cluster has {' and '.join(parts)} (each replica needs {each})"


def _count(number: float, name: str) -> str:
    return f"{number:g} {name}{'' if number == 1 else 's'}"


def application(config: ServerConfig):
    """The bound application for `serve.run`: `config.replicas` engines behind one ingress."""
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
    for name, value in LOCAL_SERVE_SETTINGS.items():  # read by Serve's controller, which this instance starts
        os.environ.setdefault(name, value)
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
    """Start Serve's HTTP proxy on the configured address and run the application on it,
    without waiting for the engine replicas (see `wait_started`)."""
    serve.start(http_options={"host": config.host, "port": config.port}, logging_config={"log_level": "WARNING"})
    target = serve.RunTarget(application(config), name=APP_NAME, route_prefix="/")
    serve.run_many([target], wait_for_applications_running=False)


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
