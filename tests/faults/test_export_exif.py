"""Exported JPEG and WebP files carry the recipe as AUTOMATIC1111 writes it, checked with
readers other tools use: sd-parsers reads the recipe from PNG, JPEG and WebP, and piexif (what
AUTOMATIC1111 and sd-prompt-reader read EXIF with) finds a UserComment of type UNDEFINED."""

from __future__ import annotations

import numpy as np
import piexif
import piexif.helper
import pytest
from PIL import Image
from sd_parsers import ParserManager

from studio.engine.request import GenerateRequest
from studio.gallery.export import export_image
from studio.recipe.embed import write_png
from studio.recipe.schema import Recipe

PROMPT = "a lake at dawn, hills: green — «ünïcödé» 山"


@pytest.fixture
def made(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    request = GenerateRequest(
        prompt=PROMPT,
        negative_prompt="fog, dark",
        seed=1234,
        steps=7,
        guidance_scale=6.5,
        scheduler="Euler a",
        width=96,
        height=64,
    )
    return write_png(tmp_path / "made.png", Image.fromarray(pixels), Recipe(request, "tiny model"))


@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
def test_user_comment_is_undefined_and_piexif_reads_it(made, tmp_path, suffix):
    target = export_image(made, tmp_path / f"out{suffix}")
    raw = Image.open(target).info["exif"]
    exif = piexif.load(raw if raw.startswith(b"Exif") else b"Exif\0\0" + raw)
    value = exif["Exif"][piexif.ExifIFD.UserComment]
    assert isinstance(value, bytes), f"UserComment came back as {type(value).__name__}: written with the wrong type"
    text = piexif.helper.UserComment.load(value)
    assert text.splitlines()[0] == PROMPT and "Seed: 1234" in text


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_sd_parsers_reads_every_export(made, tmp_path, suffix):
    target = export_image(made, tmp_path / f"out{suffix}")
    info = ParserManager().parse(target)
    assert info is not None, f"sd-parsers found no recipe in the {suffix} export"
    sampler = info.samplers[0]
    assert [p.value for p in sampler.prompts] == [PROMPT]
    assert [p.value for p in sampler.negative_prompts] == ["fog, dark"]
    assert sampler.name == "Euler a"
    assert sampler.parameters["seed"] == "1234" and sampler.parameters["steps"] == "7"
    assert sampler.parameters["cfg_scale"] == "6.5"
    assert sampler.model.name == "tiny model"


def _sideways_jpeg(path):
    """Stored 64 wide x 128 high, EXIF orientation 6: shown 128 wide x 64 high, red on the right."""
    stored = np.zeros((128, 64, 3), np.uint8)
    stored[:64] = (200, 40, 40)
    stored[64:] = (40, 40, 200)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(path, quality=95, exif=exif.tobytes())
    return path


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_an_export_is_upright(tmp_path, suffix):
    source = _sideways_jpeg(tmp_path / "side.jpg")
    target = export_image(source, tmp_path / f"out{suffix}")
    with Image.open(target) as exported:
        from PIL import ImageOps

        shown = np.asarray(ImageOps.exif_transpose(exported).convert("RGB")).astype(int)
    assert shown.shape == (64, 128, 3)
    assert np.abs(shown[8:56, 8:56] - (40, 40, 200)).max() < 16
    assert np.abs(shown[8:56, 72:120] - (200, 40, 40)).max() < 16


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".png"])
def test_16_bit_grey_exports_as_grey(tmp_path, suffix):
    source = tmp_path / "grey16.png"
    Image.fromarray(np.full((64, 64), 30000, np.uint16)).save(source)
    target = export_image(source, tmp_path / f"out{suffix}")
    shown = np.asarray(Image.open(target).convert("RGB")).astype(int)
    assert np.abs(shown - round(30000 / 257)).max() <= 2


def test_export_onto_a_fifo_is_refused(made, tmp_path):
    import os
    import stat

    from studio.gallery.export import ExportError

    os.mkfifo(tmp_path / "out.jpg")
    with pytest.raises(ExportError, match="not a regular file"):
        export_image(made, tmp_path / "out.jpg")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "out.jpg").st_mode)
