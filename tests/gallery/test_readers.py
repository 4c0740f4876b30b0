"""Recipe readers: every dialect reads back, exports round-trip, and no bytes make a reader raise."""

from __future__ import annotations

import io
import json
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from studio.gallery.export import encode, export_image
from studio.gallery.readers import (
    USER_COMMENT_TAG,
    ImageInfo,
    Unreadable,
    decode_user_comment,
    MAX_IMAGE_PIXELS,
    encode_user_comment,
    inspect_bytes,
    inspect_file,
    read_image,
)
from studio.engine.recipe import split_settings
from studio.engine.schedulers import SCHEDULER_NAMES
from studio.gallery.dialects import DIALECTS, parse_a1111, recipe_fields
from studio.testing.gallery_samples import A1111_TEXT, picture, png_chunk, raw_png, write_examples

EXPECTED = {
    "studio": ("studio", "a red house by the lake", "blurry", 42, 12, 6.5, "Euler a", "tiny", (64, 72)),
    "a1111": ("a1111", "a castle on a hill, sunset, (masterpiece:1.2)", "lowres, bad anatomy", 1234567, 28, 7.0, "DPM++ 2M Karras", "dreamshaper_8", (512, 768)),
    "comfyui": ("comfyui", "beautiful scenery nature glass bottle landscape", "text, watermark", 987654321, 20, 8.0, "Euler a", "v1-5-pruned-emaonly.safetensors", (512, 512)),
    "comfy_workflow": ("comfyui", "a fox in the snow", "blurry", 156680208700286, 20, 8.0, "DPM++ 2M Karras", "sd_xl_base_1.0.safetensors", (1024, 1024)),
    "invokeai": ("invokeai", "an astronaut riding a horse", "ugly", 3141592, 30, 7.5, "DPM++ 2M Karras", "stable-diffusion-v1-5", (768, 512)),
    "fooocus": ("fooocus", "a cat wearing a hat", "", 1234, 30, 4.0, "DPM++ 2M SDE Karras", "juggernautXL_v8Rundiffusion", (1152, 896)),
    "jpeg": ("a1111", "a castle on a hill, sunset, (masterpiece:1.2)", "lowres, bad anatomy", 1234567, 28, 7.0, "DPM++ 2M Karras", "dreamshaper_8", (512, 768)),
    "webp": ("studio", "a red house by the lake", "blurry", 42, 12, 6.5, "Euler a", "tiny", (64, 72)),
}


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    return write_examples(tmp_path_factory.mktemp("examples"))


def _fields(info: ImageInfo):
    return (info.source, info.prompt, info.negative_prompt, info.seed, info.steps, info.cfg, info.sampler, info.model,
            (info.recipe_width, info.recipe_height))


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_dialect_reads_back(examples, kind):
    info = inspect_file(examples[kind])
    assert isinstance(info, ImageInfo), info
    assert _fields(info) == EXPECTED[kind]
    assert (info.width, info.height) == (64, 72)
    assert info.format == {"jpeg": "JPEG", "webp": "WEBP"}.get(kind, "PNG")


def test_an_image_without_a_recipe_is_listed_without_one(examples):
    info = inspect_file(examples["plain"])
    assert isinstance(info, ImageInfo) and not info.has_recipe
    assert info.settings() == {} and info.to_recipe() is None and info.parameters_text() == ""


def test_reuse_settings_keep_only_what_studio_can_run(examples):
    comfy = inspect_file(examples["comfy_workflow"])
    settings = comfy.settings()
    assert "seed" not in settings  # 156680208700286 is past Studio's 32-bit seeds
    assert settings["scheduler"] == "DPM++ 2M Karras" and settings["width"] == 1024
    studio = inspect_file(examples["studio"])
    recipe = studio.to_recipe()
    assert recipe.request.seed == 42 and recipe.request.model == "/models/tiny" and recipe.model_name == "tiny"


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
@pytest.mark.parametrize("kind", ["studio", "a1111", "comfyui", "invokeai", "fooocus"])
def test_export_carries_the_recipe_in_every_format(examples, tmp_path, kind, suffix):
    source = inspect_file(examples[kind])
    target = export_image(examples[kind], tmp_path / f"out{suffix}")
    again = inspect_file(target)
    assert isinstance(again, ImageInfo), again
    assert (again.prompt, again.negative_prompt, again.seed, again.steps, again.cfg, again.sampler, again.model) == (
        source.prompt, source.negative_prompt, source.seed, source.steps, source.cfg, source.sampler, source.model)
    with Image.open(target) as image:
        image.load()
        assert image.size == (64, 72)
        if suffix == ".png":
            assert image.text["parameters"] == source.parameters_text()
        else:  # as AUTOMATIC1111 writes it: EXIF UserComment, 'UNICODE' then UTF-16 big-endian
            comment = image.getexif().get_ifd(0x8769)[USER_COMMENT_TAG]
            assert comment[:8] == b"UNICODE\0"
            assert comment[8:].decode("utf-16-be") == source.parameters_text()


def test_user_comment_in_either_byte_order_and_other_prefixes():
    text = "a lake, Negative prompt: fog, ünïcode ✓"
    assert decode_user_comment(encode_user_comment(text)) == text
    assert decode_user_comment(b"UNICODE\0" + text.encode("utf-16-le")) == text
    assert decode_user_comment(b"UNICODE\0\xff\xfe" + text.encode("utf-16-le")) == text
    assert decode_user_comment(b"ASCII\0\0\0plain words") == "plain words"
    assert decode_user_comment(12) == ""


def test_a1111_text_parses_quoted_values_and_long_lines_in_one_pass():
    parsed = parse_a1111(A1111_TEXT)
    assert parsed["settings"]["Lora hashes"] == "x: 1, y: 2"
    assert parsed["settings"]["Schedule type"] == "Karras"
    # A hostile settings line of a megabyte is read in one pass (a backtracking pattern would stall here).
    line = "Steps: 3, Seed: " + "9" * 1_000_000 + ", " + "word" * 250_000
    assert split_settings(line)["Steps"] == "3"
    assert parse_a1111("prompt only")["settings"] == {}


def test_text_chunks_compressed_and_international(tmp_path):
    from studio.testing.gallery_samples import save_png_with_texts

    text = "ein Schloss am See\nNegative prompt: Nebel\nSteps: 5, Sampler: Euler, CFG scale: 3, Seed: 7, Size: 64x64"
    path = save_png_with_texts(tmp_path / "i.png", {"parameters": text}, compressed=("parameters",))
    info = inspect_file(path)
    assert (info.prompt, info.negative_prompt, info.seed, info.sampler) == ("ein Schloss am See", "Nebel", 7, "Euler")


# Fuzzing: whatever the bytes, a reader answers ImageInfo or Unreadable and never raises.

def _png_bytes(texts: dict[str, str]) -> bytes:
    return encode(picture(8, 8), "PNG", texts.get("parameters", ""), texts.get("studio", ""))


VALID = {
    "png": _png_bytes({"parameters": A1111_TEXT}),
    "jpeg": encode(picture(16, 16), "JPEG", A1111_TEXT),
    "webp": encode(picture(16, 16), "WEBP", A1111_TEXT),
}

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parse(data: bytes) -> ImageInfo | Unreadable:
    """The image parser itself, without the catch-all `inspect_bytes` wraps it in."""
    result = read_image(io.BytesIO(data), len(data))
    assert isinstance(result, (ImageInfo, Unreadable))
    if isinstance(result, Unreadable):
        assert isinstance(result.reason, str) and result.reason and "\n" not in result.reason
    else:
        assert result.format in ("PNG", "JPEG", "WEBP")
        assert isinstance(result.width, int) and isinstance(result.height, int)
        assert 0 < result.width * result.height <= MAX_IMAGE_PIXELS
        assert all(isinstance(getattr(result, name), str) for name in ("prompt", "negative_prompt", "sampler", "model"))
        assert all(isinstance(note, str) for note in result.notes)
    return result


@FUZZ
@given(st.binary(max_size=4096))
def test_fuzz_arbitrary_bytes(data):
    _parse(data)
    assert inspect_bytes(data) == _parse(data)


@FUZZ
@given(st.sampled_from(sorted(VALID)), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=12),
       st.integers(0, 10_000))
def test_fuzz_damaged_images(kind, flips, cut):
    data = bytearray(VALID[kind])
    for position, value in flips:
        data[position % len(data)] = value
    _parse(bytes(data[: max(1, len(data) - cut % len(data))]))


@pytest.mark.parametrize("kind", sorted(VALID))
def test_undamaged_images_parse_to_their_recipe(kind):
    info = _parse(VALID[kind])
    assert isinstance(info, ImageInfo) and info.prompt == "a castle on a hill, sunset, (masterpiece:1.2)"


@FUZZ
@given(st.binary(max_size=600), st.sampled_from([b"tEXt", b"zTXt", b"iTXt", b"IHDR", b"eXIf", b"IEND"]))
def test_fuzz_png_chunks(payload, kind):
    _parse(raw_png(4, 4, png_chunk(kind, payload)))
    compressed = _parse(raw_png(4, 4, png_chunk(b"zTXt", b"parameters\0\0" + zlib.compress(payload))))
    assert isinstance(compressed, ImageInfo) and compressed.width == compressed.height == 4


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(
        st.sampled_from(["inputs", "class_type", "text", "seed", "positive", "negative", "nodes", "links", "widgets_values",
                         "type", "id", "link", "name", "model", "image", "prompt", "steps", "cfg", "ckpt_name", "width",
                         "request", "model_name", "guidance_scale", "height", "scheduler"])
        | st.text(max_size=5), children, max_size=6),
    max_leaves=30,
)
KEYS = st.sampled_from([key for key, _ in DIALECTS])
TEXTS = st.dictionaries(KEYS, st.text(max_size=300) | JSON.map(json.dumps), max_size=4)


@FUZZ
@given(TEXTS)
def test_fuzz_each_dialect_directly(texts):
    for key, read in DIALECTS:
        if texts.get(key):
            fields = read(texts)
            assert fields is None or (isinstance(fields, dict) and isinstance(fields.get("source"), str))


@FUZZ
@given(TEXTS)
def test_fuzz_recipe_texts(texts):
    fields = recipe_fields(texts)
    assert isinstance(fields, dict)
    if fields:
        assert fields["seed"] is None or 0 <= fields["seed"] < 2**64
        assert fields["steps"] is None or 1 <= fields["steps"] <= 10_000
        assert fields["cfg"] is None or abs(fields["cfg"]) < 1e6
        info = ImageInfo(width=64, height=64, format="PNG", **fields)
        assert set(info.settings()) <= {"prompt", "negative_prompt", "seed", "steps", "guidance_scale", "scheduler",
                                        "width", "height"}
        info.to_recipe()
        assert isinstance(info.parameters_text(), str)


PROMPT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=60).map(str.strip)


@FUZZ
@given(PROMPT.filter(bool), PROMPT, st.integers(0, 2**32 - 1), st.integers(1, 150), st.floats(0, 30).map(lambda x: round(x, 1)),
       st.sampled_from(sorted(SCHEDULER_NAMES)), st.integers(1, 4096), st.integers(1, 4096))
def test_fuzz_a1111_text_round_trips(prompt, negative, seed, steps, cfg, sampler, width, height):
    written = ImageInfo(width=width, height=height, format="PNG", source="studio", prompt=prompt, negative_prompt=negative,
                        seed=seed, steps=steps, cfg=cfg, sampler=sampler, recipe_width=width, recipe_height=height)
    fields = recipe_fields({"parameters": written.parameters_text()})
    assert (fields["prompt"], fields["negative_prompt"], fields["seed"], fields["steps"], fields["cfg"], fields["sampler"],
            fields["recipe_width"], fields["recipe_height"]) == (prompt, negative, seed, steps, cfg, sampler, width, height)


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_user_comment(raw):
    assert isinstance(decode_user_comment(raw), str)


@FUZZ
@given(st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=150),
       st.text(st.characters(whitelist_categories=("L", "M", "N", "P", "S", "Zs")), max_size=150), st.booleans())
def test_fuzz_user_comment_round_trips(ascii_part, other, big_endian):
    """Without a byte-order mark either order reads back, for text that is mostly ASCII as prompts are."""
    text = ascii_part + other[: len(ascii_part) - 1]
    assert decode_user_comment(encode_user_comment(text)) == text
    assert decode_user_comment(b"UNICODE\0" + text.encode("utf-16-be" if big_endian else "utf-16-le")) == text


@FUZZ
@given(st.text(max_size=400))
def test_fuzz_a1111_text(text):
    parsed = parse_a1111(text)
    assert isinstance(parsed["prompt"], str) and isinstance(parsed["settings"], dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in parsed["settings"].items())


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_exif_of_every_kind_survives_damage():
    buffer = io.BytesIO()
    picture(16, 16).save(buffer, format="JPEG", exif=b"Exif\0\0MM\0*\0\0\0\x08\xff\xff")
    assert isinstance(inspect_bytes(buffer.getvalue()), (ImageInfo, Unreadable))
