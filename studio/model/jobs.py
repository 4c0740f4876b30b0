"""The job queue as the UI sees it: what is pending, what runs, and how far it has got."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from studio.engine.request import GenerateRequest


@dataclass
class Job:
    job_id: int
    request: GenerateRequest
    state: str = "pending"  # pending, running, done, cancelled, failed


def progress_text(step: int, total: int, seconds_per_step: float, steps_left: int) -> str:
    """'Step 12/20 · 0.05 s/step · ~1 s left'."""
    text = f"Step {step}/{total}"
    if seconds_per_step > 0:
        text += f" · {seconds_per_step:.2f} s/step"
        left = seconds_per_step * steps_left
        text += f" · ~{left:.0f} s left" if left >= 1 else " · <1 s left"
    return text


class JobQueue(QObject):
    changed = Signal()
    progressChanged = Signal(int, int, str)  # step, total, text

    def __init__(self, parent=None):
        super().__init__(parent)
        self.jobs: list[Job] = []
        self._step_times: list[float] = []

    @property
    def pending(self) -> list[Job]:
        return [j for j in self.jobs if j.state == "pending"]

    @property
    def running(self) -> Job | None:
        return next((j for j in self.jobs if j.state == "running"), None)

    def add(self, job_id: int, request: GenerateRequest) -> None:
        self.jobs.append(Job(job_id, request))
        self.changed.emit()

    def remove(self, job_id: int) -> None:
        self.jobs = [j for j in self.jobs if not (j.job_id == job_id and j.state == "pending")]
        self.changed.emit()

    def start(self, job_id: int) -> None:
        self._set(job_id, "running")
        self._step_times.clear()

    def end(self, job_id: int, state: str) -> None:
        self._set(job_id, state)
        self.jobs = [j for j in self.jobs if j.state in ("pending", "running")]
        self.changed.emit()

    def step(self, job_id: int, index: int, step: int, total: int, seconds: float) -> None:
        job = self.running
        if job is None or job.job_id != job_id:
            return
        self._step_times.append(seconds)
        recent = self._step_times[-8:]
        per_step = sum(recent) / len(recent)
        images_left = job.request.count - index - 1
        steps_left = (total - step) + images_left * total
        overall_total = total * job.request.count
        overall_step = index * total + step
        text = progress_text(step, total, per_step, steps_left)
        if job.request.count > 1:
            text = f"Image {index + 1}/{job.request.count} · " + text
        self.progressChanged.emit(overall_step, overall_total, text)

    def _set(self, job_id: int, state: str) -> None:
        for job in self.jobs:
            if job.job_id == job_id:
                job.state = state
        self.changed.emit()
