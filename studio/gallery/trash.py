# pyright: standard
"""The trash: deleted gallery images wait in DATA_DIR/trash so a delete can be undone.

Each delete is one batch folder named by the time it happened, with a manifest of where
its files came from. Batches older than 30 days are emptied; the trash can also be
emptied on demand.
"""

from __future__ import annotations

import errno
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from studio.files import write_atomic

RETENTION_DAYS = 30
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class TrashBatch:
    """One delete: (original path, path in the trash) for each file."""

    folder: Path
    items: tuple[tuple[Path, Path], ...]


def _move(source: Path, target: Path) -> None:
    try:
        source.rename(target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(str(source), str(target))


def free_name(path: Path) -> Path:
    """`path`, or `name-2.ext`, `name-3.ext`, ... if a file holds it already."""
    candidate, counter = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{counter}{path.suffix}")
        counter += 1
    return candidate


class Trash:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def move(self, paths: list[Path]) -> TrashBatch:
        """Move the files into a new batch; a file that cannot move stays (and is not listed)."""
        stamp = time.time_ns()
        batch = self.folder / str(stamp)
        while batch.exists():
            stamp += 1
            batch = self.folder / str(stamp)
        batch.mkdir(parents=True)
        items = []
        for source in paths:
            source = Path(source)
            target = free_name(batch / source.name)
            try:
                _move(source, target)
            except OSError:
                continue
            items.append((source, target))
        manifest = [{"from": str(a), "trashed": b.name} for a, b in items]
        try:
            write_atomic(batch / MANIFEST, json.dumps(manifest).encode("utf-8"))
        except OSError:
            pass  # the files are safe in the trash; only the way back by name is lost
        return TrashBatch(batch, tuple(items))

    def restore(self, batch: TrashBatch) -> list[Path]:
        """Put a batch's files back where they were (beside, under a new name, if taken)."""
        restored = []
        for original, trashed in batch.items:
            if not trashed.exists():
                continue
            target = free_name(original)
            target.parent.mkdir(parents=True, exist_ok=True)
            _move(trashed, target)
            restored.append(target)
        if batch.folder.is_dir() and not any(p.name != MANIFEST for p in batch.folder.iterdir()):
            shutil.rmtree(batch.folder, ignore_errors=True)
        return restored

    def load(self, folder: Path, home: Path) -> TrashBatch:
        """A batch read back from its folder: where each file came from per the manifest, or
        `home` for a file the manifest does not name (or when the manifest is lost)."""
        try:
            listed = {
                entry["trashed"]: Path(entry["from"]) for entry in json.loads((folder / MANIFEST).read_text("utf-8"))
            }
        except (OSError, ValueError, TypeError, KeyError):
            listed = {}
        items = tuple((listed.get(p.name, home / p.name), p) for p in sorted(folder.iterdir()) if p.name != MANIFEST)
        return TrashBatch(folder, items)

    def restore_all(self, home: Path) -> list[Path]:
        """Put every batch back, newest first (see `load` for `home`)."""
        restored = []
        for folder in reversed(self.batches()):
            restored += self.restore(self.load(folder, home))
        return restored

    def batches(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.is_dir() and p.name.isdigit())

    def purge(self, days: float = RETENTION_DAYS, now: float | None = None) -> int:
        """Empty the batches deleted more than `days` ago; returns how many files went."""
        limit = ((now if now is not None else time.time()) - days * 86400) * 1e9
        removed = 0
        for batch in self.batches():
            if int(batch.name) < limit:
                removed += sum(1 for p in batch.iterdir() if p.name != MANIFEST)
                shutil.rmtree(batch, ignore_errors=True)
        return removed

    def empty(self) -> int:
        return self.purge(days=-1)

    def count(self) -> int:
        total = 0
        for batch in self.batches():
            try:  # a batch the background purge removes meanwhile counts as empty
                total += sum(1 for p in batch.iterdir() if p.name != MANIFEST)
            except OSError:
                pass
        return total
