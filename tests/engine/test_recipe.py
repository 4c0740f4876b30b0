"""Recipes travel inside PNGs twice (A1111 text and Studio JSON), and PNGs are written atomically."""

import os
import subprocess
import sys
import textwrap

import pytest
from PIL import Image

from studio.engine.request import GenerateRequest
from studio.errors import WriteError
from studio.recipe import a1111
from studio.recipe.a1111 import parse, recipe_text
from studio.recipe.dialects import runnable
from studio.recipe.embed import write_png
from studio.recipe.schema import Recipe
from studio.recipe.walker import read_recipe
from studio.testing.gallery_samples import save_png_with_texts


def _recipe(**changes):
    request = GenerateRequest(
        prompt="a night landscape, snowy hills: the moon",
        negative_prompt="blurry, low quality",
        seed=1234,
        steps=17,
        guidance_scale=6.5,
        width=256,
        height=128,
        scheduler="DPM++ 2M Karras",
        model="/models/my model",
    ).replace(**changes)
    return Recipe(request=request, model_name="my model")


def test_parameters_text_is_automatic1111_style():
    text = recipe_text(_recipe())
    lines = text.split("\n")
    assert lines[0] == "a night landscape, snowy hills: the moon"
    assert lines[1] == "Negative prompt: blurry, low quality"
    assert lines[2].startswith(
        "Steps: 17, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234, Size: 256x128, Model: my model"
    )


def test_parameters_parse_back_into_request():
    recipe = _recipe()
    request = runnable(a1111.read(recipe_text(recipe))).request
    assert request.replace(model=recipe.request.model) == recipe.request


def test_parse_handles_quoted_values_and_multiline_prompts():
    text = 'line one\nline two\nNegative prompt: bad\nSteps: 5, Sampler: Euler a, CFG scale: 3, Seed: 9, Size: 64x64, Model: "a, b"'
    parsed = parse(text)
    assert parsed["prompt"] == "line one\nline two"
    assert parsed["negative_prompt"] == "bad"
    assert parsed["settings"]["Model"] == "a, b"
    assert parsed["settings"]["Sampler"] == "Euler a"


def test_png_round_trip_through_both_chunks(tmp_path):
    recipe = _recipe()
    path = write_png(tmp_path / "out.png", Image.new("RGB", (256, 128), (10, 20, 30)), recipe)
    assert read_recipe(path) == recipe
    with Image.open(path) as image:
        assert "Steps: 17" in image.text["parameters"]
        only_text = save_png_with_texts(
            tmp_path / "text.png", {"parameters": image.text["parameters"]}, size=(256, 128)
        )
    from_text = read_recipe(only_text)
    assert from_text.request.replace(model=recipe.request.model) == recipe.request
    assert from_text.model_name == "my model"


def test_image_without_recipe_reads_as_none(tmp_path):
    path = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(path)
    assert read_recipe(path) is None


def test_unicode_prompt_survives(tmp_path):
    recipe = _recipe(prompt="un paysage enneigé, 雪山")
    path = write_png(tmp_path / "u.png", Image.new("RGB", (8, 8)), recipe)
    assert read_recipe(path).request.prompt == "un paysage enneigé, 雪山"


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    """A write that runs out of room (file size limit) keeps the earlier file whole."""
    target = tmp_path / "image.png"
    write_png(target, Image.new("RGB", (8, 8), (1, 2, 3)), _recipe())
    before = target.read_bytes()
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        import numpy as np
        from PIL import Image
        from studio.engine.request import GenerateRequest
        from studio.errors import WriteError
        from studio.recipe.embed import write_png
        from studio.recipe.schema import Recipe
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        noise = np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
        try:
            write_png({str(target)!r}, Image.fromarray(noise), Recipe(GenerateRequest(), "m"))
        except WriteError as exc:
            print("WriteError:", exc)
            sys.exit(3)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 3, result.stderr
    assert "cannot write" in result.stdout
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["image.png"]


def test_write_into_unwritable_place_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WriteError, match="cannot write"):
        write_png(blocker / "sub" / "a.png", Image.new("RGB", (8, 8)), _recipe())


def test_the_text_gives_the_picture_its_own_size_when_the_model_worked_on_a_padded_one(tmp_path):
    """An outpaint or img2img of a 165x77 picture runs the model at 168x80 and crops back: the
    file's AUTOMATIC1111 text says the size the picture has."""
    path = write_png(tmp_path / "odd.png", Image.new("RGB", (165, 77), "navy"), _recipe(width=168, height=80))
    text = Image.open(path).text["parameters"]
    assert "Size: 165x77" in text
