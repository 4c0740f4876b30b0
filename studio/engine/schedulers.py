# pyright: standard
"""The sampler names people know, mapped onto diffusers schedulers.

Each job gets its own scheduler instance built from the model's scheduler config, so
jobs never share step state. Only `make_scheduler` imports diffusers.
"""

from __future__ import annotations

from typing import Any

# name -> (diffusers class, settings that define the sampler, over the model's own config)
_SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "Euler": ("EulerDiscreteScheduler", {"use_karras_sigmas": False}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "DDIM": ("DDIMScheduler", {}),
    "DPM++ 2M": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": False},
    ),
    "DPM++ 2M Karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "DPM++ 2M SDE Karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "UniPC": ("UniPCMultistepScheduler", {"use_karras_sigmas": False}),
    "LCM": ("LCMScheduler", {}),
}

SCHEDULER_NAMES: tuple[str, ...] = tuple(_SAMPLERS)

# Settings that only make sense for the scheduler a model was saved with.
_NOT_CARRIED_OVER = ("_class_name", "_diffusers_version")


def make_scheduler(name: str, model_config: dict[str, Any]):
    """A fresh diffusers scheduler for sampler `name`, on the model's noise schedule."""
    import diffusers

    class_name, settings = _SAMPLERS[name]
    config = {k: v for k, v in dict(model_config).items() if k not in _NOT_CARRIED_OVER}
    config.update(settings)
    return getattr(diffusers, class_name).from_config(config)
