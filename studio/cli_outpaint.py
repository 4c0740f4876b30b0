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
from pathlib import Path

from studio.cli_common import add_prediction_option, add_vae_option, save_prediction, save_vae
from studio.cli_job import report_result, run_job, warn
from studio.engine.edit import FILLS
from studio.engine.request import EMBEDDED_MODEL, MAX_SEED
from studio.errors import StudioError

SIDES = ("left", "top", "right", "bottom")


def add_outpaint_parser(commands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "outpaint",
        parents=[common],
        help="grow a picture beyond its edges",
        description="Extend IMAGE on any side and let the model continue the picture there. "
        "The prompt defaults to the one in IMAGE's recipe.",
    )
    parser.add_argument("image", metavar="IMAGE", help="the picture to extend (PNG, JPEG, ...)")
    for side in SIDES:
        parser.add_argument(
            f"--{side}",
            type=int,
            default=0,
            metavar="N",
            help=f"pixels to add on the {side} (any number; the result has exactly the size asked for)",
        )
    parser.add_argument("--prompt", metavar="TEXT", help="what to draw (default: the prompt in IMAGE's recipe)")
    parser.add_argument("--negative", metavar="TEXT", help="what to keep out (default: IMAGE's negative prompt)")
    parser.add_argument("--seed", type=int, help="seed of the first candidate (default: random)")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    parser.add_argument("--cfg", type=float, metavar="X", help="guidance scale (default: the model's)")
    parser.add_argument("--scheduler", metavar="NAME", help="sampler (default: the model's)")
    parser.add_argument("--candidates", type=int, default=1, metavar="N", help="how many versions to make (default 1)")
    parser.add_argument("--fill", choices=FILLS, default="edge", help="what the new area starts from (default: edge)")
    parser.add_argument(
        "--strength", type=float, default=1.0, metavar="X", help="how far the new area is re-noised, 0-1 (default 1)"
    )
    parser.add_argument(
        "--model", metavar="PATH_OR_ID", help="model (default: IMAGE's own when it can be found, else embedded)"
    )
    parser.add_argument(
        "--out", required=True, metavar="FILE", help="where to write the result (FILE-1.png, ... for several)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per candidate on stdout")
    add_prediction_option(parser)
    add_vae_option(parser)
    from studio.cli_serve import add_client_options

    add_client_options(parser)


def output_paths(out: str, count: int) -> list[Path]:
    """FILE for one candidate; FILE-1.png ... FILE-N.png (FILE's suffix kept) for several."""
    target = Path(out)
    if count == 1:
        return [target]
    suffix = target.suffix or ".png"
    return [target.with_name(f"{target.stem}-{i}{suffix}") for i in range(1, count + 1)]


def outpaint(args) -> int:
    from studio.cli import CliError, check_targets
    from studio.engine.edit import EditRequest, extend_canvas
    from studio.engine.request import MAX_COUNT

    if args.server:
        from studio.cli_serve import remote_outpaint

        return remote_outpaint(args)
    extension = tuple(getattr(args, side) for side in SIDES)
    if not any(extension):
        raise CliError("nothing to outpaint: give --left, --top, --right or --bottom")
    if not 1 <= args.candidates <= MAX_COUNT:
        raise CliError(f"batch count must be 1 to {MAX_COUNT}, not {args.candidates}")
    paths = output_paths(args.out, args.candidates)
    check_targets(paths)
    picture, model, generate, warning = picture_settings(
        args, args.candidates, too_large="the engine's maximum canvas; crop it first"
    )  # its size becomes the canvas's in EditRequest, which checks it
    canvas, mask = extend_canvas(picture.pixels(), *extension)
    request = EditRequest(
        generate,
        canvas,
        mask,
        fill=args.fill,
        kind="outpaint",
        source=str(Path(args.image).resolve()),
        extend=extension,
        strength=args.strength,
    )
    if warning:
        warn(warning)

    from studio.cli import EXIT_CANCELLED, _progress_bar
    from studio.engine.runner import Engine
    from studio.recipe.embed import write_png

    engine = Engine(device=args.device)
    engine.load(model)
    from studio.engine.edit_runner import planned_steps

    progress = _progress_bar(planned_steps(request) * request.count)  # every pass's steps

    def save(result) -> Path:
        check_targets([paths[result.index]])  # again: it may have changed while the candidate was made
        return write_png(paths[result.index], result.image, result.recipe)

    def report(path: Path, result, elapsed: float) -> None:
        report_result(args, path, result, elapsed, progress, extend=dict(zip(SIDES, extension)))

    run = lambda on_event, cancel: engine.run_edit(request, on_event, cancel, previews=False)
    return 0 if run_job(progress, run, save, report, "candidate") else EXIT_CANCELLED


def picture_settings(args, count: int, too_large: str):
    """For a command that starts from IMAGE: the picture (its notes warned about), the model (its
    --prediction and --vae saved), the GenerateRequest of the options with IMAGE's recipe as the
    defaults and `count` pictures, and a warning to give when the model is not IMAGE's own."""
    from studio.engine.models import resolve_model
    from studio.engine.request import MAX_PIXELS
    from studio.gallery.pictures import open_picture

    picture = open_picture(args.image, max_pixels=MAX_PIXELS, too_large=too_large)
    for note in picture.notes:
        warn(f"{args.image}: {note}")
    model, warning = (args.model, "") if args.model else _recipe_model(picture.model, args.data_dir, picture.model_hash)
    save_prediction(args, model)
    save_vae(args, model)
    info = resolve_model(model)
    generate = info.defaults.request(
        model,
        prompt=args.prompt if args.prompt is not None else picture.prompt,
        negative_prompt=args.negative if args.negative is not None else picture.negative_prompt,
        seed=args.seed if args.seed is not None else secrets.randbelow(MAX_SEED + 1),
        steps=args.steps,
        guidance_scale=args.cfg,
        scheduler=args.scheduler,
        count=count,
    )
    return picture, model, generate, warning


def _recipe_model(ref: str, data: str | None, model_hash: str = "") -> tuple[str, str]:
    """The model to use for IMAGE, and a warning when it is not the one its recipe names.

    A picture may come from anywhere, so the model its recipe names is used only when it is
    in Studio's model list or the models library and can be used; else the embedded one. The
    recipe's model hash finds a library model first, whatever it is called now."""
    from studio.engine.models import resolve_model
    from studio.library.catalog import Library
    from studio.paths import data_dir

    library = Library(data_dir(data))
    found = library.find(model_hash) if model_hash else None
    if found is not None and not found.problem:
        return found.name, ""
    if not ref or ref == EMBEDDED_MODEL:
        return EMBEDDED_MODEL, ""
    if not in_library(ref, data) and library.find(ref) is None:
        return EMBEDDED_MODEL, (
            f"the image's recipe names model {ref}, which is not in Studio's model list; "
            f"using the embedded model (pass --model to choose one)"
        )
    try:
        resolve_model(ref)
    except StudioError as exc:
        return EMBEDDED_MODEL, f"the image's model cannot be used ({exc}); using the embedded model"
    return ref, ""


def library_models(data: str | None) -> list[str]:
    """The models the person added to Studio (the window's model list, in DATA_DIR/settings.json)."""
    from studio.paths import data_dir

    try:
        settings = json.loads((data_dir(data) / "settings.json").read_text(encoding="utf-8"))
        models = settings.get("models") if isinstance(settings, dict) else None
    except (OSError, ValueError, RecursionError):
        return []
    return [m for m in models if isinstance(m, str)] if isinstance(models, list) else []


def in_library(ref: str, data: str | None) -> bool:
    """Whether `ref` is the embedded model or one the person added, by name or by folder."""
    if ref == EMBEDDED_MODEL:
        return True
    listed = library_models(data)
    if ref in listed:
        return True
    try:
        folder = Path(ref).expanduser().resolve()
        return any(Path(m).expanduser().resolve() == folder for m in listed)
    except (OSError, ValueError, RuntimeError):
        return False
