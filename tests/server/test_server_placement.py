"""Replicas a Ray cluster cannot run: `studio serve --ray-address` refuses at once replicas the
cluster could never place (one line naming the numbers), and gives up with one line, exiting
non-zero, when its replicas are not all running after --start-timeout (here: the cluster's
only CPU is held by another program's actor)."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from studio.testing.server_process import launch_server, start_ray_head, stop_ray_head, stop_server

HOLD = """
import sys, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)

@ray.remote(num_cpus=1)
class Hold:
    def ready(self):
        return True

hold = Hold.remote()
ray.get(hold.ready.remote())
print("holding", flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    head = start_ray_head(tmp_path_factory.mktemp("ray-one-cpu"), cpus=1)
    yield head
    stop_ray_head(head)


def _serve(folder: Path, *args: str, within: float) -> tuple[int, str]:
    """`studio serve ARGS` run to its end; (exit status, what it printed)."""
    server = launch_server(folder, *args)
    try:
        server.process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        stop_server(server)
        raise AssertionError(f"studio serve was still waiting after {within:g} s") from None
    return server.process.returncode, server.log.read_text(errors="replace")


def test_replicas_the_cluster_can_never_place_are_refused_in_one_line(head, tmp_path):
    status, printed = _serve(tmp_path, "--replicas", "2", "--threads", "1", "--ray-address", head.address, within=120)
    assert status == 1
    assert f"studio: error: 2 replicas need 2 CPUs; the Ray cluster at {head.address} has 1\n" in printed
    assert "Traceback" not in printed and "serving on" not in printed


def test_replicas_that_never_start_stop_the_server_after_the_start_timeout(head, tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0"}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, head.address],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert holder.stdout is not None
        ready, _, _ = select.select([holder.stdout], [], [], 120)
        assert ready and holder.stdout.readline().strip() == "holding", "the cluster's CPU could not be taken"
        status, printed = _serve(
            tmp_path, "--replicas", "1", "--ray-address", head.address, "--start-timeout", "15", within=180
        )
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        try:
            holder.wait(timeout=60)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
    assert status == 1
    errors = [line for line in printed.splitlines() if line.startswith("studio: error:")]
    assert len(errors) == 1, printed[-3000:]
    assert errors[0].startswith("studio: error: 1 of 1 engine replica did not start within 15 s: ")
    assert "CPU" in errors[0]
    assert "Traceback" not in printed
