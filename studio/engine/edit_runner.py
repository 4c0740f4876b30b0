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

An edit goes through the windows of `edit.plan_passes`: the picture around the new area
first, then (only when that window had to be scaled down) the new area's own window at full
scale, re-noised partly from the first pass's result. An outpaint's prompt leaves out the
clauses the model's studio.json names under "outpaint" / "leave_out" (`edit.new_area_prompt`),
and is guided at most its "outpaint" / "guidance" (so the picture, not the prompt, leads).
A canvas whose sides are no multiples of 8 is padded (`edit.pad_canvas`) and every result
cropped back to it.

Events are the same as `Engine.run`'s, the steps of every pass counted in one run per
candidate; previews are `EditPreview`s; every result is the whole canvas.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from studio.engine.derived_pipes import derived_pipe
from studio.engine.edit import (
    REFINE_STRENGTH,
    EditRequest,
    EditWindow,
    native_side,
    new_area_prompt,
    pad_canvas,
    plan_passes,
)
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
from studio.engine.image_request import denoise_steps
from studio.engine.loader import LoadedModel
from studio.engine.loras import LoraUse, activate_for_prompts, lora_hashes
from studio.engine.prompts import PromptInput, prepare_prompts
from studio.engine.runner import CancelFlag, EventHandler, _Stop, run_job, to_uint8
from studio.engine.schedulers import make_scheduler
from studio.engine.tiling import model_native, vae_tiles
from studio.engine.x0 import X0Observer
from studio.errors import ModelError, StudioError
from studio.recipe.schema import Recipe

INPAINT_CHANNELS = 9
# Colours are matched over the pixels within this many band widths of the masked area.
MATCH_REACH = 2
PASS_SEED = 7919  # a later pass draws its noise from the candidate's seed plus this, times its number


@dataclass
class _Pass:
    """One window an edit goes through, and what every candidate shares in it."""

    window: EditWindow
    alpha: np.ndarray  # generation strength over the context crop, canvas scale
    original: np.ndarray  # the context crop as it was
    cells: np.ndarray  # generation strength per latent pixel
    match_area: np.ndarray  # where the result should look like the old picture
    strength: float  # how far the new area is re-noised in this pass
    filled: np.ndarray | None  # the first pass's start (new area pre-filled), at model size

    def schedule(self, steps: int) -> tuple[int, int]:
        """(the schedule's length, the steps run on it) for this pass: diffusers' img2img rule,
        lengthened where a low strength and few steps would leave no step at all."""
        return denoise_steps(steps, self.strength)

    def steps(self, steps: int) -> int:
        """How many steps the inpaint pipeline runs for this pass."""
        return self.schedule(steps)[1]


@dataclass
class _Job:
    """What every candidate of one edit job shares."""

    image: np.ndarray  # the canvas the model works on (padded to multiples of 8)
    passes: tuple[_Pass, ...]
    size: tuple[int, int]  # (width, height) of the canvas asked for, which every result has
    inpainting_model: bool
    guidance_scale: float  # the request's, or at most the model's outpaint guidance


def run_edit(
    engine, request: EditRequest, on_event: EventHandler | None, cancel: CancelFlag, previews: bool
) -> FinalEvent:
    job_steps = request.steps

    def make_images(emit, cancelled, add) -> tuple[str, ...]:
        model = engine.models.get(request.model)
        inpainting = _check_model(model)
        job = _prepare(request, model, inpainting)
        pipe = derived_pipe(model, "Inpainting", "inpainting")
        if cancelled():
            raise _Stop(0, 0)
        loras = activate_for_prompts(model, request.prompt, request.negative_prompt)
        notes = ensure_embeddings(model, [request.prompt, request.negative_prompt])
        prompt = _model_prompt(model, request)
        prompt, negative = spelled(model, prompt), spelled(model, request.negative_prompt)
        prompts = prepare_prompts(pipe, prompt, negative, model.device)
        for index in range(request.count):
            add(_candidate(model, pipe, request, job, index, prompts, emit, cancelled, previews, loras))
        return notes + prompts.warnings

    try:  # Started says how many steps a candidate takes in all its passes
        job_steps = planned_steps(request)
    except StudioError:  # the job itself reports what is wrong
        pass
    return run_job(request, on_event, cancel, make_images, total_steps=job_steps)


def planned_steps(request: EditRequest) -> int:
    """The steps one candidate takes in all its passes (the model is found, not loaded)."""
    from studio.engine.models import resolve_model

    native = native_side(resolve_model(request.model).defaults)
    passes = plan_passes(pad_canvas(request.image, request.mask)[1], native)
    strengths = [request.strength] + [min(request.strength, REFINE_STRENGTH)] * (len(passes) - 1)
    return sum(denoise_steps(request.steps, s)[1] for s in strengths)


def _outpaint_settings(model: LoadedModel) -> dict:
    """The model's studio.json "outpaint" settings ({} when it has none)."""
    settings = model.info.studio.get("outpaint") if isinstance(model.info.studio, dict) else None
    return settings if isinstance(settings, dict) else {}


def _guidance(model: LoadedModel, request: EditRequest) -> float:
    """The guidance scale the new area is made with: an outpaint's is at most the model's
    studio.json "outpaint" / "guidance". Guided strongly, a strip draws the prompt's scene
    anew (a patch of sky and a lake below the ground); guided weakly, the picture around it
    leads and the strip continues it."""
    most = _outpaint_settings(model).get("guidance") if request.kind == "outpaint" else None
    if isinstance(most, bool) or not isinstance(most, (int, float)) or most <= 0:
        return request.guidance_scale
    return min(request.guidance_scale, float(most))


def _model_prompt(model: LoadedModel, request: EditRequest) -> str:
    """The prompt the new area is made with: an outpaint's without the clauses naming things
    the picture holds in one place (the model's studio.json, "outpaint" / "leave_out")."""
    if request.kind != "outpaint":
        return request.prompt
    words = _outpaint_settings(model).get("leave_out")
    if not isinstance(words, list):
        return request.prompt
    return new_area_prompt(request.prompt, [w for w in words if isinstance(w, str)])


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


def _prepare(request: EditRequest, model: LoadedModel, inpainting: bool) -> _Job:
    image, mask = pad_canvas(np.asarray(request.image), np.asarray(request.mask))
    factor = model.pipe.vae_scale_factor
    windows = plan_passes(mask, native_side(model.info.defaults))
    passes = []
    for number, window in enumerate(windows):
        crop = window.context.slices
        original = np.asarray(image[crop])
        local = np.asarray(mask[crop])
        alpha = generation_strength(local, window.band)
        core = local == 255
        filled = None
        if number == 0:
            if window.scale < 1:  # fill at the model's scale: the cost stays that of a native-size picture
                shrunk, known = shrink_known(original, ~core, window.model_size)
                filled = prefill(shrunk, ~known, request.fill, request.seed)
            else:
                filled = prefill(original, core, request.fill, request.seed)
        reach = max(window.band, 1) * MATCH_REACH
        match_area = ~core & (distance_to(local > 0, reach) <= reach)
        cells = latent_strength(alpha, window.model_size, factor)
        strength = request.strength if number == 0 else min(request.strength, REFINE_STRENGTH)
        passes.append(_Pass(window, alpha, original, cells, match_area, strength, filled))
    return _Job(image, tuple(passes), (request.width, request.height), inpainting, _guidance(model, request))


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
    from PIL import Image

    own = request.generate.single(index)
    began = time.perf_counter()
    canvas = job.image
    done = 0
    for number, step in enumerate(job.passes):
        later = sum(p.steps(request.steps) for p in job.passes[number + 1 :])
        canvas, ran = _run_pass(
            model,
            pipe,
            request,
            step,
            canvas,
            own.seed + number * PASS_SEED,
            index,
            prompts,
            emit,
            cancelled,
            previews,
            done,
            later,
            began,
            job.size,
            job.inpainting_model,
            job.guidance_scale,
        )
        done += ran
    width, height = job.size
    canvas = np.ascontiguousarray(canvas[:height, :width])
    extra = {**request.recipe_extra(), "window": job.passes[-1].window.to_dict()}
    if len(job.passes) > 1:
        extra["passes"] = [p.window.to_dict() for p in job.passes]
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


def _run_pass(
    model: LoadedModel,
    pipe,
    request: EditRequest,
    step: _Pass,
    canvas: np.ndarray,
    seed: int,
    index: int,
    prompts: PromptInput,
    emit: EventHandler,
    cancelled: Callable[[], bool],
    previews: bool,
    done: int,
    later: int,
    began: float,
    size: tuple[int, int],
    inpainting: bool,
    guidance_scale: float,
) -> tuple[np.ndarray, int]:
    """One pass of one candidate over `canvas`: the canvas with its window remade, and the
    number of steps it ran. Steps are numbered on from `done`, out of all passes' steps."""
    import torch
    from PIL import Image

    window = step.window
    if step.filled is not None:
        filled = step.filled
    else:  # a later pass starts from the canvas as the pass before left it
        filled = resize_rgb(np.ascontiguousarray(canvas[window.context.slices]), window.model_size)
    scheduler = make_scheduler(request.scheduler, model.scheduler_config)
    observer = X0Observer(scheduler)
    pipe.scheduler = scheduler
    generator = torch.Generator("cpu").manual_seed(seed)
    model_width, model_height = window.model_size
    native = model_native(model)
    with vae_tiles(pipe.vae, model_width, model_height, native):  # the window above native size: in tiles
        blend = None if inpainting else _LatentBlend(pipe, filled, step.cells, seed)
    width, height = size
    base = np.ascontiguousarray(canvas[:height, :width])
    ran = 0
    last = time.perf_counter()

    def on_step_end(pipeline, i, timestep, tensors):
        nonlocal last, ran
        latents = tensors["latents"]
        total = pipeline.num_timesteps
        if blend is not None:
            latents = blend(latents, i, total)
        ran = i + 1
        now = time.perf_counter()
        emit(Step(index, done + i + 1, done + total + later, now - last, now - began))
        if previews and observer.x0 is not None:
            x0 = observer.x0
            if blend is not None:
                x0 = blend.hold_known(x0)
            emit(
                EditPreview(
                    index,
                    done + i + 1,
                    done + total + later,
                    model.previewer.rgb(x0),
                    x0[0].float().cpu().numpy(),
                    window=window,
                    base=base,
                    alpha=step.alpha,
                )
            )
        if cancelled():
            raise _Stop(index, done + i + 1)
        last = time.perf_counter()
        return {"latents": latents}

    with vae_tiles(pipe.vae, model_width, model_height, native):
        output = pipe(
            **prompts.kwargs,
            image=Image.fromarray(filled),
            mask_image=Image.fromarray(_cell_mask(step.cells, pipe.vae_scale_factor)),
            strength=step.strength,
            num_inference_steps=step.schedule(request.steps)[0],
            guidance_scale=guidance_scale,
            width=model_width,
            height=model_height,
            generator=generator,
            callback_on_step_end=on_step_end,
            callback_on_step_end_tensor_inputs=["latents"],
            output_type="np",
        )
    made = to_uint8(output.images[0])
    made = resize_rgb(made, (window.context.width, window.context.height)).astype(np.float32)
    made = match_colours(made, step.original, step.match_area)
    return paste(canvas, window, made, step.alpha), ran


def _cell_mask(cells: np.ndarray, factor: int) -> np.ndarray:
    """The pipeline's own (binary) mask: every latent pixel that is generated at all, as
    whole factor x factor blocks, so its latent-size copy matches `cells` exactly."""
    generated = (cells > 0).astype(np.uint8) * 255
    return np.repeat(np.repeat(generated, factor, axis=0), factor, axis=1)


class _LatentBlend:
    """Holds each latent pixel to the known picture (re-noised to the coming step's level)
    until its share of the steps begins: a pixel of strength s is free for the last s of them."""

    def __init__(self, pipe, filled: np.ndarray, cells: np.ndarray, seed: int):
        import torch

        unet = pipe.unet
        device, dtype = unet.device, unet.dtype
        vae = pipe.vae
        pixels = torch.from_numpy(np.array(filled)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
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
        self.strength = torch.from_numpy(cells)[None, None].to(device, dtype)
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
