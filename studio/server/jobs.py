"""The server's jobs: a fair queue over the replicas, retries when a replica dies, and progress.

Each job is a list of units (see `a1111.Plan`). `slots` tasks (as many as the replicas hold
at once: the unit each runs and the one waiting behind it) take units round-robin across the
waiting jobs, so a long batch does not hold back a short request sent after it; a job is
"running" once a replica holds one of its units. A unit whose replica dies, whose request
Ray cancels, or that sends nothing (not even the worker's "alive") for `stall_s` is sent
again, up to `retries` times, then its job fails with a one-line message; a `failed` event
is the engine's own answer and is not retried. A job ends once every unit has: "finished",
"cancelled" (interrupted, or its client went away: the images made so far are kept) or
"failed".

The slots run outside any request's context: Ray Serve makes a handle call a child of the
request being handled when it is made, and cancels the children with it, so a unit sent
from the context of the request that happened to start the board would be cancelled when
that client went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from studio.server.a1111 import Plan
from studio.server.outbox import FINAL

log = logging.getLogger(__name__)

FORGET_AFTER_S = 600.0
STALL_S = 120.0  # a unit silent this long (the worker says "alive" every few seconds) is lost


class UnitLost(Exception):
    """A unit ended without its last event: its replica died, Ray cancelled it, or it went quiet."""


class UnitStream(Protocol):
    def __aiter__(self) -> AsyncIterator[list[dict[str, Any]] | dict[str, Any]]: ...  # batches of events
    def cancel(self) -> None: ...


RunUnit = Callable[[dict[str, Any]], UnitStream]


class Overloaded(Exception):
    """The queue is full; the client should come back in `retry_after` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"the server is busy; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(eq=False)
class Job:
    id: str
    plan: Plan
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    state: str = "queued"
    pending: deque = field(default_factory=deque)
    running: int = 0
    images: dict[int, dict[str, Any]] = field(default_factory=dict)
    steps: dict[int, int] = field(default_factory=dict)
    preview: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    message: str = ""
    retries: int = 0
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    listeners: list[asyncio.Queue] = field(default_factory=list)

    @property
    def total_steps(self) -> int:
        return max(1, self.plan.steps_per_image * self.plan.images)

    @property
    def progress(self) -> float:
        if self.state == "finished":
            return 1.0
        return min(1.0, sum(self.steps.values()) / self.total_steps)

    @property
    def eta(self) -> float:
        """Seconds left, judged from the time so far (0 until there is something to judge from)."""
        progress = self.progress
        if self.started is None or progress <= 0:
            return 0.0
        elapsed = time.monotonic() - self.started
        return elapsed / progress - elapsed

    @property
    def ordered_images(self) -> list[dict[str, Any]]:
        return [self.images[i] for i in sorted(self.images)]

    def tell(self, event: dict[str, Any]) -> None:
        for queue in self.listeners:
            queue.put_nowait(event)


class Board:
    """Jobs waiting and running; the ingress's one copy (it runs one replica)."""

    def __init__(
        self,
        run_unit: RunUnit,
        slots: int,
        max_queue: int,
        retries: int = 4,
        backoff: float = 1.0,
        stall_s: float = STALL_S,
    ):
        self.run_unit = run_unit
        self.slots = max(1, slots)
        self.max_queue = max_queue
        self.retries = retries
        self.backoff = backoff
        self.stall_s = stall_s
        self.jobs: dict[str, Job] = {}
        self._order: deque[Job] = deque()  # jobs with units waiting, in turn
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._ids = itertools.count(1)
        self._unit_s = 2.0  # a running estimate of one image's time, for Retry-After
        self.retried = 0  # units sent again after their replica died

    # Asking.

    def waiting_images(self) -> int:
        return sum(len(j.pending) + j.running for j in self.jobs.values() if not j.done.is_set())

    def submit(self, plan: Plan) -> Job:
        """Queue `plan` as a job; Overloaded when the queue would go past its limit."""
        waiting = self.waiting_images()
        if waiting and waiting + plan.images > self.max_queue:
            raise Overloaded(self.retry_after(waiting))
        self._prune()
        job = Job(f"job-{next(self._ids)}", plan)
        job.pending.extend(plan.units)
        self.jobs[job.id] = job
        self._order.append(job)
        self._start_slots()
        self._wake.set()
        return job

    def _prune(self) -> None:
        """Forget ended jobs no answer is waiting for (a stream whose client left before it began)."""
        now = time.monotonic()
        for job in [j for j in self.jobs.values() if j.done.is_set() and now - j.created > FORGET_AFTER_S]:
            self.forget(job)

    def retry_after(self, waiting: int) -> int:
        return max(1, min(600, math.ceil(waiting * self._unit_s / self.slots)))

    def cancel(self, job: Job) -> None:
        if job.done.is_set():
            return
        job.cancelled.set()
        job.pending.clear()
        if job.running == 0:
            self._end(job)

    def interrupt(self) -> int:
        """Cancel every job not yet ended (AUTOMATIC1111's interrupt); how many there were."""
        live = [j for j in self.jobs.values() if not j.done.is_set()]
        for job in live:
            self.cancel(job)
        return len(live)

    def current(self) -> Job | None:
        """The job /progress reports: the oldest running one, else the oldest queued one."""
        live = [j for j in self.jobs.values() if not j.done.is_set()]
        running = [j for j in live if j.state == "running"]
        return (running or live or [None])[0]

    def forget(self, job: Job) -> None:
        self.jobs.pop(job.id, None)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # Running.

    def _start_slots(self) -> None:
        """Start the missing slots (all at first; any that ended by a bug since), in a context of their own."""
        for task in [t for t in self._tasks if t.done()]:
            self._tasks.remove(task)
            if not task.cancelled() and task.exception() is not None:
                log.error("a slot of the board ended: %r", task.exception())
        loop = asyncio.get_running_loop()
        while len(self._tasks) < self.slots:
            self._tasks.append(contextvars.Context().run(loop.create_task, self._slot()))

    async def _slot(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            job, unit = taken
            try:
                await self._run(job, unit)
            except asyncio.CancelledError:  # the board is closing (a unit's own cancel is a lost unit)
                raise
            except Exception:  # a bug here must not stop the slot
                log.exception("a unit of %s failed in the board", job.id)
                self._fail(job, "the server failed to run the job")
            finally:
                job.running -= 1
                if job.running == 0 and not job.pending:
                    self._end(job)

    def _take(self) -> tuple[Job, dict[str, Any]] | None:
        while self._order:
            job = self._order.popleft()
            if not job.pending or job.cancelled.is_set():
                continue
            unit = job.pending.popleft()
            if job.pending:
                self._order.append(job)
            job.running += 1
            if job.state == "queued":
                job.state, job.started = "running", time.monotonic()
                job.tell({"type": "started", "job": job.id, "images": job.plan.images, "total_steps": job.total_steps})
            return job, unit
        return None

    async def _run(self, job: Job, unit: dict[str, Any]) -> None:
        attempt = 0
        while True:
            if job.cancelled.is_set():
                return
            began = time.monotonic()
            plan = job.plan
            stream = self.run_unit(
                {**unit, "previews": plan.previews, "report_s": plan.report_s, "first_report_s": plan.first_report_s}
            )
            consume = asyncio.ensure_future(self._consume(job, stream))
            stop = asyncio.ensure_future(job.cancelled.wait())
            try:
                await asyncio.wait({consume, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
            if not consume.done():  # interrupted: the replica stops at its next step
                stream.cancel()
                consume.cancel()
                with contextlib.suppress(BaseException):
                    await consume
                return
            problem = _lost(consume)
            if problem is None:
                made = consume.result()
                if made:
                    self._unit_s = 0.8 * self._unit_s + 0.2 * (time.monotonic() - began) / made
                return
            stream.cancel()  # a unit given up for its silence may still be running somewhere
            if job.cancelled.is_set():
                return
            attempt += 1
            job.retries += 1
            self.retried += 1
            log.warning("%s lost a unit (%s); attempt %d", job.id, problem, attempt)
            if attempt > self.retries:
                self._fail(job, f"the server's engines failed this job {attempt} times (the last: {problem})")
                return
            first = int(unit.get("first", 0))
            for index in list(job.steps):
                if index >= first and index not in job.images:
                    job.steps[index] = 0
            job.tell({"type": "retry", "attempt": attempt})
            with contextlib.suppress(asyncio.TimeoutError):  # an interrupt ends the wait
                await asyncio.wait_for(job.cancelled.wait(), self.backoff * 2 ** (attempt - 1))

    async def _consume(self, job: Job, stream: UnitStream) -> int:
        """Hand the unit's events to the job; how many images it made. UnitLost when the
        stream ends without a last event or sends nothing for `stall_s`."""
        made = 0
        items = aiter(stream)
        while True:
            try:
                item = await asyncio.wait_for(anext(items), self.stall_s)
            except StopAsyncIteration:
                raise UnitLost("its stream ended early") from None
            except asyncio.TimeoutError:
                raise UnitLost(f"nothing came for {self.stall_s:g} s") from None
            batch = item if isinstance(item, list) else [item]  # the worker sends its events in batches
            for event in batch:
                made += self._take_event(job, event)
                if event.get("type") in FINAL:
                    return made

    def _take_event(self, job: Job, event: dict[str, Any]) -> int:
        """Record one of a unit's events in its job and tell the job's listeners; 1 for an image."""
        kind = event.get("type")
        if kind == "step":
            job.steps[event["index"]] = event["step"]
        elif kind == "preview":
            job.preview = event
        elif kind == "image":
            job.images[event["index"]] = event
            job.steps[event["index"]] = job.plan.steps_per_image
        elif kind == "finished":
            job.warnings.extend(w for w in event.get("warnings", ()) if w not in job.warnings)
        elif kind == "failed":
            self._fail(job, event.get("message", "the job failed"))
        if kind in ("step", "preview", "image"):
            job.tell(event)
        return 1 if kind == "image" else 0

    def _fail(self, job: Job, message: str) -> None:
        if not job.message:
            job.message = message
        job.cancelled.set()
        job.pending.clear()

    def _end(self, job: Job) -> None:
        if job.done.is_set():
            return
        if job.message:
            job.state = "failed"
            job.tell({"type": "failed", "message": job.message})
        elif job.cancelled.is_set():
            job.state = "cancelled"
            job.tell({"type": "cancelled", "completed": len(job.images)})
        else:
            job.state = "finished"
            job.tell({"type": "finished", "warnings": job.warnings})
        job.done.set()


def _lost(consume: asyncio.Future) -> str | None:
    """Why a finished `_consume` lost its unit (None: it did not). Ray ends a request it
    cancelled with CancelledError (before a replica took it) or RequestCancelledError."""
    if consume.cancelled():
        return "the request was cancelled"
    problem = consume.exception()
    if problem is None:
        return None
    if isinstance(problem, UnitLost):
        return str(problem)
    if type(problem).__name__ == "RequestCancelledError":
        return "the request was cancelled"
    return f"{type(problem).__name__}: {problem}" if str(problem) else type(problem).__name__
