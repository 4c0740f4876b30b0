"""Studio's log, for finding out after the fact what went wrong.

`setup_logging(data)` sends every logger's records (Studio's from INFO, other libraries' from
WARNING) to DATA_DIR/logs/studio.log, which rotates at 1 MB keeping 5 old files. An entry is the
time, level, thread, logger and message; its later lines (a traceback) are indented and control
characters are escaped, so no name that reaches a message can forge an entry or reach a terminal
raw. Warnings also go to stderr, as their bare message, as they did before there was a log file;
the traceback of an exception someone caught stays in the file (whoever caught it says what went
wrong in their own words).

An exception nobody caught, in any thread, is logged with its traceback and reported in one line:
on stderr, and to each `on_uncaught` listener (the window shows it); the program runs on where it
can. A fatal signal (a crash in native code) writes every thread's Python stack to
DATA_DIR/logs/crash.log. A data folder that cannot hold the log leaves stderr only, said once.
STUDIO_DEBUG=1 adds Studio's debug records (such as the tracebacks of expected damage).

No Qt here: studio.ui.qt_logging routes Qt's own messages into the `qt` logger.
"""

from __future__ import annotations

import faulthandler
import logging
import logging.handlers
import os
import platform
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from studio import __version__
from studio.paths import log_dir

LOG_FILE = "studio.log"
CRASH_FILE = "crash.log"
MAX_BYTES = 1024 * 1024
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s"

log = logging.getLogger(__name__)

_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_LISTENERS: list[Callable[[str], None]] = []


def escape(text: str, newlines: bool = True) -> str:
    """`text` without raw control characters: C0, DEL and C1 as \\xNN, a file name's undecodable
    bytes (surrogate escapes) as the \\xNN of the byte; line breaks kept unless `newlines` is false."""
    if not newlines:
        text = text.replace("\n", "\\x0a")
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class _Entries(logging.Formatter):
    """One entry per record: its first line starts with the time, later lines are indented."""

    def __init__(self) -> None:
        super().__init__(FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return escape(super().format(record)).replace("\n", "\n    ")


class _LogFile(logging.handlers.RotatingFileHandler):
    """The rotating log file; when it cannot be written (a full disk) it says so once, on stderr."""

    def __init__(self, path: Path, quiet: bool):
        super().__init__(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", errors="backslashreplace")
        self.quiet, self.failed = quiet, False
        self.setFormatter(_Entries())

    def handleError(self, record: logging.LogRecord) -> None:
        if not self.failed and not self.quiet:
            reason = sys.exc_info()[1]
            _say(f"studio: warning: cannot write the log file {self.baseFilename}: {_reason(reason)}")
        self.failed = True


class _StderrLines(logging.Handler):
    """Records at `level` and above as their bare message, one line each, on the current stderr;
    not the records of exceptions someone caught (they say what went wrong themselves), nor those
    a handler nearer their logger has shown already (it sets `record.shown`)."""

    def __init__(self, level: int):
        super().__init__(level)
        self.addFilter(lambda record: record.exc_info is None and not getattr(record, "shown", False))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _say(escape(record.getMessage(), newlines=False))
        except Exception:  # a message that cannot be formatted: logging's own report, as for any handler
            self.handleError(record)


class _State:
    def __init__(self) -> None:
        self.handlers: list[logging.Handler] = []
        self.levels: dict[str, int] = {}
        self.hooks: tuple | None = None
        self.crash: TextIO | None = None
        self.file: Path | None = None


_state: _State | None = None


def setup_logging(
    data_dir: str | os.PathLike, *, to_stderr_level: int = logging.WARNING, create: bool = True, quiet: bool = False
) -> Path | None:
    """Log into DATA_DIR/logs (see the module's text); returns the log file, or None when there is
    none (stderr only). `create=False` makes nothing where DATA_DIR does not exist (a command never
    makes it only to log); `quiet` says nothing on stderr about a log that cannot be written.
    Calling it again replaces what the last call set up."""
    global _state
    stop_logging()
    state = _state = _State()
    root = logging.getLogger()
    studio_level = logging.DEBUG if os.environ.get("STUDIO_DEBUG") else logging.INFO
    for name, level in (("", logging.WARNING), ("studio", studio_level), ("qt", logging.DEBUG)):
        logger = logging.getLogger(name)
        state.levels[name] = logger.level
        logger.setLevel(level)
    stderr = _StderrLines(to_stderr_level)
    root.addHandler(stderr)
    state.handlers.append(stderr)

    folder = log_dir(Path(data_dir))
    if create or Path(data_dir).is_dir():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handler = _LogFile(folder / LOG_FILE, quiet)
        except OSError as exc:
            if not quiet:
                _say(f"studio: warning: cannot keep a log in {folder}: {_reason(exc)}; logging to stderr only")
        else:
            root.addHandler(handler)
            state.handlers.append(handler)
            state.file = folder / LOG_FILE
            state.crash = _crash_file(folder)
    state.hooks = (sys.excepthook, threading.excepthook)
    sys.excepthook = _uncaught
    threading.excepthook = _uncaught_in_thread
    log.info(
        "Studio %s starting: Python %s on %s, pid %d",
        __version__,
        platform.python_version(),
        platform.platform(),
        os.getpid(),
    )
    return state.file


def stop_logging() -> None:
    """Undo `setup_logging`: its handlers closed and removed, the hooks and levels as they were."""
    global _state
    state, _state = _state, None
    if state is None:
        return
    root = logging.getLogger()
    for handler in state.handlers:
        root.removeHandler(handler)
        try:
            handler.close()
        except OSError:  # a full disk: what it still held is lost (it said so when writing failed)
            pass
    for name, level in state.levels.items():
        logging.getLogger(name).setLevel(level)
    if state.hooks is not None:
        sys.excepthook, threading.excepthook = state.hooks
    if state.crash is not None:
        faulthandler.disable()
        state.crash.close()


def log_file() -> Path | None:
    """The file the log goes to now, if any."""
    return _state.file if _state is not None else None


def on_uncaught(listener: Callable[[str], None]) -> Callable[[], None]:
    """Call `listener(one line)` for every exception nobody caught, from the thread it happened in;
    returns the function that stops it."""
    _LISTENERS.append(listener)

    def stop() -> None:
        if listener in _LISTENERS:
            _LISTENERS.remove(listener)

    return stop


def _crash_file(folder: Path) -> TextIO | None:
    """crash.log, open for the life of the process, for faulthandler; None when another
    faulthandler is already on (python -X faulthandler, a test runner) or the file cannot be opened."""
    if faulthandler.is_enabled():
        return None
    path = folder / CRASH_FILE
    try:
        if path.exists() and path.stat().st_size > MAX_BYTES:
            os.replace(path, path.with_name(CRASH_FILE + ".1"))
        crash = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open until the process ends)
    except OSError as exc:
        log.warning("cannot keep crash reports in %s: %s", path, _reason(exc))
        return None
    faulthandler.enable(file=crash, all_threads=True)
    return crash


def _uncaught(kind, value, tb) -> None:
    if issubclass(kind, (KeyboardInterrupt, SystemExit)):
        sys.__excepthook__(kind, value, tb)
        return
    _report(kind, value, tb, threading.current_thread().name)


def _uncaught_in_thread(args) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else threading.current_thread().name
    _report(args.exc_type, args.exc_value, args.exc_traceback, name)


def _report(kind, value, tb, thread: str) -> None:
    log.critical("an exception nobody caught, in thread %s", thread, exc_info=(kind, value, tb))
    first = (str(value).strip().splitlines() or [""])[0] if value is not None else ""
    text = f"internal error: {kind.__name__}" + (f": {first}" if first else "")
    where = log_file()
    if where is not None:
        _say(escape(f"studio: {text} (the traceback is in {where})", newlines=False))
    else:
        import traceback

        _say(escape("".join(traceback.format_exception(kind, value, tb)).rstrip()))
    for listener in list(_LISTENERS):
        try:
            listener(text + (f" (details in {where})" if where is not None else ""))
        except Exception:  # a listener whose window is gone: it hears nothing more
            log.exception("telling %r about an uncaught exception failed", listener)
            if listener in _LISTENERS:
                _LISTENERS.remove(listener)


def _say(line: str) -> None:
    stream = sys.stderr
    if stream is None:  # no console (pythonw)
        return
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):  # stderr closed or gone
        pass


def _reason(exc: BaseException | None) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
