# pyright: standard
"""Finding and checking models: a diffusers folder, a single-file checkpoint, a cached hub id,
a name the models library knows, or the embedded model.

Everything here works offline: a hub id is looked up in the local Hugging Face cache only.
A model that cannot be used gives one `ModelError` naming the path or id and what is wrong.
The models library (studio.library) plugs in through `use_model_finder`: it turns its names
into paths and adds what the person saved for a model (defaults, prediction, hash).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from studio.engine.checkpoints import Checkpoint, inspect_checkpoint, is_pickle_file, pickle_message, read_header
from studio.engine.request import EMBEDDED_MODEL, GenerateRequest
from studio.errors import ModelError, RequestError
from studio.resources import embedded_model_dir

log = logging.getLogger(__name__)

STUDIO_FILE = "studio.json"
EMBEDDED_PATH = embedded_model_dir()  # package data: studio/assets/models/landscape
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WEIGHTED = {"unet", "vae", "text_encoder", "text_encoder_2", "transformer"}
_REQUIRED = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
# Components Studio never loads (it runs no safety checker and no image prompts).
_SKIPPED = ("safety_checker", "feature_extractor", "image_encoder")
_WEIGHT_FILES = (".bin", ".ckpt", ".pt", ".pth")
FP16 = ".fp16.safetensors"

# Few-step models get the settings their makers publish: (steps, guidance, sampler, spacing).
SPEED_DEFAULTS: dict[str, tuple[int, float, str]] = {
    "lcm": (4, 1.5, "LCM"),
    "turbo": (1, 0.0, "Euler a"),
    "lightning": (4, 1.0, "Euler"),
    "hyper": (8, 1.0, "DDIM"),
}
SPEED_NAMES = {"lcm": "LCM", "turbo": "Turbo", "lightning": "Lightning", "hyper": "Hyper-SD"}


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
    checkpoint: Checkpoint | None = None  # set for a single-file checkpoint
    variant: str | None = None  # "fp16" for a folder that has only *.fp16.safetensors weights
    speed: str | None = None  # lcm, turbo, lightning, hyper
    scheduler_overrides: dict = field(default_factory=dict)  # over the model's own scheduler config
    short_hash: str = ""  # as AUTOMATIC1111 prints it, when the library knows it
    vae: str = ""  # the library's VAE chosen for this model ("" = its own)

    @property
    def description(self) -> str:
        """The family in words, e.g. 'SD 2.x, v-prediction (Turbo)'."""
        names = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL", "custom": "custom"}
        text = self.checkpoint.description if self.checkpoint else names.get(self.family, self.family)
        return text + (f" ({SPEED_NAMES[self.speed]})" if self.speed else "")


@dataclass(frozen=True)
class ModelSettings:
    """What the models library knows of a model: where it is and what the person chose for it."""

    path: Path
    name: str = ""
    prediction: str | None = None  # v or epsilon, over what the file says
    defaults: dict = field(default_factory=dict)  # steps, guidance_scale, scheduler, width, height
    short_hash: str = ""
    vae: str = ""  # the name of the library's VAE to decode with ("" = the model's own)


ModelFinder = Callable[[str], "ModelSettings | None"]
_finder: ModelFinder | None = None


def use_model_finder(finder: ModelFinder | None) -> None:
    """Let `finder` turn model names into paths and settings (the models library does)."""
    global _finder
    _finder = finder


# (kind, name) -> (path, short hash): "loras", "embeddings" or "vae" files the library holds.
ResourceFinder = Callable[[str, str], "tuple[Path, str] | None"]
_resource_finder: ResourceFinder | None = None


def use_resource_finder(finder: ResourceFinder | None) -> None:
    """Let `finder` find LoRAs, embeddings and VAEs by name (the models library does)."""
    global _resource_finder
    _resource_finder = finder


def find_resource(kind: str, name: str) -> tuple[Path, str] | None:
    """The file (or folder) of the LoRA, embedding or VAE called `name`, with its short hash; None when unknown."""
    return _resource_finder(kind, name) if _resource_finder is not None else None


def embedded_model_path() -> Path:
    """Where the embedded model lives (shipped inside the package)."""
    return EMBEDDED_PATH


def resolve_model(ref: str, prediction: str | None = None) -> ModelInfo:
    """Find model `ref` on disk and check its layout, without loading any weights.

    `prediction` ("v" or "epsilon") overrides what a checkpoint says or the library saved."""
    ref = (ref or EMBEDDED_MODEL).strip()
    if "\0" in ref:
        raise ModelError(f"model {ref!r} is not a usable name (it holds a NUL character)")
    try:
        return _resolve(ref, prediction)
    except OSError as exc:  # a name too long for the file system, a folder it may not read, ...
        raise ModelError(f"model {ref} cannot be read: {exc.strerror or exc}") from None


def _resolve(ref: str, prediction: str | None) -> ModelInfo:
    if ref == EMBEDDED_MODEL:
        path = embedded_model_path()
        if not (path / "model_index.json").exists():
            raise ModelError(f"the embedded model is missing from {path}; reinstall Studio or pass --model")
        return _inspect(ref, path, name="Studio landscape (embedded)")
    settings = _finder(ref) if _finder is not None else None
    if settings is not None:
        return _inspect(ref, settings.path, settings.name or settings.path.name, prediction, settings)
    candidate = Path(ref).expanduser()
    if candidate.exists() or not _REPO_ID.match(ref):
        return _inspect(ref, candidate, candidate.name or ref, prediction)
    return _inspect(ref, _cached_snapshot(ref), ref, prediction)


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


def _inspect(
    ref: str, path: Path, name: str, prediction: str | None = None, settings: ModelSettings | None = None
) -> ModelInfo:
    saved = settings or ModelSettings(path)
    prediction = prediction or saved.prediction
    if not path.exists():
        raise ModelError(f"model {path} does not exist (no such file or folder)")
    if path.is_file():
        info = _inspect_file(ref, path, name, prediction)
    elif path.is_dir():
        info = _inspect_folder(ref, path, name, prediction)
    else:
        raise ModelError(f"{path} is neither a model file nor a model folder")
    if saved.defaults:
        info = dataclasses.replace(info, defaults=_checked_defaults(info.defaults, saved.defaults, ref, "the library"))
    if saved.short_hash:
        info = dataclasses.replace(info, short_hash=saved.short_hash)
    if saved.vae:
        info = dataclasses.replace(info, vae=saved.vae)
    return info


def _inspect_file(ref: str, path: Path, name: str, prediction: str | None) -> ModelInfo:
    suffix = path.suffix.lower()
    if is_pickle_file(path):
        raise ModelError(pickle_message(path))
    if suffix != ".safetensors":
        raise ModelError(f"{path} is not a model: Studio loads .safetensors checkpoints and diffusers folders")
    checkpoint = inspect_checkpoint(path, prediction)
    overrides: dict[str, Any] = {"prediction_type": checkpoint.prediction}
    speed = checkpoint.speed
    values: dict[str, Any] = {"width": checkpoint.side, "height": checkpoint.side}
    if speed:
        overrides["timestep_spacing"] = "trailing"
        values.update(_speed_values(speed))
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return ModelInfo(
        ref=ref,
        path=path,
        name=checkpoint.metadata.get("modelspec.title") or (name if name != path.name else stem),
        pipeline_class=_SINGLE_FILE_PIPELINES[checkpoint.config_name],
        family=checkpoint.family,
        defaults=ModelDefaults(**values),
        checkpoint=checkpoint,
        speed=speed,
        scheduler_overrides=overrides,
    )


_SINGLE_FILE_PIPELINES = {
    "sd1": "StableDiffusionPipeline",
    "sd1-inpaint": "StableDiffusionInpaintPipeline",
    "sd2": "StableDiffusionPipeline",
    "sd2-inpaint": "StableDiffusionInpaintPipeline",
    "sdxl": "StableDiffusionXLPipeline",
    "sdxl-inpaint": "StableDiffusionXLInpaintPipeline",
}


def _speed_values(speed: str) -> dict[str, Any]:
    steps, guidance, scheduler = SPEED_DEFAULTS[speed]
    return {"steps": steps, "guidance_scale": guidance, "scheduler": scheduler}


def _inspect_folder(ref: str, path: Path, name: str, prediction: str | None) -> ModelInfo:
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
    kinds = {component: _check_component(path, component) for component in sorted(present - set(_SKIPPED))}
    variant = "fp16" if "fp16" in kinds.values() else None
    studio_file = path / STUDIO_FILE
    studio = _read_json(studio_file, ref) if studio_file.exists() else {}
    if studio.get("name") is not None and not isinstance(studio["name"], str):
        raise ModelError(f"{studio_file}: 'name' must be text, not {type(studio['name']).__name__}")
    if studio.get("defaults") is not None and not isinstance(studio["defaults"], dict):
        raise ModelError(f"{studio_file}: 'defaults' must be an object, not {type(studio['defaults']).__name__}")
    family = _family(path, pipeline_class, ref)
    scheduler = _scheduler_config(path, ref)
    speed = _folder_speed(path, studio, scheduler)
    overrides: dict[str, Any] = {}
    if prediction is not None:
        from studio.engine.checkpoints import _prediction_name

        overrides["prediction_type"] = _prediction_name(prediction)
    if speed and scheduler.get("timestep_spacing") not in ("trailing",):
        overrides["timestep_spacing"] = "trailing"
    base = _defaults(path, family, ref, speed)
    return ModelInfo(
        ref=ref,
        path=path,
        name=str(studio.get("name") or name),
        pipeline_class=pipeline_class,
        family=family,
        defaults=_checked_defaults(base, studio.get("defaults") or {}, ref, str(path / STUDIO_FILE)),
        studio=studio,
        variant=variant,
        speed=speed,
        scheduler_overrides=overrides,
    )


def _scheduler_config(path: Path, ref: str) -> dict:
    folder = path / "scheduler"
    for file in (folder / "scheduler_config.json", folder / "config.json"):
        if file.exists():
            return _read_json(file, ref)
    return {}


def _folder_speed(path: Path, studio: dict, scheduler: dict) -> str | None:
    """A few-step model, from studio.json, the scheduler it was saved with, or its model card's tags."""
    said = studio.get("speed")
    if isinstance(said, str) and said.lower() in SPEED_DEFAULTS:
        return said.lower()
    if scheduler.get("_class_name") == "LCMScheduler":
        return "lcm"
    from studio.engine.checkpoints import speed_from_metadata

    return speed_from_metadata({"tags": _card_tags(path / "README.md")})


def _card_tags(card: Path) -> str:
    """The front matter of a Hugging Face model card (tags, base model), as one lower-case text."""
    try:
        with open(card, encoding="utf-8", errors="replace") as handle:
            head = handle.read(8192)
    except OSError:
        return ""
    if not head.startswith("---"):
        return ""
    end = head.find("\n---", 3)
    return head[3:end].lower() if end > 0 else ""


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


def _check_component(root: Path, component: str) -> str | None:
    """Check one component folder; say whether its weights are full ("full"), only fp16 ("fp16"), or none."""
    folder = root / component
    if not folder.is_dir():
        raise ModelError(f"{root} is missing the folder of its '{component}' component")
    files = [p for p in folder.iterdir() if p.is_file()]
    if not any(p.suffix == ".json" or p.name in ("merges.txt", "vocab.json", "spiece.model") for p in files):
        raise ModelError(f"{folder} has no config file")
    if component not in _WEIGHTED:
        return None
    if not (folder / "config.json").exists():
        raise ModelError(f"{folder} is missing config.json")
    weights = [p for p in files if p.suffix == ".safetensors"]
    for file in weights:
        read_header(file)  # a damaged or truncated file fails here, clearly
    full = [p for p in weights if not p.name.endswith(FP16) and ".fp16-" not in p.name]
    if full:
        return "full"
    if weights:
        return "fp16"
    others = [p.name for p in files if p.suffix in _WEIGHT_FILES]
    if others:
        raise ModelError(
            f"{folder} holds {', '.join(sorted(others))} but no safetensors weights; Studio does not load "
            f"pickled weights (they can run code); convert them with: studio models convert FILE"
        )
    raise ModelError(f"{folder} has no weights file (.safetensors)")


def _family(path: Path, pipeline_class: str, ref: str) -> str:
    if "XL" in pipeline_class:
        return "sdxl"
    unet = _read_json(path / "unet" / "config.json", ref)
    width = unet.get("cross_attention_dim")
    families: dict[int | None, str] = {768: "sd1", 1024: "sd2"}
    return families.get(width if isinstance(width, int) else None, "custom")


def _defaults(path: Path, family: str, ref: str, speed: str | None) -> ModelDefaults:
    """The model's own size (its UNet's sample size times the VAE's scale), and a few-step model's settings."""
    side = None
    try:
        vae = _read_json(path / "vae" / "config.json", ref)
        unet = _read_json(path / "unet" / "config.json", ref)
        side = int(unet["sample_size"]) * 2 ** (len(vae["block_out_channels"]) - 1)
    except (ModelError, ValueError, KeyError, TypeError, OverflowError):
        pass
    if side is None or not 64 <= side <= 4096 or side % 8:
        side = {"sd1": 512, "sd2": 768, "sdxl": 1024}.get(family, 512)
    values: dict[str, Any] = {"width": side, "height": side}
    if speed:
        values.update(_speed_values(speed))
    return ModelDefaults(**values)


def _checked_defaults(base: ModelDefaults, given: dict, ref: str, where: str) -> ModelDefaults:
    """`base` with the values `given` (from studio.json or the library) over it, checked like a request."""
    values = {key: given[key] for key in ("steps", "guidance_scale", "scheduler", "width", "height") if key in given}
    if not values:
        return base
    try:
        defaults = dataclasses.replace(base, **values)
        defaults.request(ref)  # the checks every request gets, so a bad value names where it came from
    except (RequestError, TypeError) as exc:
        raise ModelError(f"{where}: 'defaults' are wrong: {exc}") from None
    return defaults
