"""A real `studio serve` process (a local Ray instance on 127.0.0.1) for tests/server and bench/serve.py.

`start_server(folder, *args)` starts one with a token and a basic user (TOKEN, USER,
PASSWORD), its data in FOLDER/data, and returns once it answers; `stop_server` ends it
with Ctrl+C, as a person would, and fails when it does not end by itself.
"""

from __future__ import annotations

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

    def replica_pids(self) -> list[int]:
        """The engine replicas' processes (Ray names them ray::ServeReplica:studio:EngineWorker)."""
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


def _parse(data: bytes):
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(folder: Path, *args: str) -> Server:
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    token_file = folder / "token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    log = folder / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QT_QPA_PLATFORM": "offscreen", "RAY_USAGE_STATS_ENABLED": "0"}
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
    server = Server(port, process, data, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"studio serve ended ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            status, body, _ = server.call("GET", "/studio/v1/health")
            if status == 200 and isinstance(body, dict) and body.get("ok"):
                return server
        except OSError:
            pass
        time.sleep(0.5)
    stop_server(server)
    raise AssertionError(f"studio serve did not answer within {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


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
