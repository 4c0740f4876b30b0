"""The command line: `studio generate ...` and friends, headless, on the same engine.

Errors end the command with one readable line on stderr and an exit status that says what
kind of error it was, the same for every command: 2 (EXIT_USAGE) when the command line is
wrong (an unknown option, a value out of range, options that contradict each other), 1
(EXIT_ERROR) when the command could not be carried out (a file that cannot be read or
written, a model that cannot be used, a failed generation), 130 when cancelled (Ctrl+C).
Where a command writes is checked before any work starts.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from studio import __version__
from studio.cli_common import add_prediction_option, add_vae_option, save_prediction, save_vae
from studio.cli_gallery import printable
from studio.engine.request import EMBEDDED_MODEL, MAX_SEED
from studio.errors import RequestError, StudioError

log = logging.getLogger(__name__)

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130


class CliError(StudioError):
    """The command line is wrong (exit status 2); failures of files or models are other StudioErrors (1)."""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where Studio keeps its gallery and settings (default: $STUDIO_DATA_DIR or the user data folder)",
    )
    common.add_argument("--device", help="cuda, mps or cpu (default: the best one present)")
    common.add_argument(
        "--offload",
        action="store_true",
        help="model CPU offload for a CUDA GPU with little memory: each model on the GPU only while it runs "
        "(slower; does nothing on a CPU)",
    )

    parser = argparse.ArgumentParser(
        prog="studio", description="Studio: turn a sentence into a picture.", parents=[common]
    )
    # The same options after a command word; they default to nothing there, so a value given
    # before the command word is kept.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where Studio keeps its gallery and settings (default: $STUDIO_DATA_DIR or the user data folder)",
    )
    common.add_argument("--device", help="cuda, mps or cpu (default: the best one present)")
    common.add_argument(
        "--offload",
        action="store_true",
        help="model CPU offload for a CUDA GPU with little memory: each model on the GPU only while it runs "
        "(slower; does nothing on a CPU)",
    )
    parser.add_argument("--version", action="version", version=f"Studio {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    generate = commands.add_parser(
        "generate",
        parents=[common],
        help="make images from a prompt",
        description="Make images from a prompt and write them as PNGs with their recipe.",
    )
    generate.add_argument("prompt", nargs="?", help="what to draw (omit with --prompts-file)")
    generate.add_argument("--negative", default="", metavar="TEXT", help="what to keep out of the picture")
    generate.add_argument("--seed", type=int, help="seed of the first image (default: random)")
    generate.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    generate.add_argument("--cfg", type=float, metavar="X", help="guidance scale (default: the model's)")
    generate.add_argument("--width", type=int, help="width in pixels, a multiple of 8")
    generate.add_argument("--height", type=int, help="height in pixels, a multiple of 8")
    generate.add_argument("--scheduler", metavar="NAME", help="sampler, e.g. 'Euler a' or 'DPM++ 2M Karras'")
    generate.add_argument(
        "--count", type=int, default=1, metavar="N", help="images per prompt, seeds seed, seed+1, ... (default 1)"
    )
    generate.add_argument(
        "--model",
        default=EMBEDDED_MODEL,
        metavar="PATH_OR_ID",
        help="a model in the library (by name or hash), a .safetensors checkpoint, a diffusers folder, "
        "a cached Hugging Face repo id, or 'embedded' (default)",
    )
    where = generate.add_mutually_exclusive_group()
    where.add_argument("--out", metavar="FILE", help="write the one image to FILE")
    where.add_argument("--out-dir", metavar="DIR", help="write the images into DIR (default: the gallery)")
    generate.add_argument("--prompts-file", metavar="FILE", help="one prompt per line; the model loads once for all")
    generate.add_argument("--json", action="store_true", help="print one JSON object per image on stdout")
    generate.add_argument("--no-previews", action="store_true", help=argparse.SUPPRESS)
    generate.add_argument(
        "--quality",
        choices=("full", "draft"),
        help="full: decoded by the model's VAE (default); draft: by its small draft decoder, "
        "much faster, fitted to the VAE once per model (the first draft waits for that) and then cached",
    )
    from studio.cli_image import add_image_parsers, add_variation_options

    add_variation_options(generate)
    add_prediction_option(generate)
    add_vae_option(generate)
    from studio.cli_outpaint import add_outpaint_parser

    add_outpaint_parser(commands, common)
    add_image_parsers(commands, common)
    _gallery_parser(commands, common)
    from studio.cli_models import add_models_parser

    add_models_parser(commands, common)
    from studio.cli_doctor import add_doctor_parser

    add_doctor_parser(commands, common)
    from studio.cli_desktop import add_desktop_parser

    add_desktop_parser(commands, common)
    from studio.cli_serve import add_client_options, add_serve_parser

    add_client_options(generate)
    add_serve_parser(commands, common)
    return parser


def _gallery_parser(commands, common) -> None:
    # --data-dir may come before or after each word; defaults stay on the top parser only,
    # so a later level does not reset what an earlier one was given.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--data-dir", metavar="DIR", help="where Studio keeps its gallery and settings")
    gallery = commands.add_parser(
        "gallery",
        parents=[common],
        help="list or import gallery images",
        description="The gallery in DATA_DIR/gallery: list and search it, or copy images in.",
    )
    actions = gallery.add_subparsers(dest="gallery_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="print the gallery, newest first")
    listing.add_argument(
        "--search",
        default="",
        metavar="TEXT",
        help="only images whose prompt, negative prompt, model or seed match every word",
    )
    listing.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per image: path, prompt, seed, model, width, height, created, ...",
    )
    importing = actions.add_parser("import", parents=[common], help="copy the images of a folder into the gallery")
    importing.add_argument("folder", metavar="DIR", help="folder to copy images from (with its subfolders)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.offload:  # for this process and the ones it starts (a server's replicas)
        from studio.engine.devices import OFFLOAD_ENV

        os.environ[OFFLOAD_ENV] = "1"
    if args.command is None:
        from studio.app import main as app_main

        return app_main(data=args.data_dir, device=args.device)
    from studio.logs import setup_logging, stop_logging
    from studio.paths import data_dir

    setup_logging(data_dir(args.data_dir), create=False, quiet=True)  # stderr stays the command's own lines
    if args.command in ("generate", "outpaint", "models", "img2img", "upscale"):
        from studio.engine.models import use_model_finder, use_resource_finder
        from studio.library.catalog import Library
        from studio.library.resources import resource_finder

        library = Library(data_dir(args.data_dir))
        use_model_finder(library.finder)  # --model NAME: a name in the library
        use_resource_finder(resource_finder(library))  # <lora:NAME>, embeddings, VAEs by their library names
    try:
        if args.command == "generate":
            return generate(args)
        if args.command == "gallery":
            from studio.cli_gallery import run_gallery_command

            return run_gallery_command(args)
        if args.command == "outpaint":
            from studio.cli_outpaint import outpaint

            return outpaint(args)
        if args.command in ("img2img", "upscale"):
            from studio.cli_image import run_image_command

            return run_image_command(args)
        if args.command == "models":
            from studio.cli_models import run_models_command

            return run_models_command(args)
        if args.command == "doctor":
            from studio.cli_doctor import run_doctor

            return run_doctor(args)
        if args.command == "install-desktop":
            from studio.cli_desktop import run_desktop

            return run_desktop(args)
        if args.command == "serve":
            from studio.cli_serve import run_serve

            return run_serve(args)
    except KeyboardInterrupt:
        print("studio: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except StudioError as exc:
        print(f"studio: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, (RequestError, CliError)) else EXIT_ERROR
    except MemoryError:
        print("studio: error: not enough memory", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        from studio.files import os_error_reason

        where = f" ({os.fsdecode(exc.filename)})" if getattr(exc, "filename", None) else ""
        print(f"studio: error: {printable(os_error_reason(exc) + where)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug: still one line, the traceback on request
        log.exception("studio %s failed", args.command)
        if os.environ.get("STUDIO_DEBUG"):
            traceback.print_exc()
        print(
            f"studio: internal error: {type(exc).__name__}: {_one_line(exc)} (STUDIO_DEBUG=1 shows where)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    finally:
        stop_logging()
    return 0


def _one_line(exc: BaseException) -> str:
    """The first line of what `exc` says, safe for a terminal (file names in it come from anywhere)."""
    lines = str(exc).strip().splitlines()
    return printable(lines[0]) if lines else type(exc).__name__


def generate_targets(args) -> tuple[list[str], Path]:
    """generate's prompts and output folder, with --out/--out-dir checked before any work."""
    from studio.paths import data_dir, gallery_dir

    prompts = _prompts(args)
    if args.out and len(prompts) * args.count != 1 and args.count >= 1:
        raise CliError(f"--out names one file but this makes {len(prompts) * args.count} images; use --out-dir DIR")
    out_dir = Path(args.out_dir) if args.out_dir else gallery_dir(data_dir(args.data_dir))
    if args.out:
        check_targets([Path(args.out)])
    else:
        check_targets([], out_dir, "--out-dir" if args.out_dir else "the gallery folder")
    return prompts, out_dir


def _prompts(args) -> list[str]:
    if args.prompts_file:
        if args.prompt is not None:
            raise CliError("give either a PROMPT or --prompts-file, not both")
        try:
            text = _read_text(Path(args.prompts_file))
        except (OSError, UnicodeDecodeError) as exc:
            reason = "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else (exc.strerror or str(exc))
            raise StudioError(f"cannot read prompts file {args.prompts_file}: {reason}") from None
        prompts = [line.strip() for line in text.splitlines() if line.strip()]
        if not prompts:
            raise StudioError(f"prompts file {args.prompts_file} has no prompts")
        return prompts
    if args.prompt is None:
        raise CliError('give a PROMPT (or --prompts-file FILE); use "" for an unconditional image')
    return [args.prompt]


MAX_PROMPTS_FILE = 16 * 1024 * 1024


def _read_text(path: Path) -> str:
    """A prompts file's text; a FIFO or device is refused rather than waited on or read forever."""
    import stat

    with open(path, "rb", buffering=0, opener=lambda p, f: os.open(p, f | getattr(os, "O_NONBLOCK", 0))) as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "it is a folder")
        if not stat.S_ISREG(mode):
            raise OSError(0, "it is not a regular file")
        data = handle.read(MAX_PROMPTS_FILE + 1)
    if len(data) > MAX_PROMPTS_FILE:
        raise OSError(0, f"it is over {MAX_PROMPTS_FILE // (1024 * 1024)} MB")
    return data.decode("utf-8")


def check_targets(paths, folder: Path | None = None, what: str = "--out") -> None:
    """Refuse, before any work, output files that are not regular files or new names, and an output folder that is not one."""
    from studio.gallery.targets import check_target_file, check_target_folder

    if folder is not None:
        check_target_folder(folder, what)
    for path in paths:
        check_target_file(path, what)


def generate(args) -> int:
    from studio.cli_image import variation_settings
    from studio.engine.models import resolve_model

    if args.server:
        from studio.cli_serve import remote_generate

        return remote_generate(args)
    prompts, out_dir = generate_targets(args)
    save_prediction(args, args.model)
    save_vae(args, args.model)
    info = resolve_model(args.model)
    seed = args.seed if args.seed is not None else secrets.randbelow(MAX_SEED + 1)
    requests = [
        info.defaults.request(
            args.model,
            prompt=prompt,
            negative_prompt=args.negative,
            seed=seed,
            steps=args.steps,
            guidance_scale=args.cfg,
            width=args.width,
            height=args.height,
            scheduler=args.scheduler,
            count=args.count,
            quality=args.quality,
            **variation_settings(args),
        )
        for prompt in prompts
    ]

    from studio.engine.draft_decoders import draft_cache, use_draft_training
    from studio.engine.events import Cancelled, Failed, ImageDone, Step
    from studio.engine.runner import Engine
    from studio.gallery.files import new_image_path
    from studio.paths import data_dir
    from studio.recipe.embed import write_png

    engine = Engine(device=args.device)
    engine.load(args.model)
    use_draft_training(draft_cache(data_dir(args.data_dir)))
    if args.quality == "draft":  # a first draft fits the model's draft decoder first: said, shown, Ctrl+C stops it
        from studio.cli_draft import fit_draft_first

        if fit_draft_first(engine.load(args.model)) == "cancelled":
            print("studio: cancelled; the draft decoder was not fitted and nothing was cached", file=sys.stderr)
            return EXIT_CANCELLED
    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    progress = _progress_bar(sum(r.steps * r.count for r in requests))
    try:
        for request in requests:
            image_started = time.perf_counter()

            def on_event(event, request=request):
                nonlocal image_started
                if isinstance(event, Step):
                    progress.update(1)
                elif isinstance(event, ImageDone):
                    result = event.result
                    path = Path(args.out) if args.out else new_image_path(out_dir, request.prompt, result.seed)
                    check_targets([path])  # again: it may have changed while the image was made
                    write_png(path, result.image, result.recipe)
                    elapsed = time.perf_counter() - image_started
                    image_started = time.perf_counter()
                    _report(args, path, result, elapsed, progress)

            final = engine.run(request, on_event, cancel, previews=not args.no_previews)
            if isinstance(final, Cancelled):
                progress.close()
                print("studio: cancelled; the image in progress was not written", file=sys.stderr)
                return EXIT_CANCELLED
            if isinstance(final, Failed):
                raise StudioError(final.message)
            for warning in getattr(final, "warnings", ()):
                progress.write(f"studio: warning: {printable(warning)}", file=sys.stderr)
    finally:
        progress.close()
        signal.signal(signal.SIGINT, previous)
    return 0


def _report(args, path: Path, result, elapsed: float, progress) -> None:
    r = result.recipe.request
    if args.json:
        record = {
            "path": str(path.resolve()),
            "prompt": r.prompt,
            "negative_prompt": r.negative_prompt,
            "seed": r.seed,
            "steps": r.steps,
            "guidance_scale": r.guidance_scale,
            "scheduler": r.scheduler,
            "width": r.width,
            "height": r.height,
            "model": result.recipe.model_name,
            "elapsed_s": round(elapsed, 4),
        }
        progress.write(json.dumps(record), file=sys.stdout)
    else:
        progress.write(str(path), file=sys.stdout)
    sys.stdout.flush()


def _progress_bar(total: int):
    from tqdm import tqdm

    from studio.cli_common import bars_hidden

    return tqdm(total=total, file=sys.stderr, unit="step", disable=bars_hidden(), dynamic_ncols=True)


if __name__ == "__main__":
    # Through the module's own name, so that `python -m studio.cli` and the `studio` script
    # share one set of error classes (under __main__ they would be copies).
    from studio.cli import main as studio_main

    sys.exit(studio_main())
