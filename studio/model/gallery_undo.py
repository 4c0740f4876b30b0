"""The gallery's delete-undo stack: this session's deletes, newest last, taken back in turn.

It holds the trash batches a delete returns; putting the files back is the gallery's work.
Emptying or restoring the whole trash leaves nothing to undo (the stack is cleared).
"""

from __future__ import annotations


class DeleteStack:
    def __init__(self):
        self._batches: list = []

    def push(self, batch) -> None:
        self._batches.append(batch)

    def pop(self, batch=None):
        """The newest batch, or `batch` itself, off the stack; None when there is none to take."""
        if batch is None:
            return self._batches.pop() if self._batches else None
        for position in range(len(self._batches) - 1, -1, -1):
            if self._batches[position] is batch:
                return self._batches.pop(position)
        return None

    def clear(self) -> None:
        self._batches.clear()

    def __len__(self) -> int:
        return len(self._batches)
