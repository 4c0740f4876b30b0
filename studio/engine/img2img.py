# pyright: standard
"""The run loop of an img2img or upscale job (`Engine.run_image`), on diffusers' img2img pipeline.

The img2img pipeline is made from the loaded model's own components (`from_pipe`, SD and
SDXL alike), so nothing is loaded twice. An img2img job pads the picture to multiples of 8
(its edge pixels repeated), lets the pipeline re-noise it by `strength` and denoise it with
the prompt, and crops the padding off again; strength 0 returns the picture as it was,
without calling the model. A picture larger than the model's native size goes through the
VAE in tiles (`tiling.vae_tiles`). An upscale enlarges the picture
and redraws it in tiles (see `upscale`). Events are the same as `Engine.run`'s.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from studio.engine.derived_pipes import derived_pipe
from studio.engine.edit import native_side
from studio.engine.embeddings import ensure as ensure_embeddings
from studio.engine.embeddings import spelled
from studio.engine.events import FinalEvent, GeneratedImage
from studio.engine.image_request import ImageRequest, denoise_steps
from studio.engine.loader import LoadedModel
from studio.engine.loras import LoraUse, activate_for_prompts, lora_hashes
from studio.engine.prompts import PromptInput, prepare_prompts
from studio.engine.runner import CancelFlag, EventHandler, _check_text_to_image, _Stop, run_job, to_uint8
from studio.engine.schedulers import make_scheduler
from studio.engine.step_reports import StepReporter
from studio.engine.tiling import vae_tiles
from studio.engine.x0 import X0Observer
from studio.recipe.schema import Recipe


class ImageJob:
    """What every candidate of one img2img or upscale job shares: the model, its img2img
    pipeline, the prompts, and the schedule's length and steps run at the job's strength."""

    def __init__(self, model: LoadedModel, request: ImageRequest):
        self.model = model
        self.request = request
        self.schedule, self.run_steps = denoise_steps(request.steps, request.strength)
        self.native = native_side(model.info.defaults)
        self.pipe = None
        self.prompts: PromptInput | None = None
        self.loras: tuple[LoraUse, ...] = ()
        self.notes: tuple[str, ...] = ()
        if self.run_steps:
            self.pipe = derived_pipe(model, "Image2Image", "image-to-image")
            self.loras = activate_for_prompts(model, request.prompt, request.negative_prompt)
            notes = ensure_embeddings(model, [request.prompt, request.negative_prompt])
            prompt, negative = spelled(model, request.prompt), spelled(model, request.negative_prompt)
            self.prompts = prepare_prompts(self.pipe, prompt, negative, model.device)
            self.notes = tuple(notes) + tuple(self.prompts.warnings)

    def denoise(
        self,
        pixels: np.ndarray,
        generator,
        reporter: StepReporter,
        index: int,
        previews: bool,
        step_of: Callable[[int, int], tuple[int, int]] = lambda i, total: (i + 1, total),
    ) -> np.ndarray:
        """`pixels` (H x W x 3 uint8, multiples of 8) re-noised by the job's strength and
        denoised with its prompt, as uint8. Each step is reported as `step_of(i, steps)`
        (1-based step and total), so passes over tiles can count on from each other."""
        from PIL import Image

        assert self.pipe is not None and self.prompts is not None
        pipe, request = self.pipe, self.request
        scheduler = make_scheduler(request.scheduler, self.model.scheduler_config)
        observer = X0Observer(scheduler)
        pipe.scheduler = scheduler

        def on_step_end(pipeline, i, timestep, tensors):
            step, total = step_of(i, pipeline.num_timesteps)
            stopped = reporter.step_done(step, total, observer.x0 if previews else None)
            if stopped is not None:
                raise _Stop(index, stopped)
            return {}

        height, width = pixels.shape[:2]
        with vae_tiles(pipe.vae, width, height, self.native):  # a picture larger than the model's own: in tiles
            output = pipe(
                **self.prompts.kwargs,
                image=Image.fromarray(pixels),
                strength=request.strength,
                num_inference_steps=self.schedule,
                guidance_scale=request.guidance_scale,
                generator=generator,
                callback_on_step_end=on_step_end,
                output_type="np",
            )
        stopped = reporter.finish()
        if stopped is not None:
            raise _Stop(index, stopped)
        return to_uint8(output.images[0])

    def result(self, index: int, pixels: np.ndarray, began: float) -> GeneratedImage:
        from PIL import Image

        request, model = self.request, self.model
        own = request.generate.single(index)
        recipe = Recipe(
            request=own,
            model_name=model.info.name,
            kind=request.kind,
            extra=request.recipe_extra(),
            model_hash=model.info.short_hash,
            lora_hashes=lora_hashes(self.loras),
            vae=model.vae,
            vae_hash=model.vae_hash,
        )
        return GeneratedImage(index, own.seed, Image.fromarray(pixels), recipe, time.perf_counter() - began)


def run_image(
    engine, request: ImageRequest, on_event: EventHandler | None, cancel: CancelFlag, previews: bool
) -> FinalEvent:
    from studio.engine.upscale import job_steps, upscale_candidate

    def make_images(emit, cancelled, add) -> tuple[str, ...]:
        model = engine.models.get(request.model)
        _check_text_to_image(model)
        if cancelled():
            raise _Stop(0, 0)
        job = ImageJob(model, request)
        make = upscale_candidate if request.kind == "upscale" else _img2img_candidate
        for index in range(request.count):
            add(make(job, index, emit, cancelled, previews))
        return job.notes

    return run_job(request, on_event, cancel, make_images, total_steps=job_steps(request))


def _img2img_candidate(job: ImageJob, index: int, emit, cancelled, previews: bool) -> GeneratedImage:
    import torch

    request = job.request
    own = request.generate.single(index)
    began = time.perf_counter()
    source = np.asarray(request.image)
    if not job.run_steps:
        return job.result(index, source.copy(), began)
    height, width = source.shape[:2]
    padded = pad_edges(source, own.width, own.height)
    reporter = StepReporter(index, emit, cancelled, job.model.previewer, job.model.device)
    generator = torch.Generator("cpu").manual_seed(own.seed)
    made = job.denoise(padded, generator, reporter, index, previews)
    return job.result(index, np.ascontiguousarray(made[:height, :width]), began)


def pad_edges(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """`pixels` grown on the right and bottom to `width` x `height`, its edge pixels repeated."""
    h, w = pixels.shape[:2]
    if (w, h) == (width, height):
        return np.ascontiguousarray(pixels)
    return np.pad(pixels, ((0, height - h), (0, width - w), (0, 0)), mode="edge")
