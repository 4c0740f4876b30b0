"""`studio img2img`, `studio upscale` and `studio generate --variation-*` end to end on the
embedded model: sizes, recipes, JSON lines, exit codes and one-line errors."""

import json

import numpy as np
import pytest
from PIL import Image

from studio import cli
from studio.recipe.walker import read_recipe


@pytest.fixture
def picture(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    rng = np.random.default_rng(0)
    pixels = np.clip(np.linspace(40, 210, 53)[:, None, None] + rng.normal(0, 6, (53, 77, 3)), 0, 255)
    path = tmp_path / "in.png"
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path, pixels.astype(np.uint8)


def _one_line_error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_img2img_keeps_an_odd_size_and_records_source_and_strength(picture, tmp_path, capsys):
    path, _ = picture
    out = tmp_path / "out.png"
    args = ["img2img", str(path), "--strength", "0.5", "--steps", "2", "--seed", "5", "--out", str(out)]
    code = cli.main([*args, "--prompt", "a day landscape with green hills", "--json"])
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["width"], record["height"], record["seed"], record["strength"]) == (77, 53, 5, 0.5)
    assert Image.open(out).size == (77, 53)
    recipe = read_recipe(out)
    assert recipe is not None and recipe.kind == "img2img"
    assert recipe.extra["source"] == str(path.resolve()) and recipe.extra["strength"] == 0.5
    assert recipe.request.prompt == "a day landscape with green hills"


def test_upscale_at_strength_zero_only_enlarges(picture, tmp_path, capsys):
    path, pixels = picture
    out = tmp_path / "big.png"
    assert cli.main(["upscale", str(path), "--scale", "2", "--strength", "0", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    expected = Image.fromarray(pixels).resize((154, 106), Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(expected))
    recipe = read_recipe(out)
    assert recipe is not None and recipe.kind == "upscale" and recipe.extra["scale"] == 2.0


def test_upscale_redraws_into_the_gallery(picture, tmp_path, capsys):
    path, _ = picture
    code = cli.main(["upscale", str(path), "--scale", "1.5", "--strength", "0.5", "--steps", "2", "--seed", "1"])
    assert code == 0
    written = capsys.readouterr().out.strip().splitlines()
    assert len(written) == 1 and written[0].startswith(str(tmp_path / "data"))
    assert Image.open(written[0]).size == (116, 80)


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["img2img", "{missing}"], 1, "no such file"),
        (["img2img", "{image}", "--strength", "1.5"], 2, "--strength must be 0 to 1, not 1.5"),
        (["img2img", "{image}", "--count", "12"], 2, "--count must be 1 to 9"),
        (["upscale", "{image}", "--scale", "40"], 2, "the scale must be above 1 and at most 8"),
        (["upscale", "{image}", "--scale", "1"], 2, "the scale must be above 1"),
        (["upscale", "{big}", "--scale", "4"], 2, "scale 4 would make 4400x400, over the engine's maximum"),
        (["upscale", "{image}", "--upscaler", "nothing-here"], 2, "no upscaler 'nothing-here'"),
        (["upscale", "{image}", "--upscaler", "{pickle}"], 2, "only .safetensors upscalers are loaded"),
        (["generate", "hills", "--variation-strength", "2"], 2, "variation strength must be 0 to 1, not 2.0"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(picture, tmp_path, capsys, args, code, message):
    path, _ = picture
    big = tmp_path / "wide.png"
    Image.fromarray(np.zeros((100, 1100, 3), np.uint8)).save(big)
    pickle = tmp_path / "4x.pth"
    pickle.write_bytes(b"not a model")
    names = {"missing": tmp_path / "nope.png", "image": path, "big": big, "pickle": pickle}
    argv = [a.format(**names) for a in args] + ["--out", str(tmp_path / "o.png")]
    assert cli.main(argv) == code
    assert message in _one_line_error(capsys)
    assert not (tmp_path / "o.png").exists()


def test_generate_variations_keep_the_seed_and_step_the_variation_seed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "v"
    args = ["generate", "a day landscape", "--seed", "3", "--count", "2", "--steps", "2", "--out-dir", str(out)]
    code = cli.main([*args, "--variation-seed", "10", "--variation-strength", "0.3"])
    assert code == 0
    files = capsys.readouterr().out.split()
    recipes = [read_recipe(f) for f in files]
    assert [(r.request.seed, r.request.variation_seed, r.request.variation_strength) for r in recipes if r] == [
        (3, 10, 0.3),
        (3, 11, 0.3),
    ]
