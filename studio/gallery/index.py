# pyright: standard
"""The gallery index: an SQLite cache of what the image files say, for fast listing and search.

The files are the truth. The index is rebuilt from them when it is missing, damaged or
from another version, and brought up to date incrementally otherwise: a file whose
name, modification time and size are known is not read again. Files that cannot be read
are remembered too (with the reason) so they are not retried until they change.

Damage is anything that goes wrong reading what the index holds (a malformed file, text
that is not UTF-8, bad JSON, a value of the wrong type, a missing table): reads raise
`IndexDamaged`, and the gallery starts the index afresh and reads the files again. An
index that cannot be written (a read-only folder, a full disk) is not damaged: it is
left as it is, and this connection works on a copy in memory (`unsaved` says why).
File names are bytes on disk; a name that is not UTF-8 is kept in the index as a blob.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sqlite3
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from studio.errors import StudioError
from studio.files import name_bytes, os_error_reason
from studio.gallery.files import is_fresh_claim
from studio.recipe.schema import FoundRecipe
from studio.recipe.walker import IMAGE_SUFFIXES, ImageInfo

log = logging.getLogger("studio.gallery")
_NO_RECIPE = FoundRecipe(source="")

SCHEMA_VERSION = 2  # 2: ImageInfo holds its recipe as a FoundRecipe, in the request's field names
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
_TABLES = {"meta", "images", "skipped", "favourites"}
# SQLite's primary result codes that mean the file holds something wrong (as opposed to
# "cannot write now": READONLY, FULL, IOERR, CANTOPEN, BUSY, ...).
_DAMAGE_CODES = {
    1,
    11,
    17,
    18,
    19,
    20,
    24,
    25,
    26,
}  # ERROR CORRUPT SCHEMA TOOBIG CONSTRAINT MISMATCH FORMAT RANGE NOTADB
_CREATED_RANGE = (-1e10, 2e11)  # file times outside this (years 1653 to 8307) are taken as the nearest end


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
    """The image files of `folder` (not its subfolders) with their stamps; none when it does
    not exist. OSError when it cannot be read (which does not mean it is empty)."""
    found: dict[str, FileStamp] = {}
    try:
        entries = os.scandir(folder)
    except FileNotFoundError:
        return found
    with entries:
        for entry in entries:
            if not is_gallery_file(entry.name):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if is_fresh_claim(entry.name, st.st_size, st.st_mtime):
                continue  # its image is being written
            found[entry.name] = FileStamp(st.st_mtime_ns, st.st_size)
    return found


def _haystack(recipe: FoundRecipe) -> str:
    return _text("\n".join((recipe.prompt, recipe.negative_prompt, recipe.model)).casefold())


def _text(value: str) -> str:
    """`value` as SQLite can store it: a stray surrogate (from a JSON escape) becomes U+FFFD."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _key(name: str) -> str | bytes:
    """A file name as the index keeps it: text, or the raw bytes when they are not UTF-8."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name_bytes(name)


def _name(value) -> str:
    """A file name read back from the index (see `_key`)."""
    if isinstance(value, bytes):
        return os.fsdecode(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"a name of type {type(value).__name__}")


def _str(value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"text expected, found {type(value).__name__}")
    return value


class IndexDamaged(StudioError):
    """What the index holds cannot be read; it is to be started afresh from the files."""


class IndexReadError(StudioError):
    """The index cannot be read just now (an I/O error); it is not damaged."""


def _is_damage(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.Error):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return code is None or (code & 0xFF) in _DAMAGE_CODES  # None: raised by Python's own decoding


def _reads(method):
    """Any failure reading what the index holds becomes IndexDamaged (or IndexReadError for I/O)."""

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except StudioError:
            raise
        except sqlite3.Error as exc:
            if _is_damage(exc):
                raise IndexDamaged(f"the gallery index is damaged ({exc})") from exc
            raise IndexReadError(f"cannot read the gallery index: {exc}") from exc
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise IndexDamaged(f"the gallery index is damaged ({type(exc).__name__}: {exc})") from exc

    return guarded


class GalleryIndex:
    """One connection to the index file; use one per thread."""

    def __init__(self, path: Path, folder: Path, verify: bool = True, create: bool = True):
        """`verify=False` skips SQLite's quick_check (it reads the whole file); `create=False`
        makes no folder: where the index's folder is missing, the index lives in memory."""
        self.path = Path(path)
        self.folder = Path(folder)
        self.verify = verify
        self.rebuilt = False  # True when this open found no usable index and started a new one
        self.unsaved = ""  # why changes stay in memory ("the disk is full", ...); "" when they are saved
        if not create and not self.path.parent.is_dir():
            self.db = self._memory(copy=False)
            return
        try:
            self.db = self._open_file()
        except IndexDamaged as exc:
            log.warning("the gallery index %s is damaged (%s); rebuilding it from the images", self.path, exc)
            self.db = self._open_anew()
        except (sqlite3.Error, OSError) as exc:
            self.unsaved = self._why(exc)
            log.info("the gallery index %s cannot be written (%s); working on a copy", self.path, self.unsaved)
            self.db = self._memory(copy=True)

    def _connect(self, target: str, uri: bool = False) -> sqlite3.Connection:
        db = sqlite3.connect(target, timeout=15, isolation_level=None, check_same_thread=False, uri=uri)
        db.execute("PRAGMA busy_timeout = 15000")
        return db

    def _open_file(self) -> sqlite3.Connection:
        """The index file, checked and ready; IndexDamaged when it is damaged, another
        sqlite3.Error or OSError when it cannot be opened for writing."""
        if os.path.lexists(self.path) and not self.path.is_file():
            raise IndexDamaged("it is not a file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existed = self.path.exists() and self.path.stat().st_size > 0
        db = self._connect(os.fspath(self.path))
        try:
            usable = existed and self._usable(db)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            if not usable:
                self._create(db)
        except BaseException as exc:
            db.close()
            if isinstance(exc, sqlite3.Error) and _is_damage(exc):
                raise IndexDamaged(str(exc)) from exc
            raise
        return db

    def _open_anew(self) -> sqlite3.Connection:
        """A new, empty index file in place of a damaged one (in memory if that cannot be written)."""
        try:
            self._remove_files()
            return self._open_file()
        except (sqlite3.Error, OSError) as exc:
            self.unsaved = self._why(exc)
            return self._memory(copy=False)

    def _memory(self, copy: bool) -> sqlite3.Connection:
        """An index in memory, shared by this process's connections to the same index file;
        with `copy`, it starts as a copy of the file (when that can be read)."""
        name = hashlib.sha1(name_bytes(os.fspath(self.path))).hexdigest()[:20]
        db = self._connect(f"file:studio-gallery-{name}?mode=memory&cache=shared", uri=True)
        db.execute("PRAGMA read_uncommitted = 1")  # readers do not wait for the sync's writes
        try:
            if self._usable(db):
                return db  # another connection of this process has it ready
        except IndexDamaged:
            pass
        if copy and self._copy_file_into(db):
            return db
        self._create(db)
        return db

    def _copy_file_into(self, db: sqlite3.Connection) -> bool:
        where = urllib.parse.quote(name_bytes(os.fspath(self.path.absolute())))
        for mode in ("mode=ro", "immutable=1"):  # immutable: a WAL index on a read-only disk
            try:
                source = sqlite3.connect(f"file:{where}?{mode}", uri=True)
                try:
                    source.backup(db)
                finally:
                    source.close()
                if self._usable(db):
                    return True
            except (sqlite3.Error, IndexDamaged):
                continue
        return False

    def _usable(self, db: sqlite3.Connection) -> bool:
        """True for an index of this version and folder; False for one to start afresh in
        place (empty, another version or folder, a table missing); IndexDamaged if damaged."""
        try:
            if self.verify and db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise IndexDamaged("quick_check failed")
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables >= _TABLES:
                return False
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as exc:
            if _is_damage(exc):
                raise IndexDamaged(str(exc)) from exc
            raise
        return meta.get("schema") == str(SCHEMA_VERSION) and meta.get("folder") == self._folder_key()

    def _folder_key(self) -> str:
        return name_bytes(os.fspath(self.folder)).decode("utf-8", "backslashreplace")

    def _create(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            for table in ("meta", "images", "skipped", "favourites"):
                db.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.executemany(
                "INSERT INTO meta VALUES (?, ?)", [("schema", str(SCHEMA_VERSION)), ("folder", self._folder_key())]
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self.rebuilt = True

    def reset(self) -> None:
        """Start the index afresh (after damage was found): in place, so that every connection
        to it sees the change, or as a new file when the old one cannot be changed."""
        try:
            self._create(self.db)
            return
        except sqlite3.Error:
            pass
        self.db.close()
        if self.unsaved:
            self.db = self._memory(copy=False)
        else:
            self.db = self._open_anew()
        self.rebuilt = True

    def _remove_files(self) -> None:
        for suffix in ("-wal", "-shm", "-journal", ""):
            path = f"{self.path}{suffix}"
            if os.path.isdir(path) and not os.path.islink(path):
                aside, n = f"{path}.not-an-index", 2  # not ours to delete: moved out of the way
                while os.path.lexists(aside):
                    aside, n = f"{path}.not-an-index-{n}", n + 1
                os.rename(path, aside)
                log.warning("moved the folder %s out of the gallery index's way, to %s", path, aside)
                continue
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def _why(self, exc: BaseException) -> str:
        """Why the index cannot be written, in words a person reads."""
        folder = self.path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        try:
            if os.statvfs(folder).f_bavail == 0:
                return "the disk is full"
        except (OSError, AttributeError):
            pass
        if not os.access(folder, os.W_OK):
            return "the data folder is read-only"
        if isinstance(exc, OSError):
            return os_error_reason(exc)
        return str(exc)

    def close(self) -> None:
        self.db.close()

    # What is known.
    @_reads
    def stamps(self) -> dict[str, FileStamp]:
        """Every name the index knows (listed or skipped) with the stamp it was read at."""
        rows = self.db.execute(
            "SELECT name, mtime_ns, size FROM images UNION ALL SELECT name, mtime_ns, size FROM skipped"
        )
        return {_name(name): FileStamp(int(mtime), int(size)) for name, mtime, size in rows}

    @_reads
    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM images").fetchone()[0])

    @_reads
    def skipped(self) -> list[tuple[str, str]]:
        rows = self.db.execute("SELECT name, reason FROM skipped ORDER BY name").fetchall()
        return [(_name(name), _str(reason)) for name, reason in rows]

    # Changes (the caller groups them in transactions with `batch`).
    def batch(self):
        return _Transaction(self.db)

    def put(self, name: str, stamp: FileStamp, info: ImageInfo) -> None:
        recipe = info.recipe or _NO_RECIPE
        seed = None if recipe.seed is None else str(recipe.seed)
        created = min(max(stamp.mtime_ns / 1e9, _CREATED_RANGE[0]), _CREATED_RANGE[1])
        self.db.execute("DELETE FROM skipped WHERE name = ?", (_key(name),))
        self.db.execute(
            "INSERT OR REPLACE INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                _key(name),
                stamp.mtime_ns,
                stamp.size,
                created,
                info.width,
                info.height,
                _text(info.format),
                _text(recipe.source),
                _text(recipe.prompt),
                _text(recipe.negative_prompt),
                seed,
                _text(recipe.model),
                _haystack(recipe),
                json.dumps(info.to_dict(), sort_keys=True),
            ),
        )

    def put_skipped(self, name: str, stamp: FileStamp, reason: str) -> None:
        self.db.execute("DELETE FROM images WHERE name = ?", (_key(name),))
        self.db.execute(
            "INSERT OR REPLACE INTO skipped VALUES (?, ?, ?, ?)",
            (_key(name), stamp.mtime_ns, stamp.size, _text(reason)),
        )

    def remove(self, names) -> None:
        keys = [(_key(n),) for n in names]
        self.db.executemany("DELETE FROM images WHERE name = ?", keys)
        self.db.executemany("DELETE FROM skipped WHERE name = ?", keys)

    @_reads
    def favourites(self) -> set[str]:
        return {_name(n) for (n,) in self.db.execute("SELECT name FROM favourites")}

    def set_favourites(self, names: set[str]) -> None:
        """Make the favourites table hold exactly `names` (from the favourites file)."""
        current = self.favourites()
        if current == names:
            return
        with self.batch():
            self.db.executemany("DELETE FROM favourites WHERE name = ?", [(_key(n),) for n in current - names])
            self.db.executemany("INSERT OR IGNORE INTO favourites VALUES (?)", [(_key(n),) for n in names - current])

    # Reading.
    @_reads
    def query(
        self,
        search: str = "",
        model: str | None = None,
        size: tuple[int, int] | None = None,
        favourites: bool = False,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        """Listed images, newest first, that match every word of `search` and every filter."""
        where, args = [], []
        for word in search.split():
            where.append("(instr(haystack, ?) > 0 OR seed = ?)")
            args += [_text(word.casefold()), _text(word)]
        if model is not None:
            where.append("model = ?")
            args.append(_text(model))
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
            Row(
                _name(name),
                float(created),
                int(width),
                int(height),
                _str(prompt),
                int(seed) if seed is not None else None,
                _str(model_),
                bool(fav),
                int(mtime),
                int(size),
            )
            for name, created, width, height, prompt, seed, model_, fav, mtime, size in self.db.execute(sql, args)
        ]

    @_reads
    def info(self, name: str) -> ImageInfo | None:
        row = self.db.execute("SELECT info FROM images WHERE name = ?", (_key(name),)).fetchone()
        if not row:
            return None
        data = json.loads(row[0])
        if not isinstance(data, dict):
            raise TypeError(f"recipe of {type(data).__name__}")
        return ImageInfo.from_dict(data)

    @_reads
    def stamp(self, name: str) -> FileStamp | None:
        row = self.db.execute("SELECT mtime_ns, size FROM images WHERE name = ?", (_key(name),)).fetchone()
        return FileStamp(int(row[0]), int(row[1])) if row else None

    @_reads
    def models(self) -> list[str]:
        return [
            _str(m) for (m,) in self.db.execute("SELECT DISTINCT model FROM images WHERE model != '' ORDER BY model")
        ]

    @_reads
    def sizes(self) -> list[tuple[int, int]]:
        rows = self.db.execute(
            "SELECT width, height FROM images GROUP BY width, height ORDER BY count(*) DESC, width, height"
        )
        return [(int(w), int(h)) for w, h in rows]

    @_reads
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
            raise _write_error(exc) from exc
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
            raise _write_error(value) from value
        return False


def _write_error(exc: sqlite3.Error) -> StudioError:
    if _is_damage(exc):
        return IndexDamaged(f"the gallery index is damaged ({exc})")
    return IndexWriteError(f"cannot update the gallery index: {exc}")
