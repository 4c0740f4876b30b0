"""`studio img2img IMAGE --strength X` and `studio upscale IMAGE --scale 2`, headless; and the
variation options of `studio generate`.

The prompt, negative prompt and model default to those in IMAGE's recipe (the model when it
can still be found; else the embedded one); steps, guidance and sampler default to the
model's. One picture is written to --out FILE (several: FILE-1.png ... FILE-N.png), else into
the gallery. `--json` prints one object per picture: path, width, height, seed, strength,
scale, elapsed_s, prompt, model.
"""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path

from studio.cli_common import add_prediction_option, add_vae_option
from studio.cli_job import report_result, run_job, warn
from studio.cli_serve import add_client_options
from studio.engine.request import MAX_SEED

DEFAULT_STRENGTH = {"img2img": 0.5, "upscale": 0.2}


def add_variation_options(parser) -> None:
    parser.add_argument(
        "--variation-seed",
        type=int,
        metavar="N",
        help="variation seed of the first image, N, N+1, ... (default: random when --variation-strength is given)",
    )
    parser.add_argument(
        "--variation-strength",
        type=float,
        metavar="X",
        help="how far each image's noise turns towards its variation seed's, 0-1 (default 0: off); "
        "every image keeps --seed",
    )


def variation_settings(args) -> dict:
    """The request's variation fields from --variation-seed / --variation-strength."""
    strength = getattr(args, "variation_strength", None)
    seed = getattr(args, "variation_seed", None)
    if not strength:
        return {} if seed is None else {"variation_seed": seed}
    return {
        "variation_strength": strength,
        "variation_seed": secrets.randbelow(MAX_SEED + 1) if seed is None else seed,
    }


def add_image_parsers(commands, common: argparse.ArgumentParser) -> None:
    img2img = commands.add_parser(
        "img2img",
        parents=[common],
        help="make a new picture from a picture and a prompt",
        description="Re-noise IMAGE by --strength and let the model redraw it with the prompt; the result "
        "has IMAGE's size. The prompt defaults to the one in IMAGE's recipe.",
    )
    _add_options(img2img, "img2img")
    upscale = commands.add_parser(
        "upscale",
        parents=[common],
        help="enlarge a picture and redraw it with detail",
        description="Enlarge IMAGE by --scale (Lanczos, or --upscaler) and redraw it in tiles at the model's "
        "native size with --strength (0: only enlarge). The prompt defaults to the one in IMAGE's recipe.",
    )
    upscale.add_argument("--scale", type=float, default=2.0, metavar="X", help="enlargement factor (default 2)")
    upscale.add_argument(
        "--upscaler",
        metavar="NAME",
        help="an upscaler model (.safetensors) in DATA_DIR/models/upscalers, or its path; needs spandrel "
        "(default: Lanczos)",
    )
    _add_options(upscale, "upscale")


def _add_options(parser, kind: str) -> None:
    parser.add_argument("image", metavar="IMAGE", help="the picture to start from (PNG, JPEG, ...)")
    parser.add_argument(
        "--strength",
        type=float,
        default=DEFAULT_STRENGTH[kind],
        metavar="X",
        help=f"how far the picture is re-noised, 0-1 (0: unchanged; default {DEFAULT_STRENGTH[kind]:g})",
    )
    parser.add_argument("--prompt", metavar="TEXT", help="what to draw (default: the prompt in IMAGE's recipe)")
    parser.add_argument("--negative", metavar="TEXT", help="what to keep out (default: IMAGE's negative prompt)")
    parser.add_argument("--seed", type=int, help="seed of the first picture (default: random)")
    parser.add_argument("--steps", type=int, help="denoising steps at strength 1 (default: the model's)")
    parser.add_argument("--cfg", type=float, metavar="X", help="guidance scale (default: the model's)")
    parser.add_argument("--scheduler", metavar="NAME", help="sampler (default: the model's)")
    parser.add_argument("--count", type=int, default=1, metavar="N", help="how many versions to make (default 1)")
    parser.add_argument(
        "--model", metavar="PATH_OR_ID", help="model (default: IMAGE's own when it can be found, else embedded)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", metavar="FILE", help="where to write the result (FILE-1.png, ... for several)")
    where.add_argument("--out-dir", metavar="DIR", help="write the results into DIR (default: the gallery)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per picture on stdout")
    add_prediction_option(parser)
    add_vae_option(parser)
    add_client_options(parser)


def upscaler_path(name: str | None, data: str | None) -> str:
    """The upscaler file --upscaler names: a path, or a file in DATA_DIR/models/upscalers ("" = Lanczos)."""
    from studio.cli import CliError
    from studio.paths import data_dir, models_dir

    if not name:
        return ""
    path = Path(name).expanduser()
    if path.is_file():
        return str(path.resolve())
    folder = models_dir(data_dir(data)) / "upscalers"
    for candidate in (folder / name, folder / f"{name}.safetensors"):
        if candidate.is_file():
            return str(candidate)
    raise CliError(f"no upscaler {name!r}: give a file, or put it in {folder}")


def run_image_command(args) -> int:
    from studio.cli import EXIT_CANCELLED, CliError, _progress_bar, check_targets
    from studio.cli_outpaint import output_paths, picture_settings
    from studio.engine.image_request import ImageRequest
    from studio.engine.request import MAX_COUNT
    from studio.gallery.files import new_image_path
    from studio.paths import data_dir, gallery_dir

    kind = args.command
    if args.server:
        from studio.cli_serve import remote_image

        return remote_image(args)
    if not 0 <= args.strength <= 1:
        raise CliError(f"--strength must be 0 to 1, not {args.strength:g}")
    if not 1 <= args.count <= MAX_COUNT:
        raise CliError(f"--count must be 1 to {MAX_COUNT}, not {args.count}")
    scale = args.scale if kind == "upscale" else 1.0
    upscaler = upscaler_path(args.upscaler, args.data_dir) if kind == "upscale" else ""
    paths = output_paths(args.out, args.count) if args.out else []
    out_dir = Path(args.out_dir) if args.out_dir else gallery_dir(data_dir(args.data_dir))
    if paths:
        check_targets(paths)
    else:
        check_targets([], out_dir, "--out-dir" if args.out_dir else "the gallery folder")
    picture, model, generate, warning = picture_settings(
        args, args.count, too_large="the engine's maximum picture; crop it first"
    )  # its size becomes the output's in ImageRequest, which checks it
    request = ImageRequest(
        generate,
        picture.pixels(),
        strength=args.strength,
        kind=kind,
        scale=scale,
        source=str(Path(args.image).resolve()),
        upscaler=upscaler,
    )
    if warning:
        warn(warning)

    from studio.engine.runner import Engine
    from studio.engine.upscale import job_steps
    from studio.recipe.embed import write_png

    engine = Engine(device=args.device)
    if request.denoise_steps:
        engine.load(model)
    progress = _progress_bar(job_steps(request) * request.count)

    def save(result) -> Path:
        path = paths[result.index] if paths else new_image_path(out_dir, request.prompt, result.seed)
        check_targets([path])  # again: it may have changed while the picture was made
        return write_png(path, result.image, result.recipe)

    def report(path: Path, result, elapsed: float) -> None:
        report_result(args, path, result, elapsed, progress, strength=request.strength, scale=request.scale)

    run = lambda on_event, cancel: engine.run_image(request, on_event, cancel, previews=False)
    return 0 if run_job(progress, run, save, report, "picture") else EXIT_CANCELLED
