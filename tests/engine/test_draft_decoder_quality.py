"""Draft quality as a request field: checked, kept in the recipe (Studio JSON and AUTOMATIC1111 text), asked for on the command line."""

import pytest

from studio import cli
from studio.engine import draft_decoders
from studio.engine.draft_decoder_training import TrainingPlan
from studio.engine.request import GenerateRequest
from studio.errors import RequestError
from studio.recipe import a1111, studio_json
from studio.recipe.schema import Recipe
from studio.recipe.walker import read_recipe


def test_quality_is_full_or_draft():
    assert GenerateRequest().quality == "full"
    assert GenerateRequest(quality="draft").quality == "draft"
    with pytest.raises(RequestError, match="quality must be one of full, draft"):
        GenerateRequest(quality="fast")


@pytest.mark.parametrize("quality", ["full", "draft"])
def test_quality_round_trips_through_the_studio_recipe(quality):
    recipe = Recipe(GenerateRequest(prompt="hills", quality=quality), model_name="m")
    assert studio_json.decode(studio_json.encode(recipe)).request.quality == quality
    assert studio_json.read(studio_json.encode(recipe)).quality == quality


def test_a_draft_picture_says_so_in_the_automatic1111_text():
    draft = Recipe(GenerateRequest(prompt="hills", quality="draft"), model_name="m")
    text = a1111.recipe_text(draft)
    assert "Quality: draft" in text
    assert a1111.read(text).quality == "draft"
    full = a1111.recipe_text(Recipe(GenerateRequest(prompt="hills"), model_name="m"))
    assert "Quality" not in full and a1111.read(full).quality == ""
    assert "Quality: draft" in a1111.found_text(a1111.read(text).replace(parameters=""))


def test_generate_quality_draft_on_the_command_line(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setattr(
        draft_decoders, "DEFAULT_PLAN", TrainingPlan(pairs=16, held_out=4, tile=4, steps=20, width=16, generated=1)
    )
    out = tmp_path / "draft.png"
    args = ["generate", "hills", "--model", str(tiny_model), "--steps", "2", "--seed", "1", "--out", str(out)]
    assert cli.main([*args, "--quality", "draft", "--data-dir", str(tmp_path / "data")]) == 0
    assert read_recipe(out).request.quality == "draft"
    assert len(list((tmp_path / "data" / "cache" / "draft-decoders").glob("*.safetensors"))) == 1
    full = tmp_path / "full.png"
    assert cli.main([*args[:-1], str(full), "--data-dir", str(tmp_path / "data")]) == 0
    assert read_recipe(full).request.quality == "full"
    draft_decoders.use_draft_training(None)
