"""How long does Studio take to end once its window is closed, in each state?

Each state of studio.testing.window_states (idle, loading a model, generating, encoding a very
long prompt, outpainting, importing images) is run as a real process (QT_QPA_PLATFORM=offscreen)
that closes its own window when the state is reached; the time from closing the window to the
end of the process is measured here (goal: under 1 s in every state, exit status 0).

Uses the embedded model when installed, else a small SD-shaped model with random weights.
Run: python bench/close.py [--runs 3] [--model M] [--states idle,loading,...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def close_once(state: str, model: str, side: int) -> tuple[float, int, dict]:
    """Seconds from the window closing to the process's end, its exit status, what it was doing."""
    from studio.testing.window_states import prepare

    with tempfile.TemporaryDirectory() as folder:
        args = prepare(state, Path(folder), model, side=side)
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1", TMPDIR=folder)
        process = subprocess.Popen(
            [sys.executable, "-m", "studio.testing.window_states", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        closing = None
        for line in process.stdout:
            if line.startswith("closing "):
                closing = json.loads(line.split(" ", 1)[1])
        code = process.wait(120)
        ended = time.time()
        if closing is None:
            raise RuntimeError(f"{state}: the window was never closed (exit {code}): {process.stderr.read()[-2000:]}")
        return ended - closing["time"], code, closing


def main() -> None:
    from studio.testing.window_states import STATES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model")
    parser.add_argument("--states", default=",".join(STATES))
    args = parser.parse_args()

    from studio.testing.tiny_model import bench_model_ref

    model = args.model or bench_model_ref()
    side = 128 if model == "embedded" else 64
    print(f"model {model}; close -> process end, {args.runs} run(s) per state (goal < 1000 ms, exit 0)")
    for state in args.states.split(","):
        times, codes, seen = [], set(), None
        for _ in range(args.runs):
            seconds, code, seen = close_once(state, model, side)
            times.append(seconds * 1000)
            codes.add(code)
        print(
            f"  {state:<12} median {statistics.median(times):5.0f} ms   max {max(times):5.0f} ms   exit {sorted(codes)}"
            f"   (at close: loaded={seen['loaded']} started={seen['started']} steps={seen['steps']})"
        )


if __name__ == "__main__":
    main()
