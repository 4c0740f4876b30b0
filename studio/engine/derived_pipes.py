# pyright: standard
"""The img2img and inpaint pipelines, made from the loaded model's own components (diffusers'
`from_pipe`, SD and SDXL alike), so nothing is loaded twice."""

from __future__ import annotations

import weakref

from studio.engine.loader import LoadedModel
from studio.errors import ModelError

_pipes: dict[str, weakref.WeakKeyDictionary] = {}


def derived_pipe(model: LoadedModel, task: str, what: str):
    """diffusers' AutoPipelineFor<task> ("Image2Image", "Inpainting") sharing `model`'s components,
    made once per model and anew when another VAE was chosen; `what` names it in the error."""
    cache = _pipes.setdefault(task, weakref.WeakKeyDictionary())
    pipe = cache.get(model.pipe)
    if pipe is None or pipe.vae is not model.pipe.vae:
        from diffusers.pipelines import auto_pipeline

        try:
            pipe = getattr(auto_pipeline, f"AutoPipelineFor{task}").from_pipe(model.pipe)
        except ValueError as exc:
            raise ModelError(f"{model.info.ref} has no {what} pipeline in diffusers: {exc}") from None
        pipe.set_progress_bar_config(disable=True)
        cache[model.pipe] = pipe
    return pipe
