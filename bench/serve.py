"""`studio serve`, measured on the embedded model (or `--model`, a library name):

(1) throughput: the same N prompts (default 100, one image each) sent at once through
    Studio's client to a server with 1 replica and to one with 2 replicas (both started
    first, then measured in turns, `--rounds` times each, so both see the same machine),
    each replica with `--threads` torch threads (default 1); images per minute, and the
    ratio. Goal on a 2-core machine: 2 replicas >= 1.6x one.
(2) overhead: the same prompts one after another, on the local engine (in this process,
    the same torch threads) and through a 1-replica server; the median time per image and
    what the server adds: goal <= 10 % of the local time + 50 ms.
Every image is checked: all N come back, each with its own seed. Run it on an otherwise idle
machine: other work on the cores shows up as a missed ratio.

Run: python bench/serve.py [--prompts 100] [--rounds 2] [--steps 8] [--side 128] [--threads 1]
     [--overhead-images 20] [--skip-throughput] [--skip-overhead] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOAL_SPEEDUP = 1.6
GOAL_OVERHEAD_SHARE, GOAL_OVERHEAD_S = 0.10, 0.050


def payload(i: int, args) -> dict:
    return {
        "prompt": f"a hill by a lake, view {i}",
        "seed": 1000 + i,
        "steps": args.steps,
        "width": args.side,
        "height": args.side,
        "model": args.model,
    }


def start(replicas: int, args, folder: Path):
    from studio.server_client import ServerClient
    from studio.testing.server_process import start_server

    server = start_server(
        folder / f"r{replicas}",
        "--replicas",
        str(replicas),
        "--threads",
        str(args.threads),
        "--max-queue",
        str(args.prompts + 10),
    )
    ServerClient(server.url, server.token).run(payload(-1, args))  # the models are loaded at start; this warms the path
    return server


def batch(server, replicas: int, args) -> tuple[int, float]:
    """All the prompts at once; (images, seconds). Stops the bench when one is missing."""
    from studio.server_client import ServerClient

    client = ServerClient(server.url, server.token)

    def one(i: int) -> list[int]:
        seeds: list[int] = []
        kind, data = client.run(payload(i, args), lambda k, d: seeds.append(d["seed"]) if k == "image" else None)
        if kind != "finished":
            raise SystemExit(f"prompt {i}: {kind} {data}")
        return seeds

    began = time.perf_counter()
    with ThreadPoolExecutor(min(args.prompts, 64)) as pool:
        seeds = [s for found in pool.map(one, range(args.prompts)) for s in found]
    elapsed = time.perf_counter() - began
    if sorted(seeds) != [1000 + i for i in range(args.prompts)]:
        raise SystemExit(f"{replicas} replicas: {len(seeds)} images came back for {args.prompts} prompts")
    print(f"  {replicas} replica(s): {args.prompts} images in {elapsed:.1f} s", flush=True)
    return len(seeds), elapsed


def throughput(args, folder: Path) -> tuple[float, float]:
    """Images per minute with 1 and with 2 replicas, measured in turns."""
    from studio.testing.server_process import stop_server

    servers = {}
    try:
        for replicas in (1, 2):
            servers[replicas] = start(replicas, args, folder)
        made = {1: [0, 0.0], 2: [0, 0.0]}
        for _ in range(args.rounds):
            for replicas in (1, 2):
                images, seconds = batch(servers[replicas], replicas, args)
                made[replicas][0] += images
                made[replicas][1] += seconds
    finally:
        for server in servers.values():
            stop_server(server)
    one, two = (made[r][0] / made[r][1] * 60 for r in (1, 2))
    print(f"  1 replica: {one:.1f} images/min; 2 replicas: {two:.1f} images/min", flush=True)
    return one, two


def overhead(args, folder: Path) -> tuple[float, float]:
    import torch

    from studio.engine.models import resolve_model
    from studio.engine.runner import Engine
    from studio.server_client import ServerClient
    from studio.testing.server_process import start_server, stop_server

    torch.set_num_threads(args.threads)
    engine = Engine(device="cpu")
    defaults = resolve_model(args.model).defaults
    server = start_server(folder / "overhead", "--replicas", "1", "--threads", str(args.threads))
    local_s, remote_s = [], []
    try:
        client = ServerClient(server.url, server.token)
        client.run(payload(-1, args))
        engine.run(defaults.request(args.model, prompt="warm", steps=args.steps, width=args.side, height=args.side))
        for i in range(args.overhead_images):  # interleaved, so both see the same machine
            p = payload(i, args)
            request = defaults.request(
                args.model, prompt=p["prompt"], seed=p["seed"], steps=args.steps, width=args.side, height=args.side
            )
            began = time.perf_counter()
            engine.run(request)
            local_s.append(time.perf_counter() - began)
            began = time.perf_counter()
            kind, _ = client.run(p)
            remote_s.append(time.perf_counter() - began)
            if kind != "finished":
                raise SystemExit(f"overhead image {i}: {kind}")
    finally:
        stop_server(server)
    return statistics.median(local_s), statistics.median(remote_s)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2, help="batches per side, in turns (default 2)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--side", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--overhead-images", type=int, default=20)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # as the replicas have it, before torch loads here
    results: dict = {"settings": vars(args).copy()}
    with tempfile.TemporaryDirectory(prefix="studio-bench-server-") as tmp:
        folder = Path(tmp)
        if not args.skip_throughput:
            print(
                f"(1) throughput: {args.prompts} prompts x {args.rounds} rounds, {args.steps} steps, {args.side} px",
                flush=True,
            )
            one, two = throughput(args, folder)
            speedup = two / one
            verdict = "ok" if speedup >= GOAL_SPEEDUP else "MISSED"
            print(f"  2 replicas / 1 replica: {speedup:.2f}x (goal >= {GOAL_SPEEDUP}x) {verdict}")
            results["throughput"] = {"images_per_min_1": one, "images_per_min_2": two, "speedup": speedup}
        if not args.skip_overhead:
            print(f"(2) overhead: {args.overhead_images} images one at a time, local engine vs server", flush=True)
            local, remote = overhead(args, folder)
            added = remote - local
            allowed = GOAL_OVERHEAD_SHARE * local + GOAL_OVERHEAD_S
            verdict = "ok" if added <= allowed else "MISSED"
            print(
                f"  median per image: local {local * 1000:.0f} ms, server {remote * 1000:.0f} ms, "
                f"added {added * 1000:.0f} ms (goal <= {allowed * 1000:.0f} ms) {verdict}"
            )
            results["overhead"] = {"local_s": local, "server_s": remote, "added_s": added, "allowed_s": allowed}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
