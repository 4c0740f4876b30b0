"""The seed field: every seed Studio makes or reads (0 to 2^32 - 1) shown, typed and stepped exactly."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDoubleSpinBox

from studio.engine.request import MAX_SEED


class SeedBox(QDoubleSpinBox):
    """A spin box for seeds. QSpinBox holds a C int (at most 2^31 - 1); a double holds every
    whole number up to 2^53 exactly, so with no decimals it shows, types and steps seeds exactly."""

    seedChanged = Signal(object)  # int (a Qt int signal would overflow past 2^31 - 1)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setDecimals(0)
        self.setRange(0, MAX_SEED)
        self.setSingleStep(1)
        self.valueChanged.connect(lambda value: self.seedChanged.emit(int(value)))

    def seed(self) -> int:
        return int(self.value())

    def set_seed(self, seed: int) -> None:
        self.setValue(float(min(max(int(seed), 0), MAX_SEED)))
