"""`studio gallery list` and `studio gallery import`: the gallery from the command line."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from studio.engine.errors import StudioError

PROMPT_WIDTH = 70


def run_gallery_command(args) -> int:
    from studio.gallery.store import Gallery
    from studio.paths import data_dir

    gallery = Gallery(data_dir(args.data_dir))
    try:
        if args.gallery_command == "list":
            return _list(gallery, args)
        return _import(gallery, Path(args.folder))
    finally:
        gallery.close()


def _sync(gallery) -> None:
    try:
        report = gallery.sync()
    except StudioError as exc:  # a full disk: list what the index already knows
        print(f"studio: warning: {exc}; the listing may be out of date", file=sys.stderr)
        return
    for name, reason in report.skipped:
        print(f"studio: warning: skipped {name}: {reason}", file=sys.stderr)


def _list(gallery, args) -> int:
    _sync(gallery)
    rows = gallery.query(search=args.search)
    for row in rows:
        path = gallery.path(row.name).resolve()
        created = datetime.fromtimestamp(row.created).astimezone().isoformat(timespec="seconds")
        if args.json:
            info = gallery.info(row.name)
            record = {
                "path": str(path), "prompt": row.prompt, "negative_prompt": info.negative_prompt if info else "",
                "seed": row.seed, "steps": info.steps if info else None, "guidance_scale": info.cfg if info else None,
                "scheduler": info.sampler if info else "", "model": row.model, "width": row.width, "height": row.height,
                "created": created, "favourite": row.favourite, "source": info.source if info else "",
            }
            print(json.dumps(record, ensure_ascii=False))
        else:
            prompt = " ".join(row.prompt.split())
            if len(prompt) > PROMPT_WIDTH:
                prompt = prompt[: PROMPT_WIDTH - 1] + "…"
            seed = "" if row.seed is None else str(row.seed)
            print(f"{created[:16].replace('T', ' ')}  {row.width}x{row.height}  {seed:>10}  {prompt or '(no recipe)'}\n    {path}")
    if not args.json:
        print(f"{len(rows)} image(s)", file=sys.stderr)
    return 0


def _import(gallery, folder: Path) -> int:
    report = gallery.import_folder(folder)
    for name, reason in report.skipped:
        print(f"studio: warning: not imported {name}: {reason}", file=sys.stderr)
    for name in report.imported:
        print(gallery.path(name))
    print(
        f"imported {len(report.imported)} image(s), {len(report.duplicates)} already in the gallery, "
        f"{len(report.skipped)} skipped",
        file=sys.stderr,
    )
    return 0
