"""The left panel: prompt, negative prompt, model, size, sampler settings, seed, batch, quality, queue.

The chosen model's hints (ModelHints) show here: its first example prompt as the prompt box's
placeholder, all of them under "Examples", its note under the model picker, and a gentle line
under the prompt when none of its words is one the model knows (Generate stays available)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPalette, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.engine.request import EMBEDDED_MODEL, MAX_COUNT, MAX_GUIDANCE, MAX_STEPS
from studio.engine.schedulers import SCHEDULER_NAMES
from studio.model.prompt_edit import insertion, insertion_point
from studio.model.prompt_marks import PromptVocabulary
from studio.model.prompt_vocabulary import ModelHints, has_known_word
from studio.ui.prompt_highlighter import PromptAssist
from studio.ui.seed_box import SeedBox

ASPECTS = (
    ("Square", 1, 1),
    ("Landscape", 2, 1),
    ("Portrait", 1, 2),
    ("Landscape", 3, 2),
    ("Portrait", 2, 3),
    ("Wide", 16, 9),
)


def size_presets(base: int) -> list[tuple[str, int, int]]:
    """Sizes around the model's native area for each aspect ratio, sides multiples of 8."""
    presets = []
    for name, a, b in ASPECTS:
        if a == b:
            w = h = base
        elif a > b:
            h, w = base, round(base * a / b / 8) * 8
        else:
            w, h = base, round(base * b / a / 8) * 8
        presets.append((f"{name} {a}:{b}  ({w}×{h})", w, h))
    return presets


PLACEHOLDER = "Describe a picture…  (Ctrl+Enter to generate)"


def job_kind(request) -> str:
    """What a queued job makes, when it is more than a picture from text: 'Upscale ×2 · ' and the like."""
    kind = getattr(request, "kind", "")
    if kind == "upscale":
        return f"Upscale ×{request.scale:g} · "
    if kind == "img2img":
        return f"From the picture {round(request.strength * 100)} % · "
    if getattr(request, "variation_strength", 0) > 0:
        return "Variations · "
    return ""


def _quiet_label(name: str) -> QLabel:
    """A small muted line, hidden until it has something to say; its colour follows the theme."""
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    label.setVisible(False)
    return label


def _section(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("section")
    return label


class Controls(QWidget):
    generateRequested = Signal()
    cancelRequested = Signal()
    addModelRequested = Signal()
    removeJobRequested = Signal(int)
    reuseSeedRequested = Signal()

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self._updating = False
        self._base = 128
        self._library: list[tuple[str, str]] = []  # the library's checkpoints: (name, tooltip)
        self._entries: list = []  # every library entry (LibraryEntry), for the prompt boxes and the LoRA picker
        self.lora_picker = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)

        # The examples, as a link in the section's heading: the row under the prompt is full.
        self.examples_button = QToolButton()
        self.examples_button.setObjectName("examplesButton")
        self.examples_button.setText("Examples ▾")
        self.examples_button.setToolTip("Prompts this model draws well: pick one to put it in the prompt")
        self.examples_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.examples_button.setMenu(QMenu(self.examples_button))
        self.examples_button.setStyleSheet(
            "QToolButton { border: none; padding: 0 2px; background: transparent; color: palette(highlight); }"
            " QToolButton:hover { text-decoration: underline; } QToolButton::menu-indicator { image: none; width: 0; }"
        )
        self.examples_button.setVisible(False)
        heading = QHBoxLayout()
        heading.addWidget(_section("Prompt"))
        heading.addStretch(1)
        heading.addWidget(self.examples_button)
        layout.addLayout(heading)
        self.prompt = QPlainTextEdit()
        self.prompt.setObjectName("prompt")
        self.prompt.setPlaceholderText(PLACEHOLDER)
        self.prompt.setTabChangesFocus(True)
        self.prompt.setMinimumHeight(90)
        self.prompt.setMaximumHeight(140)
        layout.addWidget(self.prompt)
        self._hints = ModelHints()
        self.prompt_warning = _quiet_label("promptWarning")
        self.prompt_warning.setText("This model knows none of these words.")
        self.prompt_warning.setToolTip("It may draw something else. Examples (above) lists prompts it draws well.")
        layout.addWidget(self.prompt_warning)

        self.negative_toggle = QToolButton()
        self.negative_toggle.setText("Negative prompt")
        self.negative_toggle.setCheckable(True)
        self.negative_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.negative_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.negative_toggle.setToolTip("What to keep out of the picture")
        self.lora_button = QToolButton()
        self.lora_button.setObjectName("loraButton")
        self.lora_button.setText("LoRA…")
        self.lora_button.setToolTip("Insert a LoRA from the library into the prompt, with its weight")
        under_prompt = QHBoxLayout()
        under_prompt.addWidget(self.negative_toggle)
        under_prompt.addStretch(1)
        under_prompt.addWidget(self.lora_button)
        layout.addLayout(under_prompt)
        self.negative = QPlainTextEdit()
        self.negative.setPlaceholderText("e.g. blurry, low quality")
        self.negative.setTabChangesFocus(True)
        self.negative.setMaximumHeight(70)
        self.negative.setVisible(False)
        layout.addWidget(self.negative)
        self.prompt_assist = PromptAssist(self.prompt)  # highlighting, tooltips, Ctrl+Up/Down
        self.negative_assist = PromptAssist(self.negative)

        layout.addWidget(_section("Model"))
        model_row = QHBoxLayout()
        self.model = QComboBox()
        self.model.setToolTip("The model that draws: the embedded one, or one from your models library")
        self.add_model = QPushButton("Add…")
        self.add_model.setToolTip("Add a model: a .safetensors checkpoint, a diffusers folder, or a download")
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.add_model)
        layout.addLayout(model_row)
        self.model_note = _quiet_label("modelNote")
        layout.addWidget(self.model_note)

        layout.addWidget(_section("Settings"))
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        form.setHorizontalSpacing(10)
        self.size_combo = QComboBox()
        self.size_combo.setToolTip("Picture size and aspect ratio")
        form.addRow("Size", self.size_combo)
        self.steps = QSpinBox()
        self.steps.setRange(1, MAX_STEPS)
        self.steps.setToolTip("Denoising steps: more is slower and often finer")
        form.addRow("Steps", self.steps)
        self.guidance = QDoubleSpinBox()
        self.guidance.setRange(0.0, MAX_GUIDANCE)
        self.guidance.setSingleStep(0.5)
        self.guidance.setDecimals(1)
        self.guidance.setToolTip("Guidance (CFG): how closely to follow the prompt")
        form.addRow("Guidance", self.guidance)
        self.scheduler = QComboBox()
        self.scheduler.addItems(SCHEDULER_NAMES)
        self.scheduler.setToolTip("Sampler")
        form.addRow("Sampler", self.scheduler)
        seed_row = QHBoxLayout()
        self.seed = SeedBox()
        self.seed.setToolTip("Seed: the same seed and settings give the same picture")
        self.random_seed = QCheckBox("Random")
        self.random_seed.setToolTip("A new seed for every job")
        self.reuse_seed = QToolButton()
        self.reuse_seed.setText("↺")
        self.reuse_seed.setToolTip("Reuse the last seed")
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.random_seed)
        seed_row.addWidget(self.reuse_seed)
        form.addRow("Seed", seed_row)
        self.count = QSpinBox()
        self.count.setRange(1, MAX_COUNT)
        self.count.setToolTip("How many candidates to make (seeds seed, seed+1, …)")
        form.addRow("Batch", self.count)
        self.quality = QComboBox()
        self.quality.setObjectName("quality")
        for text, value in (("Full", "full"), ("Draft", "draft")):
            self.quality.addItem(text, value)
        self.quality.setToolTip(
            "Full: the picture is decoded by the model's own VAE. Draft: by a small decoder fitted to it, "
            "many times faster on a CPU and a little softer. The draft decoder is fitted once per model, in "
            "the background; until then pictures are decoded in full (the log says so)"
        )
        form.addRow("Quality", self.quality)
        # Strength, as in Krita's AI plugin: 100 % draws from the prompt alone; below, Generate starts
        # from the canvas picture and redraws that much of it.
        strength_row = QHBoxLayout()
        self.strength = QSlider(Qt.Orientation.Horizontal)
        self.strength.setObjectName("strength")
        self.strength.setRange(0, 100)
        self.strength.setPageStep(10)
        self.strength_box = QSpinBox()
        self.strength_box.setRange(0, 100)
        self.strength_box.setSuffix(" %")
        for widget in (self.strength, self.strength_box):
            widget.setToolTip(
                "100 %: a new picture from the prompt. Below: start from the picture on the canvas and "
                "redraw this much of it (low keeps it, high changes more). Open or drop a picture on the "
                "canvas to start from it"
            )
        strength_row.addWidget(self.strength, 1)
        strength_row.addWidget(self.strength_box)
        form.addRow("Strength", strength_row)
        self.strength_note = _quiet_label("strengthNote")
        form.addRow("", self.strength_note)
        self._has_picture = False
        layout.addLayout(form)
        self.strength_note.setVisible(True)  # once the form is in the panel: a label with no parent shows as a window

        buttons = QHBoxLayout()
        self.generate = QPushButton("Generate")
        self.generate.setObjectName("generate")
        self.generate.setToolTip("Generate (Ctrl+Enter); again to queue another job")
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop the running job (Esc)")
        self.cancel.setEnabled(False)
        buttons.addWidget(self.generate, 2)
        buttons.addWidget(self.cancel, 1)
        layout.addLayout(buttons)

        layout.addWidget(_section("Queue"))
        self.queue = QListWidget()
        self.queue.setObjectName("queue")
        self.queue.setMaximumHeight(110)
        self.queue.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # long prompts are elided
        self.queue.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.queue.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.queue.setToolTip("Pending jobs; select one and press Delete to remove it")
        layout.addWidget(self.queue)
        self.remove_job = QPushButton("Remove from queue")
        self.remove_job.setEnabled(False)
        layout.addWidget(self.remove_job)
        layout.addStretch(1)

        for field in (
            self.model,
            self.size_combo,
            self.scheduler,
            self.steps,
            self.guidance,
            self.seed,
            self.count,
            self.quality,
        ):
            field.setMinimumWidth(70)  # explicit, so long entries never widen the panel
        for combo in (self.model, self.size_combo, self.scheduler):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        self._connect()
        self.refresh()

    def _connect(self) -> None:
        s = self.session
        self.prompt.textChanged.connect(lambda: self._store("prompt", self.prompt.toPlainText()))
        self.prompt.textChanged.connect(self._check_words)
        self.negative.textChanged.connect(lambda: self._store("negative_prompt", self.negative.toPlainText()))
        self.negative_toggle.toggled.connect(self._show_negative)
        self.steps.valueChanged.connect(lambda v: self._store("steps", v))
        self.guidance.valueChanged.connect(lambda v: self._store("guidance_scale", float(v)))
        self.scheduler.currentTextChanged.connect(lambda v: self._store("scheduler", v))
        self.seed.seedChanged.connect(lambda v: self._store("seed", v))
        self.random_seed.toggled.connect(lambda v: self._store("random_seed", v))
        self.count.valueChanged.connect(lambda v: self._store("count", v))
        self.quality.currentIndexChanged.connect(lambda i: self._store("quality", self.quality.itemData(i)))
        self.strength.valueChanged.connect(lambda v: self._store("strength", v / 100))
        self.strength_box.valueChanged.connect(lambda v: self._store("strength", v / 100))
        self.size_combo.currentIndexChanged.connect(self._size_chosen)
        self.model.currentIndexChanged.connect(self._model_chosen)
        self.add_model.clicked.connect(self.addModelRequested)
        self.lora_button.clicked.connect(self.show_lora_picker)
        self.generate.clicked.connect(self.generateRequested)
        self.cancel.clicked.connect(self.cancelRequested)
        self.reuse_seed.clicked.connect(self.reuseSeedRequested)
        self.queue.itemSelectionChanged.connect(lambda: self.remove_job.setEnabled(bool(self.queue.selectedItems())))
        self.remove_job.clicked.connect(self._remove_selected)
        s.changed.connect(self._session_changed)

    def _store(self, key: str, value) -> None:
        if not self._updating:
            self.session.set(key, value)

    def _show_negative(self, shown: bool) -> None:
        self.negative.setVisible(shown)
        self.negative_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self._store("negative_open", shown)

    def _size_chosen(self, index: int) -> None:
        data = self.size_combo.itemData(index)
        if data and not self._updating:
            self.session.set("width", data[0])
            self.session.set("height", data[1])

    def _model_chosen(self, index: int) -> None:
        ref = self.model.itemData(index)
        if ref and not self._updating:
            self.session.set("model", ref)

    def _remove_selected(self) -> None:
        for item in self.queue.selectedItems():
            self.removeJobRequested.emit(item.data(Qt.ItemDataRole.UserRole))

    def _session_changed(self, key: str) -> None:
        if not self._updating:
            self.refresh()

    def refresh(self) -> None:
        """Show the session's values in the controls."""
        s = self.session
        self._updating = True
        try:
            if self.prompt.toPlainText() != s["prompt"]:
                self.prompt.setPlainText(s["prompt"])
                self.prompt.moveCursor(QTextCursor.MoveOperation.End)  # where a LoRA picked goes
            if self.negative.toPlainText() != s["negative_prompt"]:
                self.negative.setPlainText(s["negative_prompt"])
            self.negative_toggle.setChecked(s["negative_open"] or bool(s["negative_prompt"]))
            self.negative.setVisible(self.negative_toggle.isChecked())
            self.steps.setValue(s["steps"])
            self.guidance.setValue(s["guidance_scale"])
            self.scheduler.setCurrentText(s["scheduler"])
            self.seed.set_seed(s["seed"])
            self.random_seed.setChecked(s["random_seed"])
            self.seed.setEnabled(not s["random_seed"])
            self.count.setValue(s["count"])
            self.quality.setCurrentIndex(max(0, self.quality.findData(s["quality"])))
            self.strength.setValue(round(s["strength"] * 100))
            self.strength_box.setValue(round(s["strength"] * 100))
            self._show_strength()
            self._fill_models()
            self._fill_sizes()
            self._fill_prompt_library()
        finally:
            self._updating = False

    def set_canvas_picture(self, present: bool) -> None:
        """Whether a picture is on the canvas for Generate to start from (Strength works only then)."""
        self._has_picture = present
        self._show_strength()

    def _show_strength(self) -> None:
        present = self._has_picture
        self.strength.setEnabled(present)
        self.strength_box.setEnabled(present)
        if not present:
            note = "Text to image (no picture on the canvas)"
        elif self.session["strength"] >= 1:
            note = "Text to image; lower it to start from the canvas picture"
        else:
            note = "from the canvas picture"
        self.strength_note.setText(note)

    def _fill_models(self) -> None:
        """The embedded model, the library's checkpoints by name, then the folders added before the library."""
        s = self.session
        models = [(EMBEDDED_MODEL, "Studio landscape (embedded)", "The small landscape model that comes with Studio")]
        models += [(name, name, tip) for name, tip in self._library]
        known = {ref for ref, _, _ in models}
        for ref in [*s["models"], s["model"]]:
            if ref not in known:
                known.add(ref)
                models.append((ref, ref.rstrip("/").split("/")[-1] or ref, ref))
        shown = [
            (self.model.itemData(i), self.model.itemText(i), self.model.itemData(i, Qt.ItemDataRole.ToolTipRole))
            for i in range(self.model.count())
        ]
        if shown != models:
            self.model.clear()
            for ref, label, tip in models:
                self.model.addItem(label, ref)
                self.model.setItemData(self.model.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.model.setCurrentIndex([ref for ref, _, _ in models].index(s["model"]))

    def set_model_hints(self, hints: ModelHints) -> None:
        """What the chosen model says it draws (nothing for a model without hints)."""
        self._hints = hints
        examples = hints.examples
        self.prompt.setPlaceholderText(f"{examples[0]}  (Ctrl+Enter to generate)" if examples else PLACEHOLDER)
        menu = self.examples_button.menu()
        menu.clear()
        for example in examples:
            menu.addAction(example, lambda text=example: self.use_example(text))
        self.examples_button.setVisible(bool(examples))
        self.model_note.setText(hints.note)
        self.model_note.setToolTip(hints.note)
        self.model_note.setVisible(bool(hints.note))
        self._check_words()

    def use_example(self, text: str) -> None:
        """Put an example in the prompt in place of its text, as an edit that undo takes back."""
        cursor = self.prompt.textCursor()
        cursor.select(QTextCursor.SelectionType.Document)
        cursor.insertText(text)
        self.prompt.setTextCursor(cursor)
        self.prompt.setFocus()

    def _check_words(self) -> None:
        known = has_known_word(self.prompt.toPlainText(), self._hints.vocabulary)
        self.prompt_warning.setVisible(not known)

    def set_library(self, models: list[tuple[str, str]]) -> None:
        """The library's checkpoints for the picker: (name, tooltip) each."""
        if models == self._library:
            return
        self._library = list(models)
        self._updating = True
        try:
            self._fill_models()
        finally:
            self._updating = False

    def set_prompt_library(self, entries: list) -> None:
        """Every library entry (LibraryEntry): the LoRAs and embeddings the prompt boxes know, the LoRA picker's list."""
        self._entries = list(entries)
        self._fill_prompt_library()

    def _fill_prompt_library(self) -> None:
        vocabulary = PromptVocabulary.from_entries(self._entries, self.session["model"])
        self.prompt_assist.set_vocabulary(vocabulary)
        self.negative_assist.set_vocabulary(vocabulary)
        if self.lora_picker is not None:
            self.lora_picker.set_loras(list(vocabulary.loras), vocabulary.model_family)

    def show_lora_picker(self) -> None:
        if self.lora_picker is None:
            from studio.ui.lora_picker import LoraPicker

            self.lora_picker = LoraPicker(self)
            self.lora_picker.insertRequested.connect(self.insert_into_prompt)
            self._fill_prompt_library()
        self.lora_picker.show()
        self.lora_picker.raise_()
        self.lora_picker.activateWindow()

    def insert_into_prompt(self, piece: str) -> None:
        """Put `piece` into the prompt at its cursor (after the brackets or tag it stands in; a selection
        is not replaced), set off from its neighbours by commas."""
        cursor = self.prompt.textCursor()
        text = self.prompt.toPlainText()
        at = insertion_point(text, cursor.selectionEnd())
        cursor.setPosition(at)
        cursor.insertText(insertion(text, at, piece))
        self.prompt.setTextCursor(cursor)

    def _fill_sizes(self) -> None:
        s = self.session
        presets = size_presets(self._base)
        current = (s["width"], s["height"])
        if current not in [(w, h) for _, w, h in presets]:
            presets.append((f"Custom ({current[0]}×{current[1]})", *current))
        self.size_combo.clear()
        for label, w, h in presets:
            self.size_combo.addItem(label, (w, h))
        self.size_combo.setCurrentIndex([(w, h) for _, w, h in presets].index(current))

    def set_model_base(self, side: int) -> None:
        """The model's native side: size presets are built around it."""
        self._base = side
        self._updating = True
        try:
            self._fill_sizes()
        finally:
            self._updating = False

    def set_queue(self, jobs, waiting: bool = False) -> None:
        """The jobs in the list; `waiting`: the model is still loading, the pending ones say so."""
        self.queue.clear()
        for job in jobs:
            r = job.request
            state = "▶ " if job.state == "running" else ("waits for the model · " if waiting else "")
            text = (
                f"{state}{job_kind(r)}{r.width}×{r.height} · {r.count}× · {' '.join(r.prompt.split()) or '(no prompt)'}"
            )
            item = QListWidgetItem(text)
            item.setSizeHint(QSize(1, self.queue.fontMetrics().height() + 4))  # as wide as the list, never wider
            item.setData(Qt.ItemDataRole.UserRole, job.job_id)
            item.setToolTip(r.prompt)
            if job.state == "running":
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            self.queue.addItem(item)

    def set_running(self, running: bool) -> None:
        self.cancel.setEnabled(running)
