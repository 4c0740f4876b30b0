"""`studio gallery list` and `studio gallery import`: the gallery from the command line.

Names and prompts come from untrusted files, so everything printed goes through
`printable` (plain text) or `json_line`: control characters are escaped, never sent raw
to the terminal, and bytes that are not UTF-8 show as replacement characters. Exit codes:
0 done, 1 failed (one line on stderr); an interrupt is left to the caller (130). Output
into a pipe that closes early (`| head`) ends quietly.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import datetime
from pathlib import Path

from studio.errors import StudioError
from studio.gallery.files import display_name
from studio.recipe.schema import FoundRecipe

PROMPT_WIDTH = 70
EXIT_ERROR = 1
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` safe to print on a terminal: C0 and C1 controls and DEL as \\xNN escapes,
    undecodable bytes of a file name (and stray surrogates) as replacement characters."""
    return _CONTROL.sub(_escape, _SURROGATE.sub("\ufffd", display_name(text)))


def _escape(match: re.Match) -> str:
    return f"\\x{ord(match.group()):02x}"


def json_line(record: dict) -> str:
    """One JSON object on one line, with no control character left raw (JSON escapes C0;
    DEL and C1 are escaped here too) and undecodable names as replacement characters."""
    clean = {k: _SURROGATE.sub("\ufffd", display_name(v)) if isinstance(v, str) else v for k, v in record.items()}
    text = json.dumps(clean, ensure_ascii=False)
    return re.sub("[\x7f-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", text)


def run_gallery_command(args) -> int:
    loggers = [logging.getLogger(name) for name in ("studio.gallery", "studio.recipe")]  # the readers log under recipe
    handler = _Warnings(logging.WARNING)
    for logger in loggers:
        logger.addHandler(handler)
    try:
        return _run(args)
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except StudioError as exc:
        _error(str(exc))
        return EXIT_ERROR
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


class _Warnings(logging.Handler):
    """The gallery's warnings (skipped files, a rebuilt index) as `studio: warning:` lines; the
    log file still gets them (with any traceback), stderr only this line (see studio.logs)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.shown = True
            _warn(record.getMessage().removeprefix("gallery: "))
        except BrokenPipeError:
            raise
        except Exception:
            self.handleError(record)


def _run(args) -> int:
    from studio.gallery.store import Gallery
    from studio.paths import data_dir

    listing = args.gallery_command == "list"
    gallery = Gallery(data_dir(args.data_dir), create=not listing)
    try:
        if listing:
            return _list(gallery, args)
        return _import(gallery, Path(args.folder))
    finally:
        gallery.close()


def _quiet_stdout() -> None:
    """The reader went away (`| head`): nothing more to say, and nothing left to flush."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _warn(text: str) -> None:
    print(f"studio: warning: {printable(text)}", file=sys.stderr)


def _error(text: str) -> None:
    print(f"studio: error: {printable(text)}", file=sys.stderr)


def _sync(gallery) -> None:
    try:
        report = gallery.sync()
    except StudioError as exc:  # a full disk: list what the index already knows
        _warn(f"{exc}; the listing may be out of date")
        return
    if report.unsaved:
        _warn(f"{report.unsaved}: changes to the gallery index cannot be saved; listing the files as they are")


def _created(timestamp: float) -> str:
    try:
        return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):
        return ""


def _list(gallery, args) -> int:
    _sync(gallery)
    rows = gallery.query(search=args.search)
    for row in rows:
        path = str(gallery.path(row.name).resolve())
        created = _created(row.created)
        if args.json:
            info = gallery.info(row.name)
            recipe = info.recipe if info and info.recipe else FoundRecipe(source="")
            record = {
                "path": path,
                "prompt": row.prompt,
                "negative_prompt": recipe.negative_prompt,
                "seed": row.seed,
                "steps": recipe.steps,
                "guidance_scale": recipe.guidance_scale,
                "scheduler": recipe.scheduler,
                "model": row.model,
                "width": row.width,
                "height": row.height,
                "created": created,
                "favourite": row.favourite,
                "source": recipe.source,
            }
            print(json_line(record))
        else:
            prompt = " ".join(row.prompt.split())
            if len(prompt) > PROMPT_WIDTH:
                prompt = prompt[: PROMPT_WIDTH - 1] + "…"
            seed = "" if row.seed is None else str(row.seed)
            line = f"{created[:16].replace('T', ' ')}  {row.width}x{row.height}  {seed:>10}  {prompt or '(no recipe)'}"
            print(f"{printable(line)}\n    {printable(path)}")
    sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
    if not args.json:
        print(f"{len(rows)} image(s)", file=sys.stderr)
    return 0


def _import(gallery, folder: Path) -> int:
    report = gallery.import_folder(folder)  # each file skipped is a warning as it happens
    for name in report.imported:
        print(printable(str(gallery.path(name))))
    sys.stdout.flush()
    print(
        f"imported {len(report.imported)} image(s), {len(report.duplicates)} already in the gallery, "
        f"{len(report.skipped)} skipped",
        file=sys.stderr,
    )
    return 0
