"""The autoencoder's training loop learns, checkpoints resume exactly, and exports load back
in diffusers format; all on a tiny model so that it runs in seconds."""

import json

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL

from studio.embedded import train_vae
from studio.embedded.train_vae import TrainConfig, Trainer
from studio.embedded.vae import fresh_renders, reconstruct, to_images, to_tensor

# Two levels (2x downsampling) instead of four: the loop is the same and learns faster.
TINY = TrainConfig(
    steps=40,
    lr=1e-2,
    warmup_steps=5,
    channels=(16, 16),
    norm_groups=4,
    crop=32,
    crops_per_batch=4,
    batch_kinds=(("crops", 1.0),),
    log_every=10,
)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_loss_decreases(tmp_path):
    fixed = to_tensor([image[:32, :32] for image in fresh_renders(8, 128, 128, seed=5)])
    trainer = Trainer(TINY, tmp_path, log=lambda line: None)
    before = (reconstruct(trainer.vae, fixed) - fixed).pow(2).mean()
    losses = [terms["total"] for terms in trainer.train()]
    after = (reconstruct(trainer.vae, fixed) - fixed).pow(2).mean()
    assert len(losses) == TINY.steps and trainer.step == TINY.steps
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    assert after < 0.7 * before


def test_checkpoint_resumes_to_the_same_step_and_state(tmp_path):
    first = Trainer(TINY, tmp_path, log=lambda line: None)
    first.train(until_step=6)  # saves a checkpoint at the end
    resumed = Trainer(TINY, tmp_path, log=lambda line: None)
    resumed.load_checkpoint()
    assert resumed.step == 6
    for name, tensor in first.vae.state_dict().items():
        assert torch.equal(tensor, resumed.vae.state_dict()[name]), name
    # Same weights, optimizer moments and random state: the next step is identical.
    assert first.train_step()["total"] == pytest.approx(resumed.train_step()["total"], rel=1e-6)


def test_command_line_trains_resumes_and_exports(tmp_path, capsys):
    out, exported = tmp_path / "run", tmp_path / "vae"
    train_vae.main(["--out", str(out), "--steps", "2", "--channels", "8,8,8,8"])
    train_vae.main(["--out", str(out), "--steps", "3", "--resume", "--export", str(exported)])
    log = (out / "train.log").read_text()
    assert "resumed at step 2" in log and "exported step 3" in log
    config = json.loads((exported / "config.json").read_text())
    assert config["block_out_channels"] == [8, 8, 8, 8] and config["scaling_factor"] > 0
    vae = AutoencoderKL.from_pretrained(exported)
    with torch.inference_mode():
        latents = vae.encode(to_tensor(np.zeros((1, 64, 128, 3), np.uint8))).latent_dist.mode()
    assert latents.shape == (1, 4, 8, 16)


def test_image_tensor_round_trip():
    images = np.random.default_rng(0).integers(0, 256, size=(2, 16, 24, 3), dtype=np.uint8)
    batch = to_tensor(images)
    assert batch.shape == (2, 3, 16, 24) and batch.min() >= -1 and batch.max() <= 1
    assert (to_images(batch) == images).all()
