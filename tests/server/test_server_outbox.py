"""What a replica sends back for one unit: few batches, progress at a set pace, the last step
always, an image with the unit's last event (times here are given, not measured)."""

from __future__ import annotations

import pytest

from studio.server.outbox import GRACE_S, Outbox


def _step(step: int, index: int = 0) -> dict:
    return {"type": "step", "index": index, "step": step, "total": 8}


def _preview(step: int, index: int = 0) -> dict:
    return {"type": "preview", "index": index, "step": step, "total": 8, "rgb": None}


def _kinds(batch: list[dict]) -> list[tuple]:
    return [(event["type"], event.get("step")) for event in batch]


def _send(outbox: Outbox, timed: list[tuple[float, dict]]) -> list[tuple[float, list]]:
    """Add (time, event) pairs in order, taking what is due as each comes: the (time, kinds) sent."""
    sent = []
    for at, event in timed:
        outbox.add(event, at)
        batch = outbox.take(at)
        if batch:
            sent.append((at, _kinds(batch)))
    return sent


def test_a_picture_made_faster_than_the_pace_ships_its_first_step_with_its_preview_then_its_image_with_the_end():
    outbox = Outbox(report_s=0.2, began=0.0)
    timed = []
    for step in range(1, 9):
        timed += [(0.01 * step, _step(step)), (0.01 * step + 0.001, _preview(step))]
    timed += [(0.1, {"type": "image", "index": 0}), (0.101, {"type": "finished", "warnings": []})]
    assert _send(outbox, timed) == [
        (0.011, [("step", 1), ("preview", 1)]),
        (0.101, [("step", 8), ("image", None), ("finished", None)]),
    ]


def test_without_previews_a_step_goes_at_once():
    outbox = Outbox(report_s=0.2, began=0.0, previews=False)
    timed = [(0.01 * step, _step(step)) for step in range(1, 9)]
    timed += [(0.1, {"type": "image", "index": 0}), (0.101, {"type": "finished", "warnings": []})]
    assert _send(outbox, timed) == [
        (0.01, [("step", 1)]),
        (0.101, [("step", 8), ("image", None), ("finished", None)]),
    ]


def test_a_step_whose_preview_does_not_come_goes_alone_after_the_pace():
    outbox = Outbox(report_s=0.25, began=0.0)
    outbox.add(_step(1), 0.125)
    assert outbox.take(0.25) == [] and outbox.wait_s(0.25) == 0.125
    assert _kinds(outbox.take(0.375)) == [("step", 1)]


def test_progress_goes_out_at_most_once_per_pace_with_the_latest_step_and_its_preview():
    outbox = Outbox(report_s=0.25, began=0.0)
    timed = []
    for step in range(1, 9):  # a step every 1/8 s, its preview 1/128 s later
        timed += [(step / 8, _step(step)), (step / 8 + 1 / 128, _preview(step))]
    timed += [(1 + 1 / 16, {"type": "image", "index": 0}), (1 + 1 / 16 + 1 / 128, {"type": "finished"})]
    sent = _send(outbox, timed)
    assert [kinds for _, kinds in sent] == [
        [("step", 1), ("preview", 1)],
        [("step", 3), ("preview", 3)],
        [("step", 5), ("preview", 5)],
        [("step", 7), ("preview", 7)],
        [("step", 8), ("image", None), ("finished", None)],
    ]
    assert [at for at, _ in sent] == [step / 8 + 1 / 128 for step in (1, 3, 5, 7)] + [1 + 1 / 16 + 1 / 128]


def test_a_first_delay_keeps_a_fast_picture_from_shipping_any_progress():
    outbox = Outbox(report_s=1.0, began=0.0, first_s=1.0)
    for step in range(1, 9):
        outbox.add(_step(step), 0.05 * step)
        outbox.add(_preview(step), 0.05 * step)
        assert outbox.take(0.05 * step) == []
    outbox.add({"type": "image", "index": 0}, 0.45)
    outbox.add({"type": "finished", "warnings": []}, 0.45)
    assert _kinds(outbox.take(0.45)) == [("step", 8), ("image", None), ("finished", None)]
    assert outbox.wait_s(0.5) is None


def test_an_image_waits_a_moment_for_the_units_end_then_goes_alone():
    outbox = Outbox(report_s=0.0, began=0.0)
    outbox.add({"type": "image", "index": 0}, 0.0)
    assert outbox.take(0.0) == []
    assert outbox.wait_s(0.0) == GRACE_S
    assert _kinds(outbox.take(GRACE_S)) == [("image", None)]
    outbox.add(_step(1, index=1), 0.5)
    assert _kinds(outbox.take(0.5)) == [("step", 1)]


def test_a_unit_that_waited_behind_another_counts_its_first_report_from_when_its_engine_took_it_up():
    outbox = Outbox(report_s=0.2, began=0.0, first_s=1.0, previews=False)
    outbox.add({"type": "began"}, 5.0)  # it waited 5 s at the replica
    outbox.add(_step(1), 5.1)
    assert outbox.take(5.1) == [] and outbox.wait_s(5.1) == pytest.approx(0.9)
    assert _kinds(outbox.take(6.0)) == [("step", 1)]
