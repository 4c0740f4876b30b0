# pyright: standard
"""Each loaded model's draft decoder: taken from the cache, or distilled once and cached.

A draft decoder belongs to the VAE that decodes (the model's own or one chosen from the
library): it lives in that VAE's `LatentPreviewer` (`previewer.draft`, a `DraftSlot`), so
choosing another VAE starts from nothing again, and it is cached on disk under a hash of
the VAE's weights and the training plan (DATA_DIR/cache/draft-decoders/<hash>.safetensors),
so a second load of the same model reads it back at once.

Two ways to get one, set by `use_draft_training`:
- in the window (`background=True`), the first job on a model reads its decoder from the
  cache, or, when there is none, starts a background thread to make it
  (one torch thread, lowest CPU priority, stopped when the model goes) and every job meanwhile
  runs as before: linear previews, and a "draft" request decoded in full with a note saying
  so; once it is ready, previews and draft pictures use it;
- elsewhere (the command line), a "draft" request waits while the decoder is made, in the
  job's own thread, and then uses it; `fit_draft` makes it before the job, so that the wait
  can be shown (its progress) and cancelled (nothing is cached then).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from studio.engine.draft_decoder import ARCHITECTURE, DraftDecoder, load_decoder
from studio.engine.draft_decoder_training import Progress, Stopped, TrainingPlan, distil, sample_latents

log = logging.getLogger(__name__)


DEFAULT_PLAN = TrainingPlan()
Sampler = Callable[..., Any]  # (pictures, stopped, progress=None) -> their latents
SAMPLING_SHARE = 0.3  # of a fit's progress, the model's sample pictures (a full-size model: minutes)


@dataclass
class _Settings:
    folder: Path | None = None  # None: DATA_DIR/cache/draft-decoders
    background: bool = False
    plan: TrainingPlan = DEFAULT_PLAN


_settings = _Settings()
_running: weakref.WeakSet[DraftTraining] = weakref.WeakSet()  # trainings on background threads


def use_draft_training(folder: Path | None, background: bool = False, plan: TrainingPlan | None = None) -> None:
    """Where draft decoders are cached, whether they are made in the background on a model's
    first job (the window) or when a draft picture is asked for (elsewhere), and how. Any
    training running on a background thread stops."""
    global _settings
    _settings = _Settings(folder, background, plan or DEFAULT_PLAN)
    for training in list(_running):  # fitted under the settings before: stopped (a closing window)
        training.cancel()


def draft_cache(data: Path) -> Path:
    """The folder of cached draft decoders in the data folder `data`."""
    return data / "cache" / "draft-decoders"


def cache_folder() -> Path:
    if _settings.folder is not None:
        return _settings.folder
    from studio.paths import data_dir

    return draft_cache(data_dir())


class DraftSlot:
    """Where a VAE's draft decoder arrives; `decoder` is None until it is ready."""

    def __init__(self) -> None:
        self.decoder: DraftDecoder | None = None
        self.training: DraftTraining | None = None
        self._lock = threading.Lock()

    def start(self, vae, background: bool, sampler: Sampler | None = None) -> DraftTraining:
        """The training of this slot's decoder, started (on a thread when `background`) unless it already was."""
        with self._lock:
            if self.training is None or self.training.state == "cancelled":
                self.training = DraftTraining(self, vae, cache_folder(), _settings.plan, sampler)
                if background and not self.training.from_cache():
                    self.training.start()
            return self.training


class DraftTraining:
    """Reads a VAE's draft decoder from the cache or distils it; `run` in the caller's thread
    or `start` a background one. The slot is held weakly: when its model goes, training stops."""

    def __init__(self, slot: DraftSlot, vae, folder: Path, plan: TrainingPlan, sampler: Sampler | None = None):
        self._slot = weakref.ref(slot)
        self.vae = vae
        self.sampler = sampler  # latents of pictures the model makes, for training on what it draws
        self.folder = folder
        self.plan = plan
        self.state = "waiting"  # waiting, training, ready, failed, cancelled
        self.progress = 0.0
        self.trained = False  # made now rather than read from the cache
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._run_lock = threading.Lock()
        self._looked: tuple | None = None
        self._caller_stop: Callable[[], bool] | None = None  # the caller's cancel, while `run` runs
        self._caller_progress: Progress | None = None

    def start(self) -> None:
        _running.add(self)
        self._thread = threading.Thread(target=self._background, name="draft-decoder", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def _background(self) -> None:
        import torch

        torch.set_num_threads(1)  # this thread's own count; the jobs keep theirs
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass  # not on this platform
        self.run()

    def run(self, cancelled: Callable[[], bool] | None = None, progress: Progress | None = None) -> DraftDecoder | None:
        """The decoder from the cache, or distilled now and cached; None when cancelled or failed.
        `cancelled` stops it too (nothing is cached); `progress` hears the fit's fraction, 0-1."""
        with self._run_lock:
            if self._done.is_set():
                slot = self._slot()
                return slot.decoder if slot else None
            self._caller_stop, self._caller_progress = cancelled, progress
            try:
                return self._run()
            finally:
                self._done.set()
                self.vae = self.sampler = self._looked = None
                self._caller_stop = self._caller_progress = None

    def from_cache(self) -> bool:
        """Whether the decoder was in the cache: read in the caller's thread (hashing the VAE's
        weights takes well under a second), and then ready at once."""
        with self._run_lock:
            if self._done.is_set():
                return self.state == "ready"
            try:
                decoder = self._lookup()[3]
            except Exception:
                log.exception("reading the cached draft decoder failed")
                return False
            slot = self._slot()
            if decoder is None or slot is None:
                return False
            slot.decoder = decoder
            self.progress, self.state = 1.0, "ready"
            self._done.set()
            self.vae = self.sampler = self._looked = None
            return True

    def _lookup(self) -> tuple:
        """(the VAE on the CPU, its key, its cache file, the decoder read from it or None), worked out once."""
        if self._looked is None:
            vae = _cpu_copy(self.vae)
            key = vae_key(vae, self.plan)
            path = self.folder / f"{key[:32]}.safetensors"
            self._looked = (vae, key, path, self._cached(path, key))
        return self._looked

    def _stopped(self) -> bool:
        caller = self._caller_stop
        return self._cancel.is_set() or self._slot() is None or (caller is not None and caller())

    def _run(self) -> DraftDecoder | None:
        began = time.perf_counter()
        self.state = "training"
        try:
            vae, key, path, decoder = self._lookup()
            if decoder is None:
                log.info("fitting a draft decoder to this model's VAE (once; cached as %s)", path)
                generated, share = None, 0.0
                if self.sampler is not None and self.plan.generated:
                    share = SAMPLING_SHARE
                    generated = self.sampler(self.plan.generated, self._stopped, self._share(0.0, share))
                decoder = distil(vae, key, self.plan, self._stopped, self._share(share, 1.0), generated)
                self.trained = True
        except Stopped:
            self.state = "cancelled"
            return None
        except Exception:
            log.exception("fitting a draft decoder failed; previews stay linear and draft pictures full")
            self.state = "failed"
            return None
        slot = self._slot()
        if slot is None:
            self.state = "cancelled"
            return None
        slot.decoder = decoder
        self.progress, self.state = 1.0, "ready"
        if self.trained:
            try:
                decoder.save(path)
            except OSError as exc:
                log.warning("the draft decoder cannot be cached in %s: %s", path.parent, exc)
            log.info(
                "draft decoder ready in %.0f s: PSNR %.1f dB against the full decode",
                time.perf_counter() - began,
                decoder.psnr,
            )
        return decoder

    def _progress(self, fraction: float) -> None:
        self.progress = fraction
        if self._caller_progress is not None:
            self._caller_progress(fraction)

    def _share(self, start: float, end: float) -> Progress:
        """A part's own 0-1 progress as the fit's, from `start` to `end`."""
        return lambda fraction: self._progress(start + (end - start) * fraction)

    def _cached(self, path: Path, key: str) -> DraftDecoder | None:
        if not path.exists():
            return None
        try:
            decoder = load_decoder(path, key)
        except ValueError as exc:
            log.warning("the cached draft decoder %s is damaged (%s); fitting it again", path, exc)
            return None
        log.info("draft decoder read from %s (PSNR %.1f dB against the full decode)", path, decoder.psnr)
        return decoder


def _cpu_copy(vae):
    """`vae` itself on the CPU in float32 (shared with the jobs: decoding keeps no state), else a CPU float32 copy."""
    import copy

    import torch

    param = next(vae.parameters())
    if param.device.type == "cpu" and param.dtype == torch.float32:
        return vae
    return copy.deepcopy(vae).to("cpu", torch.float32)


def vae_key(vae, plan: TrainingPlan) -> str:
    """A hash of the VAE's weights and of how its decoder is made: the cache file's name."""
    digest = hashlib.sha256(f"{ARCHITECTURE} {plan!r}".encode())
    for name, tensor in vae.state_dict().items():
        digest.update(f"{name} {tuple(tensor.shape)} {tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(dtype=_bytes()).numpy().tobytes())
    return digest.hexdigest()


def _bytes():
    import torch

    return torch.uint8


def draft_for(model: Any, quality: str) -> tuple[DraftDecoder | None, tuple[str, ...]]:
    """The decoder a job on `model` draws its final pictures with (None: the full VAE) and
    the job's notes about it. A job starts the model's training in the background when that
    is the way (see `use_draft_training`); a draft job elsewhere waits for it."""
    slot: DraftSlot = model.previewer.draft
    if slot.decoder is not None:
        return (slot.decoder if quality == "draft" else None), ()
    if not _settings.background and quality != "draft":
        return None, ()
    training = slot.start(model.pipe.vae, _settings.background, _sampler(model))
    decoder = training.run() if not _settings.background else slot.decoder  # read from the cache
    if decoder is not None:
        return (decoder if quality == "draft" else None), ()
    if quality != "draft":
        return None, ()
    note = (
        f"the draft decoder for this model is still being fitted ({training.progress:.0%}); decoded at full quality"
        if training.state in ("waiting", "training")
        else "the draft decoder for this model could not be made; decoded at full quality"
    )
    log.info(note)
    return None, (note,)


def fit_draft(
    model: Any,
    cancelled: Callable[[], bool] = lambda: False,
    on_fit: Callable[[], None] | None = None,
    progress: Progress | None = None,
) -> str:
    """Get `model`'s draft decoder ready in the caller's thread, before a draft job that would
    otherwise wait for it unseen: there already, read from the cache, or fitted now. `on_fit`
    hears once, before a fit begins (not when the decoder is there or cached), `progress` the
    fit's fraction (0-1) as it goes; `cancelled` stops the fit, and nothing is cached then.
    Returns "ready", "cancelled" or "failed"."""
    slot: DraftSlot = model.previewer.draft
    if slot.decoder is not None:
        return "ready"
    training = slot.start(model.pipe.vae, False, _sampler(model))
    if training.from_cache():
        return "ready"
    if training.state in ("failed", "cancelled"):
        return training.state
    if on_fit is not None:
        on_fit()
    decoder = training.run(cancelled, progress)
    return "ready" if decoder is not None else training.state


def _sampler(model: Any) -> Sampler:
    """Short denoising runs of `model` (its example prompts, or a few plain ones), on a pipeline of
    its own that shares the model's parts, so jobs running meanwhile keep their scheduler."""
    pipe = model.pipe
    components = dict(pipe.components)
    components["scheduler"] = type(pipe.scheduler).from_config(model.scheduler_config)
    prompts = list(model.info.studio.get("examples") or GENERIC_PROMPTS)
    defaults = model.info.defaults

    def sample(count: int, stopped: Callable[[], bool], progress: Progress | None = None):
        side = min(defaults.width, defaults.height, 256)
        steps = max(2, min(defaults.steps, 8))
        guidance = defaults.guidance_scale
        return sample_latents(type(pipe)(**components), prompts, count, side, steps, guidance, stopped, progress)

    return sample


GENERIC_PROMPTS = (
    "a photo of a house by a lake",
    "a portrait of a person, studio light",
    "a city street at night",
    "a bowl of fruit on a wooden table",
    "a painting of mountains at sunset",
    "a cat in the grass",
)
