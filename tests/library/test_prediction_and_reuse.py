"""--prediction is saved per model in the library; a recipe finds its model by hash when the name changed."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from studio.cli import main
from studio.engine.models import resolve_model, use_model_finder
from studio.engine.request import GenerateRequest
from studio.library.catalog import Library
from studio.recipe.embed import write_png
from studio.recipe.schema import Recipe
from studio.recipe.walker import read_recipe
from studio.testing.ldm_layout import save_original_checkpoint
from studio.testing.tiny_model import build_tiny_sd2_components, make_tiny_model, save_tiny_model


@pytest.fixture(scope="module")
def sd2_file(tmp_path_factory):
    """A tiny SD 2.x single file whose metadata says v-prediction, and its config folder."""
    root = tmp_path_factory.mktemp("sd2")
    components = build_tiny_sd2_components(seed=21)
    folder = save_tiny_model(components, root / "folder")
    shutil.copytree(folder, root / "configs" / "sd2", ignore=shutil.ignore_patterns("*.safetensors", "studio.json"))
    file = save_original_checkpoint(
        components, root / "m.safetensors", "sd2", metadata={"modelspec.prediction_type": "v"}
    )
    return file, root / "configs"


@pytest.fixture(autouse=True)
def no_finder_left():
    yield
    use_model_finder(None)


def test_prediction_is_saved_for_the_model_and_used_after(sd2_file, tmp_path, monkeypatch):
    file, configs = sd2_file
    monkeypatch.setenv("STUDIO_MODEL_CONFIGS", str(configs))
    data = tmp_path / "data"
    args = ["generate", "a lake", "--model", str(file), "--steps", "1", "--width", "64", "--height", "64"]
    assert main([*args, "--prediction", "epsilon", "--out", str(tmp_path / "a.png"), "--data-dir", str(data)]) == 0
    library = Library(data)
    settings = library.finder(str(file))
    assert settings is not None and settings.prediction == "epsilon"
    use_model_finder(library.finder)
    assert resolve_model(str(file)).scheduler_overrides["prediction_type"] == "epsilon"
    assert main([*args, "--prediction", "auto", "--out", str(tmp_path / "b.png"), "--data-dir", str(data)]) == 0
    assert resolve_model(str(file)).scheduler_overrides["prediction_type"] == "v_prediction"


def test_outpaint_finds_the_recipes_model_by_hash_under_its_new_name(tmp_path, capsys):
    data = tmp_path / "data"
    library = Library(data)
    entry = library.add(make_tiny_model(tmp_path / "tiny"))
    sha = library.hash_now(entry)
    picture = tmp_path / "old.png"
    recipe = Recipe(GenerateRequest(prompt="a lake", width=64, height=64), "a name it had once", model_hash=sha[:10])
    write_png(picture, Image.fromarray(np.full((64, 64, 3), 120, np.uint8)), recipe)
    out_file = str(tmp_path / "wide.png")
    status = main(
        [
            "outpaint",
            str(picture),
            "--right",
            "16",
            "--steps",
            "2",
            "--out",
            out_file,
            "--json",
            "--data-dir",
            str(data),
        ]
    )
    out = capsys.readouterr()
    assert status == 0, out.err
    assert "not in Studio's model list" not in out.err
    assert json.loads(out.out.splitlines()[-1])["model"] == "tiny test model"  # the library model's own name
    made = read_recipe(tmp_path / "wide.png")
    assert made is not None and made.model_hash == sha[:10]


def test_a_changed_prediction_reaches_the_loaded_model_without_a_reload(sd2_file, tmp_path, monkeypatch):
    from studio.engine.runner import Engine

    file, configs = sd2_file
    monkeypatch.setenv("STUDIO_MODEL_CONFIGS", str(configs))
    library = Library(tmp_path / "data")
    use_model_finder(library.finder)
    engine = Engine(device="cpu")
    first = engine.load(str(file))
    assert first.scheduler_config["prediction_type"] == "v_prediction"
    library.set_prediction(str(file), "epsilon")
    again = engine.load(str(file))
    assert again is first and again.pipe is first.pipe
    assert again.scheduler_config["prediction_type"] == "epsilon"
    assert again.info.scheduler_overrides["prediction_type"] == "epsilon"
