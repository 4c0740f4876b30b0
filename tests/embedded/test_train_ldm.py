"""The text encoder + UNet trainer and the exporter, end to end on tiny settings."""

import json

import numpy as np
import pytest
import torch

from studio.embedded.architecture import TEXT_LAYERS
from studio.embedded.export import export
from studio.embedded.splits import is_held_out
from studio.embedded.train_ldm import main
from studio.engine.events import Finished
from studio.engine.request import GenerateRequest
from studio.engine.runner import Engine
from studio.testing.tiny_model import build_tiny_components


@pytest.fixture(scope="module")
def tiny_vae(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vae")
    build_tiny_components(width=128)["vae"].save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def other_vae(tmp_path_factory):
    folder = tmp_path_factory.mktemp("other-vae")
    build_tiny_components(seed=5, width=128)["vae"].save_pretrained(folder, safe_serialization=True)
    return folder


def test_train_resume_export_and_generate(tiny_vae, tmp_path):
    run = tmp_path / "run"
    args = [
        "--vae",
        str(tiny_vae),
        "--out",
        str(run),
        "--scenes",
        "6",
        "--batch",
        "4",
        "--channels",
        "32,64",
        "--log-every",
        "1",
        "--threads",
        "1",
    ]
    main([*args, "--steps", "3"])
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    assert state["step"] == 3
    data = torch.load(run / "latents.pt", weights_only=False)["shapes"]
    assert {shape: len(scenes) for shape, (scenes, _) in data.items()} == {(128, 128): 6, (256, 128): 3, (128, 256): 3}
    assert data[(256, 128)][1].shape[1:] == (4, 16, 32)
    assert not any(is_held_out(scene) for scenes, _ in data.values() for scene in scenes)
    lines = [line for line in (run / "train.log").read_text().splitlines() if line.startswith("step ")]
    assert len(lines) == 3 and all(np.isfinite(float(line.split()[3])) for line in lines)

    main([*args, "--steps", "5", "--resume"])
    assert torch.load(run / "checkpoint.pt", weights_only=False)["step"] == 5
    assert sum(line.startswith("step ") for line in (run / "train.log").read_text().splitlines()) == 5

    folder = export(run, tiny_vae, tmp_path / "model")
    studio = json.loads((folder / "studio.json").read_text())
    assert studio["trained_steps"] == 5 and len(studio["preview"]["factors"]) == 4
    assert studio["defaults"]["width"] == 128
    text_config = json.loads((folder / "text_encoder" / "config.json").read_text())
    assert text_config["num_hidden_layers"] == TEXT_LAYERS == state["config"]["text_layers"]
    engine = Engine(device="cpu")
    model = engine.load(str(folder))
    assert model.pipe.unet.dtype == torch.float32
    assert model.previewer.factors.source == "model folder"
    final = engine.run(
        GenerateRequest(
            prompt="a night landscape with snowy hills",
            steps=2,
            width=128,
            height=128,
            scheduler="DPM++ 2M Karras",
            model=str(folder),
        )
    )
    assert isinstance(final, Finished) and final.results[0].image.size == (128, 128)


def test_tokenizer_covers_every_caption_word_as_one_token(tmp_path):
    from studio.embedded.captions import vocabulary
    from studio.embedded.train_ldm import load_tokenizer

    tokenizer = load_tokenizer(tmp_path / "tok")
    for word in vocabulary():
        for piece in word.replace("-", " - ").split():
            assert len(tokenizer.tokenize(piece)) == 1, piece


def run_args(vae, run, *extra):
    return [
        "--vae",
        str(vae),
        "--out",
        str(run),
        "--scenes",
        "4",
        "--batch",
        "2",
        "--channels",
        "32,64",
        "--text-layers",
        "1",
        "--log-every",
        "1",
        "--threads",
        "1",
        *extra,
    ]


def logged(run, name):
    """The values of `name` (e.g. 'lr') on the step lines of the run's log."""
    lines = [line.split() for line in (run / "train.log").read_text().splitlines() if line.startswith("step ")]
    return [float(words[words.index(name) + 1]) for words in lines]


def test_the_schedule_comes_from_the_config_and_the_checkpoint_keeps_it(tiny_vae, tmp_path):
    run = tmp_path / "run"
    main(run_args(tiny_vae, run, "--steps", "3", "--lr", "1e-3", "--warmup-steps", "1"))
    # One warm-up step to the peak, then a cosine down to a tenth at the run's own last step.
    assert logged(run, "lr") == pytest.approx([1e-3, 0.55e-3, 1e-4], rel=1e-2)
    saved = torch.load(run / "checkpoint.pt", weights_only=False)["config"]
    assert (saved["steps"], saved["warmup_steps"], saved["lr"], saved["channels"]) == (3, 1, 1e-3, (32, 64))

    from dataclasses import replace

    from studio.embedded.train_ldm import Trainer, saved_config

    config = replace(saved_config(run / "checkpoint.pt"), steps=2)
    trainer = Trainer(config, tmp_path / "direct", log=lambda line: None)
    while trainer.step < config.steps:
        trainer.train_step()
    assert trainer.learning_rate() == pytest.approx(1e-4)  # the floor, at the config's steps


def test_the_latents_cache_is_made_again_when_what_made_it_changes(tiny_vae, other_vae, tmp_path):
    run = tmp_path / "run"

    def cache():
        return torch.load(run / "latents.pt", weights_only=False)["shapes"]

    main(run_args(tiny_vae, run, "--steps", "1"))
    first = cache()
    written = (run / "latents.pt").stat().st_mtime_ns
    main(run_args(tiny_vae, run, "--steps", "1"))
    assert (run / "latents.pt").stat().st_mtime_ns == written  # same makers: reused

    main(run_args(tiny_vae, run, "--steps", "1", "--scenes", "2"))
    assert {shape: len(scenes) for shape, (scenes, _) in cache().items()} == {
        (128, 128): 2,
        (256, 128): 1,
        (128, 256): 1,
    }

    main(run_args(other_vae, run, "--steps", "1"))
    other = cache()
    assert [scene for scene in other[(128, 128)][0]] == first[(128, 128)][0]  # the same scenes...
    assert not torch.equal(other[(128, 128)][1], first[(128, 128)][1])  # ...through another autoencoder
    assert any("latents" in line and "autoencoder" in line for line in (run / "train.log").read_text().splitlines())

    main(run_args(tiny_vae, run, "--steps", "1", "--seed", "1"))
    assert cache()[(128, 128)][0] != first[(128, 128)][0]


def test_resume_reads_the_config_back_and_refuses_conflicting_flags(tiny_vae, tmp_path, capsys):
    run = tmp_path / "run"
    main(run_args(tiny_vae, run, "--steps", "2", "--lr", "1e-3"))
    saved = torch.load(run / "checkpoint.pt", weights_only=False)["config"]

    main(["--out", str(run), "--steps", "3", "--resume", "--threads", "1"])  # nothing else given: the saved run
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    assert state["step"] == 3 and state["config"] == {**saved, "steps": 3}
    log = (run / "train.log").read_text().splitlines()
    assert sum("steps" in line and "2 -> 3" in line for line in log) == 1

    main(run_args(tiny_vae, run, "--steps", "4", "--resume", "--lr", "1e-3"))  # given but equal: fine
    assert torch.load(run / "checkpoint.pt", weights_only=False)["step"] == 4

    with pytest.raises(SystemExit) as refused:
        main(["--out", str(run), "--steps", "5", "--resume", "--lr", "2e-3", "--channels", "32,32"])
    message = str(refused.value.code)
    assert "--lr" in message and "--channels" in message and "\n" not in message
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    assert state["step"] == 4 and state["config"]["lr"] == 1e-3


def test_a_missing_autoencoder_is_one_clear_line(tmp_path):
    with pytest.raises(SystemExit) as refused:
        main(run_args(tmp_path / "no-vae", tmp_path / "run", "--steps", "1"))
    assert "no-vae" in str(refused.value.code) and "\n" not in str(refused.value.code)
