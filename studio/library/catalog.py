# pyright: standard
"""The models library: what models a person has, where they live, what was chosen for each.

The library's own folders are DATA_DIR/models/{checkpoints,loras,embeddings,vae}; the extra
folders saved in DATA_DIR/models/library.json are read in place and never written to (see
`studio.library.folders`). Listing reads names, sizes and safetensors headers only: it never
hashes (a short hash shows once the hash cache has it) and never loads weights.

Each model's name is its file name without the extension, or its folder's name; when two
models of one kind share a name, the later one (the library's own folders come first, then
the extra folders in the order they were added) is named with its folder in front
("Stable-diffusion/model").
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.engine.checkpoints import is_pickle_file, read_header
from studio.engine.models import ModelDefaults, ModelSettings, resolve_model
from studio.errors import ModelError, RequestError, StudioError, WriteError
from studio.library import folders as layouts
from studio.library.copying import copy_in, link_in
from studio.library.folders import Found, Source
from studio.library.hashes import HashCache, short_hash
from studio.library.kinds import (
    KIND_WORDS,
    described,
    embedding_family,
    kind_of_file,
    kind_of_folder,
    kind_of_header,
    lora_family,
)
from studio.library.settings import LibrarySettings, model_key
from studio.paths import MODEL_KINDS, model_kind_dir, models_dir, trash_dir

DEFAULT_KEYS = ("steps", "guidance_scale", "scheduler", "width", "height")
_HEX = re.compile(r"[0-9a-fA-F]{8,64}")
_inspecting = threading.local()


@dataclass(frozen=True)
class LibraryEntry:
    name: str  # unique within its kind
    kind: str  # "checkpoints" | "loras" | "embeddings" | "vae"
    path: Path
    family: str  # "sd1" | "sd2" | "sdxl" | "" when unknown
    description: str  # e.g. "SD 1.x inpainting", "LoRA (SDXL)", "diffusers folder, SD 2.x"
    size: int  # bytes (a folder: all its files)
    short_hash: str  # sha256[:10] (checkpoints, VAEs), sha256[:12] (LoRAs, embeddings); "" until hashed
    defaults: dict  # checkpoints: the effective steps, guidance_scale, scheduler, width, height; else {}
    prediction: str | None  # "v" / "epsilon" when the person chose one, else None
    location: str  # "library", "link", or the extra folder it is read from
    problem: str  # "" when usable, else one line why not
    sha256: str = field(default="", compare=False)  # the whole hash, when the cache has it


@dataclass(frozen=True)
class _Facts:
    family: str
    description: str
    own_defaults: dict
    problem: str


class Library:
    """The models a person has, in DATA_DIR/models and the extra folders; no Qt, any thread."""

    def __init__(self, data: Path):
        self.data = Path(data)
        self.settings = LibrarySettings(self.data)
        self.cache = HashCache(self.data)
        self._facts: dict[tuple, _Facts] = {}
        self._lock = threading.Lock()

    # Listing and finding

    def entries(self, kind: str | None = None) -> list[LibraryEntry]:
        """Every model (of `kind`), sorted by kind, then name (case-insensitive)."""
        _check_kind(kind)
        saved = self.settings.load()
        found = []
        for each in [kind] if kind else MODEL_KINDS:
            found += [self._entry(name, item, saved) for name, item in self._named(each, saved)]
        return sorted(found, key=lambda e: (MODEL_KINDS.index(e.kind), e.name.casefold(), e.name))

    def find(self, name_or_hash: str, kind: str = "checkpoints") -> LibraryEntry | None:
        """The model named so, or with this short hash or sha256 (when hashed), or at this path."""
        saved = self.settings.load()
        hit = self._lookup(name_or_hash, kind, saved)
        return self._entry(*hit, saved) if hit else None

    def _lookup(self, ref: str, kind: str, saved: dict) -> tuple[str, Found] | None:
        _check_kind(kind)
        ref = ref.strip()
        if not ref or "\0" in ref:
            return None
        named = self._named(kind, saved)
        for name, item in named:
            if name == ref:
                return name, item
        folded = [(n, i) for n, i in named if n.casefold() == ref.casefold()]
        if len(folded) == 1:
            return folded[0]
        if _HEX.fullmatch(ref):
            wanted = ref.lower()
            for name, item in named:
                sha = self.cache.cached(item.path) if item.form != "broken link" else None
                if sha and (sha == wanted or short_hash(sha, kind) == wanted):
                    return name, item
        try:
            given = Path(ref).expanduser()
            if given.exists():
                real = given.resolve()
                for name, item in named:
                    if item.path.resolve() == real:
                        return name, item
        except (OSError, ValueError):
            pass
        return None

    def _sources(self, saved: dict, kind: str | None) -> list[Source]:
        sources = [Source(k, model_kind_dir(self.data, k), "library") for k in MODEL_KINDS if kind in (None, k)]
        for folder in saved["folders"]:
            _, parts = layouts.layout(Path(folder))
            sources += [Source(k, path, folder) for k, path in parts if k is None or kind in (None, k)]
        return sources

    def _named(self, kind: str, saved: dict) -> list[tuple[str, Found]]:
        """The models of `kind` with their unique names, the library's own first."""
        taken: set[str] = set()
        named = []
        for source in self._sources(saved, kind):
            for item in layouts.walk(source, kind):
                name = _unique(_stem(item.path), item.path, taken)
                taken.add(name.casefold())
                named.append((name, item))
        return named

    def _entry(self, name: str, item: Found, saved: dict) -> LibraryEntry:
        chosen = saved["models"].get(model_key(item.path), {}) if item.form != "broken link" else {}
        prediction = chosen.get("prediction")
        facts = self._facts_of(item, prediction)
        defaults: dict = {}
        problem = facts.problem
        if item.kind == "checkpoints" and not problem:
            try:
                defaults = _effective(facts.own_defaults, chosen.get("defaults") or {}, name)
            except ModelError as exc:
                problem = str(exc)
        sha = (self.cache.cached(item.path) or "") if item.form != "broken link" else ""
        return LibraryEntry(
            name=name,
            kind=item.kind,
            path=item.path,
            family=facts.family,
            description=facts.description,
            size=_size(item.path),
            short_hash=short_hash(sha, item.kind),
            defaults=defaults,
            prediction=prediction,
            location=self._location(item),
            problem=problem,
            sha256=sha,
        )

    def _location(self, item: Found) -> str:
        if item.source.location != "library":
            return item.source.location
        if item.path.is_symlink() or not _inside(item.path, model_kind_dir(self.data, item.kind)):
            return "link"
        return "library"

    def _facts_of(self, item: Found, prediction: str | None) -> _Facts:
        if item.form == "file":
            try:
                info = item.path.stat()
            except OSError:
                return _facts_for(item, prediction)
            key = (str(item.path.resolve()), info.st_size, info.st_mtime_ns, item.kind, prediction)
            with self._lock:
                known = self._facts.get(key)
            if known is None:
                known = _facts_for(item, prediction)
                with self._lock:
                    self._facts[key] = known
            return known
        return _facts_for(item, prediction)

    # Adding and removing

    def add(
        self,
        source: Path,
        link: bool = False,
        kind: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> LibraryEntry:
        """Copy (or link) a model file or folder into the library's folder of its kind; atomic."""
        _check_kind(kind)
        source = Path(source).expanduser()
        if not source.exists():
            raise ModelError(f"{source} does not exist" + (" (a broken link)" if source.is_symlink() else ""))
        found = _kind_to_add(source)
        if kind is not None and kind != found:
            raise ModelError(f"{source} holds a {KIND_WORDS[found]}, not a {KIND_WORDS[kind]}")
        folder = model_kind_dir(self.data, found)
        if _inside(source.resolve(), models_dir(self.data)):
            raise ModelError(f"{source} is in the library already")
        target = folder / source.name
        name = _stem(target)
        saved = self.settings.load()
        for other, item in self._named(found, saved):
            if other.casefold() == name.casefold() or item.path.name == target.name:
                raise ModelError(
                    f"the library already has a {KIND_WORDS[found]} named {other!r} ({item.path}); "
                    f"rename the new one or remove that one first"
                )
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from studio.files import os_error_reason

            raise WriteError(f"cannot make the library folder {folder}: {os_error_reason(exc)}") from None
        if link:
            link_in(source, target)
        else:
            try:
                copy_in(source, target, progress, cancel)
            except OSError as exc:
                if isinstance(exc, StudioError):
                    raise
                from studio.files import os_error_reason

                raise WriteError(f"cannot add {source.name}: {os_error_reason(exc)}") from None
        entry = self.find(str(target), found)
        if entry is None:  # only when something removed it at once
            raise ModelError(f"{target} was added but cannot be listed")
        return entry

    def remove(self, name: str, kind: str = "checkpoints") -> Path:
        """Take a model out of the library: a link is deleted, a copy moved to DATA_DIR/trash/models/.

        Returns where the copy went (or the link's path). Models read from an extra folder are
        refused: Studio never changes those folders."""
        saved = self.settings.load()
        hit = self._lookup(name, kind, saved)
        if hit is None:
            raise ModelError(f"the library has no {KIND_WORDS[kind]} named {name!r} (studio models list shows them)")
        found_name, item = hit
        if item.source.location != "library":
            raise ModelError(
                f"{found_name} is read from {item.source.location}, which Studio never changes; delete it there, "
                f"or take that folder out of the library (studio models folders remove FOLDER)"
            )
        path = item.path
        try:
            if path.is_symlink():
                path.unlink()
                return path
            if not _inside(path, model_kind_dir(self.data, kind)):
                raise ModelError(f"{found_name} is inside a linked folder; remove the link instead")
            bin_folder = trash_dir(self.data) / "models" / kind / str(time.time_ns())
            bin_folder.mkdir(parents=True)
            moved = bin_folder / path.name
            os.rename(path, moved)
            return moved
        except OSError as exc:
            from studio.files import os_error_reason

            raise WriteError(f"cannot remove {found_name}: {os_error_reason(exc)}") from None

    # What the person chose

    def set_defaults(self, name: str, **values: Any) -> LibraryEntry:
        """Save defaults for checkpoint `name`: steps, guidance_scale, scheduler, width, height.

        A value of None takes that setting back to the model's own; settings not named stay as they were."""
        unknown = sorted(set(values) - set(DEFAULT_KEYS))
        if unknown:
            raise ModelError(f"unknown defaults {', '.join(unknown)}; a model has {', '.join(DEFAULT_KEYS)}")
        saved = self.settings.load()
        hit = self._lookup(name, "checkpoints", saved)
        if hit is None:
            raise ModelError(f"the library has no checkpoint named {name!r} (studio models list shows them)")
        entry = self._entry(*hit, saved)
        if entry.problem:
            raise ModelError(f"{entry.name} cannot be used: {entry.problem}")
        key = model_key(entry.path)
        chosen = dict(saved["models"].get(key, {}).get("defaults") or {})
        for setting, value in values.items():
            if value is None:
                chosen.pop(setting, None)
            else:
                chosen[setting] = value
        own = self._facts_of(hit[1], entry.prediction).own_defaults
        _effective(own, chosen, entry.name)

        self._save_choice(key, "defaults", chosen)
        return self._entry(*hit, self.settings.load())

    def set_prediction(self, name_or_path: str, prediction: str | None) -> None:
        """Save "v" or "epsilon" for a checkpoint (a library name or any path); None or "auto": what the file says."""
        choice = _prediction(prediction)
        self._save_choice(self._checkpoint_key(name_or_path), "prediction", choice)

    def set_vae(self, name_or_path: str, vae: str | None) -> None:
        """Save the library VAE a checkpoint (a library name or any path) decodes with; None or "auto": its own."""
        choice = (vae or "").strip()
        if choice.lower() == "auto":
            choice = ""
        if choice:
            entry = self.find(choice, "vae")
            if entry is None:
                raise ModelError(f"the library has no VAE named {choice!r} (studio models list --kind vae shows them)")
            if entry.problem:
                raise ModelError(f"the VAE {entry.name} cannot be used: {entry.problem}")
            choice = entry.name
        self._save_choice(self._checkpoint_key(name_or_path), "vae", choice)

    def _checkpoint_key(self, name_or_path: str) -> str:
        """The settings key of a library checkpoint's name, or of any existing path."""
        hit = self._lookup(name_or_path, "checkpoints", self.settings.load())
        path = hit[1].path if hit else Path(name_or_path).expanduser()
        if hit is None and not path.exists():
            raise ModelError(f"the library has no checkpoint named {name_or_path!r} and no such file exists")
        return model_key(path)

    def _save_choice(self, key: str, setting: str, value) -> None:
        """Save one of a model's settings in library.json; an empty value forgets it (and an empty model)."""

        def change(settings: dict) -> None:
            model = settings["models"].setdefault(key, {})
            if value:
                model[setting] = value
            else:
                model.pop(setting, None)
            if not model:
                settings["models"].pop(key)

        self.settings.update(change)

    # Extra folders

    def folders(self) -> list[Path]:
        return [Path(f) for f in self.settings.load()["folders"]]

    def add_folder(self, path: Path) -> None:
        """Read models from `path` too (in place, never written to)."""
        given = Path(path).expanduser()
        if not given.is_dir():
            raise ModelError(f"{given} is not a folder" if given.exists() else f"{given} does not exist")
        real = given.resolve()
        own = models_dir(self.data).resolve()
        if _inside(real, own) or _inside(own, real):
            raise ModelError(f"{given} holds the library's own folder {own}; add a folder beside it")
        if any(Path(f).resolve() == real for f in self.settings.load()["folders"]):
            raise ModelError(f"{given} is one of the library's folders already")

        def change(settings: dict) -> None:
            settings["folders"].append(str(real))

        self.settings.update(change)

    def remove_folder(self, path: Path) -> None:
        """Stop reading models from `path` (nothing in it is touched)."""
        given = Path(path).expanduser()
        wanted = {str(given), str(given.absolute()), str(given.resolve())}
        if not any(f in wanted for f in self.settings.load()["folders"]):
            raise ModelError(f"{given} is not one of the library's folders (studio models folders lists them)")

        def change(settings: dict) -> None:
            settings["folders"] = [f for f in settings["folders"] if f not in wanted]

        self.settings.update(change)

    # For the engine and for hashing

    def finder(self, ref: str) -> ModelSettings | None:
        """For `use_model_finder`: any existing path, or a library checkpoint's name or hash, with what was saved."""
        if getattr(_inspecting, "active", False):  # the library itself is reading a model's own settings
            return None
        saved = self.settings.load()
        path, name = _existing(ref), ""
        if path is None:
            hit = self._lookup(ref, "checkpoints", saved)
            if hit is None:
                return None
            name, path = hit[0], hit[1].path
        chosen = saved["models"].get(model_key(path), {})
        return ModelSettings(
            path=path,
            name=name,
            prediction=chosen.get("prediction"),
            defaults=dict(chosen.get("defaults") or {}),
            short_hash=short_hash(self.cache.cached(path) or "", "checkpoints"),
            vae=chosen.get("vae") or "",
        )

    def hash_now(
        self,
        entry_or_path: LibraryEntry | Path | str,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> str:
        """The sha256 of a model (read now unless the cache has it), cached."""
        path = entry_or_path.path if isinstance(entry_or_path, LibraryEntry) else Path(entry_or_path)
        return self.cache.compute(path, progress, cancel)


def _existing(ref: str) -> Path | None:
    try:
        path = Path(ref.strip()).expanduser()
        return path if ref.strip() and "\0" not in ref and path.exists() else None
    except (OSError, ValueError):
        return None


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in MODEL_KINDS:
        raise ModelError(f"unknown kind of model {kind!r}; the kinds are {', '.join(MODEL_KINDS)}")


def _prediction(value: str | None) -> str | None:
    text = (value or "").strip().lower()
    if text in ("", "auto"):
        return None
    if text in ("v", "v_prediction", "v-prediction"):
        return "v"
    if text in ("eps", "epsilon"):
        return "epsilon"
    raise ModelError(f"prediction must be v, epsilon or auto, not {value!r}")


def _stem(path: Path) -> str:
    return path.name[: -len(path.suffix)] if path.suffix and not path.is_dir() else path.name


def _unique(name: str, path: Path, taken: set[str]) -> str:
    if name.casefold() not in taken:
        return name
    parents = [p.name for p in path.parents if p.name][:3]
    prefix = ""
    for parent in parents:
        prefix = f"{parent}/{prefix}"
        if (prefix + name).casefold() not in taken:
            return prefix + name
    count = 2
    while f"{name} ({count})".casefold() in taken:
        count += 1
    return f"{name} ({count})"


def _inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or in it, once links are followed."""
    try:
        real, real_folder = path.resolve(), folder.resolve()
    except (OSError, RuntimeError):
        return False
    return real == real_folder or real_folder in real.parents


def _size(path: Path) -> int:
    try:
        if not path.is_dir():
            return path.stat().st_size
        total = 0
        for root, dirs, files in os.walk(path, followlinks=True):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                try:
                    total += (Path(root) / name).stat().st_size
                except OSError:
                    pass
        return total
    except OSError:
        return 0


def _effective(own: dict, chosen: dict, name: str) -> dict:
    """The model's own defaults with what the person chose over them, checked like a request."""
    values = {**own, **{k: v for k, v in chosen.items() if k in DEFAULT_KEYS}}
    try:
        ModelDefaults(**values).request(name)
    except (RequestError, TypeError) as exc:
        raise ModelError(f"the defaults saved for {name} are wrong: {exc}") from None
    return values


def _kind_to_add(source: Path) -> str:
    """The kind of model `source` holds, or a ModelError saying why it is not one the library takes."""
    if source.is_dir():
        kind = kind_of_folder(source)
        if kind is None:
            raise ModelError(
                f"{source} is not a model folder: a diffusers model has model_index.json, "
                f"a VAE folder a config.json for an AutoencoderKL"
            )
        return kind
    if is_pickle_file(source):
        from studio.engine.checkpoints import pickle_message

        raise ModelError(pickle_message(source))
    if source.suffix.lower() != ".safetensors":
        raise ModelError(f"{source} is not a model file: the library takes .safetensors files and model folders")
    kind, reason = kind_of_file(source)
    if kind is None:
        raise ModelError(reason)
    return kind


def _facts_for(item: Found, prediction: str | None) -> _Facts:
    """Family, description, own defaults and any problem of one model, from its headers and configs."""
    path, kind, form = item.path, item.kind, item.form
    if form == "broken link":
        try:
            target = os.readlink(path)
        except OSError:
            target = "its target"
        return _Facts("", "", {}, f"a broken link: {target} is missing")
    if form == "pickle":
        return _Facts("", f"pickle ({path.suffix or 'no extension'})", {}, _pickle_problem(path))
    if kind == "checkpoints":
        if form == "vae folder":
            return _Facts("", "VAE folder", {}, "it holds a VAE, not a checkpoint")
        return _checkpoint_facts(path, form, prediction)
    if form == "diffusers":
        return _Facts("", "diffusers folder", {}, f"it holds a whole diffusers model, not a {KIND_WORDS[kind]}")
    if form == "vae folder":
        problem = "" if kind == "vae" else f"it holds a VAE, not a {KIND_WORDS[kind]}"
        return _Facts("", described("vae", "", folder=True), {}, problem)
    try:
        header = read_header(path)
    except ModelError as exc:
        return _Facts("", "", {}, str(exc))
    found = kind_of_header(header)
    if found != kind:
        what = f"a {KIND_WORDS[found]}" if found else "no tensors of a known layout"
        return _Facts("", "", {}, f"it holds {what}, not a {KIND_WORDS[kind]}")
    family = {"loras": lora_family, "embeddings": embedding_family}.get(kind, lambda _: "")(header)
    return _Facts(family, described(kind, family), {}, "")


def _pickle_problem(path: Path) -> str:
    return f"a Python pickle: convert it with studio models convert {path}"


def _checkpoint_facts(path: Path, form: str, prediction: str | None) -> _Facts:
    _inspecting.active = True  # the model's own defaults: no library finder (of any data folder) in between
    try:
        info = resolve_model(str(path), prediction=prediction)
    except StudioError as exc:
        return _Facts("", "diffusers folder" if form == "diffusers" else "", {}, str(exc))
    finally:
        _inspecting.active = False
    family = info.family if info.family in ("sd1", "sd2", "sdxl") else ""
    description = info.description if form == "file" else f"diffusers folder, {info.description}"
    return _Facts(family, description, dataclasses.asdict(info.defaults), "")
