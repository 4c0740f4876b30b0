"""The shipped embedded model: a standard diffusers folder that loads offline, small enough
to ship, the default of the engine and the CLI, and drawing what clear prompts ask for."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from studio.embedded.captions import caption
from studio.embedded.scene import Scene, all_scenes
from studio.embedded.splits import is_held_out
from studio.engine.events import Finished
from studio.engine.models import EMBEDDED_PATH, resolve_model
from studio.recipe.walker import read_recipe

COMPONENTS = ("unet", "vae", "text_encoder")
MAX_BYTES = 25 * 1024 * 1024

# Clear prompts (seeded by their position): every time and ground, in pairs the model trains
# on; a caption names every attribute, so the judge checks all but the exact tree count.
CLEAR = [
    Scene("day", "green", body="left", mountains=True, lake=False, trees=0),
    Scene("night", "snowy", body="right", mountains=False, lake=True, trees=0),
    Scene("sunset", "desert", body=None, mountains=True, lake=False, trees=2),
    Scene("day", "desert", body="right", mountains=False, lake=True, trees=0),
    Scene("night", "green", body="left", mountains=True, lake=True, trees=1),
    Scene("sunset", "autumn", body="left", mountains=False, lake=False, trees=3),
]


@pytest.fixture(scope="module")
def judge():
    from studio.embedded.judge import Judge

    return Judge.load()


def test_folder_is_a_standard_safetensors_model_under_25_mb():
    index = json.loads((EMBEDDED_PATH / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    for component in COMPONENTS:
        assert (EMBEDDED_PATH / component / "config.json").is_file()
        assert list((EMBEDDED_PATH / component).glob("*.safetensors")), component
    assert not list(EMBEDDED_PATH.rglob("*.bin"))
    total = sum(p.stat().st_size for p in EMBEDDED_PATH.rglob("*") if p.is_file())
    assert total <= MAX_BYTES, f"{total / 1e6:.1f} MB"
    vae = json.loads((EMBEDDED_PATH / "vae" / "config.json").read_text())
    assert vae["latent_channels"] == 4 and len(vae["block_out_channels"]) == 4  # 8x downsampling


def test_tokenizer_never_cuts_a_caption_of_the_grammar():
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(EMBEDDED_PATH / "tokenizer")
    longest = max((caption(scene) for scene in all_scenes()), key=lambda text: len(tokenizer(text).input_ids))
    used = len(tokenizer(longest).input_ids)
    assert used <= tokenizer.model_max_length - 4, (longest, used, tokenizer.model_max_length)
    words = tokenizer(longest).input_ids[1:-1]  # CLIP's unknown token is also its end token
    assert tokenizer.unk_token_id not in words


def test_plain_diffusers_loads_and_runs_it_offline():
    import torch
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(EMBEDDED_PATH, local_files_only=True)
    image = pipe(
        "a night landscape with snowy hills",
        num_inference_steps=2,
        height=128,
        width=128,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
    ).images[0]
    assert image.shape == (128, 128, 3) and np.isfinite(image).all()


def test_studio_knows_its_name_defaults_and_preview_factors():
    info = resolve_model("embedded")
    assert info.name == "Studio landscape (embedded)"
    assert (info.defaults.width, info.defaults.height) == (128, 128)
    assert 1 <= info.defaults.steps <= 30
    studio = json.loads((EMBEDDED_PATH / "studio.json").read_text())
    factors = np.array(studio["preview"]["factors"])
    assert factors.shape == (4, 3) and np.abs(factors).sum() > 0


@pytest.mark.parametrize("index", range(len(CLEAR)))
def test_generation_follows_a_clear_prompt(engine, judge, index):
    scene = CLEAR[index]
    assert not is_held_out(scene)
    request = resolve_model("embedded").defaults.request("embedded", prompt=caption(scene), seed=index)
    final = engine.run(request, previews=False)
    assert isinstance(final, Finished)
    read = judge.read([final.results[0].image])[0]
    for name in ("time", "ground", "body", "mountains", "lake"):
        assert read[name] == getattr(scene, name), f"{request.prompt!r}: {name} read as {read[name]!r}"


def test_cli_without_model_uses_the_embedded_model(tmp_path):
    out = tmp_path / "picture.png"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "studio.cli",
            "generate",
            "a day landscape with green hills, a lake",
            "--steps",
            "3",
            "--seed",
            "1",
            "--out",
            str(out),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (128, 128)
    recipe = read_recipe(out)
    assert recipe.request.model == "embedded"
    assert "Model: Studio landscape (embedded)" in Image.open(out).text["parameters"]
