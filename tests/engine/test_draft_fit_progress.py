"""A first draft on a model waits for its draft decoder's fit: `fit_draft` reports the fit's progress
and stops on cancel with nothing cached, and `studio generate --quality draft` says what it is doing,
draws the fit's bar on a terminal (never elsewhere) and ends with 130 on Ctrl+C during the fit."""

from __future__ import annotations

import os
import re
import select
import signal
import sys
import threading
import time

import pytest

from studio import cli
from studio.cli_draft import FITTING
from studio.engine import draft_decoders
from studio.engine.draft_decoder_training import TrainingPlan
from studio.engine.loader import ModelCache
from studio.recipe.walker import read_recipe

SMALL = TrainingPlan(pairs=16, held_out=4, tile=4, steps=60, width=16, generated=1)
ENDLESS = TrainingPlan(pairs=16, held_out=4, tile=4, steps=10_000_000, width=16, generated=1)


@pytest.fixture
def draft_cache(tmp_path):
    folder = tmp_path / "draft-decoders"
    draft_decoders.use_draft_training(folder, plan=SMALL)
    yield folder
    draft_decoders.use_draft_training(None)


def fresh(model):
    """The model loaded anew: its own draft slot, empty."""
    return ModelCache("cpu").get(str(model))


def cached_files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_first_fit_says_so_reports_its_progress_and_is_cached(tiny_model, draft_cache):
    model = fresh(tiny_model)
    fits, fractions = [], []
    assert draft_decoders.fit_draft(model, on_fit=lambda: fits.append(1), progress=fractions.append) == "ready"
    assert fits == [1] and model.previewer.draft.decoder is not None
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    sampling = [f for f in fractions if f <= draft_decoders.SAMPLING_SHARE]
    assert len(sampling) >= 2 and len(fractions) - len(sampling) >= 4  # the model's pictures, then the fit
    assert len(cached_files(draft_cache)) == 1

    again, heard = fresh(tiny_model), []
    assert draft_decoders.fit_draft(again, on_fit=lambda: heard.append("fit"), progress=heard.append) == "ready"
    assert heard == [] and again.previewer.draft.decoder is not None  # read from the cache, at once


@pytest.mark.parametrize("stop_at", [0.1, 0.5])  # while the model draws its pictures; while fitting
def test_a_cancelled_fit_caches_nothing_and_the_next_one_fits(tiny_model, draft_cache, stop_at):
    model = fresh(tiny_model)
    fractions = []
    stop = threading.Event()

    def progress(fraction):
        fractions.append(fraction)
        if fraction >= stop_at:
            stop.set()

    assert draft_decoders.fit_draft(model, stop.is_set, progress=progress) == "cancelled"
    assert fractions[-1] < 1.0 and model.previewer.draft.decoder is None
    assert cached_files(draft_cache) == []
    assert draft_decoders.fit_draft(model) == "ready" and len(cached_files(draft_cache)) == 1


# ---- the command line ----


def generate_args(model, tmp_path, out):
    args = ["generate", "hills", "--model", str(model), "--steps", "2", "--seed", "1", "--out", str(out)]
    return [*args, "--quality", "draft", "--data-dir", str(tmp_path / "data")]


class Terminal:
    """A real terminal (a pty) as the command's stderr, its output read as it comes."""

    def __init__(self):
        import fcntl
        import pty
        import struct
        import termios

        self.leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # tqdm draws on a sized one
        self.stderr = os.fdopen(follower, "w", buffering=1)
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                chunk = os.read(self.leader, 4096)
            except OSError:  # the other end closed
                return
            if not chunk:
                return
            self.chunks.append(chunk)

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", "replace")

    def close(self) -> str:
        self.stderr.close()
        self.reader.join(timeout=10)
        os.close(self.leader)
        return self.text


@pytest.fixture
def terminal(monkeypatch):
    """The terminal; the test makes it sys.stderr itself (pytest's capture sets sys.stderr again after set-up)."""
    monkeypatch.delenv("STUDIO_NO_PROGRESS", raising=False)
    made = Terminal()
    yield made
    if not made.stderr.closed:
        made.close()


def percents(text: str) -> list[int]:
    return [int(p) for p in re.findall(r"draft decoder:\s+(\d+)%\|", text)]


def test_a_first_draft_says_why_it_waits_and_shows_the_fit_on_a_terminal(tiny_model, tmp_path, terminal, monkeypatch):
    monkeypatch.setattr(draft_decoders, "DEFAULT_PLAN", SMALL)
    monkeypatch.setattr(sys, "stderr", terminal.stderr)
    out = tmp_path / "draft.png"
    code = cli.main(generate_args(tiny_model, tmp_path, out))
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)  # the terminal's end is closed to read the rest
    text = terminal.close()
    assert code == 0, text
    assert text.count(FITTING) == 1
    shown = percents(text)
    assert shown and shown == sorted(shown) and shown[-1] == 100, text
    assert text.index(FITTING) < text.index("draft decoder:") < text.rindex("step")  # the fit, then the steps
    assert "draft decoder fitted in" in text
    recipe = read_recipe(out)
    assert recipe is not None and recipe.request.quality == "draft"
    draft_decoders.use_draft_training(None)


def test_a_later_draft_and_a_pipe_show_no_bar(tiny_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(draft_decoders, "DEFAULT_PLAN", SMALL)
    first = cli.main(generate_args(tiny_model, tmp_path, tmp_path / "first.png"))
    said = capsys.readouterr().err
    assert first == 0 and said.count(FITTING) == 1  # the line, even on a pipe
    assert percents(said) == [] and "\r" not in said  # but no bar
    second = cli.main(generate_args(tiny_model, tmp_path, tmp_path / "second.png"))
    assert second == 0 and FITTING not in capsys.readouterr().err  # cached: nothing to wait for
    draft_decoders.use_draft_training(None)


CHILD = """
import sys
from studio.engine import draft_decoders
from studio.engine.draft_decoder_training import TrainingPlan
draft_decoders.DEFAULT_PLAN = TrainingPlan(pairs=16, held_out=4, tile=4, steps=10_000_000, width=16, generated=1)
from studio.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_during_the_fit_cancels_with_130_and_caches_nothing(tiny_model, tmp_path):
    """In a process of its own (a fit that never ends unless cancelled), on a terminal, as a person would."""
    import fcntl
    import pty
    import struct
    import subprocess
    import termios

    out = tmp_path / "draft.png"
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = {k: v for k, v in os.environ.items() if k != "STUDIO_NO_PROGRESS"}
    command = [sys.executable, "-c", CHILD, *generate_args(tiny_model, tmp_path, out)]
    chunks: list[bytes] = []
    with subprocess.Popen(command, stderr=follower, stdout=subprocess.PIPE, env=env) as process:
        os.close(follower)
        deadline = time.monotonic() + 300
        while not percents(b"".join(chunks).decode("utf-8", "replace")) and time.monotonic() < deadline:
            try:
                chunks.append(os.read(leader, 4096))  # until the fit's bar is drawn: the fit is under way
            except OSError:  # the child ended first
                break
        pressed = bool(percents(b"".join(chunks).decode("utf-8", "replace")))
        process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if select.select([leader], [], [], 0.5)[0]:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the child closed its end
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            elif process.poll() is not None:
                break
        if process.poll() is None:  # Ctrl+C did not end it
            process.kill()
        code = process.wait(timeout=60)
    os.close(leader)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert pressed, text
    assert code == cli.EXIT_CANCELLED, text
    assert text.count(FITTING) == 1
    assert "cancelled; the draft decoder was not fitted" in text
    assert not out.exists()
    assert cached_files(tmp_path / "data" / "cache" / "draft-decoders") == []
