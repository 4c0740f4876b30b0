"""How fast the landscape world renders scenes: the training data is drawn on the fly, so a
scene must cost far less than a training step.

    python bench/world.py [--count 200] [--size 128]

Prints milliseconds per 128x128 scene (median of 5 rounds) and the share of a 5 ms budget.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from studio.embedded import world

BUDGET_MS = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    scenes = [world.random_scene(rng) for _ in range(args.count)]
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for scene in scenes:
            world.render(scene, args.size, args.size, rng)
        rounds.append((time.perf_counter() - start) * 1000 / len(scenes))
    median = statistics.median(rounds)
    print(
        f"world.render {args.size}x{args.size}: {median:.2f} ms per scene (median of 5 rounds of {args.count}); "
        f"{median / BUDGET_MS:.2f} of the {BUDGET_MS:g} ms budget"
    )


if __name__ == "__main__":
    main()
