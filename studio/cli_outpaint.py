"""`studio outpaint IMAGE --right 64 --out FILE`: grow a picture beyond its edges, headless.

The prompt, negative prompt and model default to those in IMAGE's recipe (the model when
it can still be found; else the embedded one); steps, guidance and sampler default to the
model's. One candidate is written to FILE; with `--candidates N` (N > 1) they are written
to FILE-1.png ... FILE-N.png (seeds seed, seed + 1, ...). `--json` prints one object per
candidate: path, width, height, seed, elapsed_s (that candidate's own time, model loading
excluded) and the prompt, model and extension.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
import threading
import time
from pathlib import Path

from studio.engine.edit import FILLS
from studio.engine.errors import StudioError
from studio.engine.request import EMBEDDED_MODEL, MAX_SEED

SIDES = ("left", "top", "right", "bottom")


def add_outpaint_parser(commands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "outpaint", parents=[common], help="grow a picture beyond its edges",
        description="Extend IMAGE on any side and let the model continue the picture there. "
                    "The prompt defaults to the one in IMAGE's recipe.",
    )
    parser.add_argument("image", metavar="IMAGE", help="the picture to extend (PNG, JPEG, ...)")
    for side in SIDES:
        parser.add_argument(f"--{side}", type=int, default=0, metavar="N", help=f"pixels to add on the {side} (a multiple of 8)")
    parser.add_argument("--prompt", metavar="TEXT", help="what to draw (default: the prompt in IMAGE's recipe)")
    parser.add_argument("--negative", metavar="TEXT", help="what to keep out (default: IMAGE's negative prompt)")
    parser.add_argument("--seed", type=int, help="seed of the first candidate (default: random)")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    parser.add_argument("--cfg", type=float, metavar="X", help="guidance scale (default: the model's)")
    parser.add_argument("--scheduler", metavar="NAME", help="sampler (default: the model's)")
    parser.add_argument("--candidates", type=int, default=1, metavar="N", help="how many versions to make (default 1)")
    parser.add_argument("--fill", choices=FILLS, default="edge", help="what the new area starts from (default: edge)")
    parser.add_argument("--strength", type=float, default=1.0, metavar="X", help="how far the new area is re-noised, 0-1 (default 1)")
    parser.add_argument("--model", metavar="PATH_OR_ID", help="model (default: IMAGE's own when it can be found, else embedded)")
    parser.add_argument("--out", required=True, metavar="FILE", help="where to write the result (FILE-1.png, ... for several)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per candidate on stdout")


def output_paths(out: str, count: int) -> list[Path]:
    """FILE for one candidate; FILE-1.png ... FILE-N.png (FILE's suffix kept) for several."""
    target = Path(out)
    if count == 1:
        return [target]
    suffix = target.suffix or ".png"
    return [target.with_name(f"{target.stem}-{i}{suffix}") for i in range(1, count + 1)]


def outpaint(args) -> int:
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from studio.cli import EXIT_CANCELLED, CliError, _progress_bar
    from studio.engine.edit import EditRequest, extend_canvas
    from studio.engine.models import resolve_model
    from studio.engine.recipe import read_recipe

    extension = tuple(getattr(args, side) for side in SIDES)
    if not any(extension):
        raise CliError("nothing to outpaint: give --left, --top, --right or --bottom")
    try:
        with Image.open(args.image) as opened:
            source = np.asarray(opened.convert("RGB"))
            recipe = read_recipe(opened)
    except FileNotFoundError:
        raise CliError(f"cannot read image {args.image}: no such file") from None
    except UnidentifiedImageError:
        raise CliError(f"cannot read image {args.image}: not an image file") from None
    except OSError as exc:
        raise CliError(f"cannot read image {args.image}: {exc.strerror or exc}") from None
    model = args.model or _recipe_model(recipe) or EMBEDDED_MODEL
    info = resolve_model(model)
    seed = args.seed if args.seed is not None else secrets.randbelow(MAX_SEED + 1)
    earlier = recipe.request if recipe is not None else None
    canvas, mask = extend_canvas(source, *extension)
    generate = info.defaults.request(
        model,
        prompt=args.prompt if args.prompt is not None else (earlier.prompt if earlier else ""),
        negative_prompt=args.negative if args.negative is not None else (earlier.negative_prompt if earlier else ""),
        seed=seed,
        steps=args.steps,
        guidance_scale=args.cfg,
        scheduler=args.scheduler,
        count=args.candidates,
    )  # its size becomes the canvas's in EditRequest, which checks it
    request = EditRequest(generate, canvas, mask, fill=args.fill, kind="outpaint",
                          source=str(Path(args.image).resolve()), extend=extension, strength=args.strength)
    paths = output_paths(args.out, request.count)

    from studio.engine.events import Cancelled, Failed, ImageDone, Step
    from studio.engine.recipe import write_png
    from studio.engine.runner import Engine

    engine = Engine(device=args.device)
    engine.load(model)
    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    progress = _progress_bar(request.steps * request.count)
    started = time.perf_counter()

    def on_event(event) -> None:
        nonlocal started
        if isinstance(event, Step):
            progress.update(1)
        elif isinstance(event, ImageDone):
            result = event.result
            path = write_png(paths[result.index], result.image, result.recipe)
            elapsed = time.perf_counter() - started
            _report(args, path, result, elapsed, extension, progress)
            started = time.perf_counter()

    try:
        final = engine.run_edit(request, on_event, cancel, previews=False)
        if isinstance(final, Cancelled):
            progress.close()
            print("studio: cancelled; the candidate in progress was not written", file=sys.stderr)
            return EXIT_CANCELLED
        if isinstance(final, Failed):
            raise StudioError(final.message)
        for warning in final.warnings:
            progress.write(f"studio: warning: {warning}", file=sys.stderr)
    finally:
        progress.close()
        signal.signal(signal.SIGINT, previous)
    return 0


def _recipe_model(recipe) -> str | None:
    """The model IMAGE was made with, if its recipe names one that is still there."""
    from studio.engine.models import resolve_model

    if recipe is None or not recipe.request.model:
        return None
    try:
        resolve_model(recipe.request.model)
    except StudioError:
        return None
    return recipe.request.model


def _report(args, path: Path, result, elapsed: float, extension, progress) -> None:
    if args.json:
        r = result.recipe.request
        record = {
            "path": str(path.resolve()),
            "width": result.image.width,
            "height": result.image.height,
            "seed": result.seed,
            "elapsed_s": round(elapsed, 4),
            "prompt": r.prompt,
            "negative_prompt": r.negative_prompt,
            "steps": r.steps,
            "model": result.recipe.model_name,
            "extend": dict(zip(SIDES, extension)),
        }
        progress.write(json.dumps(record), file=sys.stdout)
    else:
        progress.write(str(path), file=sys.stdout)
    sys.stdout.flush()
