# pyright: standard
"""The run loop: one request in, typed events out, stoppable at any step boundary.

`Engine.run(request, on_event, cancel)` loads (or reuses) the request's model, makes each
image of the batch with its own seed and its own scheduler instance, and reports every
denoising step with an x0 preview (see `step_reports`: on a GPU, one step late, so the
GPU never waits for the reporting). Images are returned in memory; writing them is the
caller's business, so a cancelled job never leaves a file behind.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Callable

import numpy as np

from studio.engine.draft_decoder import DraftDecoder
from studio.engine.draft_decoders import draft_for
from studio.engine.embeddings import ensure as ensure_embeddings
from studio.engine.embeddings import spelled
from studio.engine.events import (
    Cancelled,
    Event,
    Failed,
    FinalEvent,
    Finished,
    GeneratedImage,
    ImageDone,
    Started,
)
from studio.engine.loader import LoadedModel, ModelCache
from studio.engine.loras import LoraUse, activate_for_prompts, lora_hashes
from studio.engine.prompts import PromptInput, prepare_prompts
from studio.engine.request import GenerateRequest
from studio.engine.schedulers import make_scheduler
from studio.engine.step_reports import StepReporter
from studio.engine.tiling import model_native, vae_tiles
from studio.engine.x0 import X0Observer
from studio.errors import ModelError, StudioError
from studio.recipe.schema import Recipe

log = logging.getLogger(__name__)

CancelFlag = threading.Event | Callable[[], bool] | None
EventHandler = Callable[[Event], None]


class _Stop(Exception):
    def __init__(self, index: int, step: int):
        super().__init__(index, step)
        self.index, self.step = index, step


def _cancel_check(cancel: CancelFlag) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


ImageMaker = Callable[[EventHandler, Callable[[], bool], Callable[[GeneratedImage], None]], tuple]


def run_job(
    request,
    on_event: EventHandler | None,
    cancel: CancelFlag,
    make_images: ImageMaker,
    total_steps: int | None = None,
) -> FinalEvent:
    """The life of one job: Started, then `make_images(emit, cancelled, add)` (which hands
    each finished image to `add` and returns the job's warnings), then Finished, Cancelled
    or Failed. Every event goes to `on_event`; the last one is also returned. Started says
    `total_steps` steps per image (default: the request's steps)."""
    emit = on_event or (lambda event: None)
    cancelled = _cancel_check(cancel)
    started = time.perf_counter()
    results: list[GeneratedImage] = []

    def add(result: GeneratedImage) -> None:
        results.append(result)
        emit(ImageDone(result))

    try:
        emit(Started(request, request.steps if total_steps is None else total_steps, request.count))
        if cancelled():
            raise _Stop(0, 0)
        warnings = make_images(emit, cancelled, add)
        final: FinalEvent = Finished(tuple(results), time.perf_counter() - started, tuple(warnings))
    except _Stop as stop:
        final = Cancelled(tuple(results), stop.index, stop.step)
    except StudioError as exc:
        log.info("a job failed: %s", exc)
        final = Failed(str(exc))
    except Exception as exc:  # anything else still ends the job with a readable message
        log.exception("a job failed unexpectedly")
        final = Failed(_describe(exc), traceback.format_exc())
    emit(final)
    return final


class Engine:
    """Owns the loaded model; runs one job at a time (callers serialise, as the worker does)."""

    def __init__(self, device: str | None = None, models: ModelCache | None = None, offload: bool | None = None):
        self.models = models or ModelCache(device, offload)  # offload: see devices.place_pipeline

    def load(self, ref: str) -> LoadedModel:
        return self.models.get(ref)

    def run(
        self,
        request: GenerateRequest,
        on_event: EventHandler | None = None,
        cancel: CancelFlag = None,
        previews: bool = True,
    ) -> FinalEvent:
        """Run `request`; every event goes to `on_event`; the last one is also returned."""

        def make_images(emit, cancelled, add) -> tuple[str, ...]:
            model = self.models.get(request.model)
            _check_text_to_image(model)
            if cancelled():
                raise _Stop(0, 0)
            loras = activate_for_prompts(model, request.prompt, request.negative_prompt)
            notes = ensure_embeddings(model, [request.prompt, request.negative_prompt])
            prompt, negative = spelled(model, request.prompt), spelled(model, request.negative_prompt)
            prompts = prepare_prompts(model.pipe, prompt, negative, model.device)
            draft, draft_notes = draft_for(model, request.quality)
            for index in range(request.count):
                add(self._image(model, request, index, prompts, emit, cancelled, previews, loras, draft))
            return notes + draft_notes + prompts.warnings

        return run_job(request, on_event, cancel, make_images)

    def run_edit(
        self,
        request,
        on_event: EventHandler | None = None,
        cancel: CancelFlag = None,
        previews: bool = True,
    ) -> FinalEvent:
        """Run an outpaint or inpaint `EditRequest`: the same events as `run`, previews as
        `EditPreview`s, and each result the whole canvas (see `edit_runner`)."""
        from studio.engine.edit_runner import run_edit

        return run_edit(self, request, on_event, cancel, previews)

    def run_image(
        self,
        request,
        on_event: EventHandler | None = None,
        cancel: CancelFlag = None,
        previews: bool = True,
    ) -> FinalEvent:
        """Run an img2img or upscale `ImageRequest`: the same events as `run` (an upscale's
        Steps count on over all its tiles, its Previews show the whole picture), each result
        of the request's output size (see `img2img`)."""
        from studio.engine.img2img import run_image

        return run_image(self, request, on_event, cancel, previews)

    def _image(
        self,
        model: LoadedModel,
        request: GenerateRequest,
        index: int,
        prompts: PromptInput,
        emit: EventHandler,
        cancelled: Callable[[], bool],
        previews: bool,
        loras: tuple[LoraUse, ...] = (),
        draft: DraftDecoder | None = None,
    ) -> GeneratedImage:
        import torch

        pipe = model.pipe
        own = request.single(index)
        scheduler = make_scheduler(request.scheduler, model.scheduler_config)
        observer = X0Observer(scheduler)
        pipe.scheduler = scheduler
        generator = torch.Generator("cpu").manual_seed(own.seed)
        start = _variation_latents(model, own, generator)
        reporter = StepReporter(index, emit, cancelled, model.previewer.full_size(), model.device)

        def on_step_end(pipeline, i, timestep, tensors):
            total = getattr(pipeline, "num_timesteps", None) or request.steps
            stopped = reporter.step_done(i + 1, total, observer.x0 if previews else None)
            if stopped is not None:
                raise _Stop(index, stopped)
            return {}

        with vae_tiles(pipe.vae, request.width, request.height, model_native(model)):
            output = pipe(
                **prompts.kwargs,
                num_inference_steps=request.steps,
                guidance_scale=request.guidance_scale,
                width=request.width,
                height=request.height,
                generator=generator,
                callback_on_step_end=on_step_end,
                output_type="latent" if draft else "np",
                **start,
            )
        stopped = reporter.finish()
        if stopped is not None:
            raise _Stop(index, stopped)
        from PIL import Image

        image = Image.fromarray(to_uint8(draft.pixels(output.images)[0] if draft else output.images[0]))
        recipe = Recipe(
            request=own.replace(quality="draft" if draft else "full"),
            model_name=model.info.name,
            model_hash=model.info.short_hash,
            lora_hashes=lora_hashes(loras),
            vae=model.vae,
            vae_hash=model.vae_hash,
        )
        return GeneratedImage(index, own.seed, image, recipe, time.perf_counter() - reporter.began)


def _variation_latents(model: LoadedModel, request: GenerateRequest, generator) -> dict:
    """The pipeline's `latents` argument for a variation (drawn from `generator` as the
    pipeline would draw them), or nothing when variations are off."""
    if request.variation_strength <= 0:
        return {}
    from studio.engine.noise import variation_noise

    pipe = model.pipe
    factor = pipe.vae_scale_factor
    shape = (1, pipe.unet.config.in_channels, request.height // factor, request.width // factor)
    latents = variation_noise(
        shape, generator, request.variation_seed, request.variation_strength, model.dtype, model.device
    )
    return {"latents": latents}


def to_uint8(pixels) -> np.ndarray:
    """A pipeline's float image (0-1) as uint8 pixels; a NaN anywhere is a readable error."""
    pixels = np.asarray(pixels)
    if not np.isfinite(pixels).all():
        raise StudioError(
            "the model produced an invalid image (NaN values); try another seed or sampler, or full precision"
        )
    return (pixels * 255).round().clip(0, 255).astype(np.uint8)


def _check_text_to_image(model: LoadedModel) -> None:
    unet = getattr(model.pipe, "unet", None)
    vae = getattr(model.pipe, "vae", None)
    if unet is None or vae is None:
        raise ModelError(f"{model.info.ref} is not a UNet latent diffusion model")
    if unet.config.in_channels != vae.config.latent_channels:
        raise ModelError(
            f"{model.info.ref} is an inpainting model ({unet.config.in_channels}-channel UNet); "
            f"it can inpaint and outpaint but not make a picture from text alone"
        )


def _describe(exc: Exception) -> str:
    name = type(exc).__name__
    if "OutOfMemory" in name or "out of memory" in str(exc).lower():
        return "out of memory: try a smaller size or a smaller batch"
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"generation failed ({name}): {first}" if first else f"generation failed ({name})"
