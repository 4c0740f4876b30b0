# pyright: standard
"""Finding, checking and loading models: a diffusers folder, a cached hub id, or the embedded one.

Everything here works offline: a hub id is looked up in the local Hugging Face cache only.
A model that cannot be used gives one `ModelError` naming the path or id and what is wrong.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.engine.request import EMBEDDED_MODEL, GenerateRequest
from studio.errors import ModelError, RequestError

log = logging.getLogger(__name__)

STUDIO_FILE = "studio.json"
EMBEDDED_PATH = Path(__file__).resolve().parents[2] / "assets" / "models" / "landscape"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WEIGHTED = {"unet", "vae", "text_encoder", "text_encoder_2", "transformer"}
_REQUIRED = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
# Components Studio never loads (it runs no safety checker and no image prompts).
_SKIPPED = ("safety_checker", "feature_extractor", "image_encoder")
_SINGLE_FILE = {".safetensors", ".ckpt", ".pt", ".pth", ".bin"}


@dataclass(frozen=True)
class ModelDefaults:
    """The settings a model works best with; requests start from these."""

    steps: int = 20
    guidance_scale: float = 7.0
    scheduler: str = "DPM++ 2M Karras"
    width: int = 512
    height: int = 512

    def request(self, model: str, **values: Any) -> GenerateRequest:
        """A request for `model` with these defaults under the given values (None = default)."""
        base = {
            "steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "scheduler": self.scheduler,
            "width": self.width,
            "height": self.height,
        }
        base.update({k: v for k, v in values.items() if v is not None})
        return GenerateRequest(model=model, **base)


@dataclass(frozen=True)
class ModelInfo:
    """A model found on disk and checked, before its weights are loaded."""

    ref: str
    path: Path
    name: str
    pipeline_class: str
    family: str
    defaults: ModelDefaults
    studio: dict = field(default_factory=dict, repr=False)


def embedded_model_path() -> Path:
    return EMBEDDED_PATH


def resolve_model(ref: str) -> ModelInfo:
    """Find model `ref` on disk and check its layout, without loading any weights."""
    ref = (ref or EMBEDDED_MODEL).strip()
    if "\0" in ref:
        raise ModelError(f"model {ref!r} is not a usable name (it holds a NUL character)")
    try:
        return _resolve(ref)
    except OSError as exc:  # a name too long for the file system, a folder it may not read, ...
        raise ModelError(f"model {ref} cannot be read: {exc.strerror or exc}") from None


def _resolve(ref: str) -> ModelInfo:
    if ref == EMBEDDED_MODEL:
        path = embedded_model_path()
        if not (path / "model_index.json").exists():
            raise ModelError(f"the embedded model is missing from {path}; reinstall Studio or pass --model")
        return _inspect(ref, path, name="Studio landscape (embedded)")
    candidate = Path(ref).expanduser()
    if candidate.exists() or not _REPO_ID.match(ref):
        return _inspect(ref, candidate, name=candidate.name or ref)
    return _inspect(ref, _cached_snapshot(ref), name=ref)


def _cached_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except LocalEntryNotFoundError:
        raise ModelError(
            f"model {repo_id!r} is not in the local Hugging Face cache and Studio does not download; "
            f"download it once (huggingface-cli download {repo_id}) or pass a model folder"
        ) from None
    except Exception as exc:  # a damaged cache entry, a bad id
        log.exception("looking up %r in the Hugging Face cache failed", repo_id)
        raise ModelError(f"model {repo_id!r} could not be found in the local cache: {exc}") from None


def _inspect(ref: str, path: Path, name: str) -> ModelInfo:
    if not path.exists():
        raise ModelError(f"model folder {path} does not exist")
    if path.is_file():
        if path.suffix.lower() in _SINGLE_FILE:
            raise ModelError(
                f"{path} is a single-file checkpoint; Studio loads diffusers model folders "
                f"(model_index.json with one folder per component)"
            )
        raise ModelError(f"{path} is a file, not a diffusers model folder")
    index_file = path / "model_index.json"
    if not index_file.exists():
        raise ModelError(f"{path} is not a diffusers model folder: model_index.json is missing")
    index = _read_json(index_file, ref)
    pipeline_class = str(index.get("_class_name", ""))
    components = {k: v for k, v in index.items() if not k.startswith("_") and isinstance(v, list)}
    present = {k for k, v in components.items() if v and v[0] is not None}
    for required in _REQUIRED:
        if required not in present:
            raise ModelError(f"{path} has the wrong layout for text-to-image: no '{required}' component")
    for component in sorted(present - set(_SKIPPED)):
        _check_component(path, component)
    studio_file = path / STUDIO_FILE
    studio = _read_json(studio_file, ref) if studio_file.exists() else {}
    if studio.get("name") is not None and not isinstance(studio["name"], str):
        raise ModelError(f"{studio_file}: 'name' must be text, not {type(studio['name']).__name__}")
    if studio.get("defaults") is not None and not isinstance(studio["defaults"], dict):
        raise ModelError(f"{studio_file}: 'defaults' must be an object, not {type(studio['defaults']).__name__}")
    family = _family(path, pipeline_class, ref)
    return ModelInfo(
        ref=ref,
        path=path,
        name=str(studio.get("name") or name),
        pipeline_class=pipeline_class,
        family=family,
        defaults=_defaults(path, family, studio, ref),
        studio=studio,
    )


def _read_json(file: Path, ref: str) -> dict:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read {file}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{file} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise ModelError(f"{file} is nested too deeply to read") from None
    except ValueError as exc:  # a number with too many digits, ...
        raise ModelError(f"{file} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{file} is not a JSON object")
    return data


def _check_component(root: Path, component: str) -> None:
    folder = root / component
    if not folder.is_dir():
        raise ModelError(f"{root} is missing the folder of its '{component}' component")
    files = [p for p in folder.iterdir() if p.is_file()]
    if not any(p.suffix == ".json" or p.name in ("merges.txt", "vocab.json", "spiece.model") for p in files):
        raise ModelError(f"{folder} has no config file")
    if component not in _WEIGHTED:
        return
    if not (folder / "config.json").exists():
        raise ModelError(f"{folder} is missing config.json")
    if any(p.suffix == ".safetensors" for p in files):
        for weights in (p for p in files if p.suffix == ".safetensors"):
            _check_safetensors(weights)
        return
    others = [p.name for p in files if p.suffix in (".bin", ".ckpt", ".pt", ".pth")]
    if others:
        raise ModelError(
            f"{folder} holds {', '.join(sorted(others))} but no safetensors weights; "
            f"Studio loads weights only from .safetensors files"
        )
    raise ModelError(f"{folder} has no weights file (.safetensors)")


def _check_safetensors(file: Path) -> None:
    """Read the header of a safetensors file: a damaged or truncated one fails here, clearly."""
    try:
        with open(file, "rb") as handle:
            head = handle.read(8)
            size = int.from_bytes(head, "little") if len(head) == 8 else -1
            total = file.stat().st_size
            if size <= 0 or size > total - 8:
                raise ValueError("bad header")
            header = json.loads(handle.read(size))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        if 8 + size + end > total:
            raise ValueError("truncated")
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError) as exc:
        reason = "it is truncated" if str(exc) == "truncated" else "it is not a valid safetensors file"
        raise ModelError(f"{file} is damaged: {reason}") from None


def _family(path: Path, pipeline_class: str, ref: str) -> str:
    if "XL" in pipeline_class:
        return "sdxl"
    unet = _read_json(path / "unet" / "config.json", ref)
    width = unet.get("cross_attention_dim")
    families: dict[int | None, str] = {768: "sd1", 1024: "sd2"}
    return families.get(width if isinstance(width, int) else None, "custom")


def _defaults(path: Path, family: str, studio: dict, ref: str) -> ModelDefaults:
    side = {"sd1": 512, "sd2": 768, "sdxl": 1024}.get(family)
    if side is None:
        vae = _read_json(path / "vae" / "config.json", ref)
        unet = _read_json(path / "unet" / "config.json", ref)
        try:
            side = int(unet["sample_size"]) * 2 ** (len(vae["block_out_channels"]) - 1)
        except (ValueError, KeyError, TypeError, OverflowError):
            side = 512
    values: dict[str, Any] = {"width": side, "height": side}
    given = studio.get("defaults") or {}
    for key in ("steps", "guidance_scale", "scheduler", "width", "height"):
        if key in given:
            values[key] = given[key]
    defaults = ModelDefaults(**values)
    if given:
        try:
            defaults.request(ref)  # the checks every request gets, so a bad value names studio.json
        except RequestError as exc:
            raise ModelError(f"{path / STUDIO_FILE}: 'defaults' are wrong: {exc}") from None
    return defaults
