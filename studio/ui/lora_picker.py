"""The LoRA picker: the library's LoRAs with their families and trigger words; Insert puts
`<lora:NAME:WEIGHT>` into the prompt at its cursor, with the weight from the slider, and the
trigger words can go in beside it."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.library.catalog import LibraryEntry
from studio.library.kinds import FAMILY_WORDS
from studio.library.lora_info import trigger_words
from studio.model.prompt_edit import weight_text
from studio.model.prompt_marks import family_problem

SLIDER_STEP = 0.05
SLIDER_MAX = 2.0
_WORDS = Qt.ItemDataRole.UserRole + 1  # an item's trigger words, for the filter
_UNNAMEABLE = set("<>:")  # a name with these cannot stand in a tag: its hash stands in for it


def tag_name(entry: LibraryEntry) -> str:
    """How a tag names the LoRA: its name, or its short hash when the name cannot be written in a tag
    ("" when neither can)."""
    return entry.short_hash if _UNNAMEABLE & set(entry.name) else entry.name


class LoraPicker(QDialog):
    insertRequested = Signal(str)  # text to put into the prompt at its cursor

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Insert a LoRA")
        self.setObjectName("loraPicker")
        self.resize(560, 420)
        self._entries: list[LibraryEntry] = []
        self._family = ""
        layout = QVBoxLayout(self)

        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by name or trigger word…")
        self.filter.setClearButtonEnabled(True)
        layout.addWidget(self.filter)

        self.list = QTreeWidget()
        self.list.setHeaderLabels(["Name", "Family", "Trigger words"])
        self.list.setRootIsDecorated(False)
        self.list.setUniformRowHeights(True)
        self.list.setColumnWidth(0, 200)
        self.list.setColumnWidth(1, 70)
        layout.addWidget(self.list, 1)
        self.empty = QLabel(
            "No LoRAs in the library yet: add one with Models › Manage models… "
            "(or put .safetensors LoRA files in the models/loras folder)."
        )
        self.empty.setWordWrap(True)
        layout.addWidget(self.empty)

        weight_row = QHBoxLayout()
        weight_row.addWidget(QLabel("Weight"))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, round(SLIDER_MAX / SLIDER_STEP))
        self.slider.setSingleStep(1)
        self.slider.setPageStep(4)
        self.slider.setValue(round(1.0 / SLIDER_STEP))
        self.slider.setToolTip("How strongly the LoRA applies: 0 not at all, 1 as trained")
        self.weight_label = QLabel()
        self.weight_label.setMinimumWidth(36)
        weight_row.addWidget(self.slider, 1)
        weight_row.addWidget(self.weight_label)
        layout.addLayout(weight_row)

        self.triggers = QLabel()
        self.triggers.setWordWrap(True)
        self.triggers.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.triggers)

        buttons = QHBoxLayout()
        self.insert_triggers = QPushButton("Insert trigger words")
        self.insert_triggers.setToolTip("Put the LoRA's trigger words into the prompt at its cursor")
        self.insert = QPushButton("Insert")
        self.insert.setDefault(True)
        self.insert.setToolTip("Put the LoRA's tag into the prompt at its cursor")
        close = QPushButton("Close")
        buttons.addWidget(self.insert_triggers)
        buttons.addStretch(1)
        buttons.addWidget(self.insert)
        buttons.addWidget(close)
        layout.addLayout(buttons)

        self.filter.textChanged.connect(self._apply_filter)
        self.list.currentItemChanged.connect(lambda *_: self._chosen_changed())
        self.list.itemDoubleClicked.connect(lambda *_: self._insert_tag())
        self.slider.valueChanged.connect(lambda _: self._chosen_changed())
        self.insert.clicked.connect(self._insert_tag)
        self.insert_triggers.clicked.connect(self._insert_triggers)
        close.clicked.connect(self.close)
        self._chosen_changed()

    def set_loras(self, entries: list[LibraryEntry], model_family: str = "") -> None:
        """The library's LoRAs, and the family of the model chosen ("" when unknown): the others are greyed."""
        if (list(entries), model_family) == (self._entries, self._family):
            return
        chosen = self.chosen()
        self._entries, self._family = list(entries), model_family
        self.list.clear()
        muted = self.palette().placeholderText().color()
        for entry in self._entries:
            words = trigger_words(entry.path)
            family = FAMILY_WORDS.get(entry.family, "")
            item = QTreeWidgetItem([entry.name, family, ", ".join(words[:4])])
            item.setData(0, Qt.ItemDataRole.UserRole, entry.name)
            item.setData(0, _WORDS, " ".join(words).casefold())
            why = _why_not(entry, model_family)
            tip = f"{entry.path}\n{why}" if why else str(entry.path)
            for column in range(3):
                item.setToolTip(column, tip)
                if why:
                    item.setForeground(column, QColor(muted))
            self.list.addTopLevelItem(item)
            if chosen is not None and entry.name == chosen.name:
                self.list.setCurrentItem(item)
        items = self._items()
        if self.list.currentItem() is None and items:
            self.list.setCurrentItem(items[0])
        self.empty.setVisible(not self._entries)
        self._apply_filter(self.filter.text())
        self._chosen_changed()

    def chosen(self) -> LibraryEntry | None:
        item = self.list.currentItem()
        if item is None or item.isHidden():
            return None
        name = item.data(0, Qt.ItemDataRole.UserRole)
        return next((e for e in self._entries if e.name == name), None)

    def weight(self) -> float:
        return round(self.slider.value() * SLIDER_STEP, 2)

    def tag(self) -> str:
        """The tag of the LoRA chosen at the slider's weight ("" when none is chosen)."""
        entry = self.chosen()
        name = tag_name(entry) if entry is not None else ""
        return f"<lora:{name}:{weight_text(self.weight())}>" if name else ""

    def _chosen_changed(self) -> None:
        self.weight_label.setText(f"{self.weight():.2f}")
        entry = self.chosen()
        self.insert.setEnabled(bool(self.tag()))
        words = trigger_words(entry.path) if entry is not None else ()
        if entry is None:
            self.triggers.setText("")
        elif words:
            self.triggers.setText(f"Trigger words: {', '.join(words)}")
        else:
            self.triggers.setText("Trigger words: none written in this LoRA's file")
        self.insert_triggers.setEnabled(bool(words))

    def _apply_filter(self, text: str) -> None:
        wanted = text.strip().casefold()
        for item in self._items():
            shown = not wanted or wanted in item.text(0).casefold() or wanted in item.data(0, _WORDS)
            item.setHidden(not shown)
        current = self.list.currentItem()
        if current is None or current.isHidden():
            first = next((item for item in self._items() if not item.isHidden()), None)
            if first is not None:
                self.list.setCurrentItem(first)
            else:
                self.list.setCurrentIndex(QModelIndex())
        self._chosen_changed()

    def _items(self) -> list[QTreeWidgetItem]:
        found = (self.list.topLevelItem(i) for i in range(self.list.topLevelItemCount()))
        return [item for item in found if item is not None]

    def _insert_tag(self) -> None:
        tag = self.tag()
        if tag:
            self.insertRequested.emit(tag)

    def _insert_triggers(self) -> None:
        entry = self.chosen()
        words = trigger_words(entry.path) if entry is not None else ()
        if words:
            self.insertRequested.emit(", ".join(words))


def _why_not(entry: LibraryEntry, model_family: str) -> str:
    if entry.problem:
        return entry.problem
    if not tag_name(entry):
        return "its name cannot be written in a tag and it has no hash yet"
    return family_problem(entry, model_family)
