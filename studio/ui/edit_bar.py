"""The editing controls: the tool row above the canvas, and the candidate bar floating over it."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QWidget,
)

from studio.engine.request import MAX_COUNT
from studio.model.session import BRUSH_MAX, BRUSH_MIN
from studio.ui.theme import ACCENT

FILLS = (
    ("edge", "Edge fill", "The new area starts from the neighbouring pixels, extended and blurred"),
    ("noise", "Noise fill", "The new area starts from noise in the neighbouring colours"),
    ("colour", "Colour fill", "The new area starts as the neighbouring pixels' mean colour"),
)


class EditBar(QWidget):
    """Tools (extend, brush, eraser), brush size, auto, fill, candidates, and the two job buttons.

    Two groups: the tools and the job. They sit in one row when there is room, else in two.
    """

    toolChanged = Signal(str)
    brushSizeChanged = Signal(int)
    clearMaskRequested = Signal()
    outpaintRequested = Signal()
    inpaintRequested = Signal()

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.setObjectName("editBar")
        self.setStyleSheet(
            "QToolButton { padding: 4px 6px; } QPushButton { padding: 4px 8px; }"
            f"QToolButton:checked {{ background: {ACCENT}; border-color: {ACCENT}; color: white; }}"
        )
        self.session = session
        self.tools_group, self.job_group = QWidget(), QWidget()
        row = QHBoxLayout(self.tools_group)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        self.tools = QButtonGroup(self)
        self.tool_buttons: dict[str, QToolButton] = {}
        for name, text, tip in (
            ("extend", "Extend", "Drag the canvas's edges and corners to grow it (Shift: 64 px steps)"),
            ("brush", "Brush", "Paint over what to regenerate (B)"),
            ("eraser", "Eraser", "Take paint off the mask (E)"),
        ):
            button = QToolButton()
            button.setText(text)
            button.setCheckable(True)
            button.setToolTip(tip)
            button.setObjectName(f"tool-{name}")
            self.tools.addButton(button)
            self.tool_buttons[name] = button
            row.addWidget(button)
            if name == "extend":
                self.auto = QCheckBox("Auto")
                self.auto.setToolTip("Outpaint as soon as a canvas handle is released")
                row.addWidget(self.auto)
        self.tool_buttons["extend"].setChecked(True)
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(BRUSH_MIN, BRUSH_MAX)
        self.size_slider.setFixedWidth(60)
        self.size_slider.setToolTip("Brush size in pixels of the picture")
        self.size_label = QLabel()
        self.size_label.setMinimumWidth(36)
        self.clear = QToolButton()
        self.clear.setText("Clear")
        self.clear.setToolTip("Clear the painted mask")
        row.addWidget(self.size_slider)
        row.addWidget(self.size_label)
        row.addWidget(self.clear)
        row.addStretch(1)
        row = QHBoxLayout(self.job_group)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        self.fill = QComboBox()
        for key, text, tip in FILLS:
            self.fill.addItem(text, key)
            self.fill.setItemData(self.fill.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.fill.setToolTip("How the new area starts before it is denoised")
        self.candidates = QSpinBox()
        self.candidates.setRange(1, MAX_COUNT)
        self.candidates.setSuffix(" candidates")
        self.candidates.setToolTip("How many versions each outpaint or inpaint job makes to choose from")
        self.outpaint = QPushButton("Outpaint")
        self.outpaint.setObjectName("outpaint")
        self.outpaint.setToolTip("Fill the new area, continuing the picture (uses the prompt box)")
        self.inpaint = QPushButton("Regenerate")
        self.inpaint.setToolTip("Regenerate the region the brush painted (uses the prompt box)")
        row.addWidget(self.fill)
        row.addWidget(self.candidates)
        row.addStretch(1)
        row.addWidget(self.outpaint)
        row.addWidget(self.inpaint)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(18)
        self._grid.setVerticalSpacing(6)
        self._grid.setColumnStretch(0, 1)
        self._one_row: bool | None = None
        self._grid.setSizeConstraint(QGridLayout.SizeConstraint.SetNoConstraint)  # see minimumSizeHint
        self._arrange(one_row=False)
        self._connect()
        self.refresh()
        self.set_state(False, False, False, False)

    def _arrange(self, one_row: bool) -> None:
        if one_row == self._one_row:
            return
        self._one_row = one_row
        self._grid.addWidget(self.tools_group, 0, 0)
        self._grid.addWidget(self.job_group, 0 if one_row else 1, 1 if one_row else 0)
        self._grid.setColumnStretch(1, 1 if one_row else 0)

    def minimumSizeHint(self) -> QSize:
        """As narrow as the wider group: the groups go in two rows rather than widen the window."""
        width = max(self.tools_group.minimumSizeHint().width(), self.job_group.minimumSizeHint().width())
        return QSize(width, self._grid.minimumSize().height())

    def resizeEvent(self, event) -> None:
        needed = (
            self.tools_group.sizeHint().width() + self.job_group.sizeHint().width() + self._grid.horizontalSpacing()
        )
        self._arrange(event.size().width() >= needed)
        super().resizeEvent(event)

    def _connect(self) -> None:
        self.tools.buttonToggled.connect(self._tool_toggled)
        self.size_slider.valueChanged.connect(self._size_changed)
        self.clear.clicked.connect(self.clearMaskRequested)
        self.fill.currentIndexChanged.connect(lambda i: self.session.set("fill", self.fill.itemData(i)))
        self.candidates.valueChanged.connect(lambda v: self.session.set("candidates", v))
        self.auto.toggled.connect(lambda v: self.session.set("auto_outpaint", v))
        self.outpaint.clicked.connect(self.outpaintRequested)
        self.inpaint.clicked.connect(self.inpaintRequested)
        self.session.changed.connect(
            lambda key: key in ("fill", "candidates", "auto_outpaint", "brush_size") and self.refresh()
        )

    def refresh(self) -> None:
        s = self.session
        for widget in (self.fill, self.candidates, self.auto, self.size_slider):
            widget.blockSignals(True)
        self.fill.setCurrentIndex(max(0, self.fill.findData(s["fill"])))
        self.candidates.setValue(s["candidates"])
        self.auto.setChecked(s["auto_outpaint"])
        self.size_slider.setValue(s["brush_size"])
        for widget in (self.fill, self.candidates, self.auto, self.size_slider):
            widget.blockSignals(False)
        self.size_label.setText(f"{s['brush_size']} px")

    @property
    def tool(self) -> str:
        return next(name for name, button in self.tool_buttons.items() if button.isChecked())

    def set_tool(self, name: str) -> None:
        self.tool_buttons[name].setChecked(True)

    def _tool_toggled(self, button, checked: bool) -> None:
        if checked:
            self.toolChanged.emit(self.tool)

    def _size_changed(self, value: int) -> None:
        self.size_label.setText(f"{value} px")
        self.session.set("brush_size", value)
        self.brushSizeChanged.emit(value)

    def set_state(self, editable: bool, can_outpaint: bool, can_inpaint: bool, painted: bool) -> None:
        for button in self.tool_buttons.values():
            button.setEnabled(editable)
        self.clear.setEnabled(editable and painted)
        self.outpaint.setEnabled(can_outpaint)
        self.inpaint.setEnabled(can_inpaint)


class CandidateBar(QFrame):
    """Floats at the bottom of the canvas while an edit's candidates wait: flip, accept, discard."""

    flipped = Signal(int)
    accepted = Signal()
    discarded = Signal()

    def __init__(self, canvas: QWidget):
        super().__init__(canvas)
        self.setObjectName("candidateBar")
        self.setStyleSheet(
            "QFrame#candidateBar { background: rgba(16, 17, 21, 220); border-radius: 10px; }"
            "QLabel { color: #e8e9ee; padding: 0 6px; }"
            f"QPushButton#accept {{ background: {ACCENT}; color: white; font-weight: 600; border: none; padding: 6px 14px; }}"
            "QPushButton#accept:disabled { background: #3a4266; color: #9aa3c0; }"
        )
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 6, 8, 6)
        row.setSpacing(6)
        self.previous = QToolButton()
        self.previous.setText("◀")
        self.previous.setToolTip("Previous candidate (Left arrow on the canvas)")
        self.label = QLabel()
        self.next = QToolButton()
        self.next.setText("▶")
        self.next.setToolTip("Next candidate (Right arrow on the canvas)")
        self.accept = QPushButton("Accept")
        self.accept.setObjectName("accept")
        self.accept.setToolTip("Keep this candidate (Ctrl+Z undoes it)")
        self.discard = QPushButton("Discard")
        self.discard.setToolTip("Drop the candidates; the canvas is as before")
        for widget in (self.previous, self.label, self.next, self.accept, self.discard):
            row.addWidget(widget)
        self.previous.clicked.connect(lambda: self.flipped.emit(-1))
        self.next.clicked.connect(lambda: self.flipped.emit(1))
        self.accept.clicked.connect(self.accepted)
        self.discard.clicked.connect(self.discarded)
        canvas.installEventFilter(self)
        self.hide()

    def set_candidates(self, current: int, count: int, expected: int = 0, previewing: bool = False) -> None:
        """Show which of the candidates is on the canvas; hidden when there are none. While the job
        still runs (`expected` > 0, the candidates it makes in all) choosing waits for it to end."""
        if count == 0:
            self.hide()
            return
        running = expected > 0
        if running and previewing:
            self.label.setText(f"Making candidate {count + 1} of {expected}…")
        elif running:
            self.label.setText(f"Candidate {current + 1} of {expected} · making more…")
        else:
            self.label.setText(f"Candidate {current + 1} of {count}")
        self.previous.setEnabled(count > 1)
        self.next.setEnabled(count > 1)
        self.accept.setEnabled(not running)
        self.discard.setEnabled(not running)
        self.adjustSize()
        self._place()
        self.show()
        self.raise_()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        canvas = self.parentWidget()
        assert canvas is not None  # made as the canvas's child
        self.move((canvas.width() - self.width()) // 2, canvas.height() - self.height() - 14)
