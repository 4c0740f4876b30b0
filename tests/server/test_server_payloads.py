"""The server's plain parts, without starting Ray: payloads, auth, and that Ray stays out of
everything but `studio serve`."""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

from studio.errors import RequestError, StudioError
from studio.server import a1111
from studio.server.auth import allowed, parse_api_auth, read_token_file
from studio.server.config import Limits
from tests.server.conftest import STUDIO


def _defaults(name):
    from studio.engine.models import resolve_model

    return resolve_model(name).defaults


def test_a_mask_around_a_kept_rectangle_is_an_outpaint_and_any_other_an_inpaint():
    mask = np.full((64, 128), 255, np.uint8)
    mask[8:64, 0:64] = 0
    assert a1111.outpaint_extension(mask) == (0, 8, 64, 0)
    hole = np.zeros((64, 64), np.uint8)
    hole[20:30, 20:30] = 255
    assert a1111.outpaint_extension(hole) is None
    assert a1111.outpaint_extension(np.zeros((64, 64), np.uint8)) is None


def test_txt2img_payload_splits_a_batch_into_one_unit_per_seed_and_keeps_the_model_defaults():
    plan = a1111.txt2img_plan(
        {"prompt": "p", "seed": 4294967295, "batch_size": 2, "n_iter": 2, "sampler_name": "DPM++ 2M",
         "scheduler": "Karras", "steps": 3.0, "whatever": {"x": 1}},
        "embedded", _defaults, Limits(),
    )  # fmt: skip
    assert plan.images == 4
    assert [u["request"]["seed"] for u in plan.units] == [4294967295, 0, 1, 2]
    assert plan.base.scheduler == "DPM++ 2M Karras" and plan.base.steps == 3
    assert (plan.base.width, plan.base.height) == (128, 128)  # the embedded model's own size


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": 0}, "steps must be 1 to 150, not 0"),
        ({"steps": 40}, "steps must be 1 to 30 on this server, not 40"),
        ({"width": 512, "height": 512}, "512x512 is too large for this server: at most 65,536 pixels per image"),
        ({"batch_size": 3, "n_iter": 3}, "batch count must be 1 to 8 on this server (batch_size x n_iter), not 9"),
        ({"seed": "x"}, "seed must be a whole number, not 'x'"),
    ],
)
def test_bad_values_and_values_over_the_limits_are_one_line_refusals(change, message):
    limits = Limits(max_pixels=256 * 256, max_steps=30, max_batch=8)
    with pytest.raises(RequestError) as refused:
        a1111.txt2img_plan({"prompt": "p", **change}, "embedded", _defaults, limits)
    assert str(refused.value) == message


def test_an_image_over_the_pixel_limit_is_refused_before_it_is_decoded():
    from PIL import Image

    from tests.server.conftest import png_of

    big = png_of(Image.new("RGB", (300, 300)))
    with pytest.raises(RequestError, match="over this server's 65,536 pixels"):
        a1111.decode_image(big, "init_images[0]", Limits(max_pixels=256 * 256))
    with pytest.raises(RequestError, match="not valid base64"):
        a1111.decode_image("%%%", "init_images[0]", Limits())


def test_the_token_and_the_basic_pairs_are_checked():
    token = "t" * 20
    pairs = parse_api_auth("a:b,c:d")
    assert allowed(f"Bearer {token}", token, ())
    assert not allowed("Bearer " + "t" * 19, token, ())
    assert not allowed(None, token, ())
    basic = "Basic " + base64.b64encode(b"c:d").decode()
    assert allowed(basic, "", pairs) and not allowed(basic, token, ())
    assert not allowed("Basic " + base64.b64encode(b"c:x").decode(), "", pairs)
    assert allowed(None, "", ())  # no auth configured (loopback only)
    with pytest.raises(StudioError):
        parse_api_auth("nopassword")


def test_a_short_or_missing_token_file_is_refused(tmp_path):
    short = tmp_path / "token"
    short.write_text("abc\n")
    with pytest.raises(StudioError, match="too short"):
        read_token_file(short)
    with pytest.raises(StudioError, match="cannot read token file"):
        read_token_file(tmp_path / "missing")


def test_ray_is_never_imported_by_studio_its_help_or_the_window():
    code = (
        "import sys, studio, studio.cli, studio.app, studio.server_client;"
        "studio.cli.build_parser();"
        "bad = sorted(m for m in sys.modules if m == 'ray' or m.startswith(('ray.', 'fastapi')));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_serving_beyond_this_machine_needs_a_token(tmp_path):
    done = subprocess.run(
        [*STUDIO, "serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "studio: error: --host 0.0.0.0 can be reached from other machines: give --token-file FILE or --api-auth USER:PASS"
    )


def test_a_batch_past_the_engines_count_keeps_single_s_seeds_and_subseeds_are_variations():
    from studio.engine.request import GenerateRequest

    plan = a1111.txt2img_plan({"seed": 10, "batch_size": 12, "steps": 2}, "embedded", _defaults, Limits())
    assert plan.seeds == list(range(10, 22))
    varied = a1111.txt2img_plan(
        {"seed": 10, "subseed": 50, "subseed_strength": 0.3, "batch_size": 12, "steps": 2},
        "embedded",
        _defaults,
        Limits(),
    )
    assert varied.seeds == [10] * 12 and varied.variation_seeds == list(range(50, 62))
    batch = GenerateRequest.from_dict(varied.units[0]["request"]).replace(count=9)
    assert [GenerateRequest.from_dict(u["request"]) for u in varied.units[:9]] == [batch.single(i) for i in range(9)]
    info = json.loads(a1111.info(varied, [], "embedded", ""))
    assert info["all_subseeds"] == list(range(50, 62)) and info["subseed_strength"] == 0.3


def _asgi(app, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    """One request through the ASGI app itself: its status and headers."""
    import asyncio

    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 7860),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


@pytest.mark.parametrize("origins", [(), ("https://paint.example",)])
def test_cors_headers_only_for_the_listed_origins(tmp_path, origins):
    from studio.server.api import build_app
    from studio.server.config import ServerConfig
    from studio.server.jobs import Board
    from studio.server.models import Models

    config = ServerConfig(data=str(tmp_path), cors_origins=origins)
    app = build_app(Board(lambda spec: None, 1, 10), Models(config.data), config)  # type: ignore[arg-type]
    asked = {"Origin": "https://paint.example", "Access-Control-Request-Method": "POST"}
    status, headers = _asgi(app, "OPTIONS", "/sdapi/v1/txt2img", asked)
    allowed_origin = headers.get("access-control-allow-origin")
    assert allowed_origin == ("https://paint.example" if origins else None)
    status, headers = _asgi(app, "GET", "/sdapi/v1/samplers", {"Origin": "https://elsewhere.example"})
    assert status == 200 and "access-control-allow-origin" not in headers


class _InProcess:
    """A unit stream straight from an EngineWorker in this process (what the Ray handle gives the ingress)."""

    def __init__(self, worker, spec):
        self.generator = worker.run(spec)

    def __aiter__(self):
        return self.generator

    def cancel(self):
        pass


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    """One replica's EngineWorker, in this process (loading its model takes a while: shared)."""
    from studio.server.config import ServerConfig
    from studio.server.worker import EngineWorker

    return EngineWorker(ServerConfig(data=str(tmp_path_factory.mktemp("worker"))))


def test_the_queue_takes_turns_between_jobs_so_a_short_one_is_not_stuck_behind_a_batch(worker):
    import asyncio

    from studio.server.jobs import Board

    small = {"prompt": "p", "steps": 1, "width": 64, "height": 64}

    async def scenario():
        board = Board(lambda spec: _InProcess(worker, spec), slots=1, max_queue=20)
        order: list[str] = []
        jobs = {}
        for name, images in (("batch", 4), ("short", 1)):
            plan = a1111.txt2img_plan({**small, "batch_size": images}, "embedded", _defaults, Limits())
            jobs[name] = job = board.submit(plan)
            queue: asyncio.Queue = asyncio.Queue()
            job.listeners.append(queue)
            asyncio.get_running_loop().create_task(_collect(queue, name, order))
        await asyncio.wait_for(asyncio.gather(*(j.done.wait() for j in jobs.values())), 300)
        await board.close()
        return order, jobs

    async def _collect(queue, name, order):
        while (event := await queue.get())["type"] != "finished":
            if event["type"] == "image":
                order.append(name)

    order, jobs = asyncio.run(scenario())
    assert order == ["batch", "short", "batch", "batch", "batch"]
    assert [len(j.images) for j in jobs.values()] == [4, 1]


def test_the_worker_says_it_is_alive_while_its_unit_waits_and_then_runs_it(worker, monkeypatch):
    import asyncio

    monkeypatch.setattr(worker, "heartbeat_s", 0.05)
    payload = {"prompt": "p", "steps": 1, "width": 64, "height": 64, "seed": 1}
    unit = a1111.txt2img_plan(payload, "embedded", _defaults, Limits()).units[0]

    async def scenario():
        worker.lock.acquire()  # the engine is busy with another unit
        events = worker.run(unit)
        try:
            first = await asyncio.wait_for(anext(events), 10)
        finally:
            worker.lock.release()
        return first, [event["type"] async for batch in events for event in batch]

    first, rest = asyncio.run(scenario())
    assert first == [{"type": "alive"}]
    assert [kind for kind in rest if kind != "alive"] == ["step", "preview", "image", "finished"]


def test_a_replica_holds_the_next_unit_and_starts_it_the_moment_the_one_before_ends(worker):
    import asyncio

    from studio.server.config import UNITS_PER_REPLICA
    from studio.server.jobs import Board

    units: list[dict[str, float]] = []  # when each unit was sent, began (its first step came) and ended

    class Timed(_InProcess):
        def __init__(self, spec):
            self.times = {"sent": asyncio.get_running_loop().time()}
            units.append(self.times)
            super().__init__(worker, spec)

        async def __aiter__(self):
            async for batch in self.generator:
                now = asyncio.get_running_loop().time()
                kinds = [event["type"] for event in batch]
                if "step" in kinds:
                    self.times.setdefault("began", now)
                if "finished" in kinds:
                    self.times["ended"] = now
                yield batch

    async def scenario():
        board = Board(Timed, slots=UNITS_PER_REPLICA, max_queue=20)  # what the ingress gives one replica
        payload = {"prompt": "p", "steps": 3, "width": 64, "height": 64, "batch_size": 3}
        plan = a1111.txt2img_plan(payload, "embedded", _defaults, Limits())
        plan.previews, plan.first_report_s, plan.report_s = False, 0.0, 0.0  # every step, to see when a unit began
        job = board.submit(plan)
        await asyncio.wait_for(job.done.wait(), 300)
        await board.close()
        return job

    job = asyncio.run(scenario())
    assert job.state == "finished" and len(job.images) == 3
    assert len(units) == 3 and all(len(times) == 3 for times in units)
    for before, after in itertools.pairwise(units):
        assert after["sent"] < before["ended"]  # the next unit was at the replica before this one ended
        assert before["ended"] <= after["began"]  # and the two ran one after the other, never together


def test_a_unit_cancelled_while_it_waits_behind_another_never_runs(worker, monkeypatch):
    import asyncio

    monkeypatch.setattr(worker, "heartbeat_s", 0.05)
    started: list[dict] = []
    monkeypatch.setattr(worker, "_start", lambda spec, on_event, cancel: started.append(spec))
    unit = a1111.txt2img_plan({"prompt": "p", "steps": 1}, "embedded", _defaults, Limits()).units[0]

    async def scenario():
        worker.lock.acquire()  # the engine is busy with the unit before it
        events = worker.run(unit)
        try:
            first = await asyncio.wait_for(anext(events), 10)
            await events.aclose()  # its job was interrupted
        finally:
            worker.lock.release()
        await asyncio.sleep(0.2)
        with worker.lock:  # the waiting thread took the lock, saw the cancel and let go
            return first

    assert asyncio.run(scenario()) == [{"type": "alive"}]
    assert started == []


def test_a_unit_that_waited_behind_another_keeps_its_first_progress_for_later(worker):
    import asyncio
    import threading

    unit = a1111.txt2img_plan({"prompt": "p", "steps": 1, "width": 64, "height": 64}, "embedded", _defaults, Limits())
    spec = {**unit.units[0], "previews": False, "report_s": 3600.0, "first_report_s": 2.0}

    async def scenario():
        worker.lock.acquire()  # the unit before it runs for 3 s, longer than the first report waits
        threading.Timer(3.0, worker.lock.release).start()
        return [[event["type"] for event in batch] async for batch in worker.run(spec)]

    assert asyncio.run(scenario()) == [["step", "image", "finished"]]  # its one step ran well within 2 s


def test_a_native_job_may_ask_for_no_previews_and_its_progress_comes_a_few_times_a_second():
    from studio.server.native import REPORT_S, native_plan

    plan = native_plan({"prompt": "p", "steps": 2}, "embedded", _defaults, Limits())
    assert (plan.previews, plan.report_s, plan.first_report_s) == (True, REPORT_S, 0.0)
    assert native_plan({"prompt": "p", "previews": False}, "embedded", _defaults, Limits()).previews is False
    with pytest.raises(RequestError) as refused:
        native_plan({"prompt": "p", "previews": "no"}, "embedded", _defaults, Limits())
    assert str(refused.value) == "previews must be true or false, not 'no'"
    a1111_plan = a1111.txt2img_plan({"prompt": "p"}, "embedded", _defaults, Limits())
    assert a1111_plan.previews and a1111_plan.first_report_s == a1111_plan.report_s == a1111.PROGRESS_REPORT_S


def test_the_worker_sends_a_units_events_in_few_batches_the_last_step_always_and_no_previews_unasked(worker):
    import asyncio

    payload = {"prompt": "p", "steps": 3, "width": 64, "height": 64, "seed": 1}
    unit = a1111.txt2img_plan(payload, "embedded", _defaults, Limits()).units[0]
    unit.update(previews=False, report_s=3600.0, first_report_s=3600.0)  # longer than the unit takes

    async def scenario():
        return [batch async for batch in worker.run(unit)]

    batches = asyncio.run(scenario())
    events = [(e["type"], e.get("step")) for batch in batches for e in batch if e["type"] != "alive"]
    assert events == [("step", 3), ("image", None), ("finished", None)]
    assert len([b for b in batches if b != [{"type": "alive"}]]) <= 2  # the image and the end, together unless slow


def test_a_native_job_carries_its_quality_to_every_unit():
    from studio.server.native import native_plan

    plan = native_plan({"prompt": "p", "count": 2, "quality": "draft"}, "embedded", _defaults, Limits())
    assert plan.base.quality == "draft"
    assert [unit["request"]["quality"] for unit in plan.units] == ["draft", "draft"]
    assert native_plan({"prompt": "p"}, "embedded", _defaults, Limits()).base.quality == "full"
    with pytest.raises(RequestError, match="quality must be one of full, draft"):
        native_plan({"prompt": "p", "quality": "fast"}, "embedded", _defaults, Limits())
