"""One engine per replica: a job unit in, the engine's events out as plain dicts.

`EngineWorker.run(spec)` is an async generator (Ray Serve streams what it yields to the
ingress). The engine runs on a thread of its own, one unit at a time: a unit sent while
another runs waits for it (saying "alive"). When the caller stops listening (the job was
interrupted, its client went away) the generator is closed and the engine stops at the next
step boundary, or a unit still waiting ends without running. Each item it yields is a list
of events, coalesced by an `Outbox`: progress `spec["first_report_s"]` after the unit began,
then at most every `spec["report_s"]` seconds, an image with the unit's last event;
`spec["previews"]` False makes no previews at all.

The events, each a dict with a "type":
  alive    (nothing else) every `heartbeat_s` without another event: waiting for the engine,
           loading a model, or a long step; the ingress gives up on a unit that stays silent
  step     index, step, total, replica (the process id)
  preview  index, step, total, rgb (H x W x 3 uint8, small)
  image    index, seed, png (bytes, the recipe inside), infotext (AUTOMATIC1111's text)
  finished warnings;  cancelled;  failed message   (the last one)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

from studio.server.config import ServerConfig
from studio.server.outbox import FINAL, Outbox

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
EDIT_PREVIEW_STRIDE = 4  # an outpaint's preview is the whole canvas, at a quarter of its size


class EngineWorker:
    """Owns one Engine; set up the way `studio generate` is (the library's names resolve)."""

    heartbeat_s = HEARTBEAT_S

    def __init__(self, config: ServerConfig):
        import torch

        torch.set_num_threads(max(1, config.threads))
        from studio.engine.draft_decoders import draft_cache, use_draft_training
        from studio.engine.models import use_model_finder, use_resource_finder
        from studio.engine.runner import Engine
        from studio.library.catalog import Library
        from studio.library.resources import resource_finder

        self.data = config.data
        library = Library(Path(config.data))
        use_model_finder(library.finder)
        use_resource_finder(resource_finder(library))
        use_draft_training(draft_cache(Path(config.data)))  # as `studio generate`: a draft job waits for its decoder
        self.engine = Engine(device=config.device)
        self.lock = threading.Lock()
        try:
            self.engine.load(config.model)  # ready before the first job
        except Exception as exc:
            log.warning("could not load %s up front: %s", config.model, exc)

    def pid(self) -> int:
        return os.getpid()

    async def run(self, spec: dict[str, Any]):
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        cancel = threading.Event()
        previews = bool(spec.get("previews", True))
        outbox = Outbox(float(spec.get("report_s", 0.0)), loop.time(), float(spec.get("first_report_s", 0.0)), previews)

        def emit(event: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        running = loop.run_in_executor(None, self._run, spec, emit, cancel)
        try:
            silent_since = loop.time()
            while True:
                now = loop.time()
                timeout = silent_since + self.heartbeat_s - now
                due = outbox.wait_s(now)
                if due is not None:
                    timeout = min(timeout, due)
                if events.empty() and timeout > 0:
                    with contextlib.suppress(asyncio.TimeoutError):
                        outbox.add(await asyncio.wait_for(events.get(), timeout), loop.time())
                while not events.empty():
                    outbox.add(events.get_nowait(), loop.time())
                batch = outbox.take(loop.time())
                if not batch and loop.time() - silent_since >= self.heartbeat_s:
                    batch = [{"type": "alive"}]
                if not batch:
                    continue
                silent_since = loop.time()
                yield batch
                if batch[-1]["type"] in FINAL:
                    break
        finally:
            cancel.set()  # nothing when the unit ended; else it stops at the next step
            if running.done():
                running.result()

    def _run(self, spec: dict[str, Any], emit, cancel: threading.Event) -> None:
        with self.lock:
            try:
                if cancel.is_set():
                    emit({"type": "cancelled"})
                    return
                emit({"type": "began"})  # for the outbox's clock; not sent
                first = int(spec.get("first", 0))
                self._start(spec, lambda event: _wire(event, first, emit), cancel)  # its last event ends the unit
            except Exception as exc:  # a request the checks let through; still one line
                log.exception("a unit failed")
                emit({"type": "failed", "message": f"{type(exc).__name__}: {exc}"})

    def _start(self, spec: dict[str, Any], on_event, cancel):
        from studio.engine.request import GenerateRequest

        request = GenerateRequest.from_dict(spec["request"])
        previews = bool(spec.get("previews", True))
        if spec["kind"] == "edit":
            from studio.engine.edit import EditRequest

            edit = EditRequest(request, spec["image"], spec["mask"], **spec["edit"])
            return self.engine.run_edit(edit, on_event, cancel, previews)
        if spec["kind"] == "image":
            from studio.engine.image_request import ImageRequest
            from studio.server.models import upscaler_file

            image = ImageRequest(
                request,
                spec["image"],
                strength=spec["strength"],
                kind=spec.get("image_kind", "img2img"),
                scale=spec.get("scale", 1.0),
                upscaler=upscaler_file(self.data, spec.get("upscaler")),
            )
            return self.engine.run_image(image, on_event, cancel, previews)
        return self.engine.run(request, on_event, cancel, previews)


def _wire(event, first: int, emit) -> None:
    """An engine event as the plain dict the ingress reads (image indices counted from `first`)."""
    from studio.engine.events import Cancelled, EditPreview, Failed, Finished, ImageDone, Preview, Step

    if isinstance(event, Step):
        step = {"type": "step", "index": first + event.index, "step": event.step, "total": event.total}
        emit({**step, "replica": os.getpid()})
    elif isinstance(event, EditPreview):
        rgb = event.canvas_rgb()[::EDIT_PREVIEW_STRIDE, ::EDIT_PREVIEW_STRIDE]
        emit({"type": "preview", "index": first + event.index, "step": event.step, "total": event.total, "rgb": rgb})
    elif isinstance(event, Preview):
        emit(
            {
                "type": "preview",
                "index": first + event.index,
                "step": event.step,
                "total": event.total,
                "rgb": event.rgb,
            }
        )
    elif isinstance(event, ImageDone):
        from studio.recipe.a1111 import recipe_text
        from studio.recipe.embed import png_bytes

        result = event.result
        emit(
            {
                "type": "image",
                "index": first + result.index,
                "seed": result.seed,
                "png": png_bytes(result.image, result.recipe),
                "infotext": recipe_text(result.recipe),
                "model": result.recipe.model_name,
                "model_hash": result.recipe.model_hash,
                "replica": os.getpid(),
            }
        )
    elif isinstance(event, Finished):
        emit({"type": "finished", "warnings": list(event.warnings)})
    elif isinstance(event, Cancelled):
        emit({"type": "cancelled"})
    elif isinstance(event, Failed):
        emit({"type": "failed", "message": event.message})
