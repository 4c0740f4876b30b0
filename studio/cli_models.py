"""`studio models ...`: the models library on the command line (list, add, remove, folders, defaults,
convert, download).

Model names come from file names anyone chose, so everything printed goes through `printable`
or `json_line`. Progress bars (hashing, copying) are drawn on a terminal only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio.paths import MODEL_KINDS


def add_models_parser(commands, common) -> None:
    models = commands.add_parser(
        "models",
        parents=[common],
        help="list, add, remove, convert or download models",
        description="The models library in DATA_DIR/models (checkpoints, loras, embeddings, vae) "
        "and the folders added to it (an AUTOMATIC1111 or ComfyUI install is read in place).",
    )
    actions = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", parents=[common], help="print the models in the library")
    listing.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per model: name, kind, family, description, size, hash, sha256, defaults, path, "
        "location, problem",
    )
    listing.add_argument("--kind", choices=MODEL_KINDS, help="only models of this kind")
    listing.add_argument(
        "--no-hash", action="store_true", help="do not compute missing hashes (a large file takes a while)"
    )

    adding = actions.add_parser("add", parents=[common], help="copy (or link) a model file or folder into the library")
    adding.add_argument("path", metavar="PATH", help="a .safetensors file, a diffusers folder or a VAE folder")
    adding.add_argument("--link", action="store_true", help="link to it where it is instead of copying it")
    adding.add_argument("--kind", choices=MODEL_KINDS, help="what it must be (default: what its content says)")

    removing = actions.add_parser(
        "remove", parents=[common], help="take a model out of the library (a copy goes to the trash)"
    )
    removing.add_argument("name", metavar="NAME", help="its name in `studio models list`, or its hash")
    removing.add_argument("--kind", choices=MODEL_KINDS, default="checkpoints", help="default: checkpoints")

    folders = actions.add_parser(
        "folders", parents=[common], help="list, add or remove the extra folders models are read from"
    )
    folders.add_argument("action", nargs="?", choices=("add", "remove"), help="omit to list the folders")
    folders.add_argument("folder", nargs="?", metavar="DIR")

    defaults = actions.add_parser("defaults", parents=[common], help="show or change a checkpoint's default settings")
    defaults.add_argument("name", metavar="NAME")
    defaults.add_argument("--steps", type=int, metavar="N")
    defaults.add_argument("--cfg", type=float, metavar="X", help="guidance scale")
    defaults.add_argument("--sampler", metavar="NAME", help="e.g. 'Euler a' or 'DPM++ 2M Karras'")
    defaults.add_argument("--width", type=int, metavar="W")
    defaults.add_argument("--height", type=int, metavar="H")
    defaults.add_argument(
        "--prediction", choices=("v", "epsilon", "auto"), help="override what the file says (auto: the file's)"
    )

    from studio.cli_convert import add_convert_parser
    from studio.cli_download import add_download_parser

    add_convert_parser(actions, common)
    add_download_parser(actions, common)


def run_models_command(args: argparse.Namespace) -> int:
    if args.models_command == "convert":
        from studio.cli_convert import run_convert

        return run_convert(args)
    if args.models_command == "download":
        from studio.cli_download import run_download

        return run_download(args)
    commands = {"list": _list, "add": _add, "remove": _remove, "folders": _folders, "defaults": _defaults}
    if args.models_command not in commands:
        raise AssertionError(f"unknown models action {args.models_command!r}")
    from studio.cli_gallery import _quiet_stdout
    from studio.library.catalog import Library
    from studio.paths import data_dir

    try:
        return commands[args.models_command](Library(data_dir(args.data_dir)), args)
    except BrokenPipeError:  # `studio models list | head`
        _quiet_stdout()
        return 0


def _list(library, args) -> int:
    from studio.cli_gallery import json_line, printable

    entries = library.entries(args.kind)
    if not args.no_hash:
        entries = _hash_missing(library, entries, args.kind)
    if not entries:
        where = printable(str(library.data / "models"))
        print(f"studio: no models yet ({where}); add one with: studio models add PATH", file=sys.stderr)
        return 0
    if args.json:
        for entry in entries:
            print(json_line(_record(entry)))
        return 0
    rows = [
        (
            printable(e.name),
            e.kind,
            printable(e.description or e.family or "?"),
            _size(e.size),
            e.short_hash or "-",
            _defaults_text(e.defaults) or "-",
            printable(str(e.path)),
        )
        for e in entries
    ]
    header = ("NAME", "KIND", "MODEL", "SIZE", "HASH", "DEFAULTS", "PATH")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row, entry in zip([header, *rows], [None, *entries]):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
        if entry is not None and entry.problem:
            print(f"  ! {printable(entry.problem)}")
    return 0


def _record(entry) -> dict:
    return {
        "name": entry.name,
        "kind": entry.kind,
        "family": entry.family,
        "description": entry.description,
        "size": entry.size,
        "hash": entry.short_hash,
        "sha256": entry.sha256 or None,
        "defaults": entry.defaults,
        "prediction": entry.prediction,
        "path": str(entry.path),
        "location": entry.location,
        "problem": entry.problem,
    }


def _hash_missing(library, entries, kind):
    """Hash the models the cache does not know yet (a command may take the time), then list again."""
    from studio.cli_gallery import printable
    from studio.errors import StudioError

    missing = [e for e in entries if not e.sha256 and not e.problem.startswith("a broken link")]
    if not missing:
        return entries
    bar = _bar(sum(e.size for e in missing), "hashing")
    try:
        for entry in missing:
            start = bar.n
            bar.set_postfix_str(printable(entry.name)[:30], refresh=False)
            try:
                library.hash_now(entry, progress=lambda done, total, start=start: bar.update(start + done - bar.n))
            except StudioError as exc:
                bar.write(f"studio: warning: {printable(str(exc))}", file=sys.stderr)
    finally:
        bar.close()
    return library.entries(kind)


def _add(library, args) -> int:
    from studio.cli_gallery import printable

    source = Path(args.path)
    bar = _bar(0, "copying")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        entry = library.add(source, link=args.link, kind=args.kind, progress=progress)
    finally:
        bar.close()
    print(f"{printable(entry.name)}\t{printable(str(entry.path))}")
    if entry.problem:
        print(f"studio: warning: {printable(entry.problem)}", file=sys.stderr)
    return 0


def _remove(library, args) -> int:
    from studio.cli_gallery import printable

    entry = library.find(args.name, args.kind)
    where = library.remove(args.name, args.kind)
    name = printable(entry.name if entry else args.name)
    if entry is not None and entry.location == "link":
        print(f"removed the link {name} ({printable(str(where))}); what it pointed to is untouched")
    else:
        print(f"removed {name}; it is in {printable(str(where))} until you delete it")
    return 0


def _folders(library, args) -> int:
    from studio.cli import CliError
    from studio.cli_gallery import printable
    from studio.library.folders import layout

    if args.action is not None:
        if not args.folder:
            raise CliError(f"give the folder: studio models folders {args.action} DIR")
        if args.action == "add":
            library.add_folder(Path(args.folder))
            folder = library.folders()[-1]
            found = [e for e in library.entries() if e.location == str(folder)]
            counts = ", ".join(f"{sum(e.kind == k for e in found)} {k}" for k in MODEL_KINDS)
            print(f"added {printable(str(folder))} ({layout(folder)[0]}: {counts})")
        else:
            library.remove_folder(Path(args.folder))
            print(f"removed {printable(args.folder)} from the library's folders (nothing in it was touched)")
        return 0
    folders = library.folders()
    if not folders:
        print("studio: no extra folders; add one with: studio models folders add DIR", file=sys.stderr)
    for folder in folders:
        what = layout(folder)[0] if folder.is_dir() else "missing"
        print(f"{printable(str(folder))}\t{what}")
    return 0


def _defaults(library, args) -> int:
    from studio.cli_gallery import printable
    from studio.errors import ModelError

    values = {
        "steps": args.steps,
        "guidance_scale": args.cfg,
        "scheduler": args.sampler,
        "width": args.width,
        "height": args.height,
    }
    values = {k: v for k, v in values.items() if v is not None}
    entry = library.find(args.name)
    if entry is None:
        raise ModelError(f"the library has no checkpoint named {args.name!r} (studio models list shows them)")
    if values:
        library.set_defaults(entry.name, **values)  # checked before anything is saved
    if args.prediction is not None:
        library.set_prediction(entry.name, args.prediction)
    entry = library.find(entry.name) or entry
    if entry.problem:
        raise ModelError(f"{entry.name} cannot be used: {entry.problem}")
    prediction = f"prediction {entry.prediction} (saved)" if entry.prediction else "prediction from the file"
    print(f"{printable(entry.name)}: {_defaults_text(entry.defaults)}; {prediction}")
    return 0


def _defaults_text(defaults: dict) -> str:
    if not defaults:
        return ""
    return (
        f"{defaults['steps']} steps, CFG {defaults['guidance_scale']:g}, {defaults['scheduler']}, "
        f"{defaults['width']}x{defaults['height']}"
    )


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            return f"{value:.1f} {unit}"
    return f"{count} B"


def _bar(total: int, what: str):
    from tqdm import tqdm

    from studio.cli_common import bars_hidden

    return tqdm(
        total=total, desc=what, file=sys.stderr, unit="B", unit_scale=True, unit_divisor=1024, disable=bars_hidden()
    )
