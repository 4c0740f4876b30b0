"""Quality: Full / Draft in the controls panel: a session setting, kept, and what Generate asks for."""

from __future__ import annotations

import json

import pytest

from studio.engine import draft_decoders
from studio.engine.draft_decoder_training import TrainingPlan
from studio.model.session import Session
from studio.recipe.walker import read_recipe
from studio.ui.controls import Controls


def test_the_quality_control_edits_the_session_and_follows_it(qtbot):
    session = Session()
    controls = Controls(session)
    qtbot.addWidget(controls)
    assert [controls.quality.itemText(i) for i in range(controls.quality.count())] == ["Full", "Draft"]
    assert controls.quality.currentText() == "Full" and session["quality"] == "full"
    controls.quality.setCurrentIndex(controls.quality.findText("Draft"))
    assert session["quality"] == "draft"
    session.set("quality", "full")
    assert controls.quality.currentText() == "Full"


def test_quality_is_kept_between_runs_and_a_bad_value_keeps_the_default(tmp_path):
    path = tmp_path / "settings.json"
    session = Session(path)
    session.set("quality", "draft")
    session.save()
    again = Session(path)
    again.load()
    assert again["quality"] == "draft"
    path.write_text(json.dumps({"quality": "best"}))
    damaged = Session(path)
    damaged.load()
    assert damaged["quality"] == "full"


@pytest.fixture
def quick_drafts(monkeypatch):
    monkeypatch.setattr(
        draft_decoders, "DEFAULT_PLAN", TrainingPlan(pairs=16, held_out=4, tile=4, steps=30, width=16, generated=1)
    )
    yield
    draft_decoders.use_draft_training(None)


def test_draft_in_the_window_decodes_in_full_until_the_decoder_is_fitted_then_draws_with_it(
    qtbot, make_app, quick_drafts
):
    studio = make_app(steps=2, prompt="hills")
    controls = studio.window.controls
    controls.quality.setCurrentIndex(controls.quality.findText("Draft"))
    assert studio.session["quality"] == "draft"
    started, finished = [], []
    studio.worker.jobStarted.connect(lambda _job, request: started.append(request))
    studio.worker.jobFinished.connect(lambda _job, warnings: finished.append(tuple(warnings)))
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        controls.generate.click()
    assert started[0].quality == "draft"
    assert any("draft decoder" in w for w in finished[0])  # not fitted yet: decoded in full, and said so
    first = sorted(studio.gallery.glob("*.png"))
    assert read_recipe(first[0]).request.quality == "full"

    cache = studio.data / "cache" / "draft-decoders"
    qtbot.waitUntil(lambda: any(cache.glob("*.safetensors")), timeout=120000)  # fitted in the background
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        controls.generate.click()
    assert finished[1] == () or not any("draft decoder" in w for w in finished[1])
    [second] = sorted(set(studio.gallery.glob("*.png")) - set(first))
    assert read_recipe(second).request.quality == "draft"
