"""Two replicas: a batch of prompts spreads over both, and a replica killed mid-batch costs
its job a retry on the other one, not an error."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.server.conftest import start_server, stop_server

PROMPTS = [f"a hill number {i}" for i in range(20)]

# Known race (seen once in a fresh-clone CI run): jobs sent while the two replicas are still
# starting (the health answer is already ok) were cancelled and the rest of the batch waited
# for ever. Until the server waits for its replicas, these run only when asked for (-m slow).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("serve2"), "--replicas", "2")
    yield server
    stop_server(server)


def _run_all(server, steps: int, side: int, on_started=None):
    from studio.server_client import ServerClient

    client = ServerClient(server.url, server.token)
    started = threading.Event()

    def one(i: int):
        images = []

        def on_event(kind, data):
            if kind == "image":
                images.append(data)
            elif kind == "step":
                started.set()

        payload = {"prompt": PROMPTS[i], "seed": i, "steps": steps, "width": side, "height": side}
        kind, _ = client.run(payload, on_event)
        return kind, images

    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        futures = [pool.submit(one, i) for i in range(len(PROMPTS))]
        if on_started is not None:
            started.wait(timeout=300)
            on_started()
        return [f.result(timeout=600) for f in futures]


def test_a_batch_of_prompts_spreads_over_both_replicas_and_returns_every_image(server):
    results = _run_all(server, steps=3, side=64)
    assert [kind for kind, _ in results] == ["finished"] * len(PROMPTS)
    images = [images[0] for _, images in results]
    assert [image["seed"] for image in images] == list(range(len(PROMPTS)))
    assert len({image["replica"] for image in images}) == 2


def test_a_replica_killed_mid_batch_costs_a_retry_not_an_image(server):
    before = server.call("GET", "/studio/v1/health")[1]["retried"]
    victims = []

    def kill_one():
        time.sleep(0.5)  # both replicas are at work on the batch by now
        pids = server.replica_pids()
        assert len(pids) == 2
        victims.append(pids[0])
        os.kill(pids[0], signal.SIGKILL)

    results = _run_all(server, steps=20, side=128, on_started=kill_one)
    assert [kind for kind, _ in results] == ["finished"] * len(PROMPTS)
    assert all(len(images) == 1 for _, images in results)
    assert server.call("GET", "/studio/v1/health")[1]["retried"] > before
