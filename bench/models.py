"""Single-file checkpoints at full size: Studio's loading against diffusers' own, and hashing against sha256sum.

Builds a full-size SD 1.5 from the config Studio ships (studio/engine/configs/sd1; random
weights, nothing downloaded), writes it as one .safetensors checkpoint in the original
Stable Diffusion layout (fp16, as model sites hand them out), then measures side by side:

    studio load s     resolve_model + load_model (what `studio generate --model FILE` does)
    diffusers load s  StableDiffusionPipeline.from_single_file(FILE, config=<the same folder>)
    peak RSS          each load in its own child process (getrusage), so each peak is its own
    tensors           every weight of the loaded UNet, VAE and text encoder compared with the
                      one that was written (a fingerprint per tensor): missing / different
    hash MB/s         Studio's sha256 (studio.library.hashes) against `sha256sum`, same file,
                      page cache warm for both (a CPU figure, not a disk one)

Loads alternate (studio, diffusers, diffusers, studio, ...) with the file dropped from the page cache
before each; medians are reported. The table is printed and written as JSON.

Run: python bench/models.py [--repeats 3] [--out bench/results/models-cpu.json] [--tiny] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build(folder: Path, tiny: bool) -> dict:
    """The checkpoint file and the fingerprints of what was written into it."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from studio.testing.ldm_layout import save_original_checkpoint

    configs = configs_root(folder, tiny)
    torch.manual_seed(0)
    components = {
        "unet": UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(str(configs / "sd1" / "unet"))),
        "vae": AutoencoderKL.from_config(AutoencoderKL.load_config(str(configs / "sd1" / "vae"))),
        "text_encoder": CLIPTextModel(CLIPTextConfig.from_pretrained(str(configs / "sd1" / "text_encoder"))),
    }
    path = folder / "sd15-random.safetensors"
    save_original_checkpoint(components, path, "sd1", dtype=torch.float16)
    prints = {name: fingerprints(model.to(torch.float16).float()) for name, model in components.items()}
    return {"path": str(path), "size": path.stat().st_size, "fingerprints": prints}


def configs_root(folder: Path, tiny: bool) -> Path:
    """The shipped config folders, or (with --tiny) small ones of the same layout."""
    from studio.engine.model_configs import config_folder

    shipped = config_folder("sd1").parent
    if not tiny:
        return shipped
    root = folder / "configs"
    if root.exists():
        return root
    shutil.copytree(shipped / "sd1", root / "sd1")
    small = {
        "unet": {"block_out_channels": [32, 64, 64, 64], "cross_attention_dim": 32, "attention_head_dim": 8},
        "vae": {"block_out_channels": [16, 16, 32, 32], "norm_num_groups": 8},
        "text_encoder": {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4},
    }
    for part, changes in small.items():
        file = root / "sd1" / part / "config.json"
        config = json.loads(file.read_text())
        config.update(changes)
        if part == "unet":
            config["norm_num_groups"] = 16
        file.write_text(json.dumps(config))
    return root


def fingerprints(model) -> dict[str, list[float]]:
    import torch

    out = {}
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            t = tensor.detach().double().flatten()
            out[name] = [float(t.sum()), float(t.abs().sum()), *[float(v) for v in t[:4]]]
    return out


def compare(expected: dict, model) -> dict:
    got = fingerprints(model)
    missing = sorted(set(expected) - set(got))
    different = [
        k
        for k in expected
        if k in got and any(abs(a - b) > 1e-3 * max(1.0, abs(a)) for a, b in zip(expected[k], got[k]))
    ]
    return {
        "tensors": len(expected),
        "missing": len(missing),
        "different": len(different),
        "examples": (missing + different)[:3],
    }


def drop_from_page_cache(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def load(kind: str, path: Path, expected: dict, configs: Path) -> dict:
    """One load in this (child) process: seconds, peak RSS, and whether every tensor landed."""
    import torch

    from studio.engine.loader import load_model, quiet_libraries
    from studio.engine.models import resolve_model

    quiet_libraries()
    os.environ["STUDIO_MODEL_CONFIGS"] = str(configs)
    started = time.perf_counter()
    if kind == "studio":
        pipe = load_model(resolve_model(str(path)), "cpu").pipe
    else:
        from diffusers import StableDiffusionPipeline

        pipe = StableDiffusionPipeline.from_single_file(
            str(path),
            config=str(configs / "sd1"),
            local_files_only=True,
            dtype=torch.float32,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    checks = {name: compare(expected[name], getattr(pipe, name)) for name in expected}
    return {"seconds": seconds, "peak_rss": peak, "checks": checks}


def hash_rates(path: Path, repeats: int) -> dict:
    from studio.library.hashes import sha256_of

    size = path.stat().st_size
    path.read_bytes() if size < 1 << 30 else subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
    ours, theirs, digests = [], [], set()
    for _ in range(repeats):
        started = time.perf_counter()
        digests.add(sha256_of(path))
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout
        theirs.append(time.perf_counter() - started)
        digests.add(out.split()[0])
    mb = size / 1e6
    return {
        "studio_mb_s": mb / statistics.median(ours),
        "sha256sum_mb_s": mb / statistics.median(theirs),
        "same_digest": len(digests) == 1,
    }


def child(stage: str, args, folder: Path, extra: list[str] | None = None) -> dict:
    command = [sys.executable, __file__, "--stage", stage, "--folder", str(folder), *(["--tiny"] if args.tiny else [])]
    result = subprocess.run([*command, *(extra or [])], capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"{stage} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="small configs of the same layout: checks the script")
    parser.add_argument("--keep", metavar="DIR", help="build in DIR and keep the checkpoint (reused when there)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        folder = Path(args.folder)
        if args.stage == "build":
            result = build(folder, args.tiny)
            (folder / "built.json").write_text(json.dumps(result))
            print(json.dumps({"path": result["path"], "size": result["size"]}))
        elif args.stage == "load":
            built = json.loads((folder / "built.json").read_text())
            print(
                json.dumps(load(args.kind, Path(built["path"]), built["fingerprints"], configs_root(folder, args.tiny)))
            )
        elif args.stage == "hash":
            built = json.loads((folder / "built.json").read_text())
            print(json.dumps(hash_rates(Path(built["path"]), args.repeats)))
        return

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="studio-bench-models-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if (folder / "built.json").exists():
            built = json.loads((folder / "built.json").read_text())
        else:
            started = time.perf_counter()
            built = child("build", args, folder)
            print(
                f"built {built['path']} ({built['size'] / 1e9:.2f} GB) in {time.perf_counter() - started:.0f} s",
                flush=True,
            )
        runs: dict[str, list[dict]] = {"studio": [], "diffusers": []}
        for round_ in range(args.repeats):
            for kind in list(runs)[:: 1 if round_ % 2 == 0 else -1]:  # ABBA: neither always goes first
                drop_from_page_cache(Path(built["path"]))
                runs[kind].append(child("load", args, folder, ["--kind", kind]))
                print(
                    f"  {kind}: {runs[kind][-1]['seconds']:.1f} s, {runs[kind][-1]['peak_rss'] / 1e9:.2f} GB",
                    flush=True,
                )
        hashing = child("hash", args, folder, ["--repeats", str(args.repeats)])
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    summary = {
        kind: {
            "load_s": statistics.median(r["seconds"] for r in rows),
            "peak_rss_gb": statistics.median(r["peak_rss"] for r in rows) / 1e9,
            "checks": rows[0]["checks"],
        }
        for kind, rows in runs.items()
    }
    report = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "checkpoint_bytes": built["size"],
        "tiny": args.tiny,
        "repeats": args.repeats,
        "loads": summary,
        "load_time_ratio": summary["studio"]["load_s"] / summary["diffusers"]["load_s"],
        "peak_memory_ratio": summary["studio"]["peak_rss_gb"] / summary["diffusers"]["peak_rss_gb"],
        "hashing": hashing,
        "hash_rate_ratio": hashing["studio_mb_s"] / hashing["sha256sum_mb_s"],
    }
    print(table(report))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


def table(r: dict) -> str:
    s, d = r["loads"]["studio"], r["loads"]["diffusers"]
    landed = lambda checks: ", ".join(
        f"{name} {c['tensors'] - c['missing'] - c['different']}/{c['tensors']}" for name, c in checks.items()
    )
    return "\n".join(
        [
            f"SD 1.5-shaped single file, {r['checkpoint_bytes'] / 1e9:.2f} GB (fp16), median of {r['repeats']}",
            f"{'':12}{'load s':>10}{'peak RSS GB':>14}  tensors that landed",
            f"{'studio':12}{s['load_s']:>10.2f}{s['peak_rss_gb']:>14.2f}  {landed(s['checks'])}",
            f"{'diffusers':12}{d['load_s']:>10.2f}{d['peak_rss_gb']:>14.2f}  {landed(d['checks'])}",
            f"ratio studio/diffusers: time {r['load_time_ratio']:.3f} (goal <= 1.1), peak memory {r['peak_memory_ratio']:.3f} (goal <= 1.1)",
            f"sha256: studio {r['hashing']['studio_mb_s']:.0f} MB/s, sha256sum {r['hashing']['sha256sum_mb_s']:.0f} MB/s, "
            f"ratio {r['hash_rate_ratio']:.3f} (goal >= 0.8), same digest: {r['hashing']['same_digest']}",
        ]
    )


if __name__ == "__main__":
    main()
