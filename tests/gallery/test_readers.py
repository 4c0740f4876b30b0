"""Recipe readers: every dialect reads back, exports round-trip, and no bytes make a reader raise."""

from __future__ import annotations

import io
import json
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from studio.engine.schedulers import SCHEDULER_NAMES
from studio.gallery.export import export_image
from studio.recipe.a1111 import found_text, split_settings
from studio.recipe.a1111 import parse as parse_a1111
from studio.recipe.dialects import DIALECTS, recipe_fields
from studio.recipe.embed import encode
from studio.recipe.exif import USER_COMMENT_TAG, decode_user_comment, encode_user_comment
from studio.recipe.schema import FoundRecipe
from studio.recipe.walker import MAX_IMAGE_PIXELS, ImageInfo, Unreadable, inspect_bytes, inspect_file, read_image
from studio.testing.gallery_samples import A1111_TEXT, picture, png_chunk, raw_png, write_examples

EXPECTED = {
    "studio": ("studio", "a red house by the lake", "blurry", 42, 12, 6.5, "Euler a", "tiny", (64, 72)),
    "a1111": (
        "a1111",
        "a castle on a hill, sunset, (masterpiece:1.2)",
        "lowres, bad anatomy",
        1234567,
        28,
        7.0,
        "DPM++ 2M Karras",
        "dreamshaper_8",
        (512, 768),
    ),
    "comfyui": (
        "comfyui",
        "beautiful scenery nature glass bottle landscape",
        "text, watermark",
        987654321,
        20,
        8.0,
        "Euler a",
        "v1-5-pruned-emaonly.safetensors",
        (512, 512),
    ),
    "comfy_workflow": (
        "comfyui",
        "a fox in the snow",
        "blurry",
        156680208700286,
        20,
        8.0,
        "DPM++ 2M Karras",
        "sd_xl_base_1.0.safetensors",
        (1024, 1024),
    ),
    "invokeai": (
        "invokeai",
        "an astronaut riding a horse",
        "ugly",
        3141592,
        30,
        7.5,
        "DPM++ 2M Karras",
        "stable-diffusion-v1-5",
        (768, 512),
    ),
    "fooocus": (
        "fooocus",
        "a cat wearing a hat",
        "",
        1234,
        30,
        4.0,
        "DPM++ 2M SDE Karras",
        "juggernautXL_v8Rundiffusion",
        (1152, 896),
    ),
    "jpeg": (
        "a1111",
        "a castle on a hill, sunset, (masterpiece:1.2)",
        "lowres, bad anatomy",
        1234567,
        28,
        7.0,
        "DPM++ 2M Karras",
        "dreamshaper_8",
        (512, 768),
    ),
    "webp": ("studio", "a red house by the lake", "blurry", 42, 12, 6.5, "Euler a", "tiny", (64, 72)),
}


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    return write_examples(tmp_path_factory.mktemp("examples"))


def _fields(info: ImageInfo):
    r = info.recipe
    return (
        r.source,
        r.prompt,
        r.negative_prompt,
        r.seed,
        r.steps,
        r.guidance_scale,
        r.scheduler,
        r.model,
        (r.width, r.height),
    )


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
    assert info.settings() == {} and info.to_recipe() is None and found_text(info.recipe) == ""


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
    fields = lambda r: (r.prompt, r.negative_prompt, r.seed, r.steps, r.guidance_scale, r.scheduler, r.model)
    assert fields(again.recipe) == fields(source.recipe)
    with Image.open(target) as image:
        image.load()
        assert image.size == (64, 72)
        if suffix == ".png":
            assert image.text["parameters"] == found_text(source.recipe)
        else:  # as AUTOMATIC1111 writes it: EXIF UserComment, 'UNICODE' then UTF-16 big-endian
            comment = image.getexif().get_ifd(0x8769)[USER_COMMENT_TAG]
            assert comment[:8] == b"UNICODE\0"
            assert comment[8:].decode("utf-16-be") == found_text(source.recipe)


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
    r = info.recipe
    assert (r.prompt, r.negative_prompt, r.seed, r.scheduler) == ("ein Schloss am See", "Nebel", 7, "Euler")


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
        if result.recipe is not None:
            assert all(
                isinstance(getattr(result.recipe, name), str)
                for name in ("prompt", "negative_prompt", "scheduler", "model")
            )
        assert all(isinstance(note, str) for note in result.notes)
    return result


@FUZZ
@given(st.binary(max_size=4096))
def test_fuzz_arbitrary_bytes(data):
    _parse(data)
    assert inspect_bytes(data) == _parse(data)


@FUZZ
@given(
    st.sampled_from(sorted(VALID)),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=12),
    st.integers(0, 10_000),
)
def test_fuzz_damaged_images(kind, flips, cut):
    data = bytearray(VALID[kind])
    for position, value in flips:
        data[position % len(data)] = value
    _parse(bytes(data[: max(1, len(data) - cut % len(data))]))


@pytest.mark.parametrize("kind", sorted(VALID))
def test_undamaged_images_parse_to_their_recipe(kind):
    info = _parse(VALID[kind])
    assert isinstance(info, ImageInfo) and info.recipe.prompt == "a castle on a hill, sunset, (masterpiece:1.2)"


@FUZZ
@given(st.binary(max_size=600), st.sampled_from([b"tEXt", b"zTXt", b"iTXt", b"IHDR", b"eXIf", b"IEND"]))
def test_fuzz_png_chunks(payload, kind):
    _parse(raw_png(4, 4, png_chunk(kind, payload)))
    compressed = _parse(raw_png(4, 4, png_chunk(b"zTXt", b"parameters\0\0" + zlib.compress(payload))))
    assert isinstance(compressed, ImageInfo) and compressed.width == compressed.height == 4


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                [
                    "inputs",
                    "class_type",
                    "text",
                    "seed",
                    "positive",
                    "negative",
                    "nodes",
                    "links",
                    "widgets_values",
                    "type",
                    "id",
                    "link",
                    "name",
                    "model",
                    "image",
                    "prompt",
                    "steps",
                    "cfg",
                    "ckpt_name",
                    "width",
                    "request",
                    "model_name",
                    "guidance_scale",
                    "height",
                    "scheduler",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)
KEYS = st.sampled_from([key for key, _ in DIALECTS])
TEXTS = st.dictionaries(KEYS, st.text(max_size=300) | JSON.map(json.dumps), max_size=4)


@FUZZ
@given(TEXTS)
def test_fuzz_each_dialect_directly(texts):
    for key, read in DIALECTS:
        if texts.get(key):
            found = read(texts)
            assert found is None or (isinstance(found, FoundRecipe) and isinstance(found.source, str))


@FUZZ
@given(TEXTS)
def test_fuzz_recipe_texts(texts):
    found = recipe_fields(texts)
    assert found is None or isinstance(found, FoundRecipe)
    if found:
        assert found.seed is None or 0 <= found.seed < 2**64
        assert found.steps is None or 1 <= found.steps <= 10_000
        assert found.guidance_scale is None or abs(found.guidance_scale) < 1e6
        info = ImageInfo(width=64, height=64, format="PNG", recipe=found)
        assert set(info.settings()) <= {
            "prompt",
            "negative_prompt",
            "seed",
            "steps",
            "guidance_scale",
            "scheduler",
            "width",
            "height",
        }
        info.to_recipe()
        assert isinstance(found_text(found), str)


PROMPT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=60).map(str.strip)


@FUZZ
@given(
    PROMPT.filter(bool),
    PROMPT,
    st.integers(0, 2**32 - 1),
    st.integers(1, 150),
    st.floats(0, 30).map(lambda x: round(x, 1)),
    st.sampled_from(sorted(SCHEDULER_NAMES)),
    st.integers(1, 4096),
    st.integers(1, 4096),
)
def test_fuzz_a1111_text_round_trips(prompt, negative, seed, steps, cfg, sampler, width, height):
    written = FoundRecipe(
        source="studio",
        prompt=prompt,
        negative_prompt=negative,
        seed=seed,
        steps=steps,
        guidance_scale=cfg,
        scheduler=sampler,
        width=width,
        height=height,
    )
    r = recipe_fields({"parameters": found_text(written)})
    assert (r.prompt, r.negative_prompt, r.seed, r.steps, r.guidance_scale, r.scheduler, r.width, r.height) == (
        prompt,
        negative,
        seed,
        steps,
        cfg,
        sampler,
        width,
        height,
    )


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_user_comment(raw):
    assert isinstance(decode_user_comment(raw), str)


@FUZZ
@given(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=150),
    st.text(st.characters(whitelist_categories=("L", "M", "N", "P", "S", "Zs")), max_size=150),
    st.booleans(),
)
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
