# pyright: standard
"""A diffusers model folder's components, loaded one at a time so a load can say how far it has
got. Each goes through its own class's `from_pretrained` (diffusers' and transformers' public
loaders, as `DiffusionPipeline.from_pretrained` would call them); the pipeline is then built
from them by `DiffusionPipeline.from_pretrained`, which loads whatever was not handed to it."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The libraries whose classes load a component from its own subfolder with `from_pretrained`.
_LIBRARIES = ("diffusers", "transformers")


@dataclass(frozen=True)
class Part:
    name: str  # the subfolder, e.g. "text_encoder"
    library: str
    class_name: str
    size: int = 0  # bytes of its files

    @property
    def label(self) -> str:
        """As the status bar says it: "text encoder"."""
        return self.name.replace("_", " ")


def folder_parts(folder: Path, skipped: tuple[str, ...] = ()) -> list[Part]:
    """The components of the model in `folder` that Studio loads itself, in name order (the
    pipeline's own order); those of other libraries are left to diffusers."""
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    parts = []
    for name, value in sorted(index.items()):
        if name.startswith("_") or name in skipped or not isinstance(value, list) or len(value) != 2:
            continue
        library, class_name = value
        if library in _LIBRARIES and isinstance(class_name, str) and (folder / name).is_dir():
            size = sum(f.stat().st_size for f in (folder / name).iterdir() if f.is_file())
            parts.append(Part(name, library, class_name, size))
    return parts


def load_part(folder: Path, part: Part, dtype: Any, variant: str | None) -> Any:
    """One component from its subfolder: weights (safetensors only) in `dtype`, the variant's
    files where the subfolder has them."""
    import torch

    cls: Any = getattr(importlib.import_module(part.library), part.class_name)
    path = folder / part.name
    load = cls.from_pretrained
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):  # a tokenizer, a scheduler
        return load(path)
    has_variant = variant is not None and any(f".{variant}." in p.name for p in path.iterdir())
    options: dict[str, Any] = {"variant": variant} if has_variant else {}
    return load(path, dtype=dtype, use_safetensors=True, low_cpu_mem_usage=True, **options)
