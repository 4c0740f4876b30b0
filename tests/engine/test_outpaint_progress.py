"""`studio outpaint`'s progress bar counts the steps the job takes: both passes of a two-pass
outpaint (`edit.plan_passes`), never more than its total, and ends at exactly its total."""

import os
import re
import subprocess
import sys

import numpy as np
from PIL import Image

from studio.engine.edit import REFINE_STRENGTH, EditRequest, extend_canvas, plan_passes
from studio.engine.events import Step
from studio.engine.request import GenerateRequest

STEPS = 4


def _landscape(side: int) -> np.ndarray:
    from studio.embedded.world import Scene, render

    return render(Scene(time="day", ground="green", body="left", lake=True), side, side, np.random.default_rng(0))


def _request(source: np.ndarray, count: int = 1) -> EditRequest:
    canvas, mask = extend_canvas(source, right=64)
    generate = GenerateRequest(prompt="a day landscape with green hills", seed=1, steps=STEPS, count=count)
    return EditRequest(generate, canvas, mask, extend=(0, 0, 64, 0))


def test_planned_steps_are_the_steps_every_candidate_takes(engine):
    from studio.engine.edit_runner import planned_steps

    request = _request(_landscape(144), count=2)
    assert len(plan_passes(request.mask, 128)) == 2
    final_steps = []
    engine.run_edit(request, lambda e: final_steps.append(e) if isinstance(e, Step) else None, previews=False)
    planned = planned_steps(request)
    assert planned == STEPS + int(STEPS * REFINE_STRENGTH)
    for index in (0, 1):
        assert [e.step for e in final_steps if e.index == index] == list(range(1, planned + 1))


def _bar_counts(text: str) -> list[tuple[int, int]]:
    return [(int(n), int(total)) for n, total in re.findall(r"\|\s*(\d+)/(\d+) \[", text)]


def test_the_command_line_bar_counts_both_passes_and_never_overruns(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    path = tmp_path / "big.png"
    Image.fromarray(_landscape(144)).save(path)
    out = tmp_path / "wide.png"
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # tqdm draws on a sized terminal
    env = {k: v for k, v in os.environ.items() if k != "STUDIO_NO_PROGRESS"}
    env["STUDIO_DATA_DIR"] = str(tmp_path / "data")
    command = [sys.executable, "-m", "studio.cli", "outpaint", str(path), "--right", "64", "--steps", str(STEPS)]
    command += ["--candidates", "2", "--seed", "3", "--prompt", "a day landscape", "--out", str(out)]
    with subprocess.Popen(command, stderr=follower, stdout=subprocess.PIPE, env=env) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=300)
    os.close(leader)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert process.returncode == 0, text
    counts = _bar_counts(text)
    expected = 2 * (STEPS + int(STEPS * REFINE_STRENGTH))
    assert counts, text
    assert all(n <= total == expected for n, total in counts), counts
    assert counts[-1] == (expected, expected)
