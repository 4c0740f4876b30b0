"""The plain diffusers call that a request stands for, to compare the engine against."""

from __future__ import annotations


def plain_pipeline_call(model, request, **kwargs):
    """Run `model.pipe(...)` directly for `request` (first image), with a fresh scheduler."""
    import torch

    from studio.engine.schedulers import make_scheduler

    pipe = model.pipe
    pipe.scheduler = make_scheduler(request.scheduler, model.scheduler_config)
    return pipe(
        request.prompt,
        negative_prompt=request.negative_prompt,
        num_inference_steps=request.steps,
        guidance_scale=request.guidance_scale,
        width=request.width,
        height=request.height,
        generator=torch.Generator("cpu").manual_seed(request.seed),
        **kwargs,
    )
