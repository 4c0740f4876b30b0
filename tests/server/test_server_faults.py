"""Two replicas on a Ray cluster started with `ray start --head` (`studio serve --ray-address`):
the server says it is ready only once both are, webuiapi drives it, a batch of 100 prompts
spreads over both and returns every image, and a replica killed mid-batch costs its job a
retry on the other one, not an error."""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from studio.testing.server_process import launch_server, start_ray_head, stop_ray_head, wait_ready
from tests.server.conftest import PASSWORD, USER, stop_server

STARTING = "the server is starting its engines; try again in 2 s"


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    head = start_ray_head(tmp_path_factory.mktemp("ray-head"), cpus=2)
    yield head
    stop_ray_head(head)
    assert head.processes() == []


@pytest.fixture(scope="module")
def started(head, tmp_path_factory):
    """A two-replica server on the head's cluster, with every health answer seen from its launch
    until it was ready, and the answer to a job sent at the first of them."""
    server = launch_server(tmp_path_factory.mktemp("serve2"), "--replicas", "2", "--ray-address", head.address)
    answers, early_jobs = [], []

    def on_answer(status, body):
        answers.append((status, body))
        if len(answers) == 1:
            payload = {"prompt": "early", "seed": 1, "steps": 1, "width": 64, "height": 64}
            early_jobs.append(server.call("POST", "/sdapi/v1/txt2img", payload))

    wait_ready(server, on_answer)
    yield server, answers, early_jobs
    stop_server(server)


@pytest.fixture(scope="module")
def server(started):
    return started[0]


def _run_all(server, prompts: list[str], steps: int, side: int, on_step=None):
    """Each prompt as a job of its own, all at once; `on_step(data)` sees the first step event."""
    from studio.server_client import ServerClient

    client = ServerClient(server.url, server.token)
    first_step = threading.Lock()
    seen = []

    def one(i: int):
        images = []

        def on_event(kind, data):
            if kind == "image":
                images.append(data)
            elif kind == "step" and on_step is not None:
                with first_step:
                    if not seen:
                        seen.append(data)
                        on_step(data)

        payload = {"prompt": prompts[i], "seed": i, "steps": steps, "width": side, "height": side}
        kind, _ = client.run(payload, on_event)
        return kind, images

    with ThreadPoolExecutor(len(prompts)) as pool:
        futures = [pool.submit(one, i) for i in range(len(prompts))]
        return [f.result(timeout=300) for f in futures]


def test_the_server_is_ready_only_once_both_replicas_are_and_refuses_jobs_until_then(started):
    _, answers, early_jobs = started
    ready = [body for status, body in answers if status == 200]
    assert len(ready) == 1
    assert ready[0]["ready"] and ready[0]["replicas_ready"] == 2
    for status, body in answers[:-1]:
        assert (status, body["ready"], body["detail"]) == (503, False, STARTING)
    status, body, headers = early_jobs[0]
    if len(answers) > 1:  # the job was sent while the replicas were starting
        retry_after = {key.lower(): value for key, value in headers.items()}.get("retry-after")
        assert (status, body["detail"], retry_after) == (503, STARTING, "2")
    else:
        assert status == 200 and len(body["images"]) == 1


def test_the_replicas_run_on_the_cluster_and_answer_webuiapi(server, head):
    import webuiapi

    replicas = set(server.replica_pids())  # every engine replica on this machine, another server's too
    assert len(replicas & set(head.processes())) == 2  # both of this server's run on the cluster
    assert not replicas & set(server.processes())  # and none in a Ray of its own
    api = webuiapi.WebUIApi(host="127.0.0.1", port=server.port, username=USER, password=PASSWORD)
    result = api.txt2img(prompt="a cluster of hills", seed=5, batch_size=2, steps=1, width=64, height=64)
    assert [image.size for image in result.images] == [(64, 64), (64, 64)]
    assert result.info["all_seeds"] == [5, 6]


def test_a_batch_of_100_prompts_spreads_over_both_replicas_and_returns_every_image(server):
    prompts = [f"a hill number {i}" for i in range(100)]
    results = _run_all(server, prompts, steps=1, side=64)
    assert [kind for kind, _ in results] == ["finished"] * len(prompts)
    images = [images[0] for _, images in results]
    assert [image["seed"] for image in images] == list(range(len(prompts)))
    assert len({image["replica"] for image in images}) == 2


def test_a_replica_killed_mid_batch_costs_a_retry_not_an_image(server):
    before = server.call("GET", "/studio/v1/health")[1]["retried"]
    victims = []

    def kill_the_one_at_work(step):  # it has just made step 1 of 12 of an image
        assert step["replica"] in server.replica_pids()
        victims.append(step["replica"])
        os.kill(step["replica"], signal.SIGKILL)

    prompts = [f"a valley number {i}" for i in range(12)]
    results = _run_all(server, prompts, steps=12, side=64, on_step=kill_the_one_at_work)
    assert [kind for kind, _ in results] == ["finished"] * len(prompts)
    assert all(len(images) == 1 for _, images in results)
    assert len(victims) == 1
    assert server.call("GET", "/studio/v1/health")[1]["retried"] > before
