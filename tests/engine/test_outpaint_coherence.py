"""Outpaints that continue the picture instead of repeating its prompt: the picture window and
the second pass (`edit.plan_passes`), the prompt of the new area (`edit.new_area_prompt`),
canvases whose sides are no multiples of 8, on the embedded model at few steps and on the
tiny test model; and, on the embedded model at its own settings, no second sun, moon or lake
(`studio.testing.landscape_objects`)."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from studio.engine.edit import (
    REFINE_STRENGTH,
    EditRequest,
    Rect,
    extend_canvas,
    new_area_prompt,
    plan_passes,
    plan_window,
)
from studio.engine.events import Cancelled, EditPreview, Finished, ImageDone, Started, Step
from studio.engine.request import GenerateRequest
from studio.testing.cancel_at import CancelAt
from studio.testing.landscape_objects import count_objects

EMBEDDED_NATIVE = 128
STEPS = 4
OBJECTS = ["sun", "moon", "lake", "mountains", "mountain", "tree", "trees", "pine", "pines"]


def landscape(width=128, height=128, seed=0):
    """A true render of the landscape world with a sun and a lake, as a source picture."""
    from studio.embedded.world import Scene, render

    scene = Scene(time="day", ground="green", body="left", lake=True)
    return render(scene, width, height, np.random.default_rng(seed))


def embedded_request(source, steps=STEPS, count=1, seed=1, **sides):
    canvas, mask = extend_canvas(source, **sides)
    extend = tuple(sides.get(s, 0) for s in ("left", "top", "right", "bottom"))
    generate = GenerateRequest(
        prompt="a day landscape with green hills, a lake, the sun on the left",
        seed=seed,
        steps=steps,
        guidance_scale=6.0,
        scheduler="DPM++ 2M Karras",
        width=128,
        height=128,
        count=count,
        model="embedded",
    )
    return EditRequest(generate, canvas, mask, extend=extend)


def run(engine, request, **kwargs):
    events = []
    final = engine.run_edit(request, events.append, **kwargs)
    return events, final


# The prompt of the new area.


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("a night landscape with snowy hills, a lake, the moon on the left", "a night landscape with snowy hills"),
        ("green hills with a lake", "green hills"),
        ("a landscape with mountains, two pine trees", "a landscape"),
        ("a lake, a day landscape", "a day landscape"),
        ("(a lake:1.3), <lora:x:0.5>, green hills", "<lora:x:0.5>, green hills"),
        ("a red house, sunset", "a red house, sunset"),  # "sunset" is no "sun"
        ("", ""),
    ],
)
def test_the_new_area_prompt_leaves_out_clauses_naming_placed_things(prompt, expected):
    assert new_area_prompt(prompt, OBJECTS) == expected


def test_no_words_leave_the_prompt_as_it_is():
    assert new_area_prompt("a lake, the moon", []) == "a lake, the moon"


def test_the_embedded_model_names_its_placed_things():
    from studio.engine.models import resolve_model

    words = resolve_model("embedded").studio["outpaint"]["leave_out"]
    assert {"sun", "moon", "lake"} <= set(words)


# The windows.


def test_a_picture_about_the_model_size_goes_through_whole_in_one_pass():
    _canvas, mask = extend_canvas(landscape(), right=64)
    passes = plan_passes(mask, EMBEDDED_NATIVE)
    assert len(passes) == 1
    assert passes[0].context == Rect(0, 0, 192, 128) and passes[0].scale == 1.0
    assert passes[0].new == Rect(128, 0, 64, 128)


def test_a_bigger_picture_is_seen_scaled_down_then_the_strip_at_full_scale():
    _canvas, mask = extend_canvas(landscape(256, 256), right=64)
    picture, strip = plan_passes(mask, EMBEDDED_NATIVE)
    assert picture.context == Rect(128, 0, 192, 256) and picture.model_size == (128, 168)
    assert strip == plan_window(mask, EMBEDDED_NATIVE) and strip.scale == 1.0


def test_on_a_wide_canvas_the_picture_window_stays_bounded():
    _canvas, mask = extend_canvas(landscape(2048 - 64, 128), right=64)
    (picture,) = plan_passes(mask, EMBEDDED_NATIVE)
    assert picture.context == Rect(2048 - 64 - 128, 0, 192, 128)  # the strip and 128 px of picture


# Running on the embedded model.


def test_one_pass_outpaint_keeps_the_old_picture_and_reports_every_step(engine):
    source = landscape()
    request = embedded_request(source, right=64)
    events, final = run(engine, request)
    assert isinstance(final, Finished), final
    started = events[0]
    assert isinstance(started, Started) and started.total_steps == STEPS
    steps = [e for e in events if isinstance(e, Step)]
    assert [(s.step, s.total) for s in steps] == [(i, STEPS) for i in range(1, STEPS + 1)]
    previews = [e for e in events if isinstance(e, EditPreview)]
    assert len(previews) == STEPS and previews[0].window.context == Rect(0, 0, 192, 128)
    out = np.asarray(final.results[0].image)
    band = plan_passes(request.mask, EMBEDDED_NATIVE)[0].band
    assert np.array_equal(out[:, : 128 - band], source[:, : 128 - band])
    assert final.results[0].recipe.extra["window"]["context"] == [0, 0, 192, 128]


def test_two_passes_count_their_steps_as_one_run_and_show_both_windows(engine):
    source = landscape(256, 256, seed=3)
    request = embedded_request(source, right=64, count=2, seed=5)
    events, final = run(engine, request)
    assert isinstance(final, Finished), final
    second = int(STEPS * REFINE_STRENGTH)
    total = STEPS + second
    assert events[0].total_steps == total
    for index in (0, 1):
        steps = [(e.step, e.total) for e in events if isinstance(e, Step) and e.index == index]
        assert steps == [(i, total) for i in range(1, total + 1)]
        windows = [e.window for e in events if isinstance(e, EditPreview) and e.index == index]
        picture, strip = plan_passes(request.mask, EMBEDDED_NATIVE)
        assert windows == [picture] * STEPS + [strip] * second
    previews = [e for e in events if isinstance(e, EditPreview)]
    assert all(p.canvas_rgb().shape == (256, 320, 3) for p in previews[:: STEPS - 1])
    assert [r.seed for r in final.results] == [5, 6]
    first, other = (np.asarray(r.image) for r in final.results)
    assert first.shape == (256, 320, 3) and not np.array_equal(first[:, 256:], other[:, 256:])
    band = plan_window(request.mask, EMBEDDED_NATIVE).band
    assert np.array_equal(first[:, : 256 - band], source[:, : 256 - band])
    assert len(final.results[0].recipe.extra["passes"]) == 2


def test_cancel_in_the_first_pass_makes_nothing(engine):
    request = embedded_request(landscape(256, 256), right=64, count=3)
    stop = CancelAt(2)
    final = engine.run_edit(request, stop, stop.cancel)
    assert isinstance(final, Cancelled) and final.completed == () and (final.at_index, final.at_step) == (0, 2)
    assert not any(isinstance(e, ImageDone) for e in stop.events)
    assert all(e.window.context == Rect(128, 0, 192, 256) for e in stop.events if isinstance(e, EditPreview))


def test_the_same_request_gives_the_same_pixels(engine):
    request = embedded_request(landscape(256, 256), bottom=64, seed=9)
    first = np.asarray(run(engine, request)[1].results[0].image)
    again = np.asarray(run(engine, request)[1].results[0].image)
    assert np.array_equal(first, again)


# Sides that are no multiples of 8.


@pytest.mark.parametrize("sides", [dict(right=13), dict(left=5, bottom=3), dict(top=64)])
def test_a_picture_of_any_size_is_extended_to_exactly_the_size_asked(engine, sides):
    source = landscape(104, 80, seed=2)[:77, :101]
    request = embedded_request(source, **sides)
    width = 101 + sides.get("left", 0) + sides.get("right", 0)
    height = 77 + sides.get("top", 0) + sides.get("bottom", 0)
    assert (request.width, request.height) == (width, height)
    assert request.generate.width % 8 == 0 and request.generate.height % 8 == 0
    events, final = run(engine, request)
    assert isinstance(final, Finished), final
    out = np.asarray(final.results[0].image)
    assert out.shape == (height, width, 3)
    band = max(w.band for w in plan_passes(request.mask, EMBEDDED_NATIVE))
    left, top = sides.get("left", 0), sides.get("top", 0)
    kept = out[top : top + 77, left : left + 101]
    inner = (slice(band, 77 - band), slice(band, 101 - band))
    assert np.array_equal(kept[inner], source[inner])
    preview = next(e for e in events if isinstance(e, EditPreview))
    assert preview.canvas_rgb().shape == (height, width, 3)


def test_the_command_line_extends_a_picture_of_any_size(tmp_path, monkeypatch):
    from studio import cli

    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "odd.png"
    Image.fromarray(landscape(104, 80)[:77, :101]).save(path)
    out = tmp_path / "wide.png"
    code = cli.main(
        ["outpaint", str(path), "--right", "13", "--top", "3", "--steps", "2", "--seed", "1", "--out", str(out)]
    )
    assert code == 0
    with Image.open(out) as image:
        assert image.size == (114, 80)


# Leaving out what the picture has, on a model that names its placed things.


@pytest.fixture(scope="module")
def naming_model(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "naming"
    shutil.copytree(tiny_model, folder)
    settings = json.loads((folder / "studio.json").read_text())
    settings["outpaint"] = {"leave_out": ["lake"]}
    (folder / "studio.json").write_text(json.dumps(settings))
    return folder


def _encoded(engine, model, prompt, kind="outpaint"):
    """The token ids the text encoder saw for the prompt (the first, conditional pass)."""
    loaded = engine.load(str(model))
    seen = []
    hook = loaded.pipe.text_encoder.register_forward_hook(lambda module, args, out: seen.append(args[0].tolist()))
    try:
        source = np.full((64, 64, 3), 120, np.uint8)
        canvas, mask = extend_canvas(source, right=32)
        generate = GenerateRequest(prompt=prompt, steps=2, scheduler="Euler", guidance_scale=1.0, model=str(model))
        final = engine.run_edit(EditRequest(generate, canvas, mask, kind=kind), previews=False)
        assert isinstance(final, Finished), final
    finally:
        hook.remove()
    return seen[0]


def test_an_outpaint_leaves_the_named_clauses_out_of_the_prompt(engine, naming_model):
    assert _encoded(engine, naming_model, "a red house, a lake") == _encoded(engine, naming_model, "a red house")
    assert _encoded(engine, naming_model, "a red house, a pond") != _encoded(engine, naming_model, "a red house")


def test_an_inpaint_keeps_the_whole_prompt(engine, naming_model):
    with_lake = _encoded(engine, naming_model, "a red house, a lake", kind="inpaint")
    assert with_lake != _encoded(engine, naming_model, "a red house", kind="inpaint")


# Continuing, not repeating, at the model's own settings.


@pytest.mark.parametrize("side", ["left", "top", "right", "bottom"])
def test_the_new_strip_draws_no_second_sun_or_lake(engine, side):
    from studio.engine.models import resolve_model

    defaults = resolve_model("embedded").defaults
    prompt = "a day landscape with green hills, a lake, the sun on the left"
    made = engine.run(defaults.request("embedded", prompt=prompt, seed=0), previews=False)
    source = np.asarray(made.results[0].image)
    assert count_objects(source).bodies == 1 and count_objects(source).lakes == 1
    request = embedded_request(source, steps=defaults.steps, seed=0, **{side: 64})
    final = run(engine, request, previews=False)[1]
    counts = count_objects(np.asarray(final.results[0].image), frame=128)
    assert not counts.repeated, counts


def test_a_one_step_two_pass_outpaint_gives_the_second_pass_a_step_too(engine):
    """At 1 step the second pass's strength leaves diffusers no step of its own schedule; the
    schedule is lengthened (as img2img does) instead of failing."""
    request = embedded_request(landscape(256, 256, seed=4), right=64).replace(steps=1)
    events, final = run(engine, request)
    assert isinstance(final, Finished), final
    assert events[0].total_steps == 2
    assert [(e.step, e.total) for e in events if isinstance(e, Step)] == [(1, 2), (2, 2)]
    assert np.asarray(final.results[0].image).shape == (256, 320, 3)
