"""Models from the command line: a damaged or wrongly typed model folder is one line naming
the file, and a picture's recipe cannot make `outpaint` load a folder outside the library."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio import cli
from studio.engine.request import GenerateRequest
from studio.recipe.embed import write_png
from studio.recipe.schema import Recipe

EMBEDDED_NAME = "Studio landscape (embedded)"


def _copy_model(tiny_model: Path, folder: Path) -> Path:
    shutil.copytree(tiny_model, folder)
    return folder


NESTED = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "file, text, words",
    [
        ("studio.json", NESTED, "nested too deeply"),
        ("model_index.json", '{"_class_name": ' + NESTED + "}", "nested too deeply"),
        ("studio.json", '{"defaults": "fast"}', "'defaults' must be an object"),
        ("studio.json", '{"defaults": {"steps": "many"}}', "steps must be a whole number"),
        ("studio.json", '{"defaults": {"steps": 5000}}', "steps must be 1 to 150"),
        ("studio.json", '{"defaults": {"width": 64.5}}', "width must be a whole number"),
        ("studio.json", '{"defaults": {"scheduler": 3}}', "scheduler"),
        ("studio.json", '{"name": ["tiny"]}', "'name' must be text"),
        ("unet/config.json", NESTED, "nested too deeply"),
    ],
)
def test_a_damaged_model_file_is_one_line(tiny_model, tmp_path, capsys, file, text, words):
    model = _copy_model(tiny_model, tmp_path / "model")
    (model / file).write_text(text)
    code = cli.main(["generate", "a lake", "--model", str(model), "--steps", "1", "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == cli.EXIT_ERROR, err
    assert len(lines) == 1 and words in lines[0] and file.split("/")[-1] in lines[0], lines
    assert not (tmp_path / "o.png").exists()


def _picture_naming(model: str, path: Path) -> Path:
    pixels = np.full((64, 64, 3), 90, np.uint8)
    recipe = Recipe(GenerateRequest(prompt="a lake", width=64, height=64, model=model), "made elsewhere")
    return write_png(path, Image.fromarray(pixels), recipe)


def _outpaint(picture: Path, tmp_path: Path, *more: str) -> list[str]:
    return [
        "outpaint",
        str(picture),
        "--bottom",
        "8",
        "--steps",
        "1",
        "--seed",
        "3",
        "--json",
        "--out",
        str(tmp_path / "o.png"),
        "--data-dir",
        str(tmp_path / "data"),
        *more,
    ]


def test_a_recipe_cannot_load_a_folder_outside_the_library(tiny_model, tmp_path, capsys):
    stray = _copy_model(tiny_model, tmp_path / "stray model")
    picture = _picture_naming(str(stray), tmp_path / "in.png")
    code = cli.main(_outpaint(picture, tmp_path))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["model"] == EMBEDDED_NAME
    warning = captured.err.strip()
    assert warning.startswith("studio: warning:") and str(stray) in warning and "embedded" in warning


def test_a_recipe_model_in_the_library_is_used(tiny_model, tmp_path, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "settings.json").write_text(json.dumps({"models": [str(tiny_model)]}))
    picture = _picture_naming(str(tiny_model), tmp_path / "in.png")
    code = cli.main(_outpaint(picture, tmp_path))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["model"] == "tiny test model"
    assert captured.err == ""


def test_a_model_named_on_the_command_line_is_used(tiny_model, tmp_path, capsys):
    stray = _copy_model(tiny_model, tmp_path / "stray model")
    picture = _picture_naming(str(stray), tmp_path / "in.png")
    code = cli.main(_outpaint(picture, tmp_path, "--model", str(stray)))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["model"] == "tiny test model" and captured.err == ""


def test_a_library_model_that_is_gone_falls_back_with_a_warning(tmp_path, capsys):
    gone = str(tmp_path / "gone model")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "settings.json").write_text(json.dumps({"models": [gone]}))
    picture = _picture_naming(gone, tmp_path / "in.png")
    code = cli.main(_outpaint(picture, tmp_path))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["model"] == EMBEDDED_NAME
    assert gone in captured.err and "embedded" in captured.err
