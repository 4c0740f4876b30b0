"""Step reports held back one step (as on a GPU): order, the right guess per step, cancel."""

import threading

import numpy as np
import pytest
import torch

from studio.engine.events import Preview, Step
from studio.engine.previews import SD, LatentPreviewer
from studio.engine.step_reports import StepReporter

TOTAL = 5


def _guesses():
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(1, 4, 6, 7, generator=generator).half() for _ in range(TOTAL)]


@pytest.mark.parametrize("lag", [True, False])
def test_every_step_reported_once_in_order_with_its_own_guess(lag):
    events = []
    reporter = StepReporter(2, events.append, lambda: False, LatentPreviewer(SD), "cpu", lag=lag)
    guesses = _guesses()
    for step, x0 in enumerate(guesses, start=1):
        assert reporter.step_done(step, TOTAL, x0) is None
        reported = [e.step for e in events if isinstance(e, Step)]
        # held back one step, except the last, which is reported at once
        assert reported == list(range(1, step + (not lag or step == TOTAL)))
    assert reporter.finish() is None
    assert [type(e) for e in events] == [Step, Preview] * TOTAL
    previews = [e for e in events if isinstance(e, Preview)]
    for step, (preview, x0) in enumerate(zip(previews, guesses), start=1):
        assert (preview.index, preview.step, preview.total) == (2, step, TOTAL)
        assert np.array_equal(preview.latents, x0[0].float().numpy())
        assert np.array_equal(preview.rgb, LatentPreviewer(SD).rgb(x0))
    steps = [e for e in events if isinstance(e, Step)]
    assert all(s.step_s >= 0 and s.elapsed_s >= s.step_s for s in steps)


def test_steps_without_previews_are_still_reported():
    events = []
    reporter = StepReporter(0, events.append, lambda: False, LatentPreviewer(SD), "cpu", lag=True)
    for step in range(1, TOTAL + 1):
        reporter.step_done(step, TOTAL, None)
    assert [(type(e), e.step) for e in events] == [(Step, k) for k in range(1, TOTAL + 1)]


@pytest.mark.parametrize("stop_at", range(1, TOTAL + 1))
def test_cancel_stops_at_the_step_it_was_asked_at(stop_at):
    cancel = threading.Event()
    events = []

    def on_event(event):
        events.append(event)
        if isinstance(event, Step) and event.step == stop_at:
            cancel.set()

    reporter = StepReporter(0, on_event, cancel.is_set, LatentPreviewer(SD), "cpu", lag=True)
    stopped = None
    for step, x0 in enumerate(_guesses(), start=1):
        stopped = reporter.step_done(step, TOTAL, x0)
        if stopped is not None:
            break
    assert stopped == stop_at
    assert [e.step for e in events if isinstance(e, Step)] == list(range(1, stop_at + 1))
    assert isinstance(events[-1], Preview) and events[-1].step == stop_at
