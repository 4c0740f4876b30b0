"""The gallery index: an SQLite cache of what the image files say, for fast listing and search.

The files are the truth. The index is rebuilt from them when it is missing, damaged or
from another version, and brought up to date incrementally otherwise: a file whose
name, modification time and size are known is not read again. Files that cannot be read
are remembered too (with the reason) so they are not retried until they change.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from studio.engine.errors import StudioError
from studio.gallery.readers import IMAGE_SUFFIXES, ImageInfo

log = logging.getLogger("studio.gallery")

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE images(
    name TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, created REAL NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, format TEXT NOT NULL, source TEXT NOT NULL,
    prompt TEXT NOT NULL, negative TEXT NOT NULL, seed TEXT, model TEXT NOT NULL,
    haystack TEXT NOT NULL, info TEXT NOT NULL
);
CREATE INDEX images_created ON images(created DESC, name DESC);
CREATE TABLE skipped(name TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE TABLE favourites(name TEXT PRIMARY KEY);
"""


class Row(NamedTuple):
    """One listed image, as the grid and the command line need it (a tuple: thousands are made at once)."""

    name: str
    created: float
    width: int
    height: int
    prompt: str
    seed: int | None
    model: str
    favourite: bool
    mtime_ns: int = 0
    size: int = 0


@dataclass(frozen=True)
class FileStamp:
    mtime_ns: int
    size: int


def is_gallery_file(name: str) -> bool:
    """An image name the gallery lists: not hidden (temporary files are), with an image suffix."""
    return not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)


def list_folder(folder: Path) -> dict[str, FileStamp]:
    """The image files of `folder` (not its subfolders) with their stamps."""
    found: dict[str, FileStamp] = {}
    try:
        entries = os.scandir(folder)
    except OSError:
        return found
    with entries:
        for entry in entries:
            if not is_gallery_file(entry.name):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            found[entry.name] = FileStamp(st.st_mtime_ns, st.st_size)
    return found


def _haystack(info: ImageInfo) -> str:
    return "\n".join((info.prompt, info.negative_prompt, info.model)).casefold()


class GalleryIndex:
    """One connection to the index file; use one per thread."""

    def __init__(self, path: Path, folder: Path, verify: bool = True):
        self.path = Path(path)
        self.folder = Path(folder)
        self.verify = verify  # run SQLite's quick_check (it reads the whole file) before trusting it
        self.rebuilt = False  # True when this open found no usable index and started a new one
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = self._open()
        except sqlite3.DatabaseError as exc:
            log.warning("the gallery index %s is damaged (%s); rebuilding it from the images", self.path, exc)
            self._remove_files()
            try:
                self.db = self._open()
            except sqlite3.Error as again:
                raise IndexWriteError(f"cannot open the gallery index {self.path}: {again}") from again

    def _open(self) -> sqlite3.Connection:
        existed = self.path.exists() and self.path.stat().st_size > 0
        db = sqlite3.connect(self.path, timeout=15, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout = 15000")
            if existed and not self._usable(db):
                db.close()
                self._remove_files()
                db = sqlite3.connect(self.path, timeout=15, isolation_level=None, check_same_thread=False)
                existed = False
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            if not existed or not self._has_schema(db):
                self._create(db)
                self.rebuilt = True
        except BaseException:
            db.close()
            raise
        return db

    def _usable(self, db: sqlite3.Connection) -> bool:
        try:
            if self.verify and db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                return False
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError:
            return False
        return meta.get("schema") == str(SCHEMA_VERSION) and meta.get("folder") == str(self.folder)

    @staticmethod
    def _has_schema(db: sqlite3.Connection) -> bool:
        return db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'images'").fetchone()[0] == 1

    def _create(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            for table in ("meta", "images", "skipped", "favourites"):
                db.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.executemany("INSERT INTO meta VALUES (?, ?)", [("schema", str(SCHEMA_VERSION)), ("folder", str(self.folder))])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.unlink(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass

    def close(self) -> None:
        self.db.close()

    # What is known.
    def stamps(self) -> dict[str, FileStamp]:
        """Every name the index knows (listed or skipped) with the stamp it was read at."""
        rows = self.db.execute("SELECT name, mtime_ns, size FROM images UNION ALL SELECT name, mtime_ns, size FROM skipped")
        return {name: FileStamp(mtime, size) for name, mtime, size in rows}

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM images").fetchone()[0]

    def skipped(self) -> list[tuple[str, str]]:
        return self.db.execute("SELECT name, reason FROM skipped ORDER BY name").fetchall()

    # Changes (the caller groups them in transactions with `batch`).
    def batch(self):
        return _Transaction(self.db)

    def put(self, name: str, stamp: FileStamp, info: ImageInfo) -> None:
        seed = None if info.seed is None else str(info.seed)
        self.db.execute("DELETE FROM skipped WHERE name = ?", (name,))
        self.db.execute(
            "INSERT OR REPLACE INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, stamp.mtime_ns, stamp.size, stamp.mtime_ns / 1e9, info.width, info.height, info.format, info.source,
             info.prompt, info.negative_prompt, seed, info.model, _haystack(info), json.dumps(info.to_dict(), sort_keys=True)),
        )

    def put_skipped(self, name: str, stamp: FileStamp, reason: str) -> None:
        self.db.execute("DELETE FROM images WHERE name = ?", (name,))
        self.db.execute("INSERT OR REPLACE INTO skipped VALUES (?, ?, ?, ?)", (name, stamp.mtime_ns, stamp.size, reason))

    def remove(self, names) -> None:
        names = list(names)
        self.db.executemany("DELETE FROM images WHERE name = ?", [(n,) for n in names])
        self.db.executemany("DELETE FROM skipped WHERE name = ?", [(n,) for n in names])

    def set_favourites(self, names: set[str]) -> None:
        """Make the favourites table hold exactly `names` (from the favourites file)."""
        current = {n for (n,) in self.db.execute("SELECT name FROM favourites")}
        if current == names:
            return
        with self.batch():
            self.db.executemany("DELETE FROM favourites WHERE name = ?", [(n,) for n in current - names])
            self.db.executemany("INSERT OR IGNORE INTO favourites VALUES (?)", [(n,) for n in names - current])

    # Reading.
    def query(self, search: str = "", model: str | None = None, size: tuple[int, int] | None = None,
              favourites: bool = False, since: float | None = None, until: float | None = None,
              limit: int | None = None) -> list[Row]:
        """Listed images, newest first, that match every word of `search` and every filter."""
        where, args = [], []
        for word in search.split():
            where.append("(instr(haystack, ?) > 0 OR seed = ?)")
            args += [word.casefold(), word]
        if model is not None:
            where.append("model = ?")
            args.append(model)
        if size is not None:
            where.append("width = ? AND height = ?")
            args += list(size)
        if favourites:
            where.append("f.name IS NOT NULL")
        if since is not None:
            where.append("created >= ?")
            args.append(since)
        if until is not None:
            where.append("created < ?")
            args.append(until)
        sql = (
            "SELECT i.name, created, width, height, prompt, seed, model, f.name IS NOT NULL, mtime_ns, size "
            "FROM images i LEFT JOIN favourites f ON f.name = i.name"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY created DESC, i.name DESC"
            + (f" LIMIT {int(limit)}" if limit is not None else "")
        )
        return [
            Row(name, created, width, height, prompt, int(seed) if seed is not None else None, model_, bool(fav), mtime, size)
            for name, created, width, height, prompt, seed, model_, fav, mtime, size in self.db.execute(sql, args)
        ]

    def info(self, name: str) -> ImageInfo | None:
        row = self.db.execute("SELECT info FROM images WHERE name = ?", (name,)).fetchone()
        return ImageInfo.from_dict(json.loads(row[0])) if row else None

    def stamp(self, name: str) -> FileStamp | None:
        row = self.db.execute("SELECT mtime_ns, size FROM images WHERE name = ?", (name,)).fetchone()
        return FileStamp(*row) if row else None

    def models(self) -> list[str]:
        return [m for (m,) in self.db.execute("SELECT DISTINCT model FROM images WHERE model != '' ORDER BY model")]

    def sizes(self) -> list[tuple[int, int]]:
        return self.db.execute("SELECT width, height FROM images GROUP BY width, height ORDER BY count(*) DESC, width, height").fetchall()

    def dump(self) -> list[tuple]:
        """Every row of the images and skipped tables, in name order (to compare two indexes)."""
        images = self.db.execute("SELECT * FROM images ORDER BY name").fetchall()
        skipped = self.db.execute("SELECT * FROM skipped ORDER BY name").fetchall()
        return images + skipped


class IndexWriteError(StudioError):
    """The index could not be changed (a full disk, say); the images themselves are untouched."""


class _Transaction:
    """BEGIN ... COMMIT (ROLLBACK on error); SQLite failures become one readable IndexWriteError."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise IndexWriteError(f"cannot update the gallery index: {exc}") from exc
        return self

    def __exit__(self, kind, value, trace):
        if kind is None:
            try:
                self.db.execute("COMMIT")
                return False
            except sqlite3.Error as exc:
                value = exc
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        if isinstance(value, sqlite3.Error):
            raise IndexWriteError(f"cannot update the gallery index: {value}") from value
        return False
