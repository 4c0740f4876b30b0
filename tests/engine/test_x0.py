"""The x0 guess for solvers that do not return one: the solver's own, and no device readback."""

import pytest
import torch
from diffusers import PNDMScheduler

from studio.engine.schedulers import make_scheduler
from studio.engine.x0 import X0Observer

SCHEDULE = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "steps_offset": 1,
}
SOLVERS = ["DPM++ 2M", "DPM++ 2M Karras", "DPM++ 2M SDE Karras", "UniPC"]


def _observed(name, steps=8, device="cpu", **config):
    scheduler = make_scheduler(name, {**SCHEDULE, **config})
    scheduler.set_timesteps(steps, device=device)
    return scheduler, X0Observer(scheduler)


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("name", SOLVERS)
def test_guess_is_the_clean_latents_the_solver_itself_uses(name, prediction):
    """DPM++ and UniPC keep their data prediction (x0) as the last of `model_outputs`."""
    scheduler, observer = _observed(name, prediction_type=prediction)
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(1, 4, 8, 8, generator=generator) * float(scheduler.init_noise_sigma)
    for t in scheduler.timesteps:
        model_output = torch.randn(sample.shape, generator=generator)
        sample = scheduler.step(model_output, t, sample).prev_sample
        assert torch.allclose(observer.x0, scheduler.model_outputs[-1], rtol=1e-4, atol=1e-4), t


def test_guess_from_the_timestep_matches_ddim_for_a_solver_without_sigmas():
    """PNDM keeps no sigmas: x0 comes from alphas_cumprod at the timestep, as DDIM computes it."""
    scheduler = make_scheduler("DDIM", {**SCHEDULE, "clip_sample": False})
    pndm = PNDMScheduler.from_config(scheduler.config, skip_prk_steps=True)
    pndm.set_timesteps(6)
    scheduler.set_timesteps(6)
    observer = X0Observer(pndm)
    generator = torch.Generator().manual_seed(1)
    sample = torch.randn(1, 4, 8, 8, generator=generator)
    for t in pndm.timesteps:
        model_output = torch.randn(sample.shape, generator=generator)
        expected = scheduler.step(model_output, t, sample).pred_original_sample
        sample = pndm.step(model_output, t, sample).prev_sample
        assert torch.allclose(observer.x0, expected, rtol=1e-4, atol=1e-5), t


@pytest.mark.parametrize("name", ["DPM++ 2M Karras", "UniPC"])
def test_guess_reads_no_number_back_from_the_device(name):
    """Meta tensors hold no data, so any read back (float(timestep), .item(), a blocking copy)
    raises: the guess is made from tensor operations on the device alone, as on a GPU."""
    scheduler, observer = _observed(name, steps=5, device="meta")
    scheduler.set_begin_index(0)
    sample = torch.empty(1, 4, 8, 8, device="meta")
    for t in scheduler.timesteps:
        sample = scheduler.step(torch.empty_like(sample), t, sample).prev_sample
        assert observer.x0.device.type == "meta" and observer.x0.shape == sample.shape
