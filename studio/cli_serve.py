"""`studio serve`: run the engine as a Ray Serve application speaking the AUTOMATIC1111 API.

With no --ray-address it starts a small Ray instance on this machine (one command, no
cluster); with one it joins that cluster and places the replicas across its nodes (one GPU
each where there are GPUs; on CPU, torch threads = cores / replicas). It listens on
127.0.0.1 unless told otherwise, and any other address needs a token or --api-auth.
Ray is imported only when the command runs (`pip install "studio[serve]"`).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import signal
import socket
import sys
import threading

from studio.errors import StudioError
from studio.server.config import DEFAULT_HOST, DEFAULT_PORT, Limits, ServerConfig, is_loopback

START_TIMEOUT_S = 300.0  # loading a large model, or converting it for the CPU the first time, takes minutes


def add_serve_parser(commands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "serve",
        parents=[common],
        help="run the engine as a server (AUTOMATIC1111 API, Ray Serve)",
        description="Serve Studio's engine over HTTP with the AUTOMATIC1111 API and Studio's own job stream. "
        "Needs Ray: pip install 'studio[serve]'.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--replicas", type=int, default=1, metavar="N", help="engines to run (default 1)")
    parser.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster (default: start one here)")
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=START_TIMEOUT_S,
        metavar="SECONDS",
        help=f"give up when the replicas are not all running after this long (default {START_TIMEOUT_S:g}; 0: never)",
    )
    parser.add_argument("--token-file", metavar="FILE", help="clients must send 'Authorization: Bearer TOKEN'")
    parser.add_argument("--api-auth", metavar="USER:PASS", help="clients may log in with HTTP basic auth")
    parser.add_argument("--cors-origins", metavar="ORIGINS", help="comma-separated origins browsers may call from")
    parser.add_argument(
        "--threads", type=int, metavar="N", help="torch threads per replica (default: this machine's cores / replicas)"
    )
    parser.add_argument("--model", default="embedded", help="the model used when a request names none")
    parser.add_argument("--max-batch", type=int, default=Limits.max_batch, metavar="N", help="images per request")
    parser.add_argument("--max-queue", type=int, default=Limits.max_queue, metavar="N", help="images queued in all")
    parser.add_argument("--max-steps", type=int, default=Limits.max_steps, metavar="N", help="steps per image")
    parser.add_argument("--max-pixels", type=int, default=Limits.max_pixels, metavar="N", help="pixels per image")


def run_serve(args) -> int:
    from studio.cli import CliError
    from studio.paths import data_dir
    from studio.server.auth import parse_api_auth, read_token_file

    if not 1 <= args.port <= 65535:
        raise CliError(f"--port must be 1 to 65535, not {args.port}")
    if args.threads is not None and args.threads < 1:
        raise CliError(f"--threads must be at least 1, not {args.threads}")
    if args.replicas < 1:
        raise CliError(f"--replicas must be at least 1, not {args.replicas}")
    if not args.start_timeout >= 0:
        raise CliError(f"--start-timeout must be 0 or more seconds, not {args.start_timeout:g}")
    token = read_token_file(args.token_file) if args.token_file else ""
    basic = parse_api_auth(args.api_auth) if args.api_auth else ()
    if not is_loopback(args.host) and not (token or basic):
        raise CliError(
            f"--host {args.host} can be reached from other machines: give --token-file FILE or --api-auth USER:PASS"
        )
    for name in ("max_batch", "max_queue", "max_steps", "max_pixels"):
        if getattr(args, name) < 1:
            raise CliError(f"--{name.replace('_', '-')} must be at least 1")
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("fastapi") is None:
        raise StudioError("studio serve needs Ray Serve: pip install 'studio[serve]'")
    _check_port(args.host, args.port)
    limits = Limits(
        max_batch=args.max_batch, max_queue=args.max_queue, max_steps=args.max_steps, max_pixels=args.max_pixels
    )
    origins = tuple(o.strip() for o in (args.cors_origins or "").split(",") if o.strip())
    data = data_dir(args.data_dir)
    config = ServerConfig(
        data=str(data),
        host=args.host,
        port=args.port,
        replicas=args.replicas,
        device=args.device,
        token=token,
        basic=basic,
        cors_origins=origins,
        model=args.model,
        limits=limits,
    )
    from studio.server.models import Models

    Models(config.data, config.model)  # an unknown --model is refused here, not in every replica

    if args.ray_address:
        # `ray start` turns token authentication on (Ray 2.60); a driver sends the cluster's token
        # (~/.ray/auth_token) only when told to, and Ray reads this when it is imported.
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    from studio.server import app

    stopping = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stopping.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        cores = os.cpu_count() or 1
        threads = args.threads or max(1, cores // args.replicas)
        app.connect(args.ray_address, num_cpus=None if args.ray_address else max(cores, threads * args.replicas))
        if args.ray_address:
            threads, gpus = app.cluster_shape(args.replicas)
            config = dataclasses.replace(config, threads=args.threads or threads, gpus=gpus)
        else:
            config = dataclasses.replace(config, threads=threads)
        app.check_room(config, f"the Ray cluster at {args.ray_address}" if args.ray_address else "this machine's Ray")
        if not stopping.is_set():
            app.deploy(config)
            if app.wait_started(config, args.start_timeout, stopping):
                where = f"[{args.host}]" if ":" in args.host else args.host
                print(
                    f"studio: serving on http://{where}:{args.port} ({args.replicas} {'replica' if args.replicas == 1 else 'replicas'}); Ctrl+C stops",
                    flush=True,
                )
        while not stopping.wait(0.5):
            pass
    finally:
        print("studio: stopping the server", file=sys.stderr, flush=True)
        app.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise StudioError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


# The client side: `studio generate|outpaint|img2img|upscale ... --server URL`.


def add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", metavar="URL", help="run on a `studio serve` server (e.g. http://127.0.0.1:7860)")
    parser.add_argument("--token-file", metavar="FILE", help="the server's token (with --server)")


def remote_generate(args) -> int:
    """`studio generate` on a server: the same requests, the images saved here as they arrive."""
    import secrets
    from pathlib import Path

    from studio.cli import _progress_bar, generate_targets
    from studio.cli_image import variation_settings
    from studio.engine.request import MAX_SEED

    prompts, out_dir = generate_targets(args)
    client = _client(args)
    seed = args.seed if args.seed is not None else secrets.randbelow(MAX_SEED + 1)
    jobs = []
    for prompt in prompts:
        payload = {
            "kind": "txt2img",
            "prompt": prompt,
            "negative_prompt": args.negative,
            "seed": seed,
            "steps": args.steps,
            "guidance_scale": args.cfg,
            "width": args.width,
            "height": args.height,
            "scheduler": args.scheduler,
            "count": args.count,
            "model": args.model,
            "quality": args.quality,
            "previews": False,  # a progress bar shows none
            **variation_settings(args),
        }

        def target(data, prompt=prompt) -> Path:
            from studio.gallery.files import new_image_path

            return Path(args.out) if args.out else new_image_path(out_dir, prompt, data["seed"])

        jobs.append((payload, target))
    progress = _progress_bar(0)
    try:
        return _run_remote(args, client, jobs, progress)
    finally:
        progress.close()


def remote_outpaint(args) -> int:
    """`studio outpaint` on a server: the picture's pixels go up, the candidates come back."""
    import base64
    import io
    import secrets
    from pathlib import Path

    from studio.cli import CliError, _progress_bar, check_targets
    from studio.cli_outpaint import SIDES, output_paths
    from studio.engine.request import MAX_PIXELS, MAX_SEED
    from studio.gallery.pictures import open_picture

    extension = [getattr(args, side) for side in SIDES]
    if not any(extension):
        raise CliError("nothing to outpaint: give --left, --top, --right or --bottom")
    paths = output_paths(args.out, args.candidates)
    check_targets(paths)
    picture = open_picture(args.image, max_pixels=MAX_PIXELS, too_large="the engine's maximum canvas; crop it first")
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(picture.pixels()).save(buffer, format="PNG")
    payload = {
        "kind": "outpaint",
        "image": base64.b64encode(buffer.getvalue()).decode("ascii"),
        "extend": extension,
        "prompt": args.prompt if args.prompt is not None else picture.prompt,
        "negative_prompt": args.negative if args.negative is not None else picture.negative_prompt,
        "seed": args.seed if args.seed is not None else secrets.randbelow(MAX_SEED + 1),
        "steps": args.steps,
        "guidance_scale": args.cfg,
        "scheduler": args.scheduler,
        "count": args.candidates,
        "fill": args.fill,
        "strength": args.strength,
        "model": args.model or "embedded",
        "source": str(Path(args.image).resolve()),
        "previews": False,
    }
    progress = _progress_bar(0)
    try:
        return _run_remote(args, _client(args), [(payload, lambda data: paths[data["index"]])], progress)
    finally:
        progress.close()


def remote_image(args) -> int:
    """`studio img2img` and `studio upscale` on a server: the picture's pixels go up, the new
    pictures come back; an upscaler is named as a file in the server's models/upscalers."""
    import base64
    import io
    import secrets
    from pathlib import Path

    from studio.cli import CliError, _progress_bar, check_targets
    from studio.cli_outpaint import output_paths
    from studio.engine.request import MAX_COUNT, MAX_PIXELS, MAX_SEED
    from studio.gallery.pictures import open_picture
    from studio.paths import data_dir, gallery_dir

    if not 0 <= args.strength <= 1:
        raise CliError(f"--strength must be 0 to 1, not {args.strength:g}")
    if not 1 <= args.count <= MAX_COUNT:
        raise CliError(f"--count must be 1 to {MAX_COUNT}, not {args.count}")
    paths = output_paths(args.out, args.count) if args.out else []
    out_dir = Path(args.out_dir) if args.out_dir else gallery_dir(data_dir(args.data_dir))
    if paths:
        check_targets(paths)
    else:
        check_targets([], out_dir, "--out-dir" if args.out_dir else "the gallery folder")
    picture = open_picture(args.image, max_pixels=MAX_PIXELS, too_large="the engine's maximum picture; crop it first")
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(picture.pixels()).save(buffer, format="PNG")
    prompt = args.prompt if args.prompt is not None else picture.prompt
    payload = {
        "kind": args.command,
        "image": base64.b64encode(buffer.getvalue()).decode("ascii"),
        "prompt": prompt,
        "negative_prompt": args.negative if args.negative is not None else picture.negative_prompt,
        "seed": args.seed if args.seed is not None else secrets.randbelow(MAX_SEED + 1),
        "steps": args.steps,
        "guidance_scale": args.cfg,
        "scheduler": args.scheduler,
        "count": args.count,
        "strength": args.strength,
        "model": args.model or "embedded",
        "previews": False,
    }
    if args.command == "upscale":
        payload.update(scale=args.scale, upscaler=args.upscaler or "")

    def target(data) -> Path:
        from studio.gallery.files import new_image_path

        return paths[data["index"]] if paths else new_image_path(out_dir, prompt, data["seed"])

    progress = _progress_bar(0)
    try:
        return _run_remote(args, _client(args), [(payload, target)], progress)
    finally:
        progress.close()


def _client(args):
    from studio.server_client import ServerClient, read_token

    return ServerClient(args.server, read_token(args.token_file))


PARALLEL_JOBS = 8  # prompts of a --prompts-file sent at once, so every replica has work


def _run_remote(args, client, jobs, progress) -> int:
    """Run (payload, target) jobs on the server, a few at a time; each image is written to
    target(event) as it arrives. The first failure stops the rest; Ctrl+C cancels them all."""
    import time
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from studio.cli import EXIT_CANCELLED, _report, check_targets
    from studio.cli_gallery import printable
    from studio.files import write_atomic
    from studio.recipe.walker import ImageInfo, inspect_bytes

    cancel = threading.Event()
    lock = threading.Lock()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())

    def run(job):
        payload, target = job
        started = time.perf_counter()
        steps: dict[int, int] = {}  # each image's last step seen: steps come a few times a second

        def on_event(kind: str, data) -> None:
            nonlocal started
            with lock:
                if kind == "started":
                    progress.total = (progress.total or 0) + data.get("total_steps", 0)
                    progress.refresh()
                elif kind == "step":
                    progress.update(max(0, data["step"] - steps.get(data["index"], 0)))
                    steps[data["index"]] = max(data["step"], steps.get(data["index"], 0))
                elif kind == "image":
                    path = target(data)
                    check_targets([path])
                    write_atomic(path, data["png"])
                    info = inspect_bytes(data["png"])
                    recipe = info.to_recipe() if isinstance(info, ImageInfo) else None
                    elapsed, started = time.perf_counter() - started, time.perf_counter()
                    if recipe is None:
                        progress.write(str(path), file=sys.stdout)
                        return
                    result = SimpleNamespace(recipe=recipe)
                    _report(args, path, result, elapsed, progress)

        if cancel.is_set():
            return "cancelled", {}
        try:
            outcome = client.run(payload, on_event, cancel)
        except BaseException:
            cancel.set()
            raise
        if outcome[0] == "failed":
            cancel.set()
        return outcome

    try:
        with ThreadPoolExecutor(min(PARALLEL_JOBS, len(jobs))) as pool:
            outcomes = [future.result() for future in [pool.submit(run, job) for job in jobs]]
    finally:
        signal.signal(signal.SIGINT, previous)
    for kind, data in outcomes:
        if kind == "failed":
            raise StudioError(data.get("message", "the job failed on the server"))
    if any(kind == "cancelled" for kind, _ in outcomes):
        progress.close()
        print("studio: cancelled; the image in progress was not written", file=sys.stderr)
        return EXIT_CANCELLED
    for _, data in outcomes:
        for warning in data.get("warnings", ()):
            progress.write(f"studio: warning: {printable(warning)}", file=sys.stderr)
    return 0
