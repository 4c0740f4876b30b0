"""`studio serve`, measured on the embedded model (or `--model`, a library name):

(1) throughput: the same N prompts (default 100, one image each) sent at once through
    Studio's client, without previews as `studio generate --server` asks (`--previews`: with
    them, as the window asks), to a server with 1 replica and to one with 2 replicas, each
    replica with `--threads` torch threads (default 1); images per minute, and the ratio. Goal on a 2-core
    machine: 2 replicas >= 1.6x one. Each server runs alone: started, warmed, measured and
    stopped, the two in turns, `--rounds` times each, so both sides are measured the same way
    and neither pays for the other's idle Ray instance (`--together` starts both first, as
    this bench did before, for comparison). Where the CPU goes: the CPU-seconds per image of
    every process of the server (its replicas, ingress, Serve's proxy and controller, the
    raylet, GCS, Ray's agents, `studio serve` itself) and of this bench (the client), read
    from /proc before and after each batch; unlike times, they hold on a busy machine.
(2) overhead: the same prompts one after another, on the local engine (in this process,
    the same torch threads, previews likewise) and through a 1-replica server; the median time
    per image and what the server adds: goal <= 10 % of the local time + 50 ms.
Every image is checked: all N come back, each with its own seed. Run it on an otherwise idle
machine: other work on the cores shows up as a missed ratio.

Run: python bench/serve.py [--prompts 100] [--rounds 2] [--steps 8] [--side 128] [--threads 1]
     [--overhead-images 20] [--previews] [--together] [--skip-throughput] [--skip-overhead] [--json FILE]
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
        "previews": args.previews,
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
    client = ServerClient(server.url, server.token)
    with ThreadPoolExecutor(2 * replicas) as pool:  # the models are loaded at start; this warms every replica's path
        list(pool.map(lambda i: client.run(payload(-1 - i, args)), range(2 * replicas)))
    settle(server)
    return server


def settle(server, quiet_cpu_s: float = 0.1, longest_s: float = 30.0) -> None:
    """Wait (at most `longest_s`) until the server's processes use less than `quiet_cpu_s` of CPU
    in a second: a Ray instance just started still starts its workers for a while."""
    deadline = time.monotonic() + longest_s
    while time.monotonic() < deadline:
        before = cpu_snapshot({"": server})
        time.sleep(1.0)
        used = cpu_used(before, cpu_snapshot({"": server}))
        if sum(v for k, v in used.items() if k != "bench client") < quiet_cpu_s:
            return


# What a process is, from the first two words of its command line (Ray's workers name
# themselves ray::CLASS; its Python services are scripts); the first match wins.
ROLES = (
    ("ServeReplica:studio:EngineWorker", "replicas"),
    ("ServeReplica:studio:Ingress", "ingress"),
    ("ProxyActor", "Serve proxy"),
    ("ServeController", "Serve controller"),
    ("raylet", "raylet"),
    ("gcs_server", "GCS"),
    ("dashboard", "dashboard/agents"),
    ("agent", "dashboard/agents"),
    ("log_monitor", "log monitor"),
    ("monitor", "autoscaler monitor"),
    ("ray::IDLE", "idle Ray workers"),
)
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def role(pid: int, leader: int) -> str:
    if pid == leader:
        return "studio serve"
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2]
    except OSError:
        return "other"
    head = " ".join(word.decode(errors="replace") for word in words)
    return next((name for key, name in ROLES if key in head), "other")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * TICK_S


def cpu_snapshot(servers: dict) -> dict[int, tuple[str, float]]:
    """{pid: (role, CPU seconds)} of every process of `servers` ({label: Server}; a label other
    than "" is put before each role) and of this bench (the client)."""
    snapshot = {os.getpid(): ("bench client", cpu_seconds(os.getpid()))}
    for label, server in servers.items():
        for pid in server.processes():
            name = role(pid, server.process.pid)
            snapshot[pid] = (f"{label}{name}", cpu_seconds(pid))
    return snapshot


def cpu_used(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds by role between two snapshots (a process that ended between them is lost)."""
    used: dict[str, float] = {}
    for pid, (name, seconds) in after.items():
        used[name] = used.get(name, 0.0) + seconds - before.get(pid, (name, 0.0))[1]
    return used


def batch(server, replicas: int, args, others: dict | None = None) -> tuple[int, float, dict[str, float]]:
    """All the prompts at once; (images, seconds, CPU seconds by role). Stops the bench when
    one is missing. `others` ({label: Server}) are accounted too (servers left idle meanwhile)."""
    from studio.server_client import ServerClient

    client = ServerClient(server.url, server.token)
    watched = {"": server, **(others or {})}

    def one(i: int) -> list[int]:
        seeds: list[int] = []
        kind, data = client.run(payload(i, args), lambda k, d: seeds.append(d["seed"]) if k == "image" else None)
        if kind != "finished":
            raise SystemExit(f"prompt {i}: {kind} {data}")
        return seeds

    before = cpu_snapshot(watched)
    began = time.perf_counter()
    with ThreadPoolExecutor(min(args.prompts, 64)) as pool:
        seeds = [s for found in pool.map(one, range(args.prompts)) for s in found]
    elapsed = time.perf_counter() - began
    used = cpu_used(before, cpu_snapshot(watched))
    if sorted(seeds) != [1000 + i for i in range(args.prompts)]:
        raise SystemExit(f"{replicas} replicas: {len(seeds)} images came back for {args.prompts} prompts")
    print(f"  {replicas} replica(s): {args.prompts} images in {elapsed:.1f} s", flush=True)
    return len(seeds), elapsed, used


def throughput(args, folder: Path) -> tuple[float, float, dict]:
    """Images per minute with 1 and with 2 replicas, measured in turns, and the CPU seconds
    per image by role on each side."""
    from studio.testing.server_process import stop_server

    made = {1: [0, 0.0], 2: [0, 0.0]}
    cpu: dict[int, dict[str, float]] = {1: {}, 2: {}}

    def add(replicas: int, measured: tuple[int, float, dict[str, float]]) -> None:
        images, seconds, used = measured
        made[replicas][0] += images
        made[replicas][1] += seconds
        for name, value in used.items():
            cpu[replicas][name] = cpu[replicas].get(name, 0.0) + value

    if args.together:
        servers = {}
        try:
            for replicas in (1, 2):
                servers[replicas] = start(replicas, args, folder / f"t{replicas}")
            for _ in range(args.rounds):
                for replicas in (1, 2):
                    idle = {"other server: ": servers[3 - replicas]}
                    add(replicas, batch(servers[replicas], replicas, args, idle))
        finally:
            for server in servers.values():
                stop_server(server)
    else:
        for turn in range(args.rounds):
            for replicas in (1, 2):
                server = start(replicas, args, folder / f"a{turn}-{replicas}")
                try:
                    add(replicas, batch(server, replicas, args))
                finally:
                    stop_server(server)
    one, two = (made[r][0] / made[r][1] * 60 for r in (1, 2))
    per_image = {r: {k: v / made[r][0] for k, v in sorted(cpu[r].items())} for r in (1, 2)}
    print(f"  1 replica: {one:.1f} images/min; 2 replicas: {two:.1f} images/min", flush=True)
    print("  CPU seconds per image, by process:        1 replica   2 replicas")
    for name in sorted(set(per_image[1]) | set(per_image[2]), key=lambda n: -per_image[1].get(n, 0.0)):
        print(f"    {name:<38} {per_image[1].get(name, 0.0):9.4f}   {per_image[2].get(name, 0.0):9.4f}")
    totals = [sum(per_image[r].values()) for r in (1, 2)]
    print(f"    {'all':<38} {totals[0]:9.4f}   {totals[1]:9.4f}", flush=True)
    return one, two, per_image


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
        warm = defaults.request(args.model, prompt="warm", steps=args.steps, width=args.side, height=args.side)
        engine.run(warm, previews=args.previews)
        for i in range(args.overhead_images):  # interleaved, so both see the same machine
            p = payload(i, args)
            request = defaults.request(
                args.model, prompt=p["prompt"], seed=p["seed"], steps=args.steps, width=args.side, height=args.side
            )
            began = time.perf_counter()
            engine.run(request, previews=args.previews)
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
    parser.add_argument(
        "--previews",
        action="store_true",
        help="ask for the x0 previews, as the window does (default: not, as `studio generate --server` does)",
    )
    parser.add_argument("--together", action="store_true", help="start both servers first (the old way)")
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
                f"(1) throughput: {args.prompts} prompts x {args.rounds} rounds, {args.steps} steps, {args.side} px, "
                f"previews {'on' if args.previews else 'off'}",
                flush=True,
            )
            one, two, per_image = throughput(args, folder)
            speedup = two / one
            verdict = "ok" if speedup >= GOAL_SPEEDUP else "MISSED"
            print(f"  2 replicas / 1 replica: {speedup:.2f}x (goal >= {GOAL_SPEEDUP}x) {verdict}")
            results["throughput"] = {
                "images_per_min_1": one,
                "images_per_min_2": two,
                "speedup": speedup,
                "cpu_s_per_image_1": per_image[1],
                "cpu_s_per_image_2": per_image[2],
            }
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
