"""`studio outpaint IMAGE` with pictures that are hostile, odd or not files at all: one line and
no hang for what cannot be used; 16-bit greyscale and rotated pictures come out as they look."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from studio import cli

BAND = 8  # the tiny model's blend band: pixels farther than this from the new area are kept exactly


def _studio(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "studio.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "STUDIO_NO_PROGRESS": "1"},
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header says width x height (greyscale): a decompression bomb's start."""
    rows = zlib.compress(b"\0" * (width + 1) * 4)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + _chunk(b"IDAT", rows)
        + _chunk(b"IEND", b"")
    )


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_fifo_as_image_is_refused_without_hanging(tiny_model, tmp_path):
    os.mkfifo(tmp_path / "in.png")
    result = _studio(
        "outpaint", tmp_path / "in.png", "--right", 8, "--model", tiny_model, "--out", tmp_path / "o.png", timeout=60
    )
    assert result.returncode == cli.EXIT_ERROR
    assert "not a regular file" in _one_error_line(result.stderr)


def test_a_fifo_as_prompts_file_is_refused_without_hanging(tiny_model, tmp_path):
    os.mkfifo(tmp_path / "prompts.txt")
    result = _studio(
        "generate",
        "--prompts-file",
        tmp_path / "prompts.txt",
        "--model",
        tiny_model,
        "--out-dir",
        tmp_path / "out",
        timeout=60,
    )
    assert result.returncode == cli.EXIT_ERROR
    assert "not a regular file" in _one_error_line(result.stderr)


def test_a_folder_as_image_is_refused(tiny_model, tmp_path, capsys):
    code = cli.main(
        ["outpaint", str(tmp_path), "--right", "8", "--model", str(tiny_model), "--out", str(tmp_path / "o.png")]
    )
    assert code == cli.EXIT_ERROR
    assert "is a folder" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("size", [(20000, 20000), (9000, 9000), (4096, 4096)])
def test_pictures_too_large_are_refused_before_decoding(tiny_model, tmp_path, size):
    (tmp_path / "big.png").write_bytes(_png_claiming(*size))
    result = _studio("outpaint", tmp_path / "big.png", "--right", 8, "--model", tiny_model, "--out", tmp_path / "o.png")
    assert result.returncode == cli.EXIT_ERROR
    line = _one_error_line(result.stderr)
    assert f"{size[0]}x{size[1]}" in line and "big.png" in line
    assert not (tmp_path / "o.png").exists()


def _with_text(path: Path, kind: str) -> np.ndarray:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    info = PngImagePlugin.PngInfo()
    big = "a" * (2 * 1024 * 1024)
    if kind == "zTXt":
        info.add_text("comment", big, zip=True)
    else:
        info.add_itxt("comment", big, zip=True)
    info.add_text(
        "parameters", "a red house\nNegative prompt: fog\nSteps: 3, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 64x64"
    )
    Image.fromarray(pixels).save(path, pnginfo=info)
    return pixels


@pytest.mark.parametrize("kind", ["zTXt", "iTXt"])
def test_an_oversized_compressed_text_chunk_is_skipped(tiny_model, tmp_path, kind):
    pixels = _with_text(tmp_path / "in.png", kind)
    result = _studio(
        "outpaint",
        tmp_path / "in.png",
        "--right",
        8,
        "--model",
        tiny_model,
        "--steps",
        1,
        "--seed",
        2,
        "--out",
        tmp_path / "o.png",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "'comment'" in result.stderr  # a warning names the skipped chunk
    record = json.loads(result.stdout)
    assert record["prompt"] == "a red house" and record["negative_prompt"] == "fog"
    out = np.asarray(Image.open(tmp_path / "o.png").convert("RGB"))
    assert np.array_equal(out[:, : 64 - BAND], pixels[:, : 64 - BAND])


@pytest.mark.parametrize("left", [10**12, 2**40 + 8, 8_000_000])
def test_a_huge_extension_is_refused_in_one_line(tiny_model, tmp_path, capsys, left):
    source = tmp_path / "in.png"
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(source)
    code = cli.main(
        ["outpaint", str(source), "--left", str(left), "--model", str(tiny_model), "--out", str(tmp_path / "o.png")]
    )
    assert code == cli.EXIT_USAGE
    assert "over the engine's maximum" in _one_error_line(capsys.readouterr().err)


def _peak_memory_of_refusal(tiny_model, tmp_path: Path, left: int) -> int:
    """The peak resident memory (kB, VmHWM: this process's own, not inherited across exec like
    ru_maxrss) of a process that runs `studio outpaint --left LEFT` and is refused."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc/self/status")
    source = tmp_path / "in.png"
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(source)
    script = (
        "import re\n"
        "from studio.cli import main\n"
        f"code = main(['outpaint', {str(source)!r}, '--left', '{left}', '--model', {str(tiny_model)!r}, "
        f"'--out', {str(tmp_path / 'o.png')!r}])\n"
        "peak = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print(code, peak)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    code, peak = result.stdout.split()
    assert int(code) == cli.EXIT_USAGE, result.stderr
    return int(peak)


def test_a_huge_extension_is_refused_before_any_large_allocation(tiny_model, tmp_path):
    # 8,000,000 px on the left of a 64 px high picture is a 1.5 GB canvas and a 0.5 GB mask.
    small = _peak_memory_of_refusal(tiny_model, tmp_path, 4096)
    huge = _peak_memory_of_refusal(tiny_model, tmp_path, 8_000_000)
    assert huge - small < 100 * 1024, (small, huge)


def test_16_bit_greyscale_keeps_its_grey(tiny_model, tmp_path, capsys):
    source = tmp_path / "grey16.png"
    levels = np.linspace(2000, 60000, 64).astype(np.uint16)[None, :].repeat(64, axis=0)
    Image.fromarray(levels).save(source)
    assert Image.open(source).mode.startswith("I")
    code = cli.main(
        [
            "outpaint",
            str(source),
            "--right",
            "8",
            "--model",
            str(tiny_model),
            "--steps",
            "1",
            "--out",
            str(tmp_path / "o.png"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    out = np.asarray(Image.open(tmp_path / "o.png").convert("RGB")).astype(int)
    expected = np.round(levels.astype(float) / 257).astype(int)
    kept = slice(0, 64 - BAND)
    for channel in range(3):
        assert np.abs(out[:, kept, channel] - expected[:, kept]).max() <= 1


def _sideways(path: Path, fmt: str) -> np.ndarray:
    """A picture stored 64 wide x 128 high with EXIF orientation 6 (shown turned 90 degrees
    clockwise: 128 wide x 64 high); returns the pixels as they are shown."""
    stored = np.zeros((128, 64, 3), np.uint8)
    stored[:64] = (200, 40, 40)  # top half red: shown as the right half
    stored[64:] = (40, 40, 200)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(path, format=fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))
    return np.rot90(stored, k=-1)


@pytest.mark.parametrize("fmt, suffix", [("JPEG", ".jpg"), ("PNG", ".png")])
def test_exif_orientation_is_honoured(tiny_model, tmp_path, capsys, fmt, suffix):
    shown = _sideways(tmp_path / f"side{suffix}", fmt)
    assert shown.shape == (64, 128, 3)
    code = cli.main(
        [
            "outpaint",
            str(tmp_path / f"side{suffix}"),
            "--bottom",
            "8",
            "--model",
            str(tiny_model),
            "--steps",
            "1",
            "--out",
            str(tmp_path / "o.png"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    out = np.asarray(Image.open(tmp_path / "o.png").convert("RGB")).astype(int)
    assert out.shape == (72, 128, 3)
    assert np.abs(out[: 64 - BAND, 8:56] - (40, 40, 200)).max() < 12  # left half blue
    assert np.abs(out[: 64 - BAND, 72:120] - (200, 40, 40)).max() < 12  # right half red


def _valid_files() -> dict[str, bytes]:
    import io

    from studio.engine.request import GenerateRequest
    from studio.recipe.embed import png_bytes
    from studio.recipe.schema import Recipe

    image = Image.fromarray(np.random.default_rng(2).integers(0, 256, (16, 24, 3), dtype=np.uint8))
    files = {"png": png_bytes(image, Recipe(GenerateRequest(prompt="a lake"), "tiny"))}
    for fmt in ("JPEG", "WEBP"):
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        files[fmt.lower()] = buffer.getvalue()
    return files


VALID = _valid_files()


def test_damaged_files_give_a_picture_or_one_clear_error(tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from studio.gallery.pictures import PictureError, open_picture

    path = tmp_path / "fuzz"

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        kind=st.sampled_from(sorted(VALID)),
        cuts=st.lists(st.tuples(st.integers(0, 10**6), st.binary(max_size=8)), max_size=4),
        length=st.integers(0, 10**6),
    )
    def check(kind, cuts, length):
        data = bytearray(VALID[kind])
        for where, junk in cuts:
            where %= len(data) + 1
            data[where : where + len(junk)] = junk
        if length % 3 == 0:  # a third of the files are also cut short
            del data[length % (len(data) + 1) :]
        path.write_bytes(bytes(data))
        try:
            picture = open_picture(path)
        except PictureError as exc:
            message = str(exc)
            assert message.startswith(("cannot read image", "cannot use image")) and "\n" not in message
            return
        pixels = picture.pixels()
        assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
        assert pixels.shape[:2] == (picture.image.height, picture.image.width)

    check()


def _damaged_pixels_png() -> bytes:
    """A PNG whose chunks are whole but whose compressed picture data is broken."""
    data = bytearray(VALID["png"])
    start = data.index(b"IDAT") + 4
    data[start + 2 : start + 10] = b"\0" * 8
    return bytes(data)


def _jpeg_with_damaged_exif() -> bytes:
    """A 64x64 JPEG whose EXIF block has no valid TIFF header."""
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 120, 150)).save(buffer, format="JPEG")
    exif = b"Exif\0\0XXXX"
    segment = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    return buffer.getvalue()[:2] + segment + buffer.getvalue()[2:]


@pytest.mark.parametrize("kind", ["damaged pixels", "damaged EXIF"])
def test_damage_found_while_reading_prints_no_traceback(tiny_model, tmp_path, kind):
    """What a damaged file makes the readers catch goes to the log, never to stderr as a traceback."""
    source = tmp_path / ("in.png" if kind == "damaged pixels" else "in.jpg")
    source.write_bytes(_damaged_pixels_png() if kind == "damaged pixels" else _jpeg_with_damaged_exif())
    result = _studio(
        "outpaint",
        source,
        "--left",
        "8",
        "--steps",
        "1",
        "--model",
        tiny_model,
        "--out",
        tmp_path / "out.png",
        "--data-dir",
        tmp_path / "data",
    )
    assert "Traceback" not in result.stderr, result.stderr
    if kind == "damaged pixels":
        assert "it is damaged" in _one_error_line(result.stderr)
    else:
        assert result.returncode == 0, result.stderr
