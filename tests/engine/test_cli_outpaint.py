"""`studio outpaint` end to end: sizes, kept pixels, JSON lines, the prompt from the recipe, errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio import cli
from studio.cli_outpaint import output_paths
from studio.engine.request import GenerateRequest
from studio.recipe.embed import write_png
from studio.recipe.schema import Recipe
from studio.recipe.walker import read_recipe

BAND = 8  # the tiny model's blend band


@pytest.fixture
def source(tmp_path, tmp_path_factory, tiny_model, monkeypatch):
    """A 64 x 64 PNG with a recipe, as Studio writes them, made with a model in Studio's model list."""
    data = tmp_path_factory.mktemp("data")
    (data / "settings.json").write_text(json.dumps({"models": [str(tiny_model)]}))
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data))
    rng = np.random.default_rng(0)
    pixels = np.clip(np.linspace(30, 220, 64)[:, None, None] + rng.normal(0, 8, (64, 64, 3)), 0, 255).astype(np.uint8)
    recipe = Recipe(
        GenerateRequest(prompt="a blue lake", negative_prompt="dark", width=64, height=64, model=str(tiny_model)),
        "tiny",
    )
    path = write_png(tmp_path / "lake.png", Image.fromarray(pixels), recipe)
    return path, pixels


def _studio(*args):
    return subprocess.run(
        [sys.executable, "-m", "studio.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=300,
    )


def test_json_candidates_with_the_prompt_from_the_recipe(source, tmp_path):
    path, pixels = source
    out = tmp_path / "wide.png"
    result = _studio(
        "outpaint",
        path,
        "--right",
        32,
        "--left",
        8,
        "--seed",
        4,
        "--candidates",
        2,
        "--steps",
        3,
        "--out",
        out,
        "--json",
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["seed"] for r in records] == [4, 5]
    assert [os.path.basename(r["path"]) for r in records] == ["wide-1.png", "wide-2.png"]
    for record in records:
        assert (record["width"], record["height"]) == (104, 64)
        assert record["elapsed_s"] > 0 and record["prompt"] == "a blue lake"
        image = np.asarray(Image.open(record["path"]).convert("RGB"))
        assert image.shape == (64, 104, 3)
        assert np.array_equal(image[:, 8 + BAND : 72 - BAND], pixels[:, BAND : 64 - BAND])
        recipe = read_recipe(record["path"])
        assert recipe.kind == "outpaint" and recipe.request.seed == record["seed"]
        assert recipe.request.negative_prompt == "dark" and recipe.request.steps == 3
        assert recipe.extra["extend"] == {"left": 8, "top": 0, "right": 32, "bottom": 0}
        assert recipe.extra["source"] == str(path.resolve())


def test_one_candidate_goes_to_the_file_named(source, tmp_path, capsys):
    path, _ = source
    out = tmp_path / "tall.png"
    code = cli.main(
        ["outpaint", str(path), "--bottom", "16", "--prompt", "a green hill", "--steps", "2", "--out", str(out)]
    )
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out)
    recipe = read_recipe(out)
    assert recipe.request.prompt == "a green hill" and Image.open(out).size == (64, 80)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake.png", "tall.png"]


def test_output_names():
    assert output_paths("out/x.png", 1) == [Path("out/x.png")]
    assert [p.name for p in output_paths("out/x.png", 3)] == ["x-1.png", "x-2.png", "x-3.png"]
    assert [p.name for p in output_paths("y", 2)] == ["y-1.png", "y-2.png"]


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "nothing to outpaint: give --left, --top, --right or --bottom"),
        (["--right", "4096"], "over the engine's maximum"),
        (["--top", "-8"], "must not be negative"),
        (["--right", "8", "--candidates", "12"], "batch count must be 1 to 9"),
        (["--right", "8", "--strength", "0"], "strength must be above 0"),
    ],
)
def test_errors_are_one_line(source, tmp_path, capsys, args, message):
    path, _ = source
    code = cli.main(["outpaint", str(path), *args, "--out", str(tmp_path / "o.png")])
    assert code != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("make, message", [(None, "no such file"), ("text", "not an image file")])
def test_unreadable_images(tmp_path, capsys, tiny_model, make, message):
    target = tmp_path / "in.png"
    if make:
        target.write_text("hello")
    code = cli.main(
        ["outpaint", str(target), "--right", "8", "--model", str(tiny_model), "--out", str(tmp_path / "o.png")]
    )
    assert code != 0
    assert message in capsys.readouterr().err


def test_image_without_recipe_outpaints_unprompted(tmp_path, tiny_model, capsys):
    plain = tmp_path / "plain.png"
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(plain)
    code = cli.main(
        [
            "outpaint",
            str(plain),
            "--top",
            "8",
            "--model",
            str(tiny_model),
            "--steps",
            "2",
            "--out",
            str(tmp_path / "o.png"),
            "--json",
        ]
    )
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert record["prompt"] == "" and (record["width"], record["height"]) == (64, 72)
