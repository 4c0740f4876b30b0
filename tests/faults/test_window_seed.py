"""Seeds go to 2^32 - 1: the seed box shows, takes and steps every one of them exactly."""

from __future__ import annotations

from PySide6.QtCore import Qt

from studio.engine.request import MAX_SEED
from studio.testing.gallery_samples import save_studio_png

from .window_app import window_app  # noqa: F401  (a fixture)


def test_an_opened_image_shows_its_ten_digit_seed(qtbot, window_app, tmp_path):
    studio = window_app()
    path = save_studio_png(tmp_path / "big-seed.png", "a hill", seed=4_000_000_007)
    studio.open_path(str(path))
    assert studio.session["seed"] == 4_000_000_007
    assert studio.window.controls.seed.text() == "4000000007"


def test_reuse_shows_the_seed_last_used(qtbot, window_app):
    studio = window_app(seed=MAX_SEED)
    studio.session.request()  # the seed of the last job
    studio.session.set("seed", 0)
    studio.window.controls.reuse_seed.click()
    assert studio.session["seed"] == MAX_SEED
    assert studio.window.controls.seed.text() == str(MAX_SEED)


def test_a_ten_digit_seed_typed_is_kept_whole(qtbot, window_app):
    studio = window_app()
    box = studio.window.controls.seed
    box.lineEdit().selectAll()
    qtbot.keyClicks(box, "3000000001")
    assert box.text() == "3000000001"
    assert studio.session["seed"] == 3_000_000_001 and type(studio.session["seed"]) is int
    assert studio.session.request().seed == 3_000_000_001


def test_arrow_keys_step_exactly_up_to_the_last_seed(qtbot, window_app):
    studio = window_app(seed=MAX_SEED - 2)
    box = studio.window.controls.seed
    assert box.text() == str(MAX_SEED - 2)
    box.setFocus()
    seen = []
    for _ in range(3):
        qtbot.keyClick(box, Qt.Key.Key_Up)
        seen.append((box.text(), studio.session["seed"]))
    assert seen == [(str(MAX_SEED - 1), MAX_SEED - 1), (str(MAX_SEED), MAX_SEED), (str(MAX_SEED), MAX_SEED)]
    qtbot.keyClick(box, Qt.Key.Key_Down)
    assert (box.text(), studio.session["seed"]) == (str(MAX_SEED - 1), MAX_SEED - 1)
