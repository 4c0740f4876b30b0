"""The prompt boxes' own help: weights, LoRA tags, BREAK, escapes and embedding names in colour,
what will not work underlined in red with the reason on hover, and Ctrl+Up/Down to weight words.

`PromptAssist(edit)` puts all of it on a QPlainTextEdit; `set_vocabulary` tells it what the
library holds. What is marked where comes from `studio.model.prompt_marks`, the key's edit from
`studio.model.prompt_edit`.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QKeyEvent, QSyntaxHighlighter, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QToolTip

from studio.model.prompt_edit import step_weight
from studio.model.prompt_marks import Mark, PromptVocabulary, mark_at, mark_tip, prompt_marks

STEP = 0.1
_COLOURS = {
    "dark": {
        "up": "#f4b860",
        "down": "#7fb0ff",
        "bracket": "#9096a3",
        "lora": "#4fd1a5",
        "embedding": "#d394ff",
        "break": "#ff7ac6",
        "problem": "#ff6b6b",
    },
    "light": {
        "up": "#b35c00",
        "down": "#1f5fd1",
        "bracket": "#5c6270",
        "lora": "#00875a",
        "embedding": "#8a3ab9",
        "break": "#c2185b",
        "problem": "#c62828",
    },
}


class PromptHighlighter(QSyntaxHighlighter):
    """Colours a prompt box's text by what `prompt_marks` finds in it."""

    def __init__(self, edit: QPlainTextEdit):
        super().__init__(edit.document())
        self.edit = edit
        self.vocabulary = PromptVocabulary()
        self._text: str | None = None
        self._marks: list[Mark] = []
        self.colours = _COLOURS["dark"]
        self._whole_pending = False
        self._whole_text = ""
        self.document().contentsChanged.connect(self._contents_changed)
        self.update_colours()

    def marks(self) -> list[Mark]:
        """The marks of the text as it is now."""
        text = self.document().toPlainText()
        if text != self._text:
            self._text, self._marks = text, prompt_marks(text, self.vocabulary)
        return self._marks

    def set_vocabulary(self, vocabulary: PromptVocabulary) -> None:
        if vocabulary != self.vocabulary:
            self.vocabulary = vocabulary
            self._text = None
            self.rehighlight()

    def update_colours(self) -> None:
        """Colours that read on the box's background (the dark or the light theme)."""
        dark = self.edit.palette().base().color().lightness() < 128
        colours = _COLOURS["dark" if dark else "light"]
        if colours != self.colours:
            self.colours = colours
            self.rehighlight()

    def format_of(self, mark: Mark) -> QTextCharFormat:
        c = self.colours
        form = QTextCharFormat()
        if mark.kind == "weight":
            if mark.weight != 1.0:
                form.setForeground(QColor(c["up"] if mark.weight > 1 else c["down"]))
        elif mark.kind in ("bracket", "escape"):
            form.setForeground(QColor(c["bracket"]))
            form.setFontWeight(QFont.Weight.Bold)
        elif mark.kind == "break":
            form.setForeground(QColor(c["break"]))
            form.setFontWeight(QFont.Weight.Bold)
        elif mark.kind in ("lora", "embedding"):
            if not mark.problem:  # one that will not work keeps the text's colour: only what works shines
                form.setForeground(QColor(c[mark.kind]))
            if mark.kind == "lora":
                form.setFontWeight(QFont.Weight.DemiBold)
        if mark.problem:
            form.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
            form.setUnderlineColor(QColor(c["problem"]))
        return form

    def highlightBlock(self, text: str) -> None:
        block = self.currentBlock()
        first, last = block.position(), block.position() + len(text)
        for mark in self.marks():
            start, end = max(mark.start, first), min(mark.end, last)
            if start < end:
                self.setFormat(start - first, end - start, self.format_of(mark))

    def _contents_changed(self) -> None:
        # A bracket on one line weights the lines after it; Qt redoes only the line that changed.
        if self.document().blockCount() > 1 and not self._whole_pending:
            self._whole_pending = True
            QTimer.singleShot(0, self, self._rehighlight_all)  # never after the box is gone

    def _rehighlight_all(self) -> None:
        self._whole_pending = False
        text = self.document().toPlainText()
        if text != self._whole_text:  # painting changes no text, so it never asks for itself again
            self._whole_text = text
            self.rehighlight()


class PromptAssist(QObject):
    """The highlighter, the tooltips and Ctrl+Up/Down of one prompt box."""

    def __init__(self, edit: QPlainTextEdit):
        super().__init__(edit)
        self.edit = edit
        self.highlighter = PromptHighlighter(edit)
        edit.installEventFilter(self)
        edit.viewport().installEventFilter(self)

    def set_vocabulary(self, vocabulary: PromptVocabulary) -> None:
        self.highlighter.set_vocabulary(vocabulary)

    def tip_at(self, position: int) -> str:
        """The tooltip for the character at `position` of the text ("" for plain text)."""
        mark = mark_at(self.highlighter.marks(), position)
        return mark_tip(mark) if mark is not None else ""

    def step(self, delta: float) -> bool:
        """Ctrl+Up (delta > 0) / Ctrl+Down on the selection or the word under the cursor; one undo step."""
        cursor = self.edit.textCursor()
        edit = step_weight(self.edit.toPlainText(), cursor.selectionStart(), cursor.selectionEnd(), delta)
        if edit is None:
            return False
        cursor.beginEditBlock()
        cursor.setPosition(edit.start)
        cursor.setPosition(edit.end, QTextCursor.MoveMode.KeepAnchor)
        cursor.insertText(edit.replacement)
        cursor.endEditBlock()
        cursor.setPosition(edit.select_start)
        cursor.setPosition(edit.select_end, QTextCursor.MoveMode.KeepAnchor)
        self.edit.setTextCursor(cursor)
        return True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if watched is self.edit:
            if kind in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride) and isinstance(event, QKeyEvent):
                delta = _step_of(event)
                if delta:
                    event.accept()
                    if kind == QEvent.Type.KeyPress:
                        self.step(delta)
                    return True
            elif kind == QEvent.Type.PaletteChange:
                self.highlighter.update_colours()
        elif kind == QEvent.Type.ToolTip:
            self._show_tip(event)
            return True
        return super().eventFilter(watched, event)

    def _show_tip(self, event) -> None:
        pos = event.pos()
        cursor = self.edit.cursorForPosition(pos)
        position = cursor.position()
        if pos.x() < self.edit.cursorRect(cursor).x():  # the pointer is over the character before
            position -= 1
        tip = self.tip_at(position) if position >= 0 else ""
        if tip:
            QToolTip.showText(event.globalPos(), tip, self.edit.viewport())
        else:
            QToolTip.hideText()
            event.ignore()


def _step_of(event: QKeyEvent) -> float:
    """+STEP for Ctrl+Up, -STEP for Ctrl+Down, else 0."""
    modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    if modifiers != Qt.KeyboardModifier.ControlModifier:
        return 0.0
    return {Qt.Key.Key_Up: STEP, Qt.Key.Key_Down: -STEP}.get(Qt.Key(event.key()), 0.0)
