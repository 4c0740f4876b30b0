"""Which attribute combinations the embedded model never sees in training.

The evaluation asks for them anyway, to measure whether the model composes what it
learnt (a night over desert hills) rather than recalling whole scenes. Every time and
every ground is still seen in training, each with the other partners.
"""

from __future__ import annotations

import numpy as np

from studio.embedded.scene import Scene, random_scene

HELD_OUT_PAIRS = frozenset({("night", "desert"), ("sunset", "snowy"), ("day", "autumn")})


def is_held_out(scene: Scene) -> bool:
    return (scene.time, scene.ground) in HELD_OUT_PAIRS


def training_scene(rng: np.random.Generator) -> Scene:
    """A random scene outside the held-out combinations."""
    while True:
        scene = random_scene(rng)
        if not is_held_out(scene):
            return scene
