"""Studio's client for `studio serve`: send one job, get the engine's events back as they happen.

Standard library only (no Ray, no HTTP package), so `studio generate --server URL` works
wherever Studio does. The job goes to `POST /studio/v1/jobs` and the answer is a stream of
server-sent events, read on a thread of its own: `run()` hands each to `on_event(type, data)`
("started", "step", "preview", "image", "retry") and returns the last one ("finished",
"cancelled" or "failed"). Setting `cancel` closes the connection, and the server cancels the
job. Images arrive as PNG bytes with their recipe inside (`data["png"]`). The server sends
something at least every 15 s, even for a job still queued, so a connection silent for
`idle_timeout` is given up with a ServerError rather than waited on for ever.
"""

from __future__ import annotations

import base64
import http.client
import json
import queue
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from studio.errors import RequestError, StudioError

FINAL = ("finished", "cancelled", "failed")
JOBS_PATH = "/studio/v1/jobs"
MAX_LINE = 64 * 1024 * 1024  # one event: an image of up to 2048 x 2048 in base64
IDLE_TIMEOUT_S = 60.0  # four of the server's keep-alive intervals


class ServerError(StudioError):
    """The server could not be reached or refused the job."""


EventHandler = Callable[[str, dict[str, Any]], None]


class ServerClient:
    def __init__(self, url: str, token: str = "", timeout: float = 30.0, idle_timeout: float = IDLE_TIMEOUT_S):
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RequestError(f"the server address must look like http://HOST:PORT, not {url!r}")
        self.url = url
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.idle_timeout = idle_timeout

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        return kind(self.host, self.port, timeout=timeout)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def get(self, path: str) -> Any:
        """GET a JSON answer (e.g. '/studio/v1/health')."""
        connection = self._connection(self.timeout)
        try:
            connection.request("GET", self.prefix + path, headers=self._headers())
            response = connection.getresponse()
            body = response.read()
            _check(response.status, body, response.getheader("Retry-After"), self.url)
            return json.loads(body)
        except OSError as exc:
            raise ServerError(f"cannot reach the server at {self.url}: {exc.strerror or exc}") from None
        finally:
            connection.close()

    def run(
        self, payload: dict[str, Any], on_event: EventHandler | None = None, cancel: threading.Event | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Run one job to its end; the last event (type, data)."""
        connection = self._connection(self.timeout)
        try:
            connection.request("POST", self.prefix + JOBS_PATH, json.dumps(payload).encode(), self._headers())
            sock = connection.sock  # the response keeps reading it when the connection lets go of it
            response = connection.getresponse()
        except OSError as exc:
            connection.close()
            raise ServerError(f"cannot reach the server at {self.url}: {exc.strerror or exc}") from None
        if response.status != 200:
            body = response.read()
            connection.close()
            _check(response.status, body, response.getheader("Retry-After"), self.url)
        if sock is not None:
            sock.settimeout(self.idle_timeout)
        events: queue.Queue = queue.Queue()
        reader = threading.Thread(target=_read_events, args=(response, events), daemon=True, name="server-events")
        reader.start()
        try:
            while True:
                if cancel is not None and cancel.is_set():  # also while events keep coming
                    return "cancelled", {"completed": None}
                try:
                    item = events.get(timeout=0.1)
                except queue.Empty:
                    continue
                if isinstance(item, TimeoutError):
                    raise ServerError(
                        f"the server at {self.url} sent nothing for {self.idle_timeout:g} s; the job was given up"
                    )
                if isinstance(item, BaseException):
                    raise ServerError(f"lost the connection to the server at {self.url}: {item}")
                kind, data = item
                if kind in FINAL:
                    return kind, data
                if on_event is not None:
                    on_event(kind, data)
        finally:
            _close(connection, sock)


def _read_events(response, events: queue.Queue) -> None:
    kind, lines = "message", []
    try:
        while True:
            raw = response.readline(MAX_LINE)
            if not raw:
                events.put(ConnectionError("the server ended the stream early"))
                return
            line = raw.decode("utf-8").rstrip("\r\n")
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                lines.append(line[5:].strip())
            elif not line and lines:
                data = json.loads("\n".join(lines))
                if isinstance(data.get("png"), str):
                    data["png"] = base64.b64decode(data["png"])
                events.put((kind, data))
                if kind in FINAL:
                    return
                kind, lines = "message", []
    except Exception as exc:  # the connection was closed: by cancel, or by the network
        events.put(exc)


def _close(connection: http.client.HTTPConnection, sock=None) -> None:
    import socket

    sock = connection.sock or sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    connection.close()


def _check(status: int, body: bytes, retry_after: str | None, url: str) -> None:
    if status == 200:
        return
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        detail = None
    detail = detail if isinstance(detail, str) else body[:200].decode("utf-8", "replace").strip()
    if status == 422:
        raise RequestError(detail)
    if status == 401:
        raise ServerError(f"the server at {url} wants a token (--token-file FILE), or refused the one given")
    if status == 503:
        doing = "starting its engines" if "starting" in detail else "busy"
        raise ServerError(f"the server at {url} is {doing}; try again in {retry_after or 'a few'} s")
    raise ServerError(f"the server at {url} answered {status}: {detail}")


def read_token(path: str | None) -> str:
    """The token in FILE for `--token-file`, or '' without one."""
    if not path:
        return ""
    from studio.server.auth import read_token_file

    return read_token_file(path)


class RemoteEngine:
    """The engine's `run` and `run_edit` on a server: the same requests in, the same typed
    events out (`studio.engine.events`), so code written for `Engine` can use a server.

    Previews carry the server's small preview picture (`latents` are zeros of its size);
    edit previews are plain `Preview`s of the whole canvas."""

    def __init__(self, url: str, token: str = ""):
        self.client = ServerClient(url, token)
        self.models = RemoteModels(self.client)

    def health(self) -> dict[str, Any]:
        return self.client.get("/studio/v1/health")

    def load(self, ref: str):
        return self.models.get(ref)

    def run_image(self, request, on_event=None, cancel=None, previews: bool = True):
        """An img2img or upscale `ImageRequest`; an upscaler goes by its file's name, which must be
        in the server's models/upscalers."""
        from pathlib import PurePath

        payload = _settings(request.generate, request.kind, previews)
        payload.update(image=_png(request.image), strength=request.strength)
        if request.kind == "upscale":
            payload.update(scale=request.scale, upscaler=PurePath(request.upscaler).name if request.upscaler else "")
        return self._run(request, payload, on_event, cancel)

    def run(self, request, on_event=None, cancel=None, previews: bool = True):
        return self._run(request, _settings(request, "txt2img", previews), on_event, cancel)

    def run_edit(self, request, on_event=None, cancel=None, previews: bool = True):
        payload = _settings(request.generate, request.kind, previews)
        payload.update(
            image=_png(request.image),
            mask=_png(request.mask),
            extend=list(request.extend),
            fill=request.fill,
            strength=request.strength,
            source=request.source,
        )
        return self._run(request, payload, on_event, cancel)

    def _run(self, request, payload: dict[str, Any], on_event, cancel):
        import time

        import numpy as np

        from studio.engine.events import Cancelled, Failed, Finished, GeneratedImage, ImageDone, Preview, Started, Step

        emit = on_event or (lambda event: None)
        edit = hasattr(request, "mask")  # an edit's preview is the whole canvas, as the engine's EditPreview draws it
        results: list[GeneratedImage] = []
        began = last = time.perf_counter()
        state = {"index": 0, "step": 0}

        def handle(kind: str, data: dict[str, Any]) -> None:
            nonlocal last
            now = time.perf_counter()
            if kind == "started":
                emit(Started(getattr(request, "generate", request), request.steps, request.count))
            elif kind == "step":  # steps come a few times a second: the time since the last one is shared out
                done = data["step"] - state["step"] if data["index"] == state["index"] else data["step"]
                state.update(index=data["index"], step=data["step"])
                emit(Step(data["index"], data["step"], data["total"], (now - last) / max(1, done), now - began))
                last = now
            elif kind == "preview":
                rgb = _pixels(data["png"], (request.width, request.height) if edit else None)
                latents = np.zeros((4, *rgb.shape[:2]), np.float32)
                emit(Preview(data["index"], data["step"], data["total"], rgb, latents))
            elif kind == "image":
                result = _generated(data, now - began)
                results.append(result)
                emit(ImageDone(result))

        try:
            kind, data = self.client.run(payload, handle, cancel)
        except StudioError as exc:
            final = Failed(str(exc))
            emit(final)
            return final
        if kind == "finished":
            final = Finished(tuple(results), time.perf_counter() - began, tuple(data.get("warnings", ())))
        elif kind == "cancelled":
            final = Cancelled(tuple(results), state["index"], state["step"])
        else:
            final = Failed(data.get("message", "the job failed on the server"))
        emit(final)
        return final


class RemoteModels:
    """`engine.models` for a server: `get(ref)` asks the server for the model (by library
    name) and its settings; the weights stay there."""

    def __init__(self, client: ServerClient):
        self.client = client

    def get(self, ref: str, on_progress=None):
        from types import SimpleNamespace
        from urllib.parse import quote

        from studio.engine.models import ModelDefaults

        found = self.client.get(f"/studio/v1/model?name={quote(ref)}")
        defaults = ModelDefaults(**found["defaults"])
        return SimpleNamespace(info=SimpleNamespace(name=found["name"], ref=ref, defaults=defaults))


def _settings(request, kind: str, previews: bool = True) -> dict[str, Any]:
    return {
        "kind": kind,
        "previews": previews,
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "seed": request.seed,
        "steps": request.steps,
        "guidance_scale": request.guidance_scale,
        "width": request.width,
        "height": request.height,
        "scheduler": request.scheduler,
        "count": request.count,
        "model": request.model,
        "quality": getattr(request, "quality", "full"),
        "variation_seed": getattr(request, "variation_seed", 0),
        "variation_strength": getattr(request, "variation_strength", 0.0),
    }


def _png(pixels) -> str:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _pixels(data: bytes, size: tuple[int, int] | None = None):
    import io

    import numpy as np
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB")
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image)


def _generated(data: dict[str, Any], elapsed: float):
    import io

    from PIL import Image

    from studio.engine.events import GeneratedImage
    from studio.recipe.walker import ImageInfo, inspect_bytes

    info = inspect_bytes(data["png"])
    recipe = info.to_recipe() if isinstance(info, ImageInfo) else None
    if recipe is None:
        raise ServerError("the server sent an image without its recipe")
    image = Image.open(io.BytesIO(data["png"]))
    image.load()
    return GeneratedImage(data["index"], data["seed"], image.convert("RGB"), recipe, elapsed)
