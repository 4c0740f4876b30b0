"""The draft decoder: distilled from a model's VAE, cached by the VAE's hash, used for draft pictures and previews."""

import logging

import numpy as np
import pytest
import torch

from studio.engine.draft_decoder import build_network, parameter_count
from studio.engine.draft_decoder_training import TrainingPlan, distil, make_pairs, psnr
from studio.engine.draft_decoders import draft_for, use_draft_training
from studio.engine.loader import ModelCache
from studio.engine.previews import LatentPreviewer
from studio.engine.request import GenerateRequest
from studio.engine.runner import Engine

# Tiny on purpose: 64-pixel tiles of the embedded model's VAE, a few hundred steps on the CPU.
PLAN = TrainingPlan(pairs=40, held_out=8, tile=8, steps=150, batch=8, width=32, blocks=1, generated=2)
FLOOR_DB = 20.0  # what the fitted decoder reaches against the full decode, and an unfitted one does not


@pytest.fixture(scope="module")
def models():
    return ModelCache("cpu")


@pytest.fixture(scope="module")
def embedded(models):
    return models.get("embedded")


@pytest.fixture
def fresh(embedded, tmp_path):
    """The embedded model with no draft decoder yet, caching into a fresh folder (no background)."""
    embedded.previewer = LatentPreviewer(embedded.previewer.factors)
    use_draft_training(tmp_path / "drafts", background=False, plan=PLAN)
    yield embedded
    training = embedded.previewer.draft.training
    if training is not None:
        training.cancel()
        training.wait(60)
    use_draft_training(None)
    embedded.previewer = LatentPreviewer(embedded.previewer.factors)


@pytest.fixture(scope="module")
def distilled(embedded):
    torch.manual_seed(0)
    return distil(embedded.pipe.vae, "test", PLAN)


def test_the_network_is_small_and_draws_eight_times_the_latent_size():
    network = build_network(4)
    assert parameter_count(network) < 1_000_000
    assert network(torch.zeros(1, 4, 5, 7)).shape == (1, 3, 40, 56)


def test_distillation_reaches_a_psnr_an_unfitted_decoder_does_not(embedded, distilled):
    latents, decodes = make_pairs(embedded.pipe.vae, TrainingPlan(pairs=8, tile=8, seed=99))  # pairs never trained on
    fitted = psnr(distilled.decode(latents), decodes)
    torch.manual_seed(0)
    with torch.no_grad():
        unfitted = psnr(build_network(4, PLAN.width, PLAN.blocks)(latents).clamp(-1, 1), decodes)
    assert fitted >= FLOOR_DB > unfitted
    assert distilled.psnr >= FLOOR_DB  # as measured on its own held-out pairs


def test_a_draft_decoder_is_cached_and_read_back_without_training(fresh, tmp_path):
    first, notes = draft_for(fresh, "draft")
    assert first is not None and notes == ()
    assert fresh.previewer.draft.training.trained
    assert len(list((tmp_path / "drafts").glob("*.safetensors"))) == 1

    fresh.previewer = LatentPreviewer(fresh.previewer.factors)  # as after loading the model again
    second, _ = draft_for(fresh, "draft")
    assert second is not None and not fresh.previewer.draft.training.trained
    for (name, a), b in zip(first.network.state_dict().items(), second.network.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_damaged_cache_file_is_fitted_again_with_a_log_line(fresh, tmp_path, caplog):
    draft_for(fresh, "draft")
    [cached] = (tmp_path / "drafts").glob("*.safetensors")
    cached.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    fresh.previewer = LatentPreviewer(fresh.previewer.factors)
    with caplog.at_level(logging.WARNING, logger="studio.engine.draft_decoders"):
        decoder, _ = draft_for(fresh, "draft")
    assert decoder is not None and fresh.previewer.draft.training.trained
    assert any("damaged" in r.getMessage() for r in caplog.records)
    assert cached.read_bytes()[:8] != b"\x10\x00\x00\x00\x00\x00\x00\x00"  # written anew


def _request(**changes):
    values = dict(prompt="a day landscape with green hills, a lake", seed=3, steps=4, width=128, height=128)
    return GenerateRequest(**{**values, **changes})


def _pixels(final):
    [result] = final.results
    return result, np.asarray(result.image, dtype=np.float32) / 127.5 - 1


def test_a_draft_request_is_drawn_by_the_draft_decoder(fresh, models):
    engine = Engine(models=models)
    full_result, full = _pixels(engine.run(_request()))
    events = []
    draft_result, draft = _pixels(engine.run(_request(quality="draft"), events.append))
    assert draft.shape == full.shape == (128, 128, 3)
    assert not np.array_equal(draft, full)
    assert psnr(torch.from_numpy(draft), torch.from_numpy(full)) >= FLOOR_DB - 3  # the same picture, drawn cheaply
    assert draft_result.recipe.request.quality == "draft" and full_result.recipe.request.quality == "full"
    previews = [e for e in events if type(e).__name__ == "Preview"]
    assert previews and previews[-1].rgb.shape == (128, 128, 3)  # full-size previews once it is ready


def test_in_the_window_a_draft_asked_before_the_decoder_is_ready_is_decoded_in_full(fresh, models, tmp_path):
    use_draft_training(tmp_path / "background", background=True, plan=TrainingPlan(pairs=40, steps=100_000))
    engine = Engine(models=models)
    events = []
    final = engine.run(_request(quality="draft"), events.append)
    result, _ = _pixels(final)
    assert result.recipe.request.quality == "full"
    assert any("draft decoder" in w and "full quality" in w for w in final.warnings)
    assert fresh.previewer.draft.training.state in ("waiting", "training")
    previews = [e for e in events if type(e).__name__ == "Preview"]
    assert previews[-1].rgb.shape == (16, 16, 3)  # linear previews meanwhile
    training = fresh.previewer.draft.training
    use_draft_training(None)  # as the window does when it closes
    assert training.wait(120) and training.state == "cancelled"
    assert fresh.previewer.draft.decoder is None


def test_in_the_window_a_cached_decoder_draws_from_the_first_job(fresh, models, tmp_path):
    draft_for(fresh, "draft")  # fitted and cached (as on an earlier run)
    fresh.previewer = LatentPreviewer(fresh.previewer.factors)  # the model loaded again
    use_draft_training(tmp_path / "drafts", background=True, plan=PLAN)
    final = Engine(models=models).run(_request(quality="draft"))
    result, _ = _pixels(final)
    assert result.recipe.request.quality == "draft" and not final.warnings
    assert fresh.previewer.draft.training._thread is None  # read in the job's thread, nothing fitted
