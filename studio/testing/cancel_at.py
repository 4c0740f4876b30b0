"""An event handler for cancel tests: it keeps every engine event and cancels once a given step is reported."""

from __future__ import annotations

import threading

from studio.engine.events import Step


class CancelAt:
    """Pass it as `on_event` and `.cancel` as the cancel flag: the run is asked to stop when step
    `step` (of image `index`; any image when None) is reported; `.events` holds what came."""

    def __init__(self, step: int, index: int | None = None):
        self.step, self.index = step, index
        self.cancel = threading.Event()
        self.events: list = []

    def __call__(self, event) -> None:
        self.events.append(event)
        if isinstance(event, Step) and event.step == self.step and self.index in (None, event.index):
            self.cancel.set()
