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


def test_train_resume_export_and_generate(tiny_vae, tmp_path):
    run = tmp_path / "run"
    args = ["--vae", str(tiny_vae), "--out", str(run), "--scenes", "6", "--batch", "4", "--channels", "32,64",
            "--log-every", "1", "--threads", "1"]
    main(args + ["--steps", "3"])
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    assert state["step"] == 3
    data = torch.load(run / "latents.pt", weights_only=False)
    assert {shape: len(scenes) for shape, (scenes, _) in data.items()} == {(128, 128): 6, (256, 128): 3, (128, 256): 3}
    assert data[(256, 128)][1].shape[1:] == (4, 16, 32)
    assert not any(is_held_out(scene) for scenes, _ in data.values() for scene in scenes)
    lines = (run / "train.log").read_text().splitlines()
    assert len(lines) == 3 and all(np.isfinite(float(line.split()[3])) for line in lines)

    main(args + ["--steps", "5", "--resume"])
    assert torch.load(run / "checkpoint.pt", weights_only=False)["step"] == 5
    assert len((run / "train.log").read_text().splitlines()) == 5

    folder = export(run, tiny_vae, tmp_path / "model")
    studio = json.loads((folder / "studio.json").read_text())
    assert studio["trained_steps"] == 5 and len(studio["preview"]["factors"]) == 4
    assert studio["defaults"]["width"] == 128
    text_config = json.loads((folder / "text_encoder" / "config.json").read_text())
    assert text_config["num_hidden_layers"] == TEXT_LAYERS == json.loads((run / "config.json").read_text())["text_layers"]
    engine = Engine(device="cpu")
    model = engine.load(str(folder))
    assert model.pipe.unet.dtype == torch.float32
    assert model.previewer.factors.source == "model folder"
    final = engine.run(GenerateRequest(prompt="a night landscape with snowy hills", steps=2, width=128, height=128,
                                       scheduler="DPM++ 2M Karras", model=str(folder)))
    assert isinstance(final, Finished) and final.results[0].image.size == (128, 128)


def test_tokenizer_covers_every_caption_word_as_one_token(tmp_path):
    from studio.embedded.captions import vocabulary
    from studio.embedded.train_ldm import load_tokenizer

    tokenizer = load_tokenizer(tmp_path / "tok")
    for word in vocabulary():
        for piece in word.replace("-", " - ").split():
            assert len(tokenizer.tokenize(piece)) == 1, piece
