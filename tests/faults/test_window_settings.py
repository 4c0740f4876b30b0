"""A settings.json with wrong values: each bad value falls back to its default with one log line,
and the window opens and works."""

from __future__ import annotations

import json
import logging

import pytest

from studio.engine.request import MAX_SEED
from studio.model.session import DEFAULTS, Session

from .window_app import window_app  # noqa: F401  (a fixture)

BAD = [
    ("prompt", 5),
    ("negative_prompt", ["x"]),
    ("model", ""),
    ("model", 3),
    ("models", [5]),
    ("models", "a/b"),
    ("models", ["ok", None]),
    ("width", "512"),
    ("width", 100),
    ("width", 0),
    ("width", True),
    ("height", 1.5),
    ("height", 10**9),
    ("steps", 0),
    ("steps", "20"),
    ("guidance_scale", "été"),
    ("guidance_scale", -1),
    ("guidance_scale", float("nan")),
    ("guidance_scale", True),
    ("scheduler", "No such sampler"),
    ("scheduler", 1),
    ("seed", -1),
    ("seed", MAX_SEED + 1),
    ("seed", 1.5),
    ("random_seed", "yes"),
    ("random_seed", 1),
    ("count", 0),
    ("count", 10**6),
    ("candidates", "3"),
    ("candidates", 0),
    ("fill", "paint"),
    ("auto_outpaint", None),
    ("brush_size", 0),
    ("brush_size", 10**6),
    ("defaults_for", 7),
    ("theme", "purple"),
    ("negative_open", "no"),
    ("geometry", "été"),
    ("geometry", 12),
    ("geometry", "not base64!"),
    ("window_state", "été"),
    ("window_state", {}),
]


@pytest.mark.parametrize("key, value", BAD, ids=[f"{k}={v!r}" for k, v in BAD])
def test_a_bad_value_falls_back_to_its_default_with_one_log_line(tmp_path, caplog, key, value):
    path = tmp_path / "settings.json"
    kept = ("prompt", "kept") if key != "prompt" else ("steps", 33)
    path.write_text(json.dumps({key: value, kept[0]: kept[1]}, allow_nan=True), encoding="utf-8")
    session = Session(path)
    with caplog.at_level(logging.INFO, logger="studio.model.session"):
        session.load()
    assert session[key] == DEFAULTS[key] and type(session[key]) is type(DEFAULTS[key])
    assert session[kept[0]] == kept[1]  # the good values around it are kept
    lines = [r for r in caplog.records if r.name == "studio.model.session"]
    assert len(lines) == 1 and key in lines[0].getMessage() and "\n" not in lines[0].getMessage()


def test_good_values_load_quietly(tmp_path, caplog):
    good = {
        "prompt": "a lake",
        "models": ["/m/a"],
        "model": "/m/a",
        "width": 96,
        "height": 64,
        "steps": 7,
        "guidance_scale": 4,
        "scheduler": "Euler a",
        "seed": MAX_SEED,
        "random_seed": False,
        "count": 2,
        "candidates": 4,
        "fill": "noise",
        "auto_outpaint": True,
        "brush_size": 12,
        "theme": "light",
        "geometry": "AdnQywADAAA=",
        "window_state": "",
    }
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(good), encoding="utf-8")
    session = Session(path)
    with caplog.at_level(logging.INFO, logger="studio.model.session"):
        session.load()
    assert {k: session[k] for k in good} == good and not caplog.records


def test_a_non_ascii_geometry_does_not_stop_the_window(qtbot, window_app, caplog):
    studio = window_app(geometry="été", window_state="ünïcode")
    assert studio.window.isVisible() and studio.session["geometry"] == ""
    assert any("geometry" in r.getMessage() for r in caplog.records if r.name == "studio.model.session")
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        studio.window.controls.generate.click()


def test_a_model_list_of_numbers_still_builds_the_window(qtbot, window_app, tiny_model):
    studio = window_app(models=[5, str(tiny_model)])
    controls = studio.window.controls
    assert studio.session["models"] == [str(tiny_model)]  # the model in use is remembered anew
    assert [controls.model.itemData(i) for i in range(controls.model.count())] == ["embedded", str(tiny_model)]
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        controls.generate.click()


def test_settings_that_are_not_an_object_say_so(tmp_path, caplog):
    path = tmp_path / "settings.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="studio.model.session"):
        Session(path).load()
    assert len([r for r in caplog.records if r.name == "studio.model.session"]) == 1
