"""Memory that grows with the work, not with the canvas: peak memory of VAE decodes and of SDXL on a CPU.

Every figure is measured in a fresh child process (peak resident memory, `getrusage`'s
ru_maxrss), so no measurement inherits another's peak:

    decode        the full-size SD VAE (its public architecture numbers, random weights,
                  float32; nothing downloaded) decoding one latent of a square canvas, as the
                  engine decodes it (`engine.tiling.vae_tiles`: in tiles above the native
                  512 px, whole at or below it), and for reference whole at 1024². The
                  figures: the child's peak, its peak before the decode (the VAE and the
                  latent built), and the difference, the decode's own growth.
                  Goal: peak for 2048² <= 1.3 x peak for 1024² (both the peak and the growth
                  ratio are printed).
    sdxl          a full-size SDXL (random weights, float32) loaded by Studio's `Engine.load`
                  from a saved folder and run by `Engine.run` at 1024² for a few steps
                  (memory does not grow with the steps): the process's peak, after the load and
                  after the picture. Goal: within 16 GB. Its time is only what those few steps took.

Run: python bench/memory.py [--sizes 512,1024,2048] [--whole 1024] [--sdxl | --no-sdxl]
     [--sdxl-steps 1] [--out bench/results/memory-cpu.json]
     [--tiny]   (small VAE and SDXL of the same shapes: a quick check of the script itself)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import scale  # noqa: E402  (the architecture numbers, and the SDXL builder)

NATIVE = 512  # the SD VAE's sample size and SD 1.5's native side
GOAL_RATIO = 1.3
SDXL_GOAL_MIB = 16 * 1024
PROMPT = scale.PROMPT


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- children ----


def decode(side: int, how: str, tiny: bool) -> dict:
    """One decode of a `side`² canvas: `how` "engine" (tiles above native) or "whole"."""
    import gc

    import torch
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    from studio.engine.tiling import vae_tiles

    numbers = {**scale.SD_VAE, **(scale.TINY_VAE if tiny else {})}
    native = numbers["sample_size"]
    torch.manual_seed(0)
    vae = AutoencoderKL(**numbers).eval()
    latents = torch.randn(1, 4, side // 8, side // 8)
    gc.collect()
    before = peak_mib()
    tiles = vae_tiles(vae, side, side, native) if how == "engine" else contextlib.nullcontext(False)
    with torch.inference_mode(), tiles as tiled:
        began = time.perf_counter()
        picture = vae.decode(latents).sample  # pyright: ignore
        seconds = time.perf_counter() - began
    peak = peak_mib()
    return {
        "side": side,
        "how": how,
        "tiled": bool(tiled),
        "native": native,
        "tile": vae.tile_sample_min_size,
        "output": list(picture.shape),
        "finite": bool(torch.isfinite(picture).all()),
        "peak_mib": peak,
        "before_mib": before,
        "growth_mib": peak - before,
        "seconds": seconds,
        "vae_params": sum(p.numel() for p in vae.parameters()),
    }


def sdxl_run(folder: Path, steps: int, tiny: bool) -> dict:
    from studio.engine.events import Finished
    from studio.engine.request import GenerateRequest
    from studio.engine.runner import Engine

    spec = scale.model_spec("sdxl", tiny)
    engine = Engine(device="cpu")
    began = time.perf_counter()
    engine.load(str(folder))
    load_s = time.perf_counter() - began
    after_load = peak_mib()
    request = GenerateRequest(
        prompt=PROMPT,
        seed=1,
        steps=steps,
        guidance_scale=spec["guidance"],
        width=spec["size"],
        height=spec["size"],
        scheduler=spec["sampler"],
        model=str(folder),
    )
    began = time.perf_counter()
    final = engine.run(request, previews=True)
    run_s = time.perf_counter() - began
    return {
        "size": spec["size"],
        "steps": steps,
        "guidance": spec["guidance"],
        "status": "ok" if isinstance(final, Finished) else f"{type(final).__name__}: {getattr(final, 'message', '')}",
        "load_s": load_s,
        "run_s": run_s,
        "peak_after_load_mib": after_load,
        "peak_mib": peak_mib(),
    }


def child(args: list[str]) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result = Path(handle.name)
    done = subprocess.run(
        [sys.executable, __file__, "--child-result", str(result), *args], capture_output=True, text=True
    )
    try:
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-3000:])
            last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            return {"error": last}
        return json.loads(result.read_text())
    finally:
        result.unlink(missing_ok=True)


# ---- parent ----


def decode_table(rows: list[dict]) -> str:
    lines = [
        "| canvas | VAE path | peak MiB | before decode MiB | decode growth MiB | s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['side']}² | {row['how']} | failed: {row['error']} | | | |")
            continue
        path = f"tiles of {row['tile']}" if row["tiled"] else "whole"
        lines.append(
            f"| {row['side']}² | {path} | {row['peak_mib']:.0f} | {row['before_mib']:.0f} | "
            f"{row['growth_mib']:.0f} | {row['seconds']:.1f} |"
        )
    return "\n".join(lines)


def ratios(rows: list[dict]) -> dict:
    found = {(r["side"], r["how"]): r for r in rows if "error" not in r}
    small, large = found.get((1024, "engine")), found.get((2048, "engine"))
    if small is None or large is None:
        return {}
    peak = large["peak_mib"] / small["peak_mib"]
    return {
        "peak_2048_over_1024": peak,
        "growth_2048_over_1024": large["growth_mib"] / small["growth_mib"],
        "goal": f"peak ratio <= {GOAL_RATIO}",
        "met": peak <= GOAL_RATIO,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="512,1024,2048", help="canvas sides decoded as the engine does")
    parser.add_argument("--whole", default="1024", help="canvas sides also decoded whole, for reference")
    parser.add_argument("--sdxl", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--sdxl-steps", type=int, default=1)
    parser.add_argument("--out")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--child-result", help=argparse.SUPPRESS)
    parser.add_argument("--child-decode", nargs=2, metavar=("SIDE", "HOW"), help=argparse.SUPPRESS)
    parser.add_argument("--child-build", help=argparse.SUPPRESS)
    parser.add_argument("--child-sdxl", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child_result:
        with contextlib.suppress(OSError):  # a machine short of memory ends this child first, not another program
            Path("/proc/self/oom_score_adj").write_text("1000")
        if args.child_decode:
            result = decode(int(args.child_decode[0]), args.child_decode[1], args.tiny)
        elif args.child_build:
            result = scale.build("sdxl", args.tiny, "cpu", "fp32", Path(args.child_build))
        else:
            result = sdxl_run(Path(args.child_sdxl), args.sdxl_steps, args.tiny)
        Path(args.child_result).write_text(json.dumps(result))
        return

    import torch

    tiny = ["--tiny"] * args.tiny
    out = Path(args.out or ROOT / "bench" / "results" / f"memory-cpu{'-tiny' * args.tiny}.json")
    report: dict = {
        "machine": {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": " ".join(sys.argv),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "memory_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "measure": "peak resident memory (ru_maxrss) of a fresh child process per figure",
        },
        "decode": [],
    }

    def save() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    plan = [(int(s), "engine") for s in args.sizes.split(",") if s]
    plan += [(int(s), "whole") for s in args.whole.split(",") if s]
    if args.tiny:
        plan = [(side // 8, how) for side, how in plan]
    for side, how in plan:
        row = {"side": side, "how": how, **child(["--child-decode", str(side), how, *tiny])}
        report["decode"].append(row)
        report["decode_ratios"] = ratios(report["decode"]) if not args.tiny else {}
        save()
        print(json.dumps(row), flush=True)
    if report["decode"]:
        print()
        print(decode_table(report["decode"]))
    found = report.get("decode_ratios")
    if found:
        print(
            f"\n2048² / 1024² (engine path): peak {found['peak_2048_over_1024']:.3f}, "
            f"decode growth {found['growth_2048_over_1024']:.3f} (goal: peak <= {GOAL_RATIO}; "
            f"{'met' if found['met'] else 'NOT met'})"
        )

    if args.sdxl:
        folder = Path(tempfile.mkdtemp(prefix="studio-memory-sdxl-"))
        try:
            built = child(["--child-build", str(folder), *tiny])
            ran = (
                built
                if "error" in built
                else child(["--child-sdxl", str(folder), "--sdxl-steps", str(args.sdxl_steps), *tiny])
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        report["sdxl"] = {"build": built, "run": ran, "goal_mib": SDXL_GOAL_MIB}
        if "peak_mib" in ran:
            report["sdxl"]["met"] = ran["peak_mib"] <= SDXL_GOAL_MIB
            print(
                f"\nSDXL {ran['size']}² on the CPU, {ran['steps']} step(s): peak {ran['peak_mib']:.0f} MiB "
                f"(after load {ran['peak_after_load_mib']:.0f}); goal <= {SDXL_GOAL_MIB} MiB: "
                f"{'met' if report['sdxl']['met'] else 'NOT met'}; load {ran['load_s']:.1f} s, run {ran['run_s']:.1f} s"
            )
        else:
            print(f"\nSDXL failed: {ran.get('error')}")
        save()
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
