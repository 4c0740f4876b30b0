"""What a landscape contains: the attributes of one scene and how to sample them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TIMES = ("day", "sunset", "night")
GROUNDS = ("green", "autumn", "snowy", "desert")
BODY_SIDES = (None, "left", "right")
MAX_TREES = 3
TREE_COUNTS = tuple(range(MAX_TREES + 1))


@dataclass(frozen=True)
class Scene:
    """The attributes a caption talks about; everything else about a render is free."""

    time: str = "day"
    ground: str = "green"
    body: str | None = None
    mountains: bool = False
    lake: bool = False
    trees: int = 0

    def __post_init__(self) -> None:
        if self.time not in TIMES:
            raise ValueError(f"time must be one of {TIMES}, not {self.time!r}")
        if self.ground not in GROUNDS:
            raise ValueError(f"ground must be one of {GROUNDS}, not {self.ground!r}")
        if self.body not in BODY_SIDES:
            raise ValueError(f"body must be one of {BODY_SIDES}, not {self.body!r}")
        if self.trees not in TREE_COUNTS:
            raise ValueError(f"trees must be one of {TREE_COUNTS}, not {self.trees!r}")


def random_scene(rng: np.random.Generator) -> Scene:
    """A scene with every attribute drawn uniformly from its allowed values."""
    return Scene(
        time=TIMES[rng.integers(len(TIMES))],
        ground=GROUNDS[rng.integers(len(GROUNDS))],
        body=BODY_SIDES[rng.integers(len(BODY_SIDES))],
        mountains=bool(rng.integers(2)),
        lake=bool(rng.integers(2)),
        trees=int(rng.integers(MAX_TREES + 1)),
    )


def all_scenes() -> list[Scene]:
    """Every combination of attributes (3 x 4 x 3 x 2 x 2 x 4 = 576 scenes)."""
    return [
        Scene(time, ground, body, mountains, lake, trees)
        for time in TIMES
        for ground in GROUNDS
        for body in BODY_SIDES
        for mountains in (False, True)
        for lake in (False, True)
        for trees in TREE_COUNTS
    ]
