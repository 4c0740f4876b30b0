"""What a LoRA costs a job, measured side by side in one run.

On the bench model (the embedded one when installed, else a small SD-shaped model), at the
model's default steps and size, with LoRAs made here (UNet and text-encoder attention layers,
kohya-ss layout, rank --rank) and found through a models library in a temporary DATA_DIR,
each round times, in turn:

    plain       a one-image job without a LoRA
    first       the first job with a LoRA Studio has not loaded yet (a new file each round)
    switched    a job with a loaded LoRA at a weight other than the job before's
    switch      the re-weighting alone (`loras.activate` with the new weight)

and prints the medians over the rounds, and the median of each round's own ratios, with the goals:

    first / plain                 goal <= 1.3
    switch / plain                goal <= 10 %

`switched / plain` is the whole cost of running with a LoRA once it is loaded (the switch; the
LoRA is fused into the weights, so the steps cost what they cost without it), reported
alongside. The JSON goes to --out. On a machine that other work shares, `--threads 1` keeps
the figures steady (two threads that wait on each other turn every stall into seconds).
Run: python bench/lora.py [--rounds 7] [--rank 16] [--threads N] [--model PATH] [--out bench/results/lora-cpu.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPT = "a sunset landscape with snowy hills, mountains, a lake"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--model")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, help="torch's CPU threads (1 keeps the figures steady on a busy machine)"
    )
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "lora-cpu.json"))
    args = parser.parse_args()

    import diffusers
    import peft
    import torch

    from studio.engine.events import Finished
    from studio.engine.loras import activate
    from studio.engine.models import use_resource_finder
    from studio.engine.runner import Engine
    from studio.library.catalog import Library
    from studio.library.resources import resource_finder
    from studio.paths import model_kind_dir
    from studio.testing.tiny_lora import lora_tensors, write_lora
    from studio.testing.tiny_model import bench_model_ref

    if args.threads:
        torch.set_num_threads(args.threads)
    ref = args.model or bench_model_ref()
    engine = Engine(device=args.device)
    model = engine.load(ref)
    defaults = model.info.defaults
    request = defaults.request(ref, prompt=PROMPT, seed=1)
    data = Path(tempfile.mkdtemp(prefix="studio-lora-bench-"))
    folder = model_kind_dir(data, "loras")
    pairs = lora_tensors(model.pipe, rank=args.rank, seed=7, scale=0.05)
    write_lora(pairs, folder / "style.safetensors", "kohya")
    for number in range(args.rounds + 1):
        write_lora(pairs, folder / f"first{number}.safetensors", "kohya")
    finder = resource_finder(Library(data))
    use_resource_finder(finder)
    lora_bytes = (folder / "style.safetensors").stat().st_size

    def job(prompt: str) -> float:
        began = time.perf_counter()
        final = engine.run(request.replace(prompt=prompt), previews=True)
        elapsed = time.perf_counter() - began
        assert isinstance(final, Finished), final
        return elapsed

    def switch(weight: float) -> float:
        began = time.perf_counter()
        activate(model, [("style", weight)])
        return time.perf_counter() - began

    # Warm-up: one of each, so that no round pays for first calls (and the files are in the page cache).
    job(PROMPT)
    job(f"{PROMPT} <lora:first{args.rounds}:0.8>")
    job(f"{PROMPT} <lora:style:0.5>")
    times: dict[str, list[float]] = {"plain": [], "first": [], "switched": [], "switch": []}
    for number in range(args.rounds):  # "style" was last set to 0.5 (warm-up), then to 0.9 (each round's switch)
        times["plain"].append(job(PROMPT))
        times["first"].append(job(f"{PROMPT} <lora:first{number}:0.8>"))
        times["switched"].append(job(f"{PROMPT} <lora:style:0.3>"))
        times["switch"].append(switch(0.9))
    loaded = len(model.loras)
    med = {k: statistics.median(v) for k, v in times.items()}
    # Each round's own ratio (its jobs ran back to back), then their median: a load that comes
    # and goes on the machine moves both sides of a round alike.
    paired = {
        f"{key}_over_plain": [mine / plain for mine, plain in zip(times[key], times["plain"])]
        for key in ("first", "switch", "switched")
    }
    ratios = {key: statistics.median(values) for key, values in paired.items()}
    fastest = {key: min(times[key.removesuffix("_over_plain")]) / min(times["plain"]) for key in paired}
    print(
        f"model: {model.info.name}  size: {request.width}x{request.height}  steps: {request.steps}  "
        f"sampler: {request.scheduler}  LoRA rank {args.rank} ({lora_bytes / 1e6:.1f} MB, {len(pairs)} layers)  "
        f"rounds: {args.rounds}  threads: {torch.get_num_threads()}"
    )
    print(f"{'':32}{'median':>12}{'min':>12}{'max':>12}")
    for key, label in (
        ("plain", "job without a LoRA"),
        ("first", "first job with a LoRA"),
        ("switched", "job after a weight switch"),
        ("switch", "the switch alone"),
    ):
        row = times[key]
        print(f"{label:32}{med[key] * 1000:10.1f}ms{min(row) * 1000:10.1f}ms{max(row) * 1000:10.1f}ms")
    print("ratios: median of each round's own, and (in brackets) fastest over fastest")
    print(f"first / plain      : {ratios['first_over_plain']:.3f}  ({fastest['first_over_plain']:.3f})   (goal <= 1.3)")
    print(
        f"switch / plain     : {100 * ratios['switch_over_plain']:.2f} %  "
        f"({100 * fastest['switch_over_plain']:.2f} %)   (goal <= 10 %)"
    )
    print(
        f"switched / plain   : {ratios['switched_over_plain']:.3f}  ({fastest['switched_over_plain']:.3f})   "
        f"(a loaded LoRA's whole cost per job)"
    )
    report = {
        "machine": {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": "bench/lora.py " + " ".join(sys.argv[1:]),
            "device": model.device,
            "platform": platform.platform(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
            "peft": peft.__version__,
        },
        "model": model.info.name,
        "size": [request.width, request.height],
        "steps": request.steps,
        "sampler": request.scheduler,
        "lora": {"rank": args.rank, "layers": len(pairs), "bytes": lora_bytes, "layout": "kohya"},
        "rounds": args.rounds,
        "adapters_kept_at_end": loaded,
        "median_s": med,
        "runs_s": times,
        "ratios": ratios,
        "ratios_per_round": paired,
        "ratios_of_fastest": fastest,
        "goals": {"first_over_plain": 1.3, "switch_over_plain": 0.10},
        "met": {
            "first_over_plain": ratios["first_over_plain"] <= 1.3,
            "switch_over_plain": ratios["switch_over_plain"] <= 0.10,
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    use_resource_finder(None)
    finder.close()


if __name__ == "__main__":
    main()
