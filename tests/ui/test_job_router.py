"""The job router on the real worker and the tiny model, without a window: a generation's reports
reach the document, an edit's the edit model, and the timeline follows whichever is shown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.engine.request import GenerateRequest


@pytest.fixture
def parts(tmp_path, qtbot, tiny_model):
    from studio.model.document import Document
    from studio.model.edits import Edits
    from studio.model.job_router import JobRouter
    from studio.model.jobs import JobQueue
    from studio.worker import Worker

    worker = Worker(tmp_path / "gallery", device="cpu")
    router = JobRouter(worker, JobQueue(), Document(), Edits())
    router.edits.native = 64
    said = {"started": [], "ended": [], "message": [], "batch": [], "gallery": [], "frames": []}
    router.started.connect(said["started"].append)
    router.ended.connect(said["ended"].append)
    router.message.connect(said["message"].append)
    router.batchShown.connect(lambda: said["batch"].append(True))
    router.inGallery.connect(said["gallery"].append)
    router.framesChanged.connect(lambda: said["frames"].append(router.frame_count()))
    worker.start()
    yield router, said, tiny_model
    assert worker.stop(10000)


def _request(model, **changes) -> GenerateRequest:
    values = {
        "prompt": "a red house",
        "seed": 7,
        "steps": 3,
        "scheduler": "Euler",
        "guidance_scale": 1.0,
        "model": str(model),
        "width": 64,
        "height": 64,
    }
    values.update(changes)
    return GenerateRequest(**values)


def _picture(router, extend=(0, 0, 32, 0)):
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    router.edits.load(pixels, key=1)
    router.edits.set_extend(*extend)
    return pixels


def test_a_generation_goes_to_the_document_and_an_edit_to_the_edit_model(qtbot, parts):
    router, said, model = parts
    document, edits, queue = router.document, router.edits, router.queue
    pixels = _picture(router)
    with qtbot.waitSignal(router.worker.jobFinished, timeout=120000):
        generation = router.submit(_request(model, count=2))
    assert not router.is_edit(generation)
    assert len(document.candidates) == 2 and {c.job_id for c in document.candidates} == {generation}
    assert said["gallery"] == document.candidates  # generated images are in the gallery at once
    assert said["batch"] == [True] and said["ended"] == ["Done"] and said["started"] == [3 * 2]
    assert router.frame_count() == 3 + 1  # the shown image's steps, then the image

    edit = router.submit(edits.request(_request(model), 2, "edge"))
    assert router.is_edit(edit) and edits.locked and edits.job_id == edit
    assert [j.job_id for j in queue.jobs] == [edit] and queue.jobs[0].request.count == 2
    with qtbot.waitSignal(router.worker.jobFinished, timeout=120000):
        pass
    assert not router.is_edit(edit)  # it has ended
    assert len(edits.candidates) == 2 and {c.result.job_id for c in edits.candidates} == {edit}
    assert all(c.pixels.shape == (64, 96, 3) and len(c.frames) == 3 for c in edits.candidates)
    assert len(document.candidates) == 2 and len(said["gallery"]) == 2  # candidates wait outside the gallery
    assert said["started"] == [6, 3 * 2] and said["ended"] == ["Done", "Done"] and said["batch"] == [True]
    assert router.frame_count() == 3 + 1 and said["frames"][-1] == 4  # the timeline is the candidate's

    edits.flip(1)
    router.show_frame(0)
    assert edits.previewing
    assert len(router.animation_frames()) == 4
    assert edits.accept()
    kept = said["gallery"][-1]
    assert kept.job_id == edit and Path(kept.path).parent == router.worker.gallery and Path(kept.path).is_file()
    assert np.array_equal(edits.picture.base[:, : 64 - 8], pixels[:, : 64 - 8])
    assert router.frame_count() == 0 and said["frames"][-1] == 0  # the accepted picture has no steps of its own


def test_removing_a_pending_edit_job_unlocks_the_picture_and_it_never_runs(qtbot, parts):
    router, said, model = parts
    _picture(router)
    with qtbot.waitSignal(router.worker.stepDone, timeout=60000):
        first = router.submit(_request(model, steps=40))
    edit = router.submit(router.edits.request(_request(model), 1, "edge"))
    assert router.edits.locked
    router.remove(edit)
    assert not router.edits.locked and not router.is_edit(edit)
    assert [j.job_id for j in router.queue.jobs] == [first]
    with qtbot.waitSignal(router.worker.jobCancelled, timeout=60000):
        router.cancel()  # the running generation
    assert said["ended"] == ["Cancelled"] and router.document.image.isNull()
    assert router.queue.jobs == [] and router.edits.candidates == []
    qtbot.wait(200)
    assert said["started"] == [40]  # the removed edit job never started


def test_a_failed_edit_job_says_why_and_leaves_the_picture_as_it_was(qtbot, parts, tmp_path):
    router, said, _ = parts
    _picture(router)
    before = router.edits.display()
    with qtbot.waitSignal(router.worker.jobFailed, timeout=60000):
        router.submit(router.edits.request(_request(tmp_path / "no-such-model"), 2, "edge"))
    assert said["ended"] == ["Failed"] and "no-such-model" in said["message"][0]
    assert not router.edits.locked and router.edits.display() == before
    assert router.queue.jobs == [] and router.document.candidates == []


def test_with_no_job_running_cancel_discards_the_waiting_candidates(qtbot, parts):
    router, _, model = parts
    _picture(router, extend=(0, 0, 0, 16))
    with qtbot.waitSignal(router.worker.jobFinished, timeout=120000):
        router.submit(router.edits.request(_request(model, steps=2), 1, "edge"))
    assert len(router.edits.candidates) == 1 and router.edits.locked
    router.cancel()
    assert router.edits.candidates == [] and not router.edits.locked and router.edits.extend == (0, 0, 0, 16)
    assert router.frame_count() == 0
