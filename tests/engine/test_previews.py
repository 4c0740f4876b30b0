"""Preview factors: published ones, a model's own, or fitted from its autoencoder."""

import json
import shutil

import numpy as np
import torch

from studio.engine.loader import ModelCache
from studio.engine.previews import SD, SDXL, LatentPreviewer, PreviewFactors, calibration_images, fit_preview_factors


def test_published_factors_have_one_row_per_channel():
    assert SD.channels == 4 and SDXL.channels == 4
    assert all(len(row) == 3 for row in SD.factors + SDXL.factors)


def test_previewer_maps_latents_linearly_into_bytes():
    factors = PreviewFactors(((1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 0, 0)), (0.0, 0.0, 0.0))
    latents = torch.zeros(1, 4, 2, 3)
    latents[0, 0] = 1.0  # red channel full
    latents[0, 1] = -1.0  # green channel empty
    rgb = LatentPreviewer(factors).rgb(latents)
    assert rgb.shape == (2, 3, 3)
    assert (rgb[..., 0] == 255).all() and (rgb[..., 1] == 0).all() and (rgb[..., 2] == 127).all()


def _briefly_trained_vae(tiny_model, steps=80):
    """The tiny model's VAE after a few reconstruction steps, so its latents carry colour."""
    import copy

    vae = copy.deepcopy(ModelCache("cpu").get(str(tiny_model)).pipe.vae)
    optimizer = torch.optim.Adam(vae.parameters(), lr=2e-3)
    for step in range(steps):
        images = calibration_images(count=8, size=32, seed=100 + step)
        loss = ((vae(images).sample - images) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return vae.eval()


def test_fitted_factors_beat_published_ones_and_a_flat_colour(tiny_model):
    vae = _briefly_trained_vae(tiny_model)
    fitted = fit_preview_factors(vae, calibration_images(count=8, size=64, seed=1))
    images = calibration_images(count=8, size=64, seed=2)  # judged on images it was not fitted on
    with torch.no_grad():
        latents = vae.encode(images).latent_dist.mean * vae.config.scaling_factor
    target = torch.nn.functional.adaptive_avg_pool2d(images, latents.shape[-2:])

    def error(factors):
        weight = torch.tensor(factors.factors).T
        bias = torch.tensor(factors.bias)
        guess = torch.einsum("bchw,rc->brhw", latents, weight) + bias[None, :, None, None]
        return float(((guess - target) ** 2).mean())

    mean_colour = PreviewFactors(((0.0,) * 3,) * 4, tuple(float(v) for v in target.mean(dim=(0, 2, 3))))
    assert error(fitted) < error(SD)
    assert error(fitted) < error(mean_colour)


def test_model_folder_factors_are_used(tiny_model, tmp_path):
    folder = tmp_path / "own"
    shutil.copytree(tiny_model, folder)
    studio = json.loads((folder / "studio.json").read_text())
    own = [[0.1, 0.2, 0.3], [0.0, 0.5, 0.0], [0.3, 0.0, 0.1], [-0.2, 0.1, 0.0]]
    studio["preview"] = {"factors": own, "bias": [0.01, 0.02, 0.03]}
    (folder / "studio.json").write_text(json.dumps(studio))
    previewer = ModelCache("cpu").get(str(folder)).previewer
    assert np.allclose(np.array(previewer.factors.factors), own)
    assert previewer.factors.source == "model folder"


def test_unknown_family_without_factors_gets_fitted_ones(tiny_model):
    previewer = ModelCache("cpu").get(str(tiny_model)).previewer
    assert previewer.factors.source == "fitted at load"
