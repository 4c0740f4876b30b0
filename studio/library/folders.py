# pyright: standard
"""Where the library finds models: its own folders and the extra folders a person added, read in place.

An extra folder may be
- an AUTOMATIC1111 install (or its models folder): models/Stable-diffusion holds checkpoints,
  models/Lora and models/LyCORIS LoRAs, models/VAE VAEs, and embeddings/ at the install's root
  embeddings;
- a ComfyUI install (or its models folder): models/checkpoints and models/diffusers hold
  checkpoints, models/loras, models/embeddings and models/vae the rest (the library's own
  DATA_DIR/models has this layout too);
- any other folder: each model in it is taken for what its content says.

Kind folders are read down to MAX_DEPTH levels of subfolders. A folder holding model_index.json
is a diffusers model, one whose config.json names an AutoencoderKL a VAE folder; neither is
looked into. Hidden names and names ending in .partial or .incomplete (a copy or download still
running) are never read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from studio.engine.checkpoints import PICKLE_SUFFIXES
from studio.errors import ModelError
from studio.library.kinds import kind_of_file, kind_of_folder

MAX_DEPTH = 4
HIDDEN_ENDINGS = (".partial", ".incomplete")
FILE_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)

A1111 = {
    "Stable-diffusion": "checkpoints",
    "Lora": "loras",
    "LyCORIS": "loras",
    "VAE": "vae",
}
COMFYUI = {
    "checkpoints": "checkpoints",
    "diffusers": "checkpoints",
    "loras": "loras",
    "embeddings": "embeddings",
    "vae": "vae",
}


@dataclass(frozen=True)
class Source:
    """One folder models are read from: of one kind, or of any kind (None: each model says)."""

    kind: str | None
    folder: Path
    location: str  # "library" for the library's own folders, else the extra folder as saved


@dataclass(frozen=True)
class Found:
    """A model found in a source, before its content is read (except a plain folder's, to sort it)."""

    path: Path
    kind: str
    form: str  # "file" (safetensors), "pickle", "diffusers", "vae folder", "broken link"
    source: Source


def hidden(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(HIDDEN_ENDINGS)


def layout(root: Path) -> tuple[str, list[tuple[str | None, Path]]]:
    """The layout of an extra folder and the folders it holds per kind (None: a plain folder)."""
    if (root / "models" / "Stable-diffusion").is_dir():
        return "AUTOMATIC1111", _a1111(root / "models", root)
    if (root / "Stable-diffusion").is_dir():
        return "AUTOMATIC1111 models folder", _a1111(root, root.parent)
    if (root / "models" / "checkpoints").is_dir() or (root / "models" / "diffusers").is_dir():
        return "ComfyUI", [(kind, root / "models" / name) for name, kind in COMFYUI.items()]
    if any((root / name).is_dir() for name in COMFYUI):
        return "ComfyUI models folder", [(kind, root / name) for name, kind in COMFYUI.items()]
    return "folder", [(None, root)]


def _a1111(models: Path, webui: Path) -> list[tuple[str | None, Path]]:
    folders: list[tuple[str | None, Path]] = [(kind, models / name) for name, kind in A1111.items()]
    return [*folders, ("embeddings", webui / "embeddings")]


def walk(source: Source, kind: str | None = None) -> Iterator[Found]:
    """The models in `source` (only those of `kind` when given), in name order."""
    yield from _walk(source.folder, source, kind, 0)


def _walk(folder: Path, source: Source, want: str | None, depth: int) -> Iterator[Found]:
    try:
        items = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:  # missing, unreadable, not a folder: nothing to list
        return
    for item in items:
        if hidden(item.name):
            continue
        path = Path(item.path)
        try:
            found = _found(item, path, source)
        except OSError:
            continue
        if found is None:
            if depth < MAX_DEPTH and _is_dir(item):
                yield from _walk(path, source, want, depth + 1)
            continue
        if want is None or found.kind == want:
            yield found


def _is_dir(item: os.DirEntry) -> bool:
    try:
        return item.is_dir()
    except OSError:
        return False


def _found(item: os.DirEntry, path: Path, source: Source) -> Found | None:
    if item.is_symlink() and not path.exists():
        if source.kind is None and not path.name.lower().endswith(FILE_SUFFIXES):
            return None
        return Found(path, source.kind or "checkpoints", "broken link", source)
    if item.is_dir():
        kind = kind_of_folder(path)
        if kind is None:
            return None
        form = "diffusers" if kind == "checkpoints" else "vae folder"
        return Found(path, source.kind or kind, form, source)
    if not item.is_file():
        return None
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return Found(path, source.kind or _plain_kind(path), "file", source)
    if suffix in PICKLE_SUFFIXES and (source.kind is not None or suffix != ".bin"):
        return Found(path, source.kind or "checkpoints", "pickle", source)
    return None


def _plain_kind(path: Path) -> str:
    try:
        kind, _ = kind_of_file(path)
    except ModelError:
        return "checkpoints"
    return kind or "checkpoints"
