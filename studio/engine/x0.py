# pyright: standard
"""The model's guess of the clean latents (x0) at each step, for any scheduler.

Most diffusers schedulers return it from `step` (`pred_original_sample`, or `denoised`
for LCM). For the multistep solvers that don't (DPM++, UniPC), it is computed from the model
output and the noise level of the step just taken, as the solver itself does:
x0 = (x_t - sigma_t * eps) / alpha_t for epsilon prediction.

The computation never reads a number back from the device: a GPU would have to finish all
queued work first, and would then wait idle while Python queued the next step.
"""

from __future__ import annotations

import functools


class X0Observer:
    """Watches a scheduler instance's `step` and keeps the latest x0 guess in `x0`."""

    def __init__(self, scheduler):
        self.x0 = None
        self._scheduler = scheduler
        self._alphas_on_device = None
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
        prediction = self._scheduler.config.get("prediction_type", "epsilon")
        if prediction == "sample":
            return model_output
        alpha, sigma = self._noise_level(timestep, sample.device)
        x, out = sample.float(), model_output.float()
        if prediction == "v_prediction":
            x0 = alpha * x - sigma * out
        else:
            x0 = (x - sigma * out) / alpha
        return x0.to(sample.dtype)

    def _noise_level(self, timestep, device):
        """(alpha_t, sigma_t) of the step just taken, as numbers or 0-d tensors on `device`.

        Solvers that keep `sigmas` (on the CPU, in diffusers) and a step index give the exact
        level they used; others are looked up in `alphas_cumprod` at the timestep, on the
        timestep's own device.
        """
        import torch

        scheduler = self._scheduler
        index = getattr(scheduler, "step_index", None)  # already moved on past the step taken
        sigmas = getattr(scheduler, "sigmas", None)
        if isinstance(index, int) and isinstance(sigmas, torch.Tensor) and 0 < index <= len(sigmas):
            s = sigmas[index - 1]
            s = float(s) if s.device.type == "cpu" else s.to(device, torch.float32)
            if scheduler.config.get("use_flow_sigmas", False):
                return 1 - s, s
            alpha = (1 + s * s) ** -0.5
            return alpha, s * alpha
        alphas = scheduler.alphas_cumprod
        if isinstance(timestep, torch.Tensor) and timestep.device.type != "cpu":
            if self._alphas_on_device is None or self._alphas_on_device.device != timestep.device:
                self._alphas_on_device = alphas.to(timestep.device, torch.float32)  # once per image
            alphas = self._alphas_on_device
            a = alphas[timestep.float().round().long().clamp(0, len(alphas) - 1)].to(device)
            return a.sqrt(), (1 - a).sqrt()
        a = float(alphas[min(max(round(float(timestep)), 0), len(alphas) - 1)])
        return a**0.5, (1 - a) ** 0.5
