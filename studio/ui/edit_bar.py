"""The editing controls: the tool row above the canvas, and the candidate bar floating over it."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWidgetAction,
)

from studio.engine.request import MAX_COUNT
from studio.model.image_jobs import UPSCALES
from studio.model.session import BRUSH_MAX, BRUSH_MIN
from studio.ui.theme import ACCENT, ACCENT_DIM

GROUP_SPACING = 18  # between the groups of a row
FILLS = (
    ("edge", "Edge fill", "The new area starts from the neighbouring pixels, extended and blurred"),
    ("noise", "Noise fill", "The new area starts from noise in the neighbouring colours"),
    ("colour", "Colour fill", "The new area starts as the neighbouring pixels' mean colour"),
)


class EditBar(QWidget):
    """Tools (extend, brush, eraser), brush size, auto, fill, candidates, the two edit job buttons, and
    Upscale and Variations (each with its strength under its arrow).

    Three groups: the tools, the edit job, the jobs on the whole picture. As many sit in a row as fit.
    """

    toolChanged = Signal(str)
    brushSizeChanged = Signal(int)
    clearMaskRequested = Signal()
    outpaintRequested = Signal()
    inpaintRequested = Signal()
    upscaleRequested = Signal(float)  # the scale
    variationsRequested = Signal()

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.setObjectName("editBar")
        self.setStyleSheet(
            "QToolButton { padding: 4px 6px; } QPushButton { padding: 4px 8px; }"
            f"QToolButton:checked {{ background: {ACCENT}; border-color: {ACCENT}; color: white; }}"
            f"QToolButton:checked:disabled {{ background: {ACCENT_DIM}; border-color: {ACCENT_DIM}; color: palette(placeholder-text); }}"
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
        self.upscale, self.upscale_strength = self._image_job_button(
            "Upscale ×2",
            "Make the picture twice as large and redraw it in tiles with detail (uses the prompt box); "
            "the arrow offers ×1.5 and the strength",
            "upscale_strength",
            "How far the enlarged picture is redrawn: low keeps it, high adds more new detail",
        )
        self.upscale_actions = {}
        menu = self.upscale.menu()
        for scale in UPSCALES:
            self.upscale_actions[scale] = action = menu.addAction(f"Upscale ×{scale:g}")
            action.triggered.connect(lambda _=False, scale=scale: self.upscaleRequested.emit(scale))
        menu.insertActions(menu.actions()[0], menu.actions()[1:])  # the scales above the strength
        menu.insertSeparator(menu.actions()[len(UPSCALES)])
        self.variations, self.variation_strength = self._image_job_button(
            "Variations",
            "Pictures close to this one: its recipe with a new variation seed, as many as Batch (4 when it is 1), "
            "shown side by side",
            "variation_strength",
            "How far the variations stray from the picture",
        )
        self.picture_group = QWidget()
        row = QHBoxLayout(self.picture_group)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        row.addWidget(self.upscale)
        row.addWidget(self.variations)
        self._column = QVBoxLayout(self)
        self._column.setContentsMargins(0, 0, 0, 0)
        self._column.setSpacing(6)
        self._column.setSizeConstraint(QVBoxLayout.SizeConstraint.SetNoConstraint)  # see minimumSizeHint
        self._shape: tuple[int, ...] = ()
        self._arrange(0)
        self._connect()
        self.refresh()
        self.set_state(False, False, False, False)
        self.set_image_jobs(False, False)

    def _image_job_button(self, text: str, tip: str, key: str, strength_tip: str) -> tuple[QToolButton, QSpinBox]:
        """A button that starts a job on the whole picture, its arrow a menu with the job's strength (a session key)."""
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        menu = QMenu(button)
        box = QSpinBox()
        box.setRange(0, 100)
        box.setSuffix(" %")
        box.setToolTip(strength_tip)
        holder = QWidget()
        line = QHBoxLayout(holder)
        line.setContentsMargins(12, 4, 12, 4)
        line.addWidget(QLabel("Strength"))
        line.addWidget(box)
        action = QWidgetAction(menu)
        action.setDefaultWidget(holder)
        menu.addAction(action)
        button.setMenu(menu)
        box.valueChanged.connect(lambda v: self.session.set(key, v / 100))
        return button, box

    @property
    def groups(self) -> tuple[QWidget, ...]:
        return self.tools_group, self.job_group, self.picture_group

    def _arrange(self, width: int) -> None:
        """The groups in order, as many to a row as fit in `width` (0: one group to a row)."""
        rows: list[list[QWidget]] = []
        used = 0
        for group in self.groups:
            need = group.sizeHint().width()
            if rows and used + GROUP_SPACING + need <= width:
                rows[-1].append(group)
                used += GROUP_SPACING + need
            else:
                rows.append([group])
                used = need
        shape = tuple(len(row) for row in rows)
        if shape == self._shape:
            return
        self._shape = shape
        while self._column.count():
            item = self._column.takeAt(0)
            old = item.layout() if item is not None else None
            while old is not None and old.count():
                old.takeAt(0)
        for groups in rows:
            row = QHBoxLayout()
            row.setSpacing(GROUP_SPACING)
            for group in groups:
                row.addWidget(group, 0 if group is self.picture_group else 1)
            if groups == [self.picture_group]:
                row.addStretch(1)
            self._column.addLayout(row)

    def minimumSizeHint(self) -> QSize:
        """As narrow as the widest group: the groups go in more rows rather than widen the window."""
        width = max(group.minimumSizeHint().width() for group in self.groups)
        return QSize(width, self._column.minimumSize().height())

    def resizeEvent(self, event) -> None:
        self._arrange(event.size().width())
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
        self.upscale.clicked.connect(lambda: self.upscaleRequested.emit(2.0))
        self.variations.clicked.connect(self.variationsRequested)
        self.session.changed.connect(
            lambda key: (
                key in ("fill", "candidates", "auto_outpaint", "brush_size", "upscale_strength", "variation_strength")
                and self.refresh()
            )
        )

    def refresh(self) -> None:
        s = self.session
        widgets = (
            self.fill,
            self.candidates,
            self.auto,
            self.size_slider,
            self.upscale_strength,
            self.variation_strength,
        )
        for widget in widgets:
            widget.blockSignals(True)
        self.fill.setCurrentIndex(max(0, self.fill.findData(s["fill"])))
        self.candidates.setValue(s["candidates"])
        self.auto.setChecked(s["auto_outpaint"])
        self.size_slider.setValue(s["brush_size"])
        self.upscale_strength.setValue(round(s["upscale_strength"] * 100))
        self.variation_strength.setValue(round(s["variation_strength"] * 100))
        for widget in widgets:
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

    def set_image_jobs(self, can_upscale: bool, can_vary: bool) -> None:
        """Whether the picture on the canvas can be upscaled now, and has a recipe to vary."""
        self.upscale.setEnabled(can_upscale)
        for action in self.upscale_actions.values():
            action.setEnabled(can_upscale)
        self.variations.setEnabled(can_vary)


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
