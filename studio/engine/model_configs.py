# pyright: standard
"""The config folders Studio ships so diffusers can load single-file checkpoints offline.

diffusers' single-file loader builds each part of a pipeline from a config folder laid out like a
diffusers model (model_index.json, unet/config.json, ...). Studio ships one such folder per model
family under `configs/`, JSON only, so loading a checkpoint never fetches anything. The CLIP
tokenizer files are shipped once, under `configs/tokenizers/`; the family folders have no tokenizer
folders, so the loader passes the tokenizers (`load_tokenizer`) to `from_single_file` itself.
`scripts/build_model_configs.py` writes all of it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from studio.errors import ModelError

FAMILIES: tuple[str, ...] = ("sd1", "sd1-inpaint", "sd2", "sd2-inpaint", "sdxl", "sdxl-inpaint")

# The tokenizer each family's `tokenizer` (and `tokenizer_2`) slot takes: OpenAI's CLIP pads with its
# end token, OpenCLIP with id 0 ("!").
FAMILY_TOKENIZERS: dict[str, tuple[str, ...]] = {
    "sd1": ("clip",),
    "sd1-inpaint": ("clip",),
    "sd2": ("open-clip",),
    "sd2-inpaint": ("open-clip",),
    "sdxl": ("clip", "open-clip"),
    "sdxl-inpaint": ("clip", "open-clip"),
}

TOKENIZER_KINDS: tuple[str, ...] = ("clip", "open-clip")


def _configs() -> Path:
    return Path(str(files("studio.engine") / "configs"))


def config_folder(name: str) -> Path:
    """The diffusers config folder of model family `name` (one of FAMILIES)."""
    if name not in FAMILIES:
        raise ModelError(f"no config folder for model family {name!r} (known: {', '.join(FAMILIES)})")
    return _configs() / name


def tokenizer_folder(kind: str) -> Path:
    """The folder of the CLIP tokenizer files of `kind`: "clip" or "open-clip"."""
    if kind not in TOKENIZER_KINDS:
        raise ModelError(f"no tokenizer {kind!r} (known: {', '.join(TOKENIZER_KINDS)})")
    return _configs() / "tokenizers" / kind


def load_tokenizer(kind: str):
    """A transformers CLIPTokenizer of `kind` ("clip" or "open-clip"), from the shipped files."""
    folder = tokenizer_folder(kind)
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(folder, local_files_only=True)
