"""The model's short hash travels with every image: written as AUTOMATIC1111 writes it, read back from any of them."""

from __future__ import annotations

import numpy as np
from PIL import Image
from sd_parsers import ParserManager

from studio.engine.request import GenerateRequest
from studio.recipe import a1111, studio_json
from studio.recipe.dialects import runnable
from studio.recipe.embed import write_png
from studio.recipe.schema import Recipe
from studio.recipe.walker import inspect_file

REQUEST = GenerateRequest(prompt="a lake", seed=5, steps=4, width=64, height=64, scheduler="Euler")


def test_the_parameters_text_has_the_hash_where_automatic1111_puts_it():
    text = a1111.recipe_text(Recipe(REQUEST, "dreamshaper_8", model_hash="879db523c3"))
    assert "Size: 64x64, Model hash: 879db523c3, Model: dreamshaper_8," in text
    assert "Model hash" not in a1111.recipe_text(Recipe(REQUEST, "dreamshaper_8"))


def test_a_file_keeps_the_hash_for_studio_and_for_sd_parsers(tmp_path):
    recipe = Recipe(REQUEST, "dreamshaper_8", model_hash="879db523c3")
    path = write_png(tmp_path / "a.png", Image.fromarray(np.zeros((64, 64, 3), np.uint8)), recipe)
    found = inspect_file(path).recipe  # pyright: ignore[reportAttributeAccessIssue]
    assert found is not None and found.model_hash == "879db523c3"
    reused = runnable(found)
    assert reused is not None and (reused.model_name, reused.model_hash) == ("dreamshaper_8", "879db523c3")
    info = ParserManager().parse(path)
    assert info is not None and info.samplers[0].model is not None
    assert info.samplers[0].model.hash == "879db523c3"


def test_an_automatic1111_text_gives_its_hash_and_junk_is_unknown():
    text = "a castle\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model hash: 6CE0161689, Model: v1-5"
    assert a1111.read(text).model_hash == "6ce0161689"
    assert a1111.read(text.replace("6CE0161689", "not-a-hash")).model_hash == ""


def test_studio_json_round_trips_the_hash():
    recipe = Recipe(REQUEST, "m", model_hash="0123456789")
    assert studio_json.decode(studio_json.encode(recipe)).model_hash == "0123456789"
    assert studio_json.read(studio_json.encode(recipe)).model_hash == "0123456789"


def test_lora_and_vae_hashes_are_written_and_read_as_automatic1111_does():
    recipe = Recipe(
        REQUEST,
        "m",
        lora_hashes=(("watercolor", "a1b2c3d4e5f6"), ("ink", "00ff00ff00ff")),
        vae="sdxl_vae",
        vae_hash="235745af8d",
    )
    text = a1111.recipe_text(recipe)
    assert 'Lora hashes: "watercolor: a1b2c3d4e5f6, ink: 00ff00ff00ff"' in text
    assert "VAE hash: 235745af8d, VAE: sdxl_vae" in text
    found = a1111.read(text)
    assert found.lora_hashes == recipe.lora_hashes and (found.vae, found.vae_hash) == ("sdxl_vae", "235745af8d")
    back = studio_json.decode(studio_json.encode(recipe))
    assert (back.lora_hashes, back.vae, back.vae_hash) == (recipe.lora_hashes, "sdxl_vae", "235745af8d")
    assert a1111.read(text.replace("a1b2c3d4e5f6", "zz")).lora_hashes[0] == ("watercolor", "")
