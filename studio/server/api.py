"""The HTTP routes: the AUTOMATIC1111 API subset and Studio's own streaming job endpoint.

    POST /sdapi/v1/txt2img, /sdapi/v1/img2img     -> {"images": [base64 PNG], "parameters", "info"}
    GET  /sdapi/v1/progress                        -> progress, eta_relative, state, current_image
    POST /sdapi/v1/interrupt                       ends every running job (images made so far are kept)
    GET  /sdapi/v1/sd-models, /sdapi/v1/samplers, GET/POST /sdapi/v1/options (sd_model_checkpoint)
    POST /studio/v1/jobs                           server-sent events: started, step, preview, image,
                                                   retry, then finished, cancelled or failed
    GET  /studio/v1/model?name=NAME                a model's library name and default settings
    GET  /studio/v1/health                         ok, ready, replicas, replicas_ready, model, retried

Until every replica is up, health and the job routes answer 503 ("starting", Retry-After).
Bad values answer 422 with the command line's one line in `detail`; a body over the limit
413; a full queue 503 with Retry-After; a missing or wrong token 401. A client that goes
away cancels its job.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import io
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from studio.errors import StudioError
from studio.server import a1111, native
from studio.server.auth import allowed
from studio.server.config import ServerConfig
from studio.server.jobs import Board, Job, Overloaded
from studio.server.models import Models
from studio.server.outbox import FINAL

log = logging.getLogger(__name__)

HEAVY = ("init_images", "mask")  # not echoed back in `parameters`
KEEP_ALIVE_S = 15.0
STARTING_RETRY_S = 2
STARTING = f"the server is starting its engines; try again in {STARTING_RETRY_S} s"

Readiness = Callable[[], Awaitable[int]]  # how many replicas are up


async def _all_up() -> int:
    return -1


class Refused(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


class Guard:
    """Every HTTP request: the token (or a basic pair) first, then a declared body over the limit.
    A plain ASGI middleware, so a job's event stream passes through untouched."""

    def __init__(self, app: ASGIApp, config: ServerConfig):
        self.app, self.config = app, config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        config, headers = self.config, Headers(scope=scope)
        if not allowed(headers.get("authorization"), config.token, config.basic):
            challenge = 'Bearer realm="studio"' + (', Basic realm="studio"' if config.basic else "")
            refusal = JSONResponse({"detail": "Not authenticated"}, 401, {"WWW-Authenticate": challenge})
            return await refusal(scope, receive, send)
        length = headers.get("content-length")
        if length and (not length.isdigit() or int(length) > config.limits.max_body):
            return await _too_large(config.limits.max_body)(scope, receive, send)
        await self.app(scope, receive, send)


def build_app(board: Board, models: Models, config: ServerConfig, replicas_up: Readiness = _all_up):
    """The routes; `replicas_up()` says how many replicas are up (-1: all, without asking)."""
    app = FastAPI(title="Studio", docs_url=None, redoc_url=None, openapi_url=None)
    limits = config.limits
    state = {"ready": False}

    async def readiness() -> tuple[bool, int]:
        """Whether every replica is up, and how many are; once all were, the server stays ready
        (a replica that dies later is restarted by Ray, and its units are sent again)."""
        if state["ready"]:
            return True, config.replicas
        up = await replicas_up()
        up = config.replicas if up < 0 else up
        state["ready"] = up >= config.replicas
        return state["ready"], up

    async def require_ready() -> None:
        if not (await readiness())[0]:
            raise Refused(503, STARTING, {"Retry-After": str(STARTING_RETRY_S)})

    app.add_middleware(Guard, config=config)

    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        return JSONResponse({"error": type(exc).__name__, "detail": exc.detail}, exc.status, exc.headers)

    async def read_json(request: Request) -> dict[str, Any]:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limits.max_body:
                raise Refused(413, _too_large_text(limits.max_body))
        try:
            data = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            raise Refused(422, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise Refused(422, "the body must be a JSON object")
        return data

    async def plan_of(build, payload: dict[str, Any], model: Any) -> a1111.Plan:
        def make():
            return build(payload, models.check(model), models.defaults, limits)

        try:
            return await asyncio.to_thread(make)
        except StudioError as exc:
            raise Refused(422, _one_line(exc)) from None

    def submit(plan: a1111.Plan) -> Job:
        try:
            return board.submit(plan)
        except Overloaded as exc:
            raise Refused(503, str(exc), {"Retry-After": str(exc.retry_after)}) from None

    async def finish(job: Job) -> None:
        try:
            await job.done.wait()
        finally:
            if not job.done.is_set():  # the client went away
                board.cancel(job)
            board.forget(job)

    def answer(job: Job, payload: dict[str, Any]) -> dict[str, Any]:
        if job.state == "failed":
            raise Refused(500, job.message)
        images = job.ordered_images
        first = images[0] if images else {}
        return {
            "images": [base64.b64encode(image["png"]).decode("ascii") for image in images],
            "parameters": {k: v for k, v in payload.items() if k not in HEAVY},
            "info": a1111.info(
                job.plan, [i["infotext"] for i in images], first.get("model", ""), first.get("model_hash", "")
            ),
        }

    async def a1111_job(request: Request, build) -> dict[str, Any]:
        await require_ready()
        payload = await read_json(request)
        plan = await plan_of(build, payload, a1111.model_name(payload, models.current))
        job = submit(plan)
        await finish(job)
        return answer(job, payload)

    @app.post("/sdapi/v1/txt2img")
    async def txt2img(request: Request):
        return await a1111_job(request, a1111.txt2img_plan)

    @app.post("/sdapi/v1/img2img")
    async def img2img(request: Request):
        return await a1111_job(request, a1111.img2img_plan)

    @app.get("/sdapi/v1/progress")
    async def progress():
        return _progress(board)

    @app.post("/sdapi/v1/interrupt")
    async def interrupt():
        board.interrupt()
        return {}

    @app.post("/sdapi/v1/skip")
    async def skip():
        return {}

    @app.get("/sdapi/v1/sd-models")
    async def sd_models():
        return await asyncio.to_thread(models.listing)

    @app.get("/sdapi/v1/samplers")
    async def samplers():
        from studio.engine.schedulers import SCHEDULER_NAMES

        return [{"name": name, "aliases": [], "options": {}} for name in SCHEDULER_NAMES]

    @app.get("/sdapi/v1/scripts")
    async def scripts():
        return {"txt2img": [], "img2img": []}

    @app.get("/sdapi/v1/options")
    async def get_options():
        return {"sd_model_checkpoint": models.current, "samples_format": "png"}

    @app.post("/sdapi/v1/options")
    async def set_options(request: Request):
        payload = await read_json(request)
        if "sd_model_checkpoint" in payload:
            try:
                name = await asyncio.to_thread(models.check, a1111.checkpoint_name(payload["sd_model_checkpoint"]))
                await asyncio.to_thread(models.defaults, name)
            except StudioError as exc:
                raise Refused(422, _one_line(exc)) from None
            models.current = name
        return {}

    @app.get("/studio/v1/model")
    async def model(name: str = ""):
        """A model's library name and the settings it works best with (what a client's model picker needs)."""

        def look() -> dict[str, Any]:
            checked = models.check(name or models.current)
            defaults = models.defaults(checked)
            return {"name": checked, "defaults": dataclasses.asdict(defaults)}

        try:
            return await asyncio.to_thread(look)
        except StudioError as exc:
            raise Refused(422, _one_line(exc)) from None

    @app.get("/studio/v1/health")
    async def health():
        ready, up = await readiness()
        answer = {
            "ok": ready,
            "ready": ready,
            "replicas": config.replicas,
            "replicas_ready": up,
            "model": models.current,
            "retried": board.retried,
        }
        if ready:
            return answer
        return JSONResponse({**answer, "detail": STARTING}, 503, {"Retry-After": str(STARTING_RETRY_S)})

    @app.post("/studio/v1/jobs")
    async def jobs(request: Request):
        await require_ready()
        payload = await read_json(request)
        build = functools.partial(native.native_plan, data=config.data)
        plan = await plan_of(build, payload, payload.get("model") or models.current)
        job = submit(plan)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        job.listeners.append(queue)

        async def events():
            try:
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), KEEP_ALIVE_S)
                    except asyncio.TimeoutError:
                        yield ": waiting\n\n"  # a comment line: keeps proxies from closing a queued job's stream
                        continue
                    chunks = [_sse(event)]
                    while event["type"] not in FINAL and not queue.empty():  # what came meanwhile: one chunk
                        event = queue.get_nowait()
                        chunks.append(_sse(event))
                    yield "".join(chunks)
                    if event["type"] in FINAL:
                        break
            finally:
                if not job.done.is_set():  # the client went away
                    board.cancel(job)
                board.forget(job)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    return app


def _sse(event: dict[str, Any]) -> str:
    data = {k: v for k, v in event.items() if k not in ("type", "rgb", "png")}
    if "png" in event:
        data["png"] = base64.b64encode(event["png"]).decode("ascii")
    if "rgb" in event:
        data["png"] = _png_b64(event["rgb"])
    return f"event: {event['type']}\ndata: {json.dumps(data)}\n\n"


def _png_b64(rgb, size: tuple[int, int] | None = None) -> str:
    from PIL import Image

    image = Image.fromarray(rgb)
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _progress(board: Board) -> dict[str, Any]:
    job = board.current()
    live = [j for j in board.jobs.values() if not j.done.is_set()]
    if job is None:
        state = {
            "skipped": False,
            "interrupted": False,
            "job": "",
            "job_count": 0,
            "job_timestamp": "0",
            "job_no": 0,
            "sampling_step": 0,
            "sampling_steps": 0,
        }
        return {"progress": 0.0, "eta_relative": 0.0, "state": state, "current_image": None, "textinfo": None}
    base = job.plan.base
    current = max(job.steps.values(), default=0) if job.steps else 0
    preview = job.preview
    image = _png_b64(preview["rgb"], (base.width, base.height)) if preview is not None else None
    state = {
        "skipped": False,
        "interrupted": job.cancelled.is_set(),
        "job": job.id,
        "job_count": len(live),
        "job_timestamp": time.strftime("%Y%m%d%H%M%S"),
        "job_no": len(job.images),
        "sampling_step": current,
        "sampling_steps": base.steps,
    }
    return {
        "progress": round(job.progress, 4),
        "eta_relative": round(job.eta, 3),
        "state": state,
        "current_image": image,
        "textinfo": f"{job.state}: image {len(job.images) + 1} of {job.plan.images}",
    }


def _too_large_text(limit: int) -> str:
    return f"the request is over this server's limit of {limit // (1024 * 1024)} MB"


def _too_large(limit: int):
    return JSONResponse({"error": "Refused", "detail": _too_large_text(limit)}, 413)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
