"""What a replica sends back for one unit, coalesced: each message Ray carries between two
processes costs CPU on both sides, so a unit's events go out in few, small batches.

A unit's progress (its latest step, its latest preview) goes out `first_s` after the unit
began (0: with its first step; a "began" event, which is never sent, says when the engine
took the unit up after it waited behind another), then at most every `report_s` seconds: a
long picture shows its progress at that pace, and with a `first_s` a picture made faster
ships no preview at all (what /progress, polled about once a second, could never show
anyway). With `previews` a step waits for its preview (the engine sends it right after), to
go out with it; a step whose preview does not come within `report_s` goes out alone. An
image goes out at once with the unit's latest step before it, so the last step always
arrives; a preview still waiting is dropped, as the picture itself is better. The unit's
last event (finished, cancelled, failed) goes out with the image before it, when it follows
within `GRACE_S`, as it does for a unit of one image.
"""

from __future__ import annotations

from typing import Any

FINAL = ("finished", "cancelled", "failed")  # the last event of a unit, and of a job
GRACE_S = 0.02  # how long an image waits for the unit's last event, to travel with it

Event = dict[str, Any]


class Outbox:
    def __init__(self, report_s: float, began: float, first_s: float = 0.0, previews: bool = True):
        self.report_s = max(0.0, report_s)
        self.first_s = max(0.0, first_s)
        self.previews = previews
        self._last_sent = began + self.first_s - self.report_s  # the first progress is due at began + first_s
        self._step: Event | None = None
        self._step_at = 0.0
        self._preview: Event | None = None
        self._urgent: list[Event] = []
        self._urgent_since = 0.0

    def add(self, event: Event, now: float) -> None:
        kind = event.get("type")
        if kind == "began":
            self._last_sent = now + self.first_s - self.report_s
        elif kind == "step":
            self._step, self._step_at = event, now
        elif kind == "preview":
            self._preview = event
        else:  # an image, or the unit's last event: the latest step goes first, a waiting preview is dropped
            if not self._urgent:
                self._urgent_since = now
            if self._step is not None:
                self._urgent.append(self._step)
            self._step = self._preview = None
            self._urgent.append(event)

    def wait_s(self, now: float) -> float | None:
        """Seconds until something is due (0: now), or None while nothing waits."""
        if self._urgent:
            if self._urgent[-1].get("type") in FINAL:
                return 0.0
            return max(0.0, self._urgent_since + GRACE_S - now)
        if self._step is None and self._preview is None:
            return None
        due = self._last_sent + self.report_s
        if self.previews and self._step is not None and not self._previewed():
            due = max(due, self._step_at + self.report_s)  # its preview comes next: wait for it, not for ever
        return max(0.0, due - now)

    def _previewed(self) -> bool:
        """Whether the waiting preview is the waiting step's."""
        step, preview = self._step, self._preview
        if step is None or preview is None:
            return False
        return (preview.get("index"), preview.get("step")) == (step.get("index"), step.get("step"))

    def take(self, now: float) -> list[Event]:
        """The events due now, in order (empty when none are)."""
        wait = self.wait_s(now)
        if wait is None or wait > 0:
            return []
        if self._urgent:
            batch, self._urgent = self._urgent, []
        else:
            batch = [event for event in (self._step, self._preview) if event is not None]
            self._step = self._preview = None
        self._last_sent = now
        return batch
