"""The gallery's one background task runner, and the delete-undo stack its model keeps."""

from __future__ import annotations

import logging
import threading

import pytest

from studio.errors import StudioError
from studio.model.gallery_tasks import TaskRunner
from studio.model.gallery_undo import DeleteStack


@pytest.fixture
def runner(qtbot):
    runner = TaskRunner()
    yield runner
    runner.shutdown()


def _gate():
    """An event the test opens to let a task finish, so the tasks behind it stay waiting."""
    return threading.Event()


def test_tasks_run_one_at_a_time_in_order_and_report_on_the_gui_thread(qtbot, runner):
    gate, ran, done, threads = _gate(), [], [], set()

    def work(label):
        def run(task):
            if label == "first":
                assert gate.wait(10)
            ran.append(label)
            threads.add(threading.current_thread())
            return label.upper()

        return run

    for label in ("first", "second", "third"):
        runner.submit(
            f"do the {label}", work(label), done=lambda result: done.append((result, threading.current_thread()))
        )
    assert ran == [] and done == []  # nothing finishes while the first waits
    gate.set()
    qtbot.waitUntil(lambda: len(done) == 3, timeout=10000)
    assert ran == ["first", "second", "third"]
    assert [result for result, _ in done] == ["FIRST", "SECOND", "THIRD"]
    assert {thread for _, thread in done} == {threading.main_thread()}
    assert len(threads) == 1 and threading.main_thread() not in threads  # one background thread for all


def test_progress_arrives_on_the_gui_thread_in_order(qtbot, runner):
    seen = []

    def work(task):
        for step in range(5):
            task.report(step, 5)
        return "ok"

    finished = []
    runner.submit(
        "count",
        work,
        done=finished.append,
        progress=lambda done, todo: seen.append((done, todo, threading.current_thread())),
    )
    qtbot.waitUntil(lambda: finished == ["ok"], timeout=10000)
    assert [(d, t) for d, t, _ in seen] == [(i, 5) for i in range(5)]
    assert {thread for *_, thread in seen} == {threading.main_thread()}


def test_a_cancelled_task_that_waits_never_runs_and_a_running_one_is_asked_to_stop(qtbot, runner):
    started, ran, done = _gate(), [], []

    def long(task):
        started.set()
        while not task.stop.wait(0.01):
            pass
        ran.append("long stopped")
        return "long"

    running = runner.submit("run long", long, done=done.append)
    waiting = runner.submit("wait", lambda task: ran.append("waiting ran"), done=done.append)
    runner.submit("come after", lambda task: "after", done=done.append)
    assert started.wait(10)
    waiting.cancel()
    running.cancel()
    assert running.cancelled and waiting.cancelled
    qtbot.waitUntil(lambda: done == ["after"], timeout=10000)
    assert ran == ["long stopped"]  # the running task saw its stop; the cancelled one never ran, nor reported


def test_an_exception_in_a_task_becomes_a_message_and_the_runner_goes_on(qtbot, runner, caplog):
    failures, done, general = [], [], []
    runner.failed.connect(general.append)

    def broken(task):
        raise ValueError("the disk said no")

    def refused(task):
        raise StudioError("that folder is the gallery folder itself")

    with caplog.at_level(logging.ERROR, logger="studio.model.gallery_tasks"):
        runner.submit("update the gallery index", broken, failed=failures.append)
        runner.submit("import the images", refused, failed=failures.append)
        runner.submit("export", broken)  # no failed callback of its own: the runner's signal says it
        runner.submit("carry on", lambda task: "still here", done=done.append)
        qtbot.waitUntil(lambda: done == ["still here"], timeout=10000)
    assert failures == ["cannot update the gallery index: the disk said no", "that folder is the gallery folder itself"]
    assert general == ["cannot export: the disk said no"]
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 2 and all(r.exc_info[0] is ValueError for r in logged)  # the expected refusal is no traceback


def test_shutdown_stops_the_running_task_drops_the_rest_and_refuses_new_ones(qtbot, caplog):
    runner = TaskRunner()
    started, ran, done = _gate(), [], []

    def long(task):
        started.set()
        while not task.stop.wait(0.01):
            pass
        ran.append("stopped")
        return "long"

    runner.submit("run long", long, done=done.append)
    runner.submit("never", lambda task: ran.append("never"), done=done.append)
    assert started.wait(10)
    assert runner.shutdown(timeout=10) is True  # the thread has ended
    assert runner.submit("too late", lambda task: ran.append("too late")) is None
    qtbot.wait(100)  # anything posted to the GUI thread would have arrived
    assert ran == ["stopped"] and done == []
    assert runner.shutdown() is True  # a second shutdown is harmless


def test_shutdown_of_a_runner_that_never_ran_anything(qtbot):
    assert TaskRunner().shutdown() is True


# The delete-undo stack.


def test_the_undo_stack_gives_back_the_newest_delete_first_or_the_one_asked_for():
    stack = DeleteStack()
    assert not stack and stack.pop() is None
    first, second, third = object(), object(), object()
    for batch in (first, second, third):
        stack.push(batch)
    assert len(stack) == 3
    assert stack.pop(first) is first  # one taken back by hand leaves the order of the rest
    assert stack.pop() is third and stack.pop() is second and stack.pop() is None
    stack.push(first)
    assert stack.pop(object()) is None and len(stack) == 1  # a batch it never held is no one's to undo
    stack.clear()
    assert not stack


@pytest.fixture
def model(qtbot, tmp_path):
    from studio.model.gallery import GalleryModel
    from studio.testing.gallery_samples import write_examples

    data = tmp_path / "data"
    write_examples(data / "gallery")
    model = GalleryModel(data)
    with qtbot.waitSignal(model.synced, timeout=20000):
        model.start()
    yield model
    model.close()


def _names(model):
    return [model.name_at(r) for r in range(model.rowCount()) if model.name_at(r)]


def test_the_model_undoes_its_deletes_newest_first(qtbot, model):
    folder = model.folder
    assert not model.can_undo()
    model.delete(["comfy.png"])
    model.delete(["invoke.png", "plain.png"])
    assert model.can_undo() and "comfy.png" not in _names(model)
    assert sorted(model.undo_delete()) == ["invoke.png", "plain.png"]
    assert (folder / "invoke.png").exists() and not (folder / "comfy.png").exists()
    assert model.undo_delete() == ["comfy.png"] and "comfy.png" in _names(model)
    assert not model.can_undo() and model.undo_delete() == []


def test_emptying_or_restoring_the_trash_leaves_nothing_to_undo(qtbot, model):
    model.delete(["comfy.png"])
    model.delete(["invoke.png"])
    assert sorted(model.restore_trash()) == ["comfy.png", "invoke.png"]
    assert not model.can_undo() and model.undo_delete() == []
    model.delete(["plain.png"])
    assert model.empty_trash() == 1
    assert not model.can_undo() and model.undo_delete() == [] and not (model.folder / "plain.png").exists()


def test_a_delete_the_trash_cannot_take_is_refused_with_a_message(qtbot, model):
    (model.data_dir / "trash").write_text("a file where the trash folder goes")
    said = []
    model.statusChanged.connect(said.append)
    assert model.delete(["comfy.png"]) is None
    assert said and said[-1].startswith("cannot move the images to the trash: ")
    assert (model.folder / "comfy.png").exists() and "comfy.png" in _names(model)
    assert not model.can_undo()


# The thumbnail loader.


def test_thumbnails_load_once_the_newest_stay_in_memory_and_a_broken_file_is_not_tried_again(
    qtbot, tmp_path, monkeypatch
):
    from studio.gallery.index import Row
    from studio.model import thumbnail_loader
    from studio.testing.gallery_samples import save_studio_png

    monkeypatch.setattr(thumbnail_loader, "PIXMAP_CACHE", 2)
    folder = tmp_path / "gallery"
    rows = []
    for number in range(3):
        path = save_studio_png(folder / f"p{number}.png", seed=number)
        rows.append(Row(path.name, 0.0, 64, 72, "", None, "", False, path.stat().st_mtime_ns, path.stat().st_size))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    broken = Row("broken.png", 0.0, 64, 72, "", None, "", False, 1, 28)
    loader = thumbnail_loader.ThumbnailLoader(lambda name: folder / name, tmp_path / "cache")
    arrived = []
    loader.loaded.connect(arrived.append)
    for row in [*rows, broken]:
        assert loader.thumbnail(row) is None  # asked for; it comes later
    qtbot.waitUntil(lambda: len(arrived) == 4, timeout=20000)
    assert sorted(arrived) == ["broken.png", "p0.png", "p1.png", "p2.png"] and loader.idle
    assert loader.is_broken(broken) and loader.is_ready(broken) and loader.thumbnail(broken) is None
    held = [row for row in rows if loader.is_ready(row)]
    assert len(held) == 2  # the memory keeps the last two that arrived
    pixmap = loader.thumbnail(held[0])
    assert max(pixmap.width(), pixmap.height()) <= thumbnail_loader.THUMB_SIDE
    qtbot.wait(200)
    assert len(arrived) == 4  # nothing asked again: the broken file is remembered, the held ones are in memory
    assert len(list((tmp_path / "cache").rglob("*.jpg"))) == 3
    loader.close()
