"""One background thread for the gallery's long jobs: syncing the index, importing, exporting.

Tasks run one at a time, in the order they were submitted, off the GUI thread. What a task
returns, the progress it reports and the message it fails with come back on the thread
that made the runner (the GUI thread). An exception never ends the thread: a StudioError
becomes its own one-line message; anything else is logged with its traceback and becomes
"cannot <what>: <why>". Cancelling a waiting task drops it; cancelling a running one sets
its `stop` event, which long tasks check between files; a cancelled task reports nothing.
`shutdown` cancels every task and waits, bounded, for the running one to return.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from studio.errors import StudioError

log = logging.getLogger(__name__)


class Task:
    """A job handed to the runner; `work(task)` runs on the runner's thread."""

    def __init__(self, what: str, work: Callable[[Task], Any], done, failed, progress, post):
        self.what = what  # what the task does, for messages: "update the gallery index"
        self.work = work
        self.done = done
        self.failed = failed
        self.progress = progress
        self.stop = threading.Event()
        self._post = post

    def cancel(self) -> None:
        self.stop.set()

    @property
    def cancelled(self) -> bool:
        return self.stop.is_set()

    def report(self, *args) -> None:
        """Progress, from inside `work`: arrives as `progress(*args)` on the GUI thread."""
        if self.progress is not None:
            self._post(self, lambda: self.progress(*args))


class _Mailbox(QObject):
    """Lives on the GUI thread; what the runner's thread posts to it runs there (queued)."""

    call = Signal(object)

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self.call.connect(self.run)

    def run(self, call) -> None:
        call()


class TaskRunner(QObject):
    failed = Signal(str)  # the message of a failed task that has no `failed` callback of its own

    def __init__(self, name: str = "gallery-tasks", parent: QObject | None = None):
        super().__init__(parent)
        self._name = name
        self._waiting: deque[Task] = deque()
        self._current: Task | None = None
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._mailbox = _Mailbox(self)

    def submit(
        self,
        what: str,
        work: Callable[[Task], Any],
        done: Callable[[Any], None] | None = None,
        failed: Callable[[str], None] | None = None,
        progress: Callable[..., None] | None = None,
    ) -> Task | None:
        """Queue `work`; returns its Task (to cancel it), or None once the runner is shut down."""
        with self._wake:
            if self._closed:
                return None
            task = Task(what, work, done, failed, progress, self._post)
            self._waiting.append(task)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._wake.notify()
        return task

    @property
    def busy(self) -> bool:
        """Whether a task is running or waiting."""
        with self._wake:
            return self._current is not None or any(not t.cancelled for t in self._waiting)

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Cancel every task, refuse new ones, and wait up to `timeout` seconds for the thread
        to end; returns whether it has. Nothing is reported afterwards."""
        with self._wake:
            self._closed = True
            for task in self._waiting:
                task.cancel()
            self._waiting.clear()
            if self._current is not None:
                self._current.cancel()
            self._wake.notify_all()
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                task = self._waiting.popleft()
                if task.cancelled:
                    continue
                self._current = task
            try:
                result, message = task.work(task), None
            except StudioError as exc:
                result, message = None, str(exc)
            except Exception as exc:  # the thread outlives any task
                log.exception("the background task to %s failed", task.what)
                result, message = None, f"cannot {task.what}: {exc}"
            finally:
                with self._wake:
                    self._current = None
            self._finish(task, result, message)

    def _finish(self, task: Task, result, message: str | None) -> None:
        if message is None:
            if task.done is not None:
                self._post(task, lambda: task.done(result))
        elif task.failed is not None:
            self._post(task, lambda: task.failed(message))
        else:
            self._post(task, lambda: self.failed.emit(message))

    def _post(self, task: Task, call: Callable[[], None]) -> None:
        def deliver():
            if not self._closed and not task.cancelled:
                call()

        if task.cancelled:
            return
        try:
            self._mailbox.call.emit(deliver)
        except RuntimeError:  # the GUI side is gone (the runner was deleted mid-task)
            pass
