"""How well a model draws what its prompt says, read back from the pixels by the judge.

    python -m studio.embedded.evaluate [--model embedded] [--count N] [--seed S]
        [--shapes square,wide,tall] [--steps N] [--cfg X] [--scheduler NAME] [--json]

Prompts are canonical captions of random scenes: `count` SEEN scenes (combinations the
embedded model trains on) and `count` HELD-OUT scenes (time and ground pairs it never sees,
spread evenly over the pairs), the same scenes at every shape. Each prompt makes one image
with the engine at the model's default settings (or the overrides), seeded, so a run is
repeatable. The judge reads every image; an attribute is right when it matches the prompt.
The judge's ceiling is its score on true renders of the same scenes at the same shape.

Targets for the embedded model: >= 90 % on time, ground, sun/moon side, mountains and lake,
>= 70 % on the exact tree count, and held-out within 5 points of seen.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from studio.embedded import world
from studio.embedded.captions import caption
from studio.embedded.judge import ATTRIBUTES, Judge
from studio.embedded.scene import Scene
from studio.embedded.splits import HELD_OUT_PAIRS, is_held_out, training_scene

SHAPES = {"square": (128, 128), "wide": (256, 128), "tall": (128, 256)}  # width, height
SPLITS = ("seen", "held_out")
SCORED = (*ATTRIBUTES, "all")  # "all": every attribute of the image right
LABELS = {
    "time": "time",
    "ground": "ground",
    "body": "sun/moon side",
    "mountains": "mountains",
    "lake": "lake",
    "trees": "trees (exact)",
    "all": "all attributes",
}
TARGETS = {"time": 0.9, "ground": 0.9, "body": 0.9, "mountains": 0.9, "lake": 0.9, "trees": 0.7}
MAX_HELD_OUT_GAP = 0.05


def evaluation_scenes(count: int, seed: int) -> dict[str, list[Scene]]:
    """`count` seen scenes and `count` held-out scenes (the pairs in turn), seeded."""
    rng = np.random.default_rng([seed, 0])
    seen = [training_scene(rng) for _ in range(count)]
    pairs = sorted(HELD_OUT_PAIRS)
    held_out = []
    for index in range(count):
        time_of_day, ground = pairs[index % len(pairs)]
        scene = dataclasses.replace(world.random_scene(rng), time=time_of_day, ground=ground)
        held_out.append(scene)
    assert not any(map(is_held_out, seen)) and all(map(is_held_out, held_out))
    return {"seen": seen, "held_out": held_out}


def scores(scenes: list[Scene], reads: list[dict]) -> dict[str, float]:
    """The share of images whose attribute was read as the scene has it, per attribute."""
    right = np.array(
        [[read[name] == getattr(scene, name) for name in ATTRIBUTES] for scene, read in zip(scenes, reads)], dtype=bool
    ).reshape(-1, len(ATTRIBUTES))
    values = dict(zip(ATTRIBUTES, right.mean(axis=0).tolist()))
    values["all"] = float(right.all(axis=1).mean())
    return values


def evaluate(
    model: str = "embedded",
    count: int = 50,
    seed: int = 0,
    shapes: tuple[str, ...] = tuple(SHAPES),
    steps: int | None = None,
    guidance_scale: float | None = None,
    scheduler: str | None = None,
    engine=None,
    judge: Judge | None = None,
    device: str | None = None,
    save_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Generates and judges 2 x `count` prompts at each shape; returns every number as a dict
    (accuracies in [0, 1]): overall "seen", "held_out" and "ceiling", "by_shape", the settings
    used, and one record per image."""
    from studio.engine.events import Finished
    from studio.engine.models import resolve_model
    from studio.engine.runner import Engine

    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    unknown = [shape for shape in shapes if shape not in SHAPES]
    if unknown:
        raise ValueError(f"unknown shapes {unknown}; use some of {', '.join(SHAPES)}")
    engine = engine or Engine(device=device)
    judge = judge or Judge.load()
    info = resolve_model(model)
    settings = {"steps": steps, "guidance_scale": guidance_scale, "scheduler": scheduler}
    scenes = evaluation_scenes(count, seed)
    total, done, started = len(shapes) * len(SPLITS) * count, 0, time.perf_counter()
    records, by_shape = [], {}
    for shape_index, shape in enumerate(shapes):
        width, height = SHAPES[shape]
        by_shape[shape] = {}
        for split_index, split in enumerate(SPLITS):
            generated = []
            for index, scene in enumerate(scenes[split]):
                request = info.defaults.request(
                    model, prompt=caption(scene), seed=seed + index, width=width, height=height, **settings
                )
                final = engine.run(request, previews=False)
                if not isinstance(final, Finished):
                    raise RuntimeError(f"generation failed for {request.prompt!r}: {final}")
                image = final.results[0].image
                generated.append(image)
                if save_dir is not None:
                    folder = Path(save_dir) / shape / split
                    folder.mkdir(parents=True, exist_ok=True)
                    image.save(folder / f"{index:03d}.png")
                done += 1
                if progress:
                    progress(done, total)
            render_rng = np.random.default_rng([seed, 1, shape_index, split_index])
            truths = [world.render(scene, width, height, render_rng) for scene in scenes[split]]
            reads, true_reads = judge.read(generated), judge.read(truths)
            by_shape[shape][split] = scores(scenes[split], reads)
            by_shape[shape][f"{split}_ceiling"] = scores(scenes[split], true_reads)
            for index, (scene, read) in enumerate(zip(scenes[split], reads)):
                records.append(
                    {
                        "shape": shape,
                        "split": split,
                        "prompt": caption(scene),
                        "seed": seed + index,
                        "read": read,
                        "right": {n: read[n] == getattr(scene, n) for n in ATTRIBUTES},
                    }
                )
    for shape in shapes:
        by_shape[shape]["ceiling"] = _mean(by_shape[shape].pop(f"{s}_ceiling") for s in SPLITS)
    seconds = time.perf_counter() - started
    return {
        "model": model,
        "model_name": info.name,
        "settings": {
            "steps": steps or info.defaults.steps,
            "guidance_scale": guidance_scale if guidance_scale is not None else info.defaults.guidance_scale,
            "scheduler": scheduler or info.defaults.scheduler,
        },
        "count": count,
        "seed": seed,
        "shapes": {shape: "{}x{}".format(*SHAPES[shape]) for shape in shapes},
        "seen": _mean(by_shape[shape]["seen"] for shape in shapes),
        "held_out": _mean(by_shape[shape]["held_out"] for shape in shapes),
        "ceiling": _mean(by_shape[shape]["ceiling"] for shape in shapes),
        "by_shape": by_shape,
        "images": total,
        "seconds": seconds,
        "records": records,
    }


def _mean(tables) -> dict[str, float]:
    """The mean of equally weighted score tables."""
    tables = list(tables)
    return {name: float(np.mean([table[name] for table in tables])) for name in SCORED}


def format_report(result: dict) -> str:
    """The tables a person reads: per attribute (seen, held-out, gap, ceiling) and per shape."""
    settings = result["settings"]
    lines = [
        f"model: {result['model_name']} ({result['model']})  steps {settings['steps']}  "
        f"cfg {settings['guidance_scale']}  scheduler {settings['scheduler']}",
        f"{result['count']} seen + {result['count']} held-out prompts per shape, seed "
        f"{result['seed']}, {result['images']} images in {result['seconds']:.0f} s",
        "",
        f"{'attribute':16s}{'seen':>8s}{'held-out':>10s}{'gap':>8s}{'ceiling':>9s}  target",
    ]
    for name in SCORED:
        seen, held, ceiling = (result[key][name] for key in ("seen", "held_out", "ceiling"))
        gap = seen - held
        if name in TARGETS:
            met = min(seen, held) >= TARGETS[name] and gap <= MAX_HELD_OUT_GAP
            target = f">= {100 * TARGETS[name]:.0f} %, gap <= {100 * MAX_HELD_OUT_GAP:.0f}: " + (
                "met" if met else "NOT met"
            )
        else:
            target = ""
        lines.append(
            f"{LABELS[name]:16s}{100 * seen:7.1f}%{100 * held:9.1f}%{100 * gap:+8.1f}{100 * ceiling:8.1f}%  {target}"
        )
    lines += [
        "",
        "per shape, seen / held-out (judge ceiling)",
        f"{'shape':10s}" + "".join(f"{name:>16s}" for name in SCORED),
    ]
    for shape, size in result["shapes"].items():
        row = result["by_shape"][shape]
        cells = [
            f"{100 * row['seen'][n]:.0f}/{100 * row['held_out'][n]:.0f} ({100 * row['ceiling'][n]:.0f})" for n in SCORED
        ]
        lines.append(f"{size:10s}" + "".join(f"{cell:>16s}" for cell in cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m studio.embedded.evaluate", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--model", default="embedded", help='"embedded" or a model folder')
    parser.add_argument("--count", type=int, default=50, help="prompts per split (seen, held-out)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shapes", default=",".join(SHAPES), help="some of square,wide,tall")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--cfg", type=float, help="guidance scale")
    parser.add_argument("--scheduler")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best present)")
    parser.add_argument("--judge", type=Path, help="judge weights (default: the shipped judge)")
    parser.add_argument("--save", type=Path, help="also write every generated image here")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args(argv)

    def progress(done: int, total: int) -> None:
        if done % 10 == 0 or done == total:
            print(f"  {done}/{total} images", file=sys.stderr, flush=True)

    result = evaluate(
        args.model,
        args.count,
        args.seed,
        tuple(s.strip() for s in args.shapes.split(",") if s.strip()),
        steps=args.steps,
        guidance_scale=args.cfg,
        scheduler=args.scheduler,
        device=args.device,
        judge=Judge.load(args.judge) if args.judge else None,
        save_dir=args.save,
        progress=progress,
    )
    print(json.dumps(result, indent=2) if args.json else format_report(result))


if __name__ == "__main__":
    main()
