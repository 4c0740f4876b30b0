# pyright: standard
"""Loading a checked model into a diffusers pipeline, and keeping one loaded between jobs."""

from __future__ import annotations

import gc
import logging
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from studio.engine.cpu_backend import backend_plan
from studio.engine.devices import dtype_for, offload_wanted, pick_device, place_pipeline
from studio.engine.load_progress import IMPORT_WEIGHT, LoadProgress, LoadReporter, weight_of
from studio.engine.models import _SKIPPED, ModelInfo, resolve_model
from studio.engine.previews import SD, SDXL, LatentPreviewer, PreviewFactors, calibration_images, fit_preview_factors
from studio.engine.threads import fit_threads
from studio.errors import ModelError

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    info: ModelInfo
    pipe: Any
    device: str
    dtype: Any
    previewer: LatentPreviewer
    scheduler_config: dict  # as the model was saved; every job's scheduler starts from it
    # LoRA adapters loaded into the pipeline (see engine.loras): (file, mtime_ns, size) -> adapter name
    loras: dict[tuple[str, int, int], str] = field(default_factory=dict)
    vae: str = ""  # the library's VAE decoding for it ("" = its own), see `use_vae`
    vae_hash: str = ""
    own_vae: Any = None  # the model's own VAE, kept while another one decodes
    saved_scheduler: dict = field(default_factory=dict)  # the scheduler config as saved, before overrides
    offload: bool = False  # model CPU offload on (CUDA only, see devices.place_pipeline)
    unet_parameters: int | None = None  # counted when first needed (see threads.fit_threads)

    def refresh(self, info: ModelInfo) -> None:
        """Take what changed in the model's settings since it loaded (defaults, prediction, hash, name)."""
        if info.scheduler_overrides != self.info.scheduler_overrides:
            self.scheduler_config = {**self.saved_scheduler, **info.scheduler_overrides}
        self.info = info


def load_model(
    info: ModelInfo,
    device: str | None = None,
    on_progress: LoadProgress | None = None,
    offload: bool | None = None,
) -> LoadedModel:
    """Load `info` into a pipeline on `device` (or the best one), offline, safetensors only.

    `on_progress` hears each step (see load_progress): starting torch when it is not yet
    imported (not measurable), then the libraries, each component, the move to the device,
    and "ready" with every step done. `offload` (default: $STUDIO_OFFLOAD) asks for model CPU offload
    on a CUDA GPU (see devices.place_pipeline)."""
    report = LoadReporter(info.ref, on_progress)
    if "torch" not in sys.modules:
        report("starting torch")
    import torch

    from studio.engine.pipeline_parts import folder_parts, load_part

    skipped: dict[str, bool | None] = {name: None for name in _SKIPPED if _listed(info, name)}
    parts = folder_parts(info.path, _SKIPPED) if info.checkpoint is None else []
    files = [p.size for p in parts] if parts else [info.path.stat().st_size]
    device = pick_device(device)
    backend = backend_plan(device, sum(p.size for p in parts if p.name == "unet") or sum(files))
    step = report.weighted([IMPORT_WEIGHT, IMPORT_WEIGHT, 1, *map(weight_of, files), 1, *backend.weights])
    step("importing diffusers")
    import diffusers  # noqa: F401  (its own import: as long as the bare `import torch, diffusers`)

    step("importing pipelines")
    from diffusers.pipelines.pipeline_utils import DiffusionPipeline

    step("importing transformers")
    quiet_libraries()
    dtype = dtype_for(device)
    offload = offload_wanted(offload)
    if "safety_checker" in skipped:
        skipped["requires_safety_checker"] = False
    try:
        if info.checkpoint is not None:
            from studio.engine.single_file import load_single_file

            step("reading the checkpoint")
            pipe = load_single_file(info, dtype)
        else:
            components: dict = {}
            for k, part in enumerate(parts):
                step(f"{part.label} {k + 1}/{len(parts)}")
                components[part.name] = load_part(info.path, part, dtype, info.variant)
            pipe = DiffusionPipeline.from_pretrained(
                info.path,
                dtype=dtype,
                use_safetensors=True,
                local_files_only=True,
                variant=info.variant,
                **skipped,
                **components,
            )
        step(f"moving to {device}")
        note = place_pipeline(pipe, device, offload)
        if note:
            log.warning(note)
    except torch.cuda.OutOfMemoryError:
        raise ModelError(f"not enough GPU memory to load {info.ref}") from None
    except ModelError:
        raise
    except Exception as exc:
        log.exception("loading the model %s from %s failed", info.ref, info.path)
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"cannot load model {info.ref} from {info.path}: {first_line}") from None
    pipe.set_progress_bar_config(disable=True)
    backend.attach(pipe, step)  # the UNet through OpenVINO on the CPU, where it applies (engine.cpu_backend)
    previewer = LatentPreviewer(_preview_factors(info, pipe))
    scheduler_config = {**dict(pipe.scheduler.config), **info.scheduler_overrides}
    loaded = LoadedModel(info, pipe, device, dtype, previewer, scheduler_config)
    loaded.saved_scheduler = dict(pipe.scheduler.config)
    loaded.offload = offload and device.startswith("cuda")
    if info.vae:
        use_vae(loaded, info.vae)
    step("ready")
    return loaded


def use_vae(model: LoadedModel, name: str) -> None:
    """Decode with the library's VAE `name` ("" = the model's own), previews refitted for it."""
    import torch

    from studio.engine import cpu_bf16
    from studio.engine.vae import load_vae

    if name == model.vae:
        return
    own = model.own_vae if model.own_vae is not None else model.pipe.vae
    if name:
        vae, short_hash = load_vae(model.info, own, name, model.dtype)
        try:
            vae = vae.to(model.device)
        except torch.cuda.OutOfMemoryError:
            raise ModelError(f"not enough GPU memory to load the VAE {name}") from None
        if cpu_bf16.decode_installed(own):  # decoded as the model's own was
            cpu_bf16.install_decode(vae)
        model.pipe.vae = vae
        factors = _vae_preview_factors(vae, name) or _preview_factors(model.info, model.pipe)
    else:
        model.pipe.vae, short_hash = own, ""
        factors = _preview_factors(model.info, model.pipe)
    model.own_vae = own if name else None
    model.vae, model.vae_hash = name, short_hash
    model.previewer = LatentPreviewer(factors)


def _vae_preview_factors(vae, name: str) -> PreviewFactors | None:
    """Factors fitted to the chosen VAE; None when the fit is not usable (half precision overflowing)."""
    import math

    factors = fit_preview_factors(vae, calibration_images(), source=f"fitted for the VAE {name}")
    values = [v for row in factors.factors for v in row] + list(factors.bias)
    return factors if all(math.isfinite(v) for v in values) else None


def quiet_libraries() -> None:
    """Keep diffusers' and transformers' progress bars and advice out of Studio's output."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _listed(info: ModelInfo, component: str) -> bool:
    import json

    if info.checkpoint is not None:
        return False

    index = json.loads((info.path / "model_index.json").read_text(encoding="utf-8"))
    value = index.get(component)
    return isinstance(value, list) and bool(value) and value[0] is not None


def _preview_factors(info: ModelInfo, pipe) -> PreviewFactors:
    channels = pipe.vae.config.latent_channels
    if "preview" in info.studio:
        try:
            factors = PreviewFactors.from_dict(info.studio["preview"])
            if factors.channels == channels:
                return factors
        except (ValueError, KeyError, TypeError):
            pass
    known = {"sd1": SD, "sd2": SD, "sdxl": SDXL}.get(info.family)
    if known is not None and known.channels == channels:
        return known
    return fit_preview_factors(pipe.vae, calibration_images(), source="fitted at load")


class ModelCache:
    """Holds at most one loaded model; asking for another frees the one before."""

    def __init__(self, device: str | None = None, offload: bool | None = None):
        self.device = device
        self.offload = offload
        self._loaded: LoadedModel | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    def get(self, ref: str, on_progress: LoadProgress | None = None) -> LoadedModel:
        """The model `ref`, loaded unless it already is (`on_progress` then hears nothing)."""
        with self._lock:
            info = resolve_model(ref)
            current = self._loaded
            if current is not None and current.info.path == info.path and current.info.ref == info.ref:
                if current.info.vae != info.vae:  # another VAE chosen since: swapped in, the rest kept
                    use_vae(current, info.vae)
                current.refresh(info)
                fit_threads(current)
                return current
            self._unload()
            self._loaded = load_model(info, self.device, on_progress, self.offload)
            fit_threads(self._loaded)
            return self._loaded

    def clear(self) -> None:
        with self._lock:
            self._unload()

    def _unload(self) -> None:
        if self._loaded is None:
            return
        device = self._loaded.device
        self._loaded = None
        gc.collect()
        if device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
