"""The worker runs outpaint jobs like any other: same signals, every candidate saved with its recipe,
previews as whole-canvas pictures; cancel saves nothing."""

import os

import numpy as np
import pytest

from studio.engine.edit import EditRequest, extend_canvas
from studio.engine.request import GenerateRequest
from studio.recipe.walker import read_recipe


@pytest.fixture
def worker(tmp_path, qtbot):
    from studio.worker import Worker

    worker = Worker(tmp_path / "gallery", device="cpu")
    worker.start()
    yield worker
    assert worker.stop(10000)


def _request(model, **changes):
    source = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    canvas, mask = extend_canvas(source, right=32)
    values = dict(
        prompt="a red house", seed=7, steps=3, scheduler="Euler", guidance_scale=1.0, model=str(model), count=2
    )
    values.update(changes)
    return EditRequest(GenerateRequest(**values), canvas, mask, extend=(0, 0, 32, 0), source="/x/source.png"), source


def test_an_edit_job_saves_every_candidate_and_previews_the_whole_canvas(qtbot, worker, tiny_model, tmp_path):
    request, _source = _request(tiny_model)
    started, previews, saved = [], [], []
    worker.jobStarted.connect(lambda job, r: started.append(r))
    worker.previewReady.connect(
        lambda job, index, step, image: previews.append((index, step, image.width(), image.height()))
    )
    worker.imageSaved.connect(saved.append)
    with qtbot.waitSignal(worker.jobFinished, timeout=120000):
        job_id = worker.submit(request)
    assert started == [request]
    assert [(i, s) for i, s, _, _ in previews] == [(i, s) for i in range(2) for s in range(1, 4)]
    assert {(w, h) for _, _, w, h in previews} == {(96, 64)}
    assert [r.seed for r in saved] == [7, 8] and {r.job_id for r in saved} == {job_id}
    for result in saved:
        assert (result.image.width(), result.image.height()) == (96, 64)
        recipe = read_recipe(result.path)
        assert recipe.kind == "outpaint" and recipe.extra["extend"]["right"] == 32
        assert recipe.request.seed == result.seed
    assert not list((tmp_path / "gallery").glob("*.png"))  # candidates wait in a temporary folder until one is kept
    kept = worker.keep_candidate(saved[1])
    assert [p.name for p in (tmp_path / "gallery").glob("*.png")] == [kept.path.rsplit("/", 1)[-1]]
    assert read_recipe(kept.path).request.seed == 8
    worker.drop_candidates(saved[:1])
    assert not any(os.path.exists(r.path) for r in saved)


def test_cancelling_an_edit_job_saves_nothing(qtbot, worker, tiny_model, tmp_path):
    request, _ = _request(tiny_model, steps=50, count=3)
    worker.stepDone.connect(lambda *args: worker.cancel_current())
    with qtbot.waitSignal(worker.jobCancelled, timeout=120000):
        worker.submit(request)
    assert not list((tmp_path / "gallery").glob("*.png"))
