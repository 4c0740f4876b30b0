"""Outpainting and inpainting on real (tiny) diffusers pipelines: the window, the pixels kept,
validation, cancel, determinism, 9-channel inpainting models and the recipe."""

import numpy as np
import pytest
from PIL import Image

from studio.engine.edit import EditRequest, Rect, extend_canvas, plan_window
from studio.engine.edit_pixels import distance_to, generation_strength, prefill
from studio.engine.events import Cancelled, EditPreview, Finished, ImageDone, Started, Step
from studio.engine.request import GenerateRequest
from studio.errors import RequestError
from studio.recipe.embed import write_png
from studio.recipe.walker import read_recipe
from studio.testing.cancel_at import CancelAt
from studio.testing.gallery_samples import save_png_with_texts

TINY_NATIVE = 64  # the tiny models' native side (their studio.json defaults)
TINY_BAND = 8


@pytest.fixture(scope="module")
def tiny_inpaint_model(tmp_path_factory):
    from studio.testing.tiny_model import make_tiny_inpaint_model

    return make_tiny_inpaint_model(tmp_path_factory.mktemp("models") / "inpaint", seed=1)


def picture(width, height, seed=0):
    """A smooth picture with a few blocks: sky-like gradient on top, ground below."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None, None]
    x = np.linspace(0, 1, width)[None, :, None]
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    image = top * (1 - y) + bottom * y + 20 * np.sin(6 * x + rng.random())
    for _ in range(3):
        x0, y0 = rng.integers(0, width - 8), rng.integers(0, height - 8)
        image[y0 : y0 + 8, x0 : x0 + 8] = rng.integers(0, 256, 3)
    return np.clip(image, 0, 255).astype(np.uint8)


def settings(model, **changes):
    values = dict(
        prompt="a red house", seed=3, steps=4, scheduler="Euler", guidance_scale=1.0, model=str(model), count=1
    )
    values.update(changes)
    return GenerateRequest(**values)


def outpaint_request(model, source, left=0, top=0, right=0, bottom=0, **changes):
    canvas, mask = extend_canvas(source, left, top, right, bottom)
    return EditRequest(
        settings(model, **changes), canvas, mask, extend=(left, top, right, bottom), source="/pics/source.png"
    )


def run(engine, request, **kwargs):
    events = []
    final = engine.run_edit(request, events.append, **kwargs)
    return events, final


def pixels(result):
    return np.asarray(result.image)


# The canvas and the window.


def test_extend_canvas_places_the_picture_and_masks_the_new_area():
    source = picture(64, 48)
    canvas, mask = extend_canvas(source, left=8, top=16, right=24, bottom=0)
    assert canvas.shape == (64, 96, 3) and mask.shape == (64, 96)
    assert np.array_equal(canvas[16:, 8:72], source)
    assert (mask[16:, 8:72] == 0).all()
    assert mask.sum() == 255 * (96 * 64 - 64 * 48)


def test_extend_canvas_refuses_negative_sides():
    with pytest.raises(RequestError, match="must not be negative"):
        extend_canvas(picture(64, 64), right=-8)


@pytest.mark.parametrize("canvas_width", [256, 2048])
def test_a_strip_gets_the_same_window_whatever_the_canvas_width(canvas_width):
    mask = np.zeros((128, canvas_width), np.uint8)
    mask[:, -64:] = 255
    window = plan_window(mask, native=128)
    assert window.new == Rect(canvas_width - 64, 0, 64, 128)
    assert window.context == Rect(canvas_width - 128, 0, 128, 128)
    assert window.model_size == (128, 128) and window.scale == 1.0
    assert window.band_rect == Rect(canvas_width - 64 - window.band, 0, 64 + window.band, 128)


def test_the_window_holds_the_new_area_and_its_band_in_multiples_of_8():
    mask = np.zeros((200, 304), np.uint8)
    mask[50:83, 101:140] = 255
    window = plan_window(mask, native=64)
    context, new = window.context, window.new
    assert new == Rect(101, 50, 39, 33)
    for value in (context.width, context.height, *window.model_size):
        assert value % 8 == 0
    assert context.x <= new.x - window.band and context.right >= new.right + window.band
    assert context.y <= new.y - window.band and context.bottom >= new.bottom + window.band


def test_a_big_area_is_scaled_down_to_the_native_size():
    mask = np.zeros((1024, 1024), np.uint8)
    mask[:, 512:] = 255
    window = plan_window(mask, native=256)
    assert window.context.width < 1024 and window.context.height == 1024
    assert min(window.model_size) == 256
    assert window.scale == pytest.approx(256 / window.context.width)


def test_a_window_can_be_planned_from_the_sizes_alone():
    _canvas, mask = extend_canvas(picture(256, 128), top=64)
    by_mask = plan_window(mask, native=128)
    by_size = plan_window(native=128, canvas_size=(256, 192), new=(0, 0, 256, 64))
    assert by_mask == by_size


# Checking requests.


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(mask=np.zeros((64, 72), np.uint8)), "the mask is 72x64 but the image is 96x64"),
        (dict(mask=np.zeros((64, 96), np.uint8)), "nothing to outpaint: extend the canvas or paint a mask"),
        (dict(mask=np.zeros((64, 96), np.uint8), kind="inpaint"), "nothing to inpaint"),
        (dict(mask=np.full((64, 96), 255, np.uint8)), "covers the whole canvas"),
        (dict(image=np.zeros((64, 96), np.uint8)), "must be H x W x 3"),
        (dict(image=np.zeros((64, 96, 3), np.float32)), "must hold uint8 pixels"),
        (dict(fill="mirror"), "unknown fill 'mirror'"),
        (dict(kind="upscale"), "unknown edit kind 'upscale'"),
        (dict(strength=0.0), "strength must be above 0"),
        (dict(extend=(0, 0, -8, 0)), "extend must be four whole numbers"),
    ],
)
def test_bad_requests_are_refused_with_a_message(tiny_model, change, message):
    canvas, mask = extend_canvas(picture(64, 64), right=32)
    values = dict(generate=settings(tiny_model), image=canvas, mask=mask)
    values.update(change)
    with pytest.raises(RequestError, match=message):
        EditRequest(**values)


@pytest.mark.parametrize(
    "size, message",
    [
        ((4104, 1024), "over the engine's maximum"),
        ((2304, 2048), "over the engine's maximum"),
        ((100, 56), "each side must be at least 64 pixels"),
    ],
)
def test_canvas_size_limits(tiny_model, size, message):
    width, height = size
    mask = np.zeros((height, width), np.uint8)
    mask[:, -8:] = 255
    with pytest.raises(RequestError, match=message):
        EditRequest(settings(tiny_model), np.zeros((height, width, 3), np.uint8), mask)


def test_the_request_takes_the_canvas_size_and_reads_through_its_settings(tiny_model):
    request = outpaint_request(tiny_model, picture(64, 64), right=32, count=3, seed=9)
    assert (request.width, request.height) == (96, 64)
    assert (request.generate.width, request.generate.height) == (96, 64)
    assert request.count == 3 and request.seeds == (9, 10, 11) and request.steps == 4
    assert request.replace(seed=20, fill="noise").generate.seed == 20
    assert not request.image.flags.writeable


def test_the_callers_arrays_are_copied(tiny_model):
    canvas, mask = extend_canvas(picture(64, 64), right=32)
    request = EditRequest(settings(tiny_model), canvas, mask)
    canvas[:] = 0
    mask[:] = 0
    assert request.image.any() and request.mask.any()


# Pixels.


def test_distance_matches_brute_force():
    rng = np.random.default_rng(4)
    region = rng.random((30, 41)) > 0.97
    got = distance_to(region, 6)
    ys, xs = np.nonzero(region)
    gy, gx = np.mgrid[:30, :41]
    exact = np.sqrt((gy[..., None] - ys) ** 2 + (gx[..., None] - xs) ** 2).min(axis=-1)
    assert np.allclose(np.minimum(got, 7), np.minimum(exact, 7), atol=1e-4)


def test_strength_is_one_on_the_mask_and_feathers_out_to_the_band():
    mask = np.zeros((32, 64), np.uint8)
    mask[:, 40:] = 255
    strength = generation_strength(mask, 8)
    assert (strength[:, 40:] == 1).all()
    assert (strength[:, :32] == 0).all()
    row = strength[0, 32:41]  # 0 at the band's outer edge (8 px), rising to 1
    assert (np.diff(row) > 0).all()


@pytest.mark.parametrize("fill", ["edge", "colour", "noise"])
def test_prefill_keeps_the_known_pixels_and_continues_their_colours(fill):
    image = np.zeros((64, 96, 3), np.uint8)
    image[:32, :64] = (200, 40, 40)  # red sky
    image[32:, :64] = (40, 200, 40)  # green ground
    region = np.zeros((64, 96), bool)
    region[:, 64:] = True
    out = prefill(image, region, fill, seed=1)
    assert np.array_equal(out[:, :64], image[:, :64])
    new = out[:, 64:].astype(int)
    assert new.std() > 0
    if fill == "edge":
        assert (new[:16, :, 0] > new[:16, :, 1]).all() and (new[48:, :, 1] > new[48:, :, 0]).all()
    else:
        assert abs(new[..., 0].mean() - 120) < 15 and abs(new[..., 1].mean() - 120) < 15


# Running edits.


def test_outpaint_fills_the_new_area_and_keeps_every_pixel_outside_the_band(engine, tiny_model):
    source = picture(64, 64)
    request = outpaint_request(tiny_model, source, right=32, count=2, seed=5)
    events, final = run(engine, request)
    assert isinstance(final, Finished), final
    assert [type(e) for e in events[:3]] == [Started, Step, EditPreview]
    assert len(final.results) == 2 and [r.seed for r in final.results] == [5, 6]
    for result in final.results:
        out = pixels(result)
        assert out.shape == (64, 96, 3)
        assert np.array_equal(out[:, : 64 - TINY_BAND], source[:, : 64 - TINY_BAND])
        assert not np.array_equal(out[:, 64:], request.image[:, 64:])
        assert result.recipe.kind == "outpaint"
        assert result.recipe.extra["extend"] == {"left": 0, "top": 0, "right": 32, "bottom": 0}
        assert result.recipe.extra["source"] == "/pics/source.png"
        assert result.recipe.request.seed == result.seed and result.recipe.request.width == 96


@pytest.mark.parametrize("sides", [(24, 0, 0, 0), (0, 16, 0, 0), (0, 0, 0, 40), (8, 8, 8, 8)])
def test_every_side_keeps_the_old_picture(engine, tiny_model, sides):
    left, top, right, bottom = sides
    source = picture(64, 64, seed=2)
    final = run(engine, outpaint_request(tiny_model, source, *sides))[1]
    out = pixels(final.results[0])
    assert out.shape == (64 + top + bottom, 64 + left + right, 3)
    inner = out[top + TINY_BAND : top + 64 - TINY_BAND, left + TINY_BAND : left + 64 - TINY_BAND]
    assert np.array_equal(inner, source[TINY_BAND : 64 - TINY_BAND, TINY_BAND : 64 - TINY_BAND])


def test_the_band_blends_old_into_new(engine, tiny_model):
    source = picture(64, 64, seed=6)
    request = outpaint_request(tiny_model, source, right=32)
    out = pixels(run(engine, request)[1].results[0]).astype(int)
    outer_band = np.abs(out[:, 56:60] - source[:, 56:60].astype(int)).mean()
    inner_band = np.abs(out[:, 60:64] - source[:, 60:64].astype(int)).mean()
    assert 0 < outer_band < inner_band


def test_inpaint_changes_only_the_mask_and_its_band(engine, tiny_model):
    image = picture(128, 96, seed=3)
    mask = np.zeros((96, 128), np.uint8)
    yy, xx = np.mgrid[:96, :128]
    mask[(yy - 40) ** 2 + (xx - 70) ** 2 < 15**2] = 255
    mask[(yy - 40) ** 2 + (xx - 70) ** 2 < 18**2] |= 128  # a soft edge
    request = EditRequest(settings(tiny_model, seed=8), image, mask, kind="inpaint")
    final = run(engine, request)[1]
    out = pixels(final.results[0])
    changed = (out != image).any(axis=-1)
    allowed = distance_to(mask == 255, TINY_BAND) < TINY_BAND
    allowed |= mask > 0
    assert changed.any()
    assert not (changed & ~allowed).any()
    assert changed[mask == 255].mean() > 0.9
    assert final.results[0].recipe.kind == "inpaint"


def test_only_the_window_goes_through_the_model(engine, tiny_model):
    """A 32 px strip costs the same UNet work on a 2048 px wide canvas as on a 128 px one."""
    model = engine.load(str(tiny_model))
    seen = []
    hook = model.pipe.unet.conv_in.register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape)))
    try:
        for width in (96, 2016):
            seen.clear()
            final = run(engine, outpaint_request(tiny_model, picture(width, 64), right=32), previews=False)[1]
            assert isinstance(final, Finished) and final.results[0].image.size == (width + 32, 64)
            shapes = set(seen)
            assert shapes == {(1, 4, 8, 12)} and len(seen) == 4  # the 32 px strip and 64 px (native) of picture
    finally:
        hook.remove()


def test_a_window_bigger_than_native_is_made_at_native_scale(engine, tiny_model):
    source = picture(96, 160, seed=5)
    request = outpaint_request(tiny_model, source, right=64)
    window = plan_window(request.mask, native=TINY_NATIVE)
    assert window.scale < 1 and min(window.model_size) == TINY_NATIVE
    final = run(engine, request)[1]
    assert isinstance(final, Finished), final
    out = pixels(final.results[0])
    assert out.shape == (160, 160, 3)
    assert np.array_equal(out[:, : 96 - TINY_BAND], source[:, : 96 - TINY_BAND])


def test_shrinking_leaves_the_unknown_pixels_out():
    from studio.engine.edit_pixels import shrink_known

    image = np.full((64, 96, 3), 100, np.uint8)
    image[:, 60:] = 255  # whatever the new area holds must not bleed into the known part
    known = np.zeros((64, 96), bool)
    known[:, :60] = True
    small, small_known = shrink_known(image, known, (48, 32))
    assert small.shape == (32, 48, 3)
    assert (small[small_known] == 100).all()
    assert small_known[:, :29].all() and not small_known[:, 31:].any()


def test_same_request_same_pixels_and_seeds_differ(engine, tiny_model):
    request = outpaint_request(tiny_model, picture(64, 64), right=32, count=2, scheduler="Euler a", seed=11)
    first = run(engine, request)[1].results
    second = run(engine, request)[1].results
    for a, b in zip(first, second):
        assert np.array_equal(pixels(a), pixels(b))
    assert not np.array_equal(pixels(first[0]), pixels(first[1]))
    alone = run(engine, request.replace(seed=12, count=1))[1].results[0]
    assert np.array_equal(pixels(alone), pixels(first[1]))


@pytest.mark.parametrize("scheduler", ["DPM++ 2M Karras", "DDIM", "UniPC", "LCM"])
def test_every_sampler_outpaints(engine, tiny_model, scheduler):
    source = picture(64, 64)
    final = run(engine, outpaint_request(tiny_model, source, right=32, scheduler=scheduler, steps=5))[1]
    assert isinstance(final, Finished), final
    assert np.array_equal(pixels(final.results[0])[:, :56], source[:, :56])


@pytest.mark.parametrize("fill, strength", [("noise", 0.7), ("colour", 0.9), ("original", 0.5), ("edge", 0.6)])
def test_fills_and_partial_strength(engine, tiny_model, fill, strength):
    source = picture(64, 64)
    request = outpaint_request(tiny_model, source, left=32, steps=6).replace(fill=fill, strength=strength)
    events, final = run(engine, request)
    assert isinstance(final, Finished), final
    assert np.array_equal(pixels(final.results[0])[:, 32 + TINY_BAND :], source[:, TINY_BAND:])
    assert final.results[0].recipe.extra["fill"] == fill
    assert len([e for e in events if isinstance(e, Step)]) == int(6 * strength)


def test_the_context_steers_the_new_area(engine, tiny_model):
    """Changing the old picture next to the strip changes what is made in it."""
    one, other = picture(64, 64, seed=1), picture(64, 64, seed=9)
    a = pixels(run(engine, outpaint_request(tiny_model, one, right=32))[1].results[0])
    b = pixels(run(engine, outpaint_request(tiny_model, other, right=32))[1].results[0])
    assert not np.array_equal(a[:, 64:], b[:, 64:])


def test_previews_show_the_window_in_place_on_the_canvas(engine, tiny_model):
    source = picture(192, 64)
    request = outpaint_request(tiny_model, source, right=32)
    events, _ = run(engine, request)
    previews = [e for e in events if isinstance(e, EditPreview)]
    assert len(previews) == 4
    preview = previews[-1]
    assert preview.rgb.shape == (8, 12, 3)  # the strip and the native side of picture, at latent size
    canvas = preview.canvas_rgb()
    assert canvas.shape == (64, 224, 3) and canvas.dtype == np.uint8
    left_of_window = preview.window.context.x
    assert np.array_equal(canvas[:, :left_of_window], request.image[:, :left_of_window])
    assert not np.array_equal(canvas[:, 192:], request.image[:, 192:])


def test_cancel_makes_nothing_and_leaves_the_canvas_alone(engine, tiny_model):
    source = picture(64, 64)
    canvas, mask = extend_canvas(source, right=32)
    before = canvas.copy()
    request = EditRequest(settings(tiny_model, count=3, steps=6), canvas, mask)
    stop = CancelAt(2)
    final = engine.run_edit(request, stop, stop.cancel)
    assert isinstance(final, Cancelled) and final.completed == () and (final.at_index, final.at_step) == (0, 2)
    assert not any(isinstance(e, ImageDone) for e in stop.events)
    assert np.array_equal(canvas, before)


def test_a_missing_model_fails_with_a_message(engine, tmp_path):
    final = run(engine, outpaint_request(tmp_path / "none", picture(64, 64), right=32))[1]
    assert "does not exist" in final.message


def test_inpainting_model_is_conditioned_on_mask_and_picture(engine, tiny_inpaint_model):
    model = engine.load(str(tiny_inpaint_model))
    assert model.pipe.unet.config.in_channels == 9
    seen = []
    hook = model.pipe.unet.conv_in.register_forward_hook(
        lambda module, args, out: seen.append(args[0].detach().clone())
    )
    try:
        source = picture(64, 64, seed=4)
        request = outpaint_request(tiny_inpaint_model, source, right=32, count=2)
        final = run(engine, request)[1]
    finally:
        hook.remove()
    assert isinstance(final, Finished), final
    assert {tuple(x.shape) for x in seen} == {(1, 9, 8, 12)}
    mask_channel = seen[0][0, 4]
    # The window is the whole 96 px canvas: the first 7 latent columns are old picture, the
    # 8th holds the blend band, the last 4 the new strip.
    assert (mask_channel[:, :7] == 0).all() and (mask_channel[:, 7:] == 1).all()
    for result in final.results:
        out = pixels(result)
        assert out.shape == (64, 96, 3)
        assert np.array_equal(out[:, :56], source[:, :56])


def test_inpainting_model_is_refused_for_text_to_image(engine, tiny_inpaint_model):
    final = engine.run(settings(tiny_inpaint_model, width=64, height=64))
    assert "is an inpainting model" in final.message


# The recipe.


def test_recipe_says_outpaint_and_survives_a_png(engine, tiny_model, tmp_path):
    request = outpaint_request(tiny_model, picture(64, 64), left=16, bottom=8, seed=21, prompt="a blue lake")
    result = run(engine, request)[1].results[0]
    path = write_png(tmp_path / "out.png", result.image, result.recipe)
    back = read_recipe(path)
    assert back == result.recipe
    assert back.kind == "outpaint" and back.extra["extend"] == {"left": 16, "top": 0, "right": 0, "bottom": 8}
    assert back.request.prompt == "a blue lake" and back.request.seed == 21
    with Image.open(path) as image:
        text = image.text["parameters"]
        assert "Edit: outpaint" in text and "Extend: left 16 top 0 right 0 bottom 8" in text
        assert "Source: source.png" in text and "Size: 80x72" in text
        only_text = save_png_with_texts(tmp_path / "text.png", {"parameters": text}, size=image.size)
    from_text = read_recipe(only_text)
    assert from_text.kind == "outpaint"
    assert from_text.extra["extend"] == back.extra["extend"] and from_text.extra["source"] == "source.png"
    assert from_text.request.seed == 21 and (from_text.request.width, from_text.request.height) == (80, 72)
