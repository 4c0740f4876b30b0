"""The model's guess of the clean latents (x0) at each step, for any scheduler.

Most diffusers schedulers return it from `step` (`pred_original_sample`, or `denoised`
for LCM). For the multistep solvers that don't, it is computed from the model output and
the noise schedule: x0 = (x_t - sqrt(1 - a_t) * eps) / sqrt(a_t) for epsilon prediction.
"""

from __future__ import annotations

import functools


class X0Observer:
    """Watches a scheduler instance's `step` and keeps the latest x0 guess in `x0`."""

    def __init__(self, scheduler):
        self.x0 = None
        self._scheduler = scheduler
        step = scheduler.step

        # Pipelines read step's signature to decide whether to pass `generator` and `eta`,
        # so the observed step must show the original signature.
        @functools.wraps(step)
        def observed_step(model_output, timestep, sample, *args, return_dict: bool = True, **kwargs):
            output = step(model_output, timestep, sample, *args, return_dict=True, **kwargs)
            self._observe(output, model_output, timestep, sample)
            return output if return_dict else output.to_tuple()

        scheduler.step = observed_step

    def _observe(self, output, model_output, timestep, sample) -> None:
        x0 = getattr(output, "pred_original_sample", None)
        if x0 is None:
            x0 = getattr(output, "denoised", None)
        if x0 is None:
            x0 = self._estimate(model_output, timestep, sample)
        self.x0 = x0

    def _estimate(self, model_output, timestep, sample):
        import torch

        config = self._scheduler.config
        alphas = self._scheduler.alphas_cumprod
        t = int(round(float(timestep)))
        t = min(max(t, 0), len(alphas) - 1)
        a = alphas[t].to(sample.device, torch.float32)
        x, out = sample.float(), model_output.float()
        prediction = config.get("prediction_type", "epsilon")
        if prediction == "v_prediction":
            x0 = a.sqrt() * x - (1 - a).sqrt() * out
        elif prediction == "sample":
            x0 = out
        else:
            x0 = (x - (1 - a).sqrt() * out) / a.sqrt()
        return x0.to(sample.dtype)
