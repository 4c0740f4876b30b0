"""The job board without Ray: what it does when a unit's stream is cancelled, goes quiet or
is started from inside another request. The streams here stand in for Ray Serve's
(`DeploymentResponseGenerator`): they yield the worker's plain event dicts."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from studio.server import a1111
from studio.server.config import Limits
from studio.server.jobs import Board

# Ray Serve keeps the request being handled in a context variable, and a handle call made
# while it is set becomes that request's child: cancelled with it.
REQUEST: contextvars.ContextVar[str | None] = contextvars.ContextVar("REQUEST", default=None)


def _defaults(name):
    from studio.engine.models import resolve_model

    return resolve_model(name).defaults


def _plan(images: int, seed: int = 1):
    payload = {"prompt": "p", "steps": 1, "width": 64, "height": 64, "seed": seed, "batch_size": images}
    return a1111.txt2img_plan(payload, "embedded", _defaults, Limits())


class _Stream:
    """A unit that makes its images at once; `script` may first raise, or go quiet."""

    def __init__(self, spec, trouble=None):
        self.spec, self.trouble, self.cancelled = spec, trouble, False

    def __aiter__(self):
        return self._events()

    async def _events(self):
        if self.trouble == "cancelled":
            raise asyncio.CancelledError  # what Ray raises in a request it cancelled before a replica took it
        if self.trouble == "quiet":
            await asyncio.Event().wait()
        first = self.spec["first"]
        yield {"type": "step", "index": first, "step": 1, "total": 1}
        if self.trouble == "ended":  # a replica gone without a word
            return
        yield {"type": "image", "index": first, "seed": first, "png": b"", "infotext": ""}
        yield {"type": "finished", "warnings": []}

    def cancel(self):
        self.cancelled = True


async def _finish(board: Board, *jobs) -> None:
    await asyncio.wait_for(asyncio.gather(*(job.done.wait() for job in jobs)), 10)
    await board.close()


def test_units_are_not_sent_from_inside_the_request_that_started_the_board():
    seen = []

    def run_unit(spec):
        seen.append(REQUEST.get())
        return _Stream(spec)

    async def scenario():
        board = Board(run_unit, slots=2, max_queue=10)

        async def request(name: str, images: int):
            REQUEST.set(name)
            job = board.submit(_plan(images))
            await job.done.wait()
            return job

        jobs = await asyncio.wait_for(asyncio.gather(request("first", 3), request("second", 2)), 10)
        await board.close()
        return jobs

    jobs = asyncio.run(scenario())
    assert [job.state for job in jobs] == ["finished", "finished"]
    assert seen == [None] * 5


@pytest.mark.parametrize("trouble", ["cancelled", "ended"])
def test_a_unit_that_ray_cancels_or_that_ends_early_is_sent_again_and_the_board_keeps_running(trouble):
    attempts = []

    def run_unit(spec):
        attempts.append(spec["first"])
        return _Stream(spec, trouble if len(attempts) <= 2 else None)

    async def scenario():
        board = Board(run_unit, slots=2, max_queue=10, backoff=0.01)
        batch = board.submit(_plan(4))
        await asyncio.wait_for(batch.done.wait(), 10)
        later = board.submit(_plan(1, seed=9))
        await _finish(board, later)
        return board, batch, later

    board, batch, later = asyncio.run(scenario())
    assert (batch.state, sorted(batch.images)) == ("finished", [0, 1, 2, 3])
    assert later.state == "finished"
    assert board.retried == 2


def test_a_unit_that_goes_quiet_is_given_up_and_sent_again():
    streams = []

    def run_unit(spec):
        streams.append(_Stream(spec, "quiet" if not streams else None))
        return streams[-1]

    async def scenario():
        board = Board(run_unit, slots=1, max_queue=10, backoff=0.01, stall_s=0.2)
        job = board.submit(_plan(1))
        await _finish(board, job)
        return board, job

    board, job = asyncio.run(scenario())
    assert job.state == "finished" and len(job.images) == 1
    assert streams[0].cancelled
    assert board.retried == 1


def test_a_unit_that_keeps_failing_ends_its_job_with_a_message():
    def run_unit(spec):
        return _Stream(spec, "cancelled")

    async def scenario():
        board = Board(run_unit, slots=1, max_queue=10, retries=2, backoff=0.01)
        job = board.submit(_plan(1))
        await _finish(board, job)
        return job

    job = asyncio.run(scenario())
    assert job.state == "failed"
    assert job.message == "the server's engines failed this job 3 times (the last: the request was cancelled)"
