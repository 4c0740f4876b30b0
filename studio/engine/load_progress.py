# pyright: standard
"""How far a model load has got, told through a plain callback (no Qt): the loader calls it at
the start of each step, and once more with every step done."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadStep:
    """`stage` runs now; `done` of `total` steps are finished. `total` 0: a part that cannot be
    measured (starting torch), shown as busy without a percentage."""

    stage: str
    done: int
    total: int

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None


LoadProgress = Callable[[LoadStep], None]

# The percentage follows the time a step takes, roughly: weights read in units of 100 MB, and each
# library's import (a second or more) weighs as much as 400 MB of weights.
IMPORT_WEIGHT = 4


def weight_of(size: int) -> int:
    """The weight of loading `size` bytes of weights."""
    return 1 + size // 100_000_000


class LoadReporter:
    """Hands each step to the callback (if any) and logs how long each stage took."""

    def __init__(self, ref: str, on_progress: LoadProgress | None):
        self.ref = ref
        self._on_progress = on_progress
        self._began = self._stage_began = time.perf_counter()
        self._stage = ""
        self.times: list[tuple[str, float]] = []  # each finished stage and its seconds

    def __call__(self, stage: str, done: int = 0, total: int = 0) -> None:
        now = time.perf_counter()
        if self._stage:
            self.times.append((self._stage, now - self._stage_began))
        self._stage, self._stage_began = stage, now
        if stage == "ready":
            stages = ", ".join(f"{name} {seconds:.2f}" for name, seconds in self.times)
            log.info("model %s loaded in %.2f s (%s)", self.ref, now - self._began, stages)
        if self._on_progress is not None:
            self._on_progress(LoadStep(stage, done, total))

    def weighted(self, weights: list[int]) -> Callable[[str], None]:
        """Steps of these weights on one scale: each call begins the next one, the earlier all
        done; "ready" reports everything done."""
        total, done, left = sum(weights), 0, list(weights)

        def step(stage: str) -> None:
            nonlocal done
            self(stage, total if stage == "ready" else done, total)
            done += left.pop(0) if left else 0

        return step
