# pyright: standard
"""The run loop of an outpaint or inpaint job (`Engine.run_edit`), on diffusers' inpaint pipeline.

The window around the mask (see `edit.plan_window`) is cut out, its new area pre-filled,
scaled to the model's size if needed, and handed to the inpaint pipeline of the loaded
model's own components. An inpainting model (9-channel UNet) is conditioned on the mask
and the masked picture as it was trained to be. An ordinary model gets the known latents
blended back after every step under a soft mask (differential inpainting): a latent pixel
with strength s is held to the old picture, re-noised to the current level, until the
last s of the steps, so the blend band is regenerated ever less the farther it lies from
the new area and the seam has no hard edge. The decoded window is colour-matched to the
old picture around the new area and pasted back through the feathered band only.

Events are the same as `Engine.run`'s; previews are `EditPreview`s; every result is the
whole canvas.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Callable

import numpy as np

from studio.engine.edit import EditRequest, EditWindow, native_side, plan_window
from studio.engine.edit_pixels import (
    distance_to,
    generation_strength,
    latent_strength,
    match_colours,
    paste,
    prefill,
    resize_rgb,
    shrink_known,
)
from studio.engine.embeddings import ensure as ensure_embeddings
from studio.engine.embeddings import spelled
from studio.engine.events import EditPreview, FinalEvent, GeneratedImage, Step
from studio.engine.loader import LoadedModel
from studio.engine.loras import LoraUse, activate_for_prompts, lora_hashes
from studio.engine.prompts import PromptInput, prepare_prompts
from studio.engine.runner import CancelFlag, EventHandler, _Stop, run_job, to_uint8
from studio.engine.schedulers import make_scheduler
from studio.engine.x0 import X0Observer
from studio.errors import ModelError
from studio.recipe.schema import Recipe

INPAINT_CHANNELS = 9
# Colours are matched over the pixels within this many band widths of the masked area.
MATCH_REACH = 2

_inpaint_pipes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class _Job:
    """What every candidate of one edit job shares."""

    window: EditWindow
    alpha: np.ndarray  # generation strength over the context crop, canvas scale
    original: np.ndarray  # the context crop as it was
    filled: np.ndarray  # the context crop, new area pre-filled, at model size
    cells: np.ndarray  # generation strength per latent pixel
    match_area: np.ndarray  # where the result should look like the old picture
    inpainting_model: bool


def run_edit(
    engine, request: EditRequest, on_event: EventHandler | None, cancel: CancelFlag, previews: bool
) -> FinalEvent:
    def make_images(emit, cancelled, add) -> tuple[str, ...]:
        model = engine.models.get(request.model)
        inpainting = _check_model(model)
        job = _prepare(request, model, inpainting)
        pipe = _inpaint_pipe(model)
        if cancelled():
            raise _Stop(0, 0)
        loras = activate_for_prompts(model, request.prompt, request.negative_prompt)
        notes = ensure_embeddings(model, [request.prompt, request.negative_prompt])
        prompt, negative = spelled(model, request.prompt), spelled(model, request.negative_prompt)
        prompts = prepare_prompts(pipe, prompt, negative, model.device)
        for index in range(request.count):
            add(_candidate(model, pipe, request, job, index, prompts, emit, cancelled, previews, loras))
        return notes + prompts.warnings

    return run_job(request, on_event, cancel, make_images)


def _check_model(model: LoadedModel) -> bool:
    """True for an inpainting model (9-channel UNet), False for an ordinary one."""
    unet = getattr(model.pipe, "unet", None)
    vae = getattr(model.pipe, "vae", None)
    if unet is None or vae is None:
        raise ModelError(f"{model.info.ref} is not a UNet latent diffusion model, so it cannot outpaint")
    channels, latent = unet.config.in_channels, vae.config.latent_channels
    if channels == latent:
        return False
    if channels == 2 * latent + 1:
        return True
    raise ModelError(f"{model.info.ref} has a {channels}-channel UNet; Studio outpaints with 4- or 9-channel UNets")


def _inpaint_pipe(model: LoadedModel):
    """The inpaint pipeline sharing the loaded model's components (made once per model)."""
    pipe = _inpaint_pipes.get(model.pipe)
    if pipe is None or pipe.vae is not model.pipe.vae:  # made anew when another VAE was chosen
        from diffusers.pipelines.auto_pipeline import AutoPipelineForInpainting

        try:
            pipe = AutoPipelineForInpainting.from_pipe(model.pipe)
        except ValueError as exc:
            raise ModelError(f"{model.info.ref} has no inpainting pipeline in diffusers: {exc}") from None
        pipe.set_progress_bar_config(disable=True)
        _inpaint_pipes[model.pipe] = pipe
    return pipe


def _prepare(request: EditRequest, model: LoadedModel, inpainting: bool) -> _Job:
    window = plan_window(request.mask, native_side(model.info.defaults))
    crop = window.context.slices
    original = np.asarray(request.image[crop])
    mask = np.asarray(request.mask[crop])
    alpha = generation_strength(mask, window.band)
    core = mask == 255
    if window.scale < 1:  # fill at the model's scale: the cost stays that of a native-size picture
        shrunk, known = shrink_known(original, ~core, window.model_size)
        filled = prefill(shrunk, ~known, request.fill, request.seed)
    else:
        filled = prefill(original, core, request.fill, request.seed)
    reach = max(window.band, 1) * MATCH_REACH
    match_area = ~core & (distance_to(mask > 0, reach) <= reach)
    cells = latent_strength(alpha, window.model_size, model.pipe.vae_scale_factor)
    return _Job(window, alpha, original, filled, cells, match_area, inpainting)


def _candidate(
    model: LoadedModel,
    pipe,
    request: EditRequest,
    job: _Job,
    index: int,
    prompts: PromptInput,
    emit: EventHandler,
    cancelled: Callable[[], bool],
    previews: bool,
    loras: tuple[LoraUse, ...] = (),
) -> GeneratedImage:
    import torch
    from PIL import Image

    own = request.generate.single(index)
    scheduler = make_scheduler(request.scheduler, model.scheduler_config)
    observer = X0Observer(scheduler)
    pipe.scheduler = scheduler
    generator = torch.Generator("cpu").manual_seed(own.seed)
    blend = None if job.inpainting_model else _LatentBlend(pipe, job, own.seed)
    window = job.window
    began = last = time.perf_counter()

    def on_step_end(pipeline, i, timestep, tensors):
        nonlocal last
        latents = tensors["latents"]
        total = pipeline.num_timesteps
        if blend is not None:
            latents = blend(latents, i, total)
        now = time.perf_counter()
        emit(Step(index, i + 1, total, now - last, now - began))
        if previews and observer.x0 is not None:
            x0 = observer.x0
            if blend is not None:
                x0 = blend.hold_known(x0)
            emit(
                EditPreview(
                    index,
                    i + 1,
                    total,
                    model.previewer.rgb(x0),
                    x0[0].float().cpu().numpy(),
                    window=window,
                    base=request.image,
                    alpha=job.alpha,
                )
            )
        if cancelled():
            raise _Stop(index, i + 1)
        last = time.perf_counter()
        return {"latents": latents}

    width, height = window.model_size
    output = pipe(
        **prompts.kwargs,
        image=Image.fromarray(job.filled),
        mask_image=Image.fromarray(_cell_mask(job.cells, pipe.vae_scale_factor)),
        strength=request.strength,
        num_inference_steps=request.steps,
        guidance_scale=request.guidance_scale,
        width=width,
        height=height,
        generator=generator,
        callback_on_step_end=on_step_end,
        callback_on_step_end_tensor_inputs=["latents"],
        output_type="np",
    )
    made = to_uint8(output.images[0])
    made = resize_rgb(made, (window.context.width, window.context.height)).astype(np.float32)
    made = match_colours(made, job.original, job.match_area)
    canvas = paste(np.asarray(request.image), window, made, job.alpha)
    extra = {**request.recipe_extra(), "window": window.to_dict()}
    recipe = Recipe(
        request=own,
        model_name=model.info.name,
        kind=request.kind,
        extra=extra,
        model_hash=model.info.short_hash,
        lora_hashes=lora_hashes(loras),
        vae=model.vae,
        vae_hash=model.vae_hash,
    )
    return GeneratedImage(index, own.seed, Image.fromarray(canvas), recipe, time.perf_counter() - began)


def _cell_mask(cells: np.ndarray, factor: int) -> np.ndarray:
    """The pipeline's own (binary) mask: every latent pixel that is generated at all, as
    whole factor x factor blocks, so its latent-size copy matches `cells` exactly."""
    generated = (cells > 0).astype(np.uint8) * 255
    return np.repeat(np.repeat(generated, factor, axis=0), factor, axis=1)


class _LatentBlend:
    """Holds each latent pixel to the known picture (re-noised to the coming step's level)
    until its share of the steps begins: a pixel of strength s is free for the last s of them."""

    def __init__(self, pipe, job: _Job, seed: int):
        import torch

        unet = pipe.unet
        device, dtype = unet.device, unet.dtype
        vae = pipe.vae
        pixels = torch.from_numpy(np.array(job.filled)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        # Some autoencoders (SDXL's) overflow in half precision; diffusers runs them in full.
        upcast = vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
        if upcast:
            vae.to(torch.float32)
        try:
            with torch.no_grad():
                posterior = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist
        finally:
            if upcast:
                vae.to(torch.float16)
        self.known = (posterior.mean * vae.config.scaling_factor).to(device, dtype)
        noise_source = torch.Generator("cpu").manual_seed(seed)
        self.noise = torch.randn(self.known.shape, generator=noise_source).to(device, dtype)
        self.strength = torch.from_numpy(job.cells)[None, None].to(device, dtype)
        self.pipe = pipe

    def __call__(self, latents, i: int, total: int):
        import torch

        done = i + 1
        free = (self.strength > 1.0 - done / total).to(latents.dtype)
        if done < total:
            scheduler = self.pipe.scheduler
            coming = scheduler.timesteps[len(scheduler.timesteps) - total + done]
            held = scheduler.add_noise(self.known, self.noise, torch.tensor([coming]))
        else:
            held = self.known
        return free * latents + (1.0 - free) * held.to(latents.dtype)

    def hold_known(self, x0):
        """The clean-image guess with the never-regenerated latent pixels shown as they are."""
        kept = (self.strength > 0).to(x0.dtype)
        return kept * x0 + (1.0 - kept) * self.known.to(x0.dtype)
