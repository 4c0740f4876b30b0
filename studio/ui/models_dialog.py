"""The Models dialog: the models a person has (the library), and adding, downloading, removing them
and editing their defaults. It draws a ModelsLibrary (studio.model.models_library) and asks it for
the work; `useRequested` says which checkpoint to draw with."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.engine.request import MAX_GUIDANCE, MAX_SIDE, MAX_STEPS, MIN_SIDE, SIZE_MULTIPLE
from studio.engine.schedulers import SCHEDULER_NAMES
from studio.errors import StudioError
from studio.model.models_library import ModelsLibrary, Transfer
from studio.ui.theme import colours

COLUMNS = ("Name", "Kind", "Model", "Size", "Hash", "Defaults", "Where")
KIND_NAMES = {"checkpoints": "Checkpoint", "loras": "LoRA", "embeddings": "Embedding", "vae": "VAE"}
PREDICTIONS = (("Auto (what the model says)", None), ("v-prediction", "v"), ("epsilon", "epsilon"))
MODEL_FILES = "Models (*.safetensors);;Pickled checkpoints (*.ckpt *.pt *.bin);;All files (*)"


def size_text(size: int) -> str:
    """Bytes as a person reads them: 812 KB, 2.13 GB."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit in ("B", "KB") else f"{value:.{1 if value >= 100 else 2}f} {unit}"
        value /= 1000
    return f"{size} B"


def duration_text(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def transfer_text(t: Transfer) -> str:
    """'Downloading org/name · 1.20 GB of 4.27 GB · 35.2 MB/s · 1 min 27 s left'."""
    parts = [t.what]
    if t.total:
        parts.append(f"{size_text(t.done)} of {size_text(t.total)}")
    elif t.done:
        parts.append(size_text(t.done))
    if t.bytes_per_s > 0:
        parts.append(f"{size_text(int(t.bytes_per_s))}/s")
    if t.eta_s is not None and t.done and t.total and t.done < t.total:
        parts.append(f"{duration_text(t.eta_s)} left")
    return " · ".join(parts)


def defaults_text(entry) -> str:
    d = entry.defaults
    if not d:
        return ""
    steps = f"{d['steps']} step" + ("" if d["steps"] == 1 else "s")
    text = f"{steps} · CFG {d['guidance_scale']:g} · {d['scheduler']} · {d['width']}×{d['height']}"
    if entry.prediction:
        text += " · v-prediction" if entry.prediction == "v" else " · epsilon"
    return text


def where_text(location: str) -> str:
    if location in ("library", "link"):
        return "library (linked)" if location == "link" else "library"
    home = str(Path.home())
    return "~" + location[len(home) :] if location.startswith(home + "/") else location


def _local_paths(mime) -> list[Path]:
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()] if mime.hasUrls() else []


class DefaultsDialog(QDialog):
    """A checkpoint's defaults (steps, CFG, sampler, size) and its prediction, for editing.

    OK (or "The model's own") asks to save with `saveRequested`; whoever saves closes it with
    `accept()`, or leaves it open with `show_message(why)`."""

    saveRequested = Signal()

    def __init__(self, entry, parent: QWidget | None = None):
        super().__init__(parent)
        self.entry = entry
        self.setWindowTitle(f"Defaults of {entry.name}")
        d = entry.defaults
        form = QFormLayout(self)
        self.steps = QSpinBox()
        self.steps.setRange(1, MAX_STEPS)
        self.steps.setValue(d["steps"])
        self.guidance = QDoubleSpinBox()
        self.guidance.setRange(0.0, MAX_GUIDANCE)
        self.guidance.setSingleStep(0.5)
        self.guidance.setDecimals(1)
        self.guidance.setValue(d["guidance_scale"])
        self.scheduler = QComboBox()
        self.scheduler.addItems(SCHEDULER_NAMES)
        self.scheduler.setCurrentText(d["scheduler"])
        self.width_box, self.height_box = QSpinBox(), QSpinBox()
        for box, value in ((self.width_box, d["width"]), (self.height_box, d["height"])):
            box.setRange(MIN_SIDE, MAX_SIDE)
            box.setSingleStep(SIZE_MULTIPLE)
            box.setSuffix(" px")
            box.setValue(value)
        self.prediction = QComboBox()
        for label, value in PREDICTIONS:
            self.prediction.addItem(label, value)
        self.prediction.setCurrentIndex(self.prediction.findData(entry.prediction) if entry.prediction else 0)
        self.prediction.setToolTip("What the model predicts; SD 2.x 768 models are v-prediction")
        form.addRow("Steps", self.steps)
        form.addRow("Guidance (CFG)", self.guidance)
        form.addRow("Sampler", self.scheduler)
        form.addRow("Width", self.width_box)
        form.addRow("Height", self.height_box)
        form.addRow("Prediction", self.prediction)
        self.message = QLabel()
        self.message.setObjectName("error")
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        form.addRow(self.message)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        self.reset = buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        self.reset.setText("The model's own")
        self.reset.setToolTip("Forget what was saved: the model's own defaults and prediction")
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        buttons.accepted.connect(self._ask_save)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.restored = False
        self.reset.clicked.connect(self._restore)

    def _ask_save(self) -> None:
        self.restored = False
        self.saveRequested.emit()

    def _restore(self) -> None:
        self.restored = True
        self.saveRequested.emit()

    def values(self) -> dict:
        """The settings that differ from the entry's (None for each when restoring the model's own)."""
        if self.restored:
            return dict.fromkeys(("steps", "guidance_scale", "scheduler", "width", "height"))
        chosen = {
            "steps": self.steps.value(),
            "guidance_scale": round(self.guidance.value(), 1),
            "scheduler": self.scheduler.currentText(),
            "width": self.width_box.value(),
            "height": self.height_box.value(),
        }
        return {k: v for k, v in chosen.items() if v != self.entry.defaults.get(k)}

    def chosen_prediction(self) -> str | None:
        return None if self.restored else self.prediction.currentData()

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))


class ModelsDialog(QDialog):
    """The library as a table, with what can be done to it."""

    useRequested = Signal(str)  # a checkpoint's library name

    def __init__(self, library: ModelsLibrary, parent: QWidget | None = None):
        super().__init__(parent)
        self.library = library
        self.setWindowTitle("Models")
        self.setAcceptDrops(True)
        self.resize(1080, 560)
        layout = QVBoxLayout(self)
        layout.setSpacing(8)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Where"), QHeaderView.ResizeMode.Stretch)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a long folder keeps both its ends
        layout.addWidget(self.table, 1)
        self.empty = QLabel(
            "No models yet. Add a .safetensors checkpoint or a diffusers folder, drop one here, "
            "download one, or add the models folder of AUTOMATIC1111 or ComfyUI to read it in place."
        )
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.empty)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.PlainText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.details)

        chosen = QHBoxLayout()
        self.use = QPushButton("Use")
        self.use.setToolTip("Draw with this model")
        self.edit_defaults = QPushButton("Edit defaults…")
        self.edit_defaults.setToolTip("Steps, CFG, sampler, size and prediction this model starts with")
        self.remove = QPushButton("Remove…")
        self.remove.setToolTip("A copy goes to the trash folder, a link is deleted; the models it points to stay")
        for button in (self.use, self.edit_defaults, self.remove):
            chosen.addWidget(button)
        chosen.addStretch(1)
        self.add_file = QPushButton("Add file…")
        self.add_file.setToolTip("Add a .safetensors checkpoint, LoRA, embedding or VAE")
        self.add_model_folder = QPushButton("Add folder…")
        self.add_model_folder.setToolTip("Add a diffusers model folder (with model_index.json)")
        self.link = QCheckBox("Link instead of copy")
        self.link.setToolTip("Leave the model where it is; the library points to it")
        self.add_library_folder = QPushButton("Read a models folder…")
        self.add_library_folder.setToolTip(
            "Read an AUTOMATIC1111 or ComfyUI models folder (or any folder of models) in place, never changing it"
        )
        for widget in (self.add_file, self.add_model_folder, self.link, self.add_library_folder):
            chosen.addWidget(widget)
        layout.addLayout(chosen)

        self.folders_row = QWidget()
        folders = QHBoxLayout(self.folders_row)
        folders.setContentsMargins(0, 0, 0, 0)
        folders.addWidget(QLabel("Read in place:"))
        self.folders = QListWidget()
        self.folders.setMaximumHeight(48)
        folders.addWidget(self.folders, 1)
        self.forget_folder = QPushButton("Stop reading")
        self.forget_folder.setToolTip("Its models leave the list; nothing in the folder changes")
        folders.addWidget(self.forget_folder, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.folders_row)

        fetch = QHBoxLayout()
        self.source = QLineEdit()
        self.source.setPlaceholderText(
            "Hugging Face repo id (org/name), one file of one (org/name/model.safetensors), or a URL"
        )
        self.download = QPushButton("Download")
        fetch.addWidget(self.source, 1)
        fetch.addWidget(self.download)
        layout.addLayout(fetch)

        self.transfer_row = QWidget()
        transfer = QHBoxLayout(self.transfer_row)
        transfer.setContentsMargins(0, 0, 0, 0)
        self.transfer_bar = QProgressBar()
        self.transfer_bar.setTextVisible(False)
        self.transfer_bar.setFixedWidth(220)
        self.transfer_text = QLabel()
        self.cancel = QPushButton("Cancel")
        transfer.addWidget(self.transfer_bar)
        transfer.addWidget(self.transfer_text, 1)
        transfer.addWidget(self.cancel)
        self.transfer_row.setVisible(False)
        layout.addWidget(self.transfer_row)
        bottom = QHBoxLayout()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setVisible(False)
        bottom.addWidget(self.message, 1)
        close = QPushButton("Close")
        close.setToolTip("Adds and downloads go on in the background")
        close.clicked.connect(self.reject)
        bottom.addWidget(close, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(bottom)

        for button in self.findChildren(QPushButton):  # Return in the download line downloads, nothing else
            button.setAutoDefault(False)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemDoubleClicked.connect(lambda _: self._use())
        self.use.clicked.connect(self._use)
        self.edit_defaults.clicked.connect(self._edit_defaults)
        self.remove.clicked.connect(self._ask_remove)
        self.add_file.clicked.connect(self._pick_file)
        self.add_model_folder.clicked.connect(self._pick_folder)
        self.add_library_folder.clicked.connect(self._pick_library_folder)
        self.forget_folder.clicked.connect(self._forget_folder)
        self.folders.itemSelectionChanged.connect(
            lambda: self.forget_folder.setEnabled(bool(self.folders.selectedItems()))
        )
        self.source.returnPressed.connect(self._download)
        self.download.clicked.connect(self._download)
        self.cancel.clicked.connect(library.cancel)
        library.changed.connect(self.show_entries)
        library.progress.connect(self._progress)
        library.transferEnded.connect(self._transfer_ended)
        library.failed.connect(lambda text: self.say(text, error=True))
        self.show_entries()

    # Drawing

    def _error_colour(self) -> QColor:
        light = self.palette().window().color().lightness() > 128
        return QColor(colours("light" if light else "dark")["error"])

    def show_entries(self) -> None:
        selected = self.selected()
        keep = (selected.kind, selected.name) if selected is not None else None
        entries = self.library.entries()
        self.table.setRowCount(len(entries))
        red = self._error_colour()
        for row, entry in enumerate(entries):
            hashed = entry.short_hash or ("hashing…" if self.library.is_hashing(entry) else "")
            model = entry.description or KIND_NAMES.get(entry.kind, entry.kind)
            if entry.problem:  # the reason itself: in the line under the table, and the tooltip
                model = f"⚠ {entry.description or 'cannot be used'}"
            cells = (
                entry.name,
                KIND_NAMES.get(entry.kind, entry.kind),
                model,
                size_text(entry.size),
                hashed,
                defaults_text(entry),
                where_text(entry.location),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, (entry.kind, entry.name))
                item.setToolTip(f"{entry.path}\n{entry.problem}" if entry.problem else str(entry.path))
                if entry.problem and COLUMNS[column] in ("Name", "Model"):
                    item.setForeground(red)
                if COLUMNS[column] == "Size":
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
            if keep == (entry.kind, entry.name):
                self.table.selectRow(row)
        self.table.setVisible(bool(entries))
        self.empty.setVisible(not entries)
        folders = [str(f) for f in self.library.folders()]
        if [self.folders.item(i).text() for i in range(self.folders.count())] != folders:
            self.folders.clear()
            self.folders.addItems(folders)
        self.folders_row.setVisible(bool(folders))
        self.forget_folder.setEnabled(bool(self.folders.selectedItems()))
        self._selection_changed()

    def selected(self):
        """The LibraryEntry of the selected row, or None."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        if item is None:
            return None
        kind, name = item.data(Qt.ItemDataRole.UserRole)
        return self.library.entry(name, kind)

    def _selection_changed(self) -> None:
        entry = self.selected()
        usable = entry is not None and not entry.problem and entry.kind == "checkpoints"
        self.use.setEnabled(usable)
        self.edit_defaults.setEnabled(usable)
        self.remove.setEnabled(entry is not None and entry.location in ("library", "link"))
        self.remove.setToolTip(
            f"{entry.name} is read from {entry.location}; Studio never changes that folder"
            if entry is not None and entry.location not in ("library", "link")
            else "A copy goes to the trash folder, a link is deleted; the models it points to stay"
        )
        if entry is None:  # what cannot be used, and why
            problems = [e for e in self.library.entries() if e.problem]
            lines = [f"{e.name}: {e.problem}" for e in problems[:3]]
            if len(problems) > 3:
                lines.append(f"… and {len(problems) - 3} more (select one to see why)")
            self.details.setText("\n".join(lines))
            self.details.setStyleSheet(f"color: {self._error_colour().name()};" if lines else "")
        else:
            text = f"{entry.name}  ·  {entry.path}"
            if entry.problem:
                text += f"\n{entry.problem}"
            self.details.setText(text)
            self.details.setStyleSheet(f"color: {self._error_colour().name()};" if entry.problem else "")

    def say(self, text: str, error: bool = False) -> None:
        """A line under the table: what happened ("" hides it)."""
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {self._error_colour().name()};" if error else "")
        self.message.setVisible(bool(text))

    # What the person asks for

    def _use(self) -> None:
        entry = self.selected()
        if entry is not None and entry.kind == "checkpoints" and not entry.problem:
            self.useRequested.emit(entry.name)
            self.say(f"Drawing with {entry.name} (it loads in the background)")

    def add_paths(self, paths: list[Path]) -> None:
        """Add model files or folders (copied, or linked when the box is ticked), in the background."""
        for path in paths:
            self.library.add(path, link=self.link.isChecked())

    def _pick_file(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add model files", str(Path.home()), MODEL_FILES)
        self.add_paths([Path(f) for f in files])

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a diffusers model folder", str(Path.home()))
        if folder:
            self.add_paths([Path(folder)])

    def _pick_library_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Read a models folder in place (AUTOMATIC1111, ComfyUI, …)", str(Path.home())
        )
        if folder:
            self.read_folder(Path(folder))

    def read_folder(self, folder: Path) -> None:
        try:
            self.library.add_folder(folder)
        except StudioError as exc:
            self.say(str(exc), error=True)
            return
        self.say(f"Reading models from {folder}")

    def _forget_folder(self) -> None:
        items = self.folders.selectedItems()
        if not items:
            return
        try:
            self.library.remove_folder(Path(items[0].text()))
        except StudioError as exc:
            self.say(str(exc), error=True)

    def _download(self) -> None:
        self.library.download(self.source.text())

    def _ask_remove(self) -> None:
        entry = self.selected()
        if entry is None:
            return
        where = "the link is deleted" if entry.location == "link" else "the copy goes to the trash folder"
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Remove model",
            f"Remove {entry.name} from the library? ({where})",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        yes = box.button(QMessageBox.StandardButton.Yes)
        box.buttonClicked.connect(lambda button: self.library.remove(entry) if button is yes else None)
        box.open()

    def _edit_defaults(self) -> None:
        entry = self.selected()
        if entry is None or not entry.defaults:
            return
        editor = DefaultsDialog(entry, self)
        editor.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        editor.saveRequested.connect(lambda: self._save_defaults(editor))
        editor.open()

    def _save_defaults(self, editor: DefaultsDialog) -> None:
        try:
            self.library.set_defaults(editor.entry, editor.chosen_prediction(), **editor.values())
        except StudioError as exc:
            editor.show_message(str(exc))
            return
        editor.accept()
        self.say(f"Saved the defaults of {editor.entry.name}")

    # Transfers

    def _progress(self, transfer: Transfer) -> None:
        self.transfer_row.setVisible(True)
        self.download.setEnabled(False)
        if transfer.total:
            self.transfer_bar.setRange(0, 1000)
            self.transfer_bar.setValue(round(1000 * transfer.done / transfer.total))
        else:
            self.transfer_bar.setRange(0, 0)  # busy: the size is not known yet
        self.transfer_text.setText(transfer_text(transfer))
        self.say("")

    def _transfer_ended(self, text: str, ok: bool) -> None:
        if not self.library.transferring:
            self.transfer_row.setVisible(False)
            self.download.setEnabled(True)
        self.say(text, error=not ok)

    # Drag and drop

    def dragEnterEvent(self, event) -> None:
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = _local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.library.refresh()
        self.library.hash_missing()
