"""Engine overhead, measured side by side in one run.

For the same model, seed, sampler and steps, times (1) a plain diffusers `pipe(...)`
call, (2) `Engine.run` with a preview every step, (3) `Engine.run` without previews,
interleaved over several rounds, and prints the median ratios:

    engine (previews on) / raw pipe      goal <= 1.05
    previews on / previews off           preview cost; goal: under 5 % of generation time

Uses the embedded model when it is installed, else a small SD-shaped model built here.
Run: python bench/engine.py [--rounds 7] [--steps 20] [--size 128] [--model PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--scheduler", default="DPM++ 2M Karras")
    parser.add_argument("--model")
    args = parser.parse_args()

    import torch

    from studio.engine.events import Finished
    from studio.engine.request import GenerateRequest
    from studio.engine.runner import Engine
    from studio.testing.reference import plain_pipeline_call
    from studio.testing.tiny_model import bench_model_ref

    ref = args.model or bench_model_ref(args.size)
    engine = Engine(device="cpu")
    model = engine.load(ref)
    request = GenerateRequest(
        prompt="a sunset landscape with snowy hills, mountains, a lake",
        seed=1,
        steps=args.steps,
        guidance_scale=5.0,
        width=args.size,
        height=args.size,
        scheduler=args.scheduler,
        model=ref,
    )

    def raw() -> float:
        began = time.perf_counter()
        plain_pipeline_call(model, request)
        return time.perf_counter() - began

    def ours(previews: bool) -> float:
        began = time.perf_counter()
        final = engine.run(request, lambda event: None, previews=previews)
        assert isinstance(final, Finished), final
        return time.perf_counter() - began

    raw(), ours(True), ours(False)  # warm-up
    times: dict[str, list[float]] = {"raw": [], "on": [], "off": []}
    for _ in range(args.rounds):
        times["raw"].append(raw())
        times["on"].append(ours(True))
        times["off"].append(ours(False))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"model: {model.info.name}  size: {args.size}x{args.size}  steps: {args.steps}  sampler: {args.scheduler}  "
        f"rounds: {args.rounds}  threads: {torch.get_num_threads()}"
    )
    print(f"raw pipe(...)            median {med['raw'] * 1000:8.1f} ms")
    print(f"engine, previews on      median {med['on'] * 1000:8.1f} ms")
    print(f"engine, previews off     median {med['off'] * 1000:8.1f} ms")
    print(f"engine (previews on) / raw pipe : {med['on'] / med['raw']:.3f}   (goal <= 1.05)")
    print(
        f"previews on / previews off      : {med['on'] / med['off']:.3f}   "
        f"(previews cost {100 * (med['on'] - med['off']) / med['on']:.1f} % of generation time; goal < 5 %)"
    )


if __name__ == "__main__":
    main()
