"""Outpainting, measured in one run on the embedded model (or `--model`):

(1) cost: the same 64 px strip added to the right of a 1984 px wide picture (a 2048 px
    canvas) and of a 192 px wide one (a 256 px canvas), interleaved over several rounds;
    median time of the wide job over the narrow one. Goal <= 1.3.
(2) seam: for seeded landscapes (true renders of the world) extended by a 64 px strip on
    the left or the right, the mean horizontal gradient across the seam (the column pair
    where old meets new) over the mean horizontal gradient elsewhere in the picture.
    Goal <= 1.5. The same ratio at the outer edge of the blend band is shown too.
(3) judge: the judge reads the new strip alone and the source picture; the share of cases
    where it reads the same time of day and the same ground. Goal >= 95 %. For scale, the
    same share is shown for a 64 px strip cut from a wider true render of the same scene.
(4) repeats: seeded pictures made by the model from prompts that name a sun or moon and a
    lake (kept when `studio.testing.landscape_objects` finds exactly one of each in them),
    each extended by 64 px on each side in turn with its own prompt; the share of results
    with a second sun/moon or a second lake, per edit and per picture (any of its four
    sides). Goal <= 5 %.

Figures, embedded model, 40 cases, CPU (before: one strip window with the whole prompt; after:
the picture window and the prompt without the clauses of placed things, `edit.plan_passes`):
    (4) repeats  before 151/160 edits = 94.4 %, 40/40 pictures; after 4/160 = 2.5 %, 3/40 = 7.5 %
    (2) seam     before mean 1.125 (median 0.806, worst 5.48); after 0.700 (0.566, 2.99)
        band edge / elsewhere 0.587 -> 0.871, band edge / old picture's gradient 0.738 -> 0.738,
        new strip's gradient / old picture's 2.305 -> 0.540
    (3) judge    40/40 before and after;  (1) cost 1.205 after (3 rounds, loaded machine)
Then outpaints guided at most studio.json outpaint.guidance (3 for the embedded model; 2026-11-30,
side by side on the same code, guidance 6 -> 3):
    (4) repeats  4/160 = 2.5 %, 3/40 = 7.5 % (earlier run) -> 2/160 = 1.2 %, 1/40 = 2.5 % (picture 31:
                 its flags lie in the old picture's untouched pixels; its edge pixels repeated flag it too)
    (2) seam     mean 0.878 -> 0.828, median 0.627 -> 0.581, worst 3.014 -> 3.360;
                 new strip's gradient / old picture's 0.621 -> 0.534
    (3) judge    39/40 and 39/40

Run: python bench/outpaint.py [--model embedded|FOLDER] [--cases 40] [--rounds 5]
     [--steps N] [--threads N] [--skip-cost] [--skip-seam] [--skip-repeats]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STRIP = 64
HEIGHT = 128
SOURCE_SIDE = 128
GOAL_COST, GOAL_SEAM, GOAL_JUDGE, GOAL_REPEATS = 1.3, 1.5, 0.95, 0.05
SIDES = ("left", "top", "right", "bottom")


def column_gradients(image: np.ndarray) -> np.ndarray:
    """Mean absolute difference between each pair of neighbouring columns (W - 1 values);
    entry x is the pair (x, x + 1)."""
    pixels = image.astype(np.float32)
    return np.abs(np.diff(pixels, axis=1)).mean(axis=(0, 2))


def busyness(image: np.ndarray, seam: int, band: int, new_on_left: bool) -> tuple[float, float]:
    """Diagnostics: (mean gradient of the new strip over that of the old picture, both away
    from the band; gradient across the seam over that of the columns 4-12 px either side)."""
    grads = column_gradients(image)
    x = np.arange(len(grads)) + 1
    away = np.abs(x - seam) > band + 1
    new_side = (x < seam) if new_on_left else (x > seam)
    near = (np.abs(x - seam) >= 4) & (np.abs(x - seam) <= 12)
    return float(grads[away & new_side].mean() / grads[away & ~new_side].mean()), float(
        grads[seam - 1] / grads[near].mean()
    )


def band_edge_on_old(image: np.ndarray, seam: int, band: int, new_on_left: bool) -> float:
    """Diagnostic: gradient at the band's outer edge over the old picture's own gradient (away
    from the band), which does not change with how busy the new strip is."""
    grads = column_gradients(image)
    x = np.arange(len(grads)) + 1
    old_side = (x > seam) if new_on_left else (x < seam)
    outer = seam + band if new_on_left else seam - band
    return float(grads[outer - 1] / grads[(np.abs(x - seam) > band + 1) & old_side].mean())


def seam_ratio(image: np.ndarray, seam: int, band: int) -> tuple[float, float]:
    """(gradient across the column pair (seam - 1, seam), same at the band's outer edge) over
    the mean gradient of the columns farther than the band from the seam."""
    grads = column_gradients(image)
    x = np.arange(len(grads)) + 1  # grads[i] is the step into column i + 1
    interior = grads[np.abs(x - seam) > band + 1].mean()
    outer = seam - band if seam > image.shape[1] // 2 else seam + band
    return float(grads[seam - 1] / interior), float(grads[outer - 1] / interior)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--strength", type=float, help="re-noising of the new area, 0-1 (default: EditRequest's)")
    parser.add_argument("--fill", help="what the new area starts from (default: EditRequest's)")
    parser.add_argument("--skip-cost", action="store_true", help="leave out (1)")
    parser.add_argument("--skip-seam", action="store_true", help="leave out (2) and (3)")
    parser.add_argument("--skip-repeats", action="store_true", help="leave out (4)")
    parser.add_argument("--save", metavar="DIR", help="write the results of the seeded cases here")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from studio.engine.edit import EditRequest, extend_canvas, native_side, plan_window
    from studio.engine.events import Finished
    from studio.engine.runner import Engine

    engine = Engine(device=args.device)
    model = engine.load(args.model)
    defaults = model.info.defaults
    band = plan_window(canvas_size=(256, HEIGHT), new=(192, 0, STRIP, HEIGHT), native=native_side(defaults)).band
    print(
        f"model: {model.info.name}  native side: {native_side(defaults)}  steps: {args.steps or defaults.steps}  "
        f"sampler: {defaults.scheduler}  cfg: {defaults.guidance_scale:g}  blend band: {band} px  "
        f"threads: {torch.get_num_threads()}"
    )

    def edit(source: np.ndarray, prompt: str, seed: int, left: int = 0, right: int = 0, top: int = 0, bottom: int = 0):
        canvas, mask = extend_canvas(source, left=left, top=top, right=right, bottom=bottom)
        generate = defaults.request(args.model, prompt=prompt, seed=seed, steps=args.steps, count=1)
        options = {k: v for k, v in (("strength", args.strength), ("fill", args.fill)) if v is not None}
        request = EditRequest(generate, canvas, mask, extend=(left, top, right, bottom), **options)
        began = time.perf_counter()
        final = engine.run_edit(request)
        elapsed = time.perf_counter() - began
        if not isinstance(final, Finished):
            raise SystemExit(f"outpaint failed: {final}")
        return np.asarray(final.results[0].image), elapsed

    def make(prompt: str, seed: int) -> np.ndarray:
        request = defaults.request(args.model, prompt=prompt, seed=seed, steps=args.steps)
        final = engine.run(request, previews=False)
        if not isinstance(final, Finished):
            raise SystemExit(f"generation failed: {final}")
        return np.asarray(final.results[0].image)

    if not args.skip_cost:
        measure_cost(edit, args.rounds)
    if not args.skip_seam:
        measure_cases(edit, args, band)
    if not args.skip_repeats:
        measure_repeats(edit, make, args)


def measure_cost(edit, rounds: int) -> None:
    """(1) Cost against canvas width."""
    from studio.embedded.captions import caption
    from studio.embedded.world import random_scene, render

    rng = np.random.default_rng(0)
    scene = random_scene(rng)
    prompt = caption(scene)
    narrow = render(scene, 256 - STRIP, HEIGHT, np.random.default_rng(1))
    wide = render(scene, 2048 - STRIP, HEIGHT, np.random.default_rng(1))
    edit(narrow, prompt, 0, right=STRIP)  # warm-up
    times: dict[str, list[float]] = {"narrow": [], "wide": []}
    for round_ in range(rounds):
        times["narrow"].append(edit(narrow, prompt, round_, right=STRIP)[1])
        times["wide"].append(edit(wide, prompt, round_, right=STRIP)[1])
    med = {k: statistics.median(v) for k, v in times.items()}
    cost = med["wide"] / med["narrow"]
    print(f"\n(1) cost of a {STRIP} px strip, {rounds} rounds")
    print(f"    256 px canvas   median {med['narrow'] * 1000:8.1f} ms")
    print(f"    2048 px canvas  median {med['wide'] * 1000:8.1f} ms")
    print(f"    2048 / 256 : {cost:.3f}   (goal <= {GOAL_COST})")


def measure_cases(edit, args, band: int) -> None:
    """(2) and (3) on seeded cases."""
    from studio.embedded.captions import caption
    from studio.embedded.judge import Judge
    from studio.embedded.world import random_scene, render

    judge = Judge.load()
    seams, outers, textures, locals_, edges_on_old = [], [], [], [], []
    agree, agree_true, agree_time, agree_ground = 0, 0, 0, 0
    save = Path(args.save) if args.save else None
    if save:
        save.mkdir(parents=True, exist_ok=True)
    for case in range(args.cases):
        case_rng = np.random.default_rng(1000 + case)
        scene = random_scene(case_rng)
        wide_truth = render(scene, SOURCE_SIDE + STRIP, HEIGHT, case_rng)
        on_left = case % 2 == 0
        source = wide_truth[:, STRIP:] if on_left else wide_truth[:, :SOURCE_SIDE]
        true_strip = wide_truth[:, :STRIP] if on_left else wide_truth[:, SOURCE_SIDE:]
        result, _ = edit(
            np.ascontiguousarray(source),
            caption(scene),
            case,
            left=STRIP if on_left else 0,
            right=0 if on_left else STRIP,
        )
        seam = STRIP if on_left else SOURCE_SIDE
        strip = result[:, :STRIP] if on_left else result[:, SOURCE_SIDE:]
        across, outer = seam_ratio(result, seam, band)
        seams.append(across)
        outers.append(outer)
        texture, local = busyness(result, seam, band, on_left)
        edges_on_old.append(band_edge_on_old(result, seam, band, on_left))
        textures.append(texture)
        locals_.append(local)
        read_source, read_strip, read_true = judge.read([source, strip, true_strip])
        same_time = read_strip["time"] == read_source["time"]
        same_ground = read_strip["ground"] == read_source["ground"]
        agree_time += same_time
        agree_ground += same_ground
        agree += same_time and same_ground
        agree_true += read_true["time"] == read_source["time"] and read_true["ground"] == read_source["ground"]
        if save:
            from PIL import Image

            Image.fromarray(result).save(save / f"case{case:02d}-{'left' if on_left else 'right'}.png")
        print(
            f"    case {case:2d} {'left ' if on_left else 'right'} {scene.time:6s} {scene.ground:6s} "
            f"seam {across:5.2f} band edge {outer:5.2f}  judge: strip {read_strip['time']}/{read_strip['ground']}"
            f"  source {read_source['time']}/{read_source['ground']}"
        )
    n = args.cases
    print(f"\n(2) seam score over {n} cases (gradient across the seam / gradient elsewhere)")
    print(
        f"    mean {statistics.mean(seams):.3f}  median {statistics.median(seams):.3f}  worst {max(seams):.3f}"
        f"   (goal <= {GOAL_SEAM} on the mean)"
    )
    print(f"    at the band's outer edge: mean {statistics.mean(outers):.3f}  median {statistics.median(outers):.3f}")
    print(
        f"    diagnostics: new strip's gradient / old picture's {statistics.mean(textures):.3f}; "
        f"seam / columns 4-12 px either side {statistics.mean(locals_):.3f}; "
        f"band edge / old picture's gradient {statistics.mean(edges_on_old):.3f}"
    )
    print(
        f"\n(3) judge reads the new strip as the source's time and ground: {agree}/{n} = {agree / n:.1%}"
        f"   (goal >= {GOAL_JUDGE:.0%})"
    )
    print(
        f"    time alone {agree_time}/{n}, ground alone {agree_ground}/{n}; "
        f"a true {STRIP} px strip of the same scene: {agree_true}/{n}"
    )


def repeat_sources(make, count: int):
    """`count` (prompt, seed, picture) made by the model from prompts naming a sun or moon and
    a lake, each holding exactly one of each (other seeds are passed over)."""
    from studio.embedded.captions import caption
    from studio.embedded.world import random_scene
    from studio.testing.landscape_objects import Counts, count_objects

    found, seed = [], 0
    while len(found) < count:
        if seed >= 4 * count + 20:
            raise SystemExit(f"only {len(found)} of {seed} pictures held one sun or moon and one lake")
        rng = np.random.default_rng(2000 + seed)
        scene = random_scene(rng)
        scene = type(scene)(scene.time, scene.ground, ("left", "right")[seed % 2], scene.mountains, True, scene.trees)
        prompt = caption(scene)
        picture = make(prompt, seed)
        if count_objects(picture) == Counts(1, 1):
            found.append((prompt, seed, picture))
        seed += 1
    return found, seed


def measure_repeats(edit, make, args) -> None:
    """(4) Second suns, moons and lakes in the new strip."""
    from studio.testing.landscape_objects import count_objects

    sources, tried = repeat_sources(make, args.cases)
    save = Path(args.save) if args.save else None
    if save:
        save.mkdir(parents=True, exist_ok=True)
    per_side = {side: 0 for side in SIDES}
    bodies = lakes = pictures = 0
    for case, (prompt, seed, picture) in enumerate(sources):
        marks = []
        for side in SIDES:
            result, _ = edit(picture, prompt, seed, **{side: STRIP})
            counts = count_objects(result, frame=SOURCE_SIDE)
            bodies += counts.bodies > 1
            lakes += counts.lakes > 1
            per_side[side] += counts.repeated
            marks.append(f"{side} {counts.bodies}/{counts.lakes}{' REPEAT' if counts.repeated else ''}")
            if save:
                from PIL import Image

                Image.fromarray(result).save(save / f"repeat{case:02d}-{side}.png")
        pictures += any(m.endswith("REPEAT") for m in marks)
        print(f"    picture {case:2d} seed {seed:3d}  suns or moons/lakes: " + ", ".join(marks))
    n = len(sources)
    edits = sum(per_side.values())
    print(
        f"\n(4) repeats over {n} pictures (of {tried} made) x 4 sides: {edits}/{4 * n} = {edits / (4 * n):.1%} of edits, "
        f"{pictures}/{n} = {pictures / n:.1%} of pictures   (goal <= {GOAL_REPEATS:.0%})"
    )
    print(
        f"    second sun/moon {bodies}, second lake {lakes}; by side: "
        + ", ".join(f"{side} {per_side[side]}" for side in SIDES)
    )


if __name__ == "__main__":
    main()
