"""Checks every CPU backend of the UNet must pass on a tiny real model (tests/engine/test_cpu_backend*.py):
cancel stops at the step asked, an outpaint runs through the backend with the engine's usual events."""

from __future__ import annotations

import numpy as np

from studio.engine.edit import EditRequest, extend_canvas
from studio.engine.events import Cancelled, EditPreview, Finished, ImageDone, Started, Step
from studio.testing.cancel_at import CancelAt


def check_cancel_at_step(engine, request) -> None:
    """Cancelling after step 2 of a 6-step `request` ends it there, with no image."""
    stop = CancelAt(2)
    final = engine.run(request.replace(steps=6), stop, stop.cancel)
    assert isinstance(final, Cancelled) and (final.at_index, final.at_step) == (0, 2)
    assert not any(isinstance(e, ImageDone) for e in stop.events)


def check_outpaint(engine, request, calls: dict, backend: str) -> None:
    """A 32 px outpaint of a grey 64x64 picture finishes with the usual events and goes through
    `backend` (its count in `calls`, the installed forward's tally, grows)."""
    before = calls[backend]
    source = np.full((64, 64, 3), 90, np.uint8)
    canvas, mask = extend_canvas(source, 0, 0, 32, 0)
    edit = EditRequest(request.replace(guidance_scale=1.0), canvas, mask, extend=(0, 0, 32, 0), source="s.png")
    events = []
    final = engine.run_edit(edit, events.append)
    assert isinstance(final, Finished), final
    assert [type(e) for e in events[:3]] == [Started, Step, EditPreview]
    assert np.asarray(final.results[0].image).shape == (64, 96, 3)
    assert calls[backend] > before
