"""The fault matrix: real `studio` processes killed, starved of disk and locked out of writing.

    python bench/faults.py [--rounds 3] [--seed 0] [--cases kill-generate,kill-import,...]

Each round puts a gallery of example images (every recipe dialect) in a fresh data folder,
then runs one case against it:

  kill-generate   `studio generate` killed (SIGKILL) at a random moment
  kill-import     `studio gallery import` of 40 images killed at a random moment
  kill-list       `studio gallery list` killed while it builds the index
  enospc          `studio generate` and `gallery import` into a full tmpfs
  erofs           `gallery list`, `generate` and `import` on a read-only bind mount

and then checks what a person would: every image that was there before is there with the
same bytes, every image file in the gallery opens, `studio gallery list --json` exits 0 and
lists each of them, and no process printed a traceback. A case survives when all of that
holds. The mounts need root; where they are refused the case is reported as skipped.

Prints a line per case (tried, survived, files lost, broken files, tracebacks) and the
totals. Goal: 0 lost, 0 broken, 0 tracebacks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from studio.testing.gallery_samples import fast_gallery, write_examples
from studio.testing.processes import broken, digests, images, kill_at_random, lost, run_studio

GENERATE = ["generate", "a day landscape with green hills and a lake", "--steps", "2", "--count", "3", "--seed", "1"]


@dataclass
class Tally:
    tried: int = 0
    survived: int = 0
    lost: int = 0
    broken: int = 0
    tracebacks: int = 0
    skipped: str = ""
    problems: list[str] = field(default_factory=list)


def check(
    data: Path, before: dict[Path, str], stderr: list[str], tally: Tally, what: str, problems: list[str] = ()
) -> None:
    """Compare the gallery with what was there before; count the round as survived when all holds
    and `problems` (what the case itself found wrong) is empty."""
    gallery = data / "gallery"
    ok = not problems
    tally.problems.extend(f"{what}: {problem}" for problem in problems)
    gone = lost(before)
    damaged = broken(gallery)
    listing = run_studio(["gallery", "list", "--json"], data)
    stderr = [*stderr, listing.stderr]
    tracebacks = sum("Traceback" in text for text in stderr)
    listed = {json.loads(line)["path"] for line in listing.stdout.splitlines() if line.strip()}
    unlisted = [p for p in images(gallery) if str(p) not in listed and os.path.realpath(p) not in listed]
    tally.lost += len(gone)
    tally.broken += len(damaged)
    tally.tracebacks += tracebacks
    for label, items in (("lost", gone), ("broken", damaged), ("not listed", unlisted)):
        if items:
            ok = False
            tally.problems.append(f"{what}: {label}: {', '.join(p.name for p in items[:3])}")
    if listing.returncode != 0:
        ok = False
        tally.problems.append(f"{what}: gallery list exited {listing.returncode}: {listing.stderr.strip()[-200:]}")
    if tracebacks:
        ok = False
        tally.problems.append(f"{what}: traceback: {next(t for t in stderr if 'Traceback' in t).strip()[-300:]}")
    tally.tried += 1
    tally.survived += ok


def fresh(root: Path, name: str) -> tuple[Path, dict[Path, str]]:
    data = root / name
    if data.exists():
        shutil.rmtree(data)
    files = write_examples(data / "gallery")
    return data, digests(files.values())


@contextlib.contextmanager
def mounted(kind: str, where: Path, size: str = "4m"):
    """A tmpfs of `size` (kind 'tmpfs') or a read-only bind mount of `where` onto itself (kind 'ro')."""
    where.mkdir(parents=True, exist_ok=True)
    if kind == "tmpfs":
        command = [["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)]]
    else:
        command = [["mount", "--bind", str(where), str(where)], ["mount", "-o", "remount,ro,bind", str(where)]]
    for step in command:
        result = subprocess.run(step, capture_output=True, text=True)
        if result.returncode != 0:
            subprocess.run(["umount", str(where)], capture_output=True)
            raise PermissionError(result.stderr.strip() or "mount refused")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True)


def fill(folder: Path) -> None:
    """Fill the file system under `folder` to the last byte."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for block in (65536, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * block)
    finally:
        os.close(fd)


def import_source(root: Path) -> Path:
    """A folder of 40 images to import, made once per run."""
    source = root / "import-source"
    if not source.exists():
        fast_gallery(source, 40, side=96)
    return source


def refused_writes(data: Path, before: dict[Path, str], source: Path, tally: Tally, what: str) -> None:
    """`generate` and `gallery import` where nothing can be written: each must refuse in one line."""
    results = [run_studio(GENERATE, data), run_studio(["gallery", "import", str(source)], data)]
    check(data, before, [r.stderr for r in results], tally, what, refusals(results))


def refusals(results: list[subprocess.CompletedProcess]) -> list[str]:
    """What is wrong with how the commands refused: each should exit 1 with one line saying why."""
    return [
        f"exit {r.returncode}, said: {r.stderr.strip()[-200:]!r}"
        for r in results
        if r.returncode != 1 or len(r.stderr.strip().splitlines()) != 1
    ]


def case_kill_generate(root, rounds, rng, span):
    tally = Tally()
    for index in range(rounds):
        data, before = fresh(root, f"kill-generate-{index}")
        err = kill_at_random(GENERATE, data, span, rng)
        leftovers = {p.name for p in (data / "gallery").iterdir() if p.name.startswith(".")}
        after = run_studio([*GENERATE[:2], "--steps", "1", "--seed", "9"], data)
        remaining = sorted(p.name for p in (data / "gallery").iterdir() if p.name in leftovers)
        problems = []
        if after.returncode != 0:
            problems.append(f"the next run exited {after.returncode}: {after.stderr.strip()[-200:]}")
        if remaining:
            problems.append(f"temp files of the killed run still there after the next: {remaining}")
        before.update(digests(p for p in images(data / "gallery") if p not in before and after.returncode == 0))
        check(data, before, [err, after.stderr], tally, f"round {index}", problems)
    return tally


def case_kill_import(root, rounds, rng, span):
    tally = Tally()
    source = import_source(root)
    for index in range(rounds):
        data, before = fresh(root, f"kill-import-{index}")
        err = kill_at_random(["gallery", "import", str(source)], data, span, rng)
        check(data, before, [err], tally, f"round {index}")
    return tally


def case_kill_list(root, rounds, rng, span):
    tally = Tally()
    for index in range(rounds):
        data, before = fresh(root, f"kill-list-{index}")
        fast_gallery(data / "gallery", 300, seed=index)
        before.update(digests(images(data / "gallery")))
        err = kill_at_random(["gallery", "list"], data, span, rng)
        check(data, before, [err], tally, f"round {index}")
    return tally


def case_enospc(root, rounds, rng, span):
    tally = Tally()
    source = import_source(root)
    for index in range(rounds):
        where = root / f"enospc-{index}"
        try:
            with mounted("tmpfs", where, size="2m"):
                data, before = fresh(where, "data")
                run_studio(["gallery", "list"], data)  # the index exists before the disk fills
                fill(where)
                refused_writes(data, before, source, tally, f"round {index}")
        except PermissionError as exc:
            tally.skipped = f"tmpfs refused: {exc}"
            break
    return tally


def case_erofs(root, rounds, rng, span):
    tally = Tally()
    source = import_source(root)
    for index in range(rounds):
        data, before = fresh(root, f"erofs-{index}")
        if index % 2:
            run_studio(["gallery", "list"], data)  # every other round the index exists before the folder locks
        try:
            with mounted("ro", data):
                refused_writes(data, before, source, tally, f"round {index}")
        except PermissionError as exc:
            tally.skipped = f"read-only bind mount refused: {exc}"
            break
    return tally


CASES = {
    "kill-generate": case_kill_generate,
    "kill-import": case_kill_import,
    "kill-list": case_kill_list,
    "enospc": case_enospc,
    "erofs": case_erofs,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="studio-faults-") as tmp:
        root = Path(tmp)
        began = time.perf_counter()
        warm, _ = fresh(root, "warm-up")
        run_studio(GENERATE, warm)
        span = max(2.0, time.perf_counter() - began)  # kills land anywhere in a typical run
        print(f"one `studio generate` run: {span:.1f} s; kills land at random in 5-100 % of it")
        total = Tally()
        print(f"{'case':<14} {'tried':>5} {'survived':>8} {'lost':>5} {'broken':>6} {'tracebacks':>10}")
        for name in args.cases.split(","):
            tally = CASES[name](root, args.rounds, rng, span)
            if tally.skipped:
                print(f"{name:<14} skipped: {tally.skipped}")
                continue
            print(
                f"{name:<14} {tally.tried:>5} {tally.survived:>8} {tally.lost:>5} {tally.broken:>6} {tally.tracebacks:>10}"
            )
            for problem in tally.problems[:6]:
                print(f"    {problem}")
            for key in ("tried", "survived", "lost", "broken", "tracebacks"):
                setattr(total, key, getattr(total, key) + getattr(tally, key))
        print(
            f"{'total':<14} {total.tried:>5} {total.survived:>8} {total.lost:>5} {total.broken:>6} {total.tracebacks:>10}"
        )


if __name__ == "__main__":
    main()
