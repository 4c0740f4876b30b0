"""A real `studio serve` process (a local Ray instance on 127.0.0.1) for tests/server and bench/serve.py.

`start_server(folder, *args)` starts one with a token and a basic user (TOKEN, USER,
PASSWORD), its data in FOLDER/data, and returns once it says it is ready (every replica
up); `launch_server` and `wait_ready` are its two halves. `stop_server` ends it with
Ctrl+C, as a person would, and fails when it does not end by itself. `start_ray_head`
starts a one-node Ray cluster (`ray start --head`) for `studio serve --ray-address`, and
`stop_ray_head` ends it and every process it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

STUDIO = [sys.executable, "-c", "import sys; from studio.cli import main; sys.exit(main())"]
TOKEN = "test-token-0123456789abcdef"
USER, PASSWORD = "painter", "hunter22"
START_TIMEOUT = 240


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    data: Path
    log: Path
    token: str = TOKEN
    headers: dict = field(default_factory=lambda: {"Authorization": f"Bearer {TOKEN}"})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, method: str, path: str, body=None, headers=None, raw: bytes | None = None):
        """(status, parsed JSON or text, response headers)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        for key, value in (self.headers if headers is None else headers).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return response.status, _parse(response.read()), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, _parse(error.read()), dict(error.headers)

    def processes(self) -> list[int]:
        """Every process of this server: `studio serve` and the local Ray instance it started
        (they share the session the server was started in)."""
        return session_processes(self.process.pid)

    def replica_pids(self) -> list[int]:
        """Every engine replica's process on this machine, whichever server's (Ray names them
        ray::ServeReplica:studio:EngineWorker)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"ServeReplica:studio:EngineWorker" in cmdline:
                pids.append(int(entry.name))
        return pids


def session_processes(session: int) -> list[int]:
    """The processes of the session `session` (a process started with start_new_session leads one)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == session:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _parse(data: bytes):
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(folder: Path, *args: str, env: dict[str, str] | None = None) -> Server:
    server = launch_server(folder, *args, env=env)
    wait_ready(server)
    return server


def launch_server(folder: Path, *args: str, env: dict[str, str] | None = None) -> Server:
    """Start `studio serve` with FOLDER's data, token and log; it is not ready yet."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    token_file = folder / "token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    log = folder / "serve.log"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "QT_QPA_PLATFORM": "offscreen",
        "RAY_USAGE_STATS_ENABLED": "0",
        **(env or {}),
    }
    command = [
        *STUDIO,
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data),
        "--token-file",
        str(token_file),
        "--api-auth",
        f"{USER}:{PASSWORD}",
        *args,
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return Server(port, process, data, log)


def wait_ready(server: Server, on_answer: Callable[[int, Any], None] | None = None) -> None:
    """Poll the health route until it answers 200 and ok (each answer of the ingress also goes
    to `on_answer(status, body)`); stops the server and fails when it ends or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"studio serve ended ({server.process.returncode}):\n{_tail(server)}")
        try:
            status, body, _ = server.call("GET", "/studio/v1/health")
        except OSError:
            status, body = 0, None
        if isinstance(body, dict):  # the ingress answered (not Serve's proxy, before the route exists)
            if on_answer is not None:
                on_answer(status, body)
            if status == 200 and body.get("ok"):
                return
        time.sleep(0.25)
    stop_server(server)
    raise AssertionError(f"studio serve was not ready within {START_TIMEOUT} s:\n{_tail(server)}")


def _tail(server: Server) -> str:
    return server.log.read_text(errors="replace")[-3000:]


def stop_server(server: Server) -> None:
    """Ctrl+C, as a person would; it must end by itself."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
            raise AssertionError("studio serve did not stop on Ctrl+C") from None


@dataclass
class RayHead:
    """A Ray cluster of one node, started as a person starts one (`ray start --head`)."""

    port: int
    process: subprocess.Popen
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def processes(self) -> list[int]:
        """The cluster's processes (they share the session `ray start` was started in)."""
        return session_processes(self.process.pid)


def start_ray_head(folder: Path, cpus: int = 2) -> RayHead:
    """`ray start --head` on 127.0.0.1 with `cpus` CPUs (no dashboard), in a session of its own;
    returns once it is up."""
    ray = Path(sys.executable).with_name("ray")
    port = free_port()
    log = folder / "ray-head.log"
    command = [
        str(ray),
        "start",
        "--head",
        "--block",
        "--port",
        str(port),
        "--node-ip-address",
        "127.0.0.1",
        "--num-cpus",
        str(cpus),
        "--object-store-memory",
        str(256 * 1024 * 1024),
        "--include-dashboard=false",
        "--disable-usage-stats",
        "--ray-client-server-port",
        str(free_port()),
    ]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    head = RayHead(port, process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"ray start ended ({process.returncode}):\n{log.read_text()[-3000:]}")
        if b"block forever" in log.read_bytes():
            return head
        time.sleep(0.25)
    stop_ray_head(head)
    raise AssertionError(f"ray start was not up within {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


def stop_ray_head(head: RayHead) -> None:
    """SIGTERM, as `ray stop` sends it, to this head only; anything of its session left is killed."""
    if head.process.poll() is None:
        head.process.send_signal(signal.SIGTERM)
        try:
            head.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.process.kill()
            head.process.wait()
    for pid in head.processes():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
