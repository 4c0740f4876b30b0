"""The prompt boxes: weights, LoRA tags, BREAK and embedding names highlighted from a real library
(tiny LoRA and embedding files in a tmp DATA_DIR), unknown names underlined with the reason,
Ctrl+Up/Down weighting words, and the LoRA picker putting tags and trigger words into the prompt."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QHelpEvent, QPalette, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QApplication, QPlainTextEdit, QToolTip
from safetensors.numpy import save_file

from studio.library.catalog import Library
from studio.model.prompt_marks import PromptVocabulary
from studio.model.session import Session
from studio.ui.controls import Controls
from studio.ui.prompt_highlighter import PromptAssist

pytestmark = pytest.mark.qt_log_ignore(  # the offscreen platform, with tooltips and top-level dialogs
    "This plugin does not support propagateSizeHints", "This plugin does not support raise"
)

PROMPT = "a castle, (golden hour:1.3), [fog], <lora:watercolor:0.7>, easynegative, <lora:missing> BREAK sky"
TAGS = {"10_wtrcolor": {"wtrcolor style": 30, "castle": 4, "paper": 11}}


def lora(path: Path, family: str = "sd1", metadata: dict[str, str] | None = None) -> Path:
    if family == "sdxl":
        names = {
            "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": (4, 768),
            "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": (4, 1280),
        }
    else:
        names = {
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": (4, 320),
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": (320, 4),
            "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": (4, 768),
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({n: np.zeros(s, dtype=np.float16) for n, s in names.items()}, str(path), metadata=metadata)
    return path


@pytest.fixture
def data(tmp_path) -> Path:
    data = tmp_path / "data"
    loras = data / "models" / "loras"
    lora(loras / "watercolor.safetensors", metadata={"ss_tag_frequency": json.dumps(TAGS)})
    lora(loras / "xl_detail.safetensors", "sdxl", metadata={"modelspec.trigger_phrase": "hyperdetailed"})
    embeddings = data / "models" / "embeddings"
    embeddings.mkdir(parents=True)
    save_file({"emb_params": np.zeros((2, 768), dtype=np.float16)}, str(embeddings / "EasyNegative.safetensors"))
    return data


@pytest.fixture
def vocabulary(data) -> PromptVocabulary:
    return PromptVocabulary.from_entries(Library(data).entries())


@pytest.fixture
def box(qtbot, vocabulary):
    edit = QPlainTextEdit()
    qtbot.addWidget(edit)
    assist = PromptAssist(edit)
    assist.set_vocabulary(vocabulary)
    edit.setPlainText(PROMPT)
    edit.show()
    qtbot.waitExposed(edit)
    return edit, assist


def format_at(edit: QPlainTextEdit, position: int) -> QTextCharFormat:
    block = edit.document().findBlock(position)
    offset = position - block.position()
    ranges = block.layout().formats()
    for found in ranges:
        if found.start <= offset < found.start + found.length:
            return QTextCharFormat(found.format)  # a copy: the range's own goes with the list
    return QTextCharFormat()


def colour(form: QTextCharFormat) -> str:
    return form.foreground().color().name() if form.hasProperty(QTextCharFormat.Property.ForegroundBrush) else ""


def at(word: str, nth: int = 0) -> int:
    index = -1
    for _ in range(nth + 1):
        index = PROMPT.index(word, index + 1)
    return index


def test_the_highlight_marks_each_piece_where_it_stands(box):
    edit, assist = box
    c = assist.highlighter.colours
    assert colour(format_at(edit, at("castle"))) == ""  # plain words stay plain
    assert colour(format_at(edit, at("golden"))) == c["up"]
    assert colour(format_at(edit, at("hour"))) == c["up"]
    assert colour(format_at(edit, at("(golden"))) == c["bracket"]
    assert colour(format_at(edit, at(":1.3)"))) == c["bracket"]
    assert colour(format_at(edit, at(":1.3)") + 4)) == c["bracket"]
    assert colour(format_at(edit, at("fog"))) == c["down"]
    assert colour(format_at(edit, at("fog") - 1)) == c["bracket"]
    assert colour(format_at(edit, at(", ", 1))) == ""  # between the brackets, plain again
    for offset in range(len("<lora:watercolor:0.7>")):
        form = format_at(edit, at("<lora:watercolor") + offset)
        assert colour(form) == c["lora"]
        assert form.underlineStyle() == QTextCharFormat.UnderlineStyle.NoUnderline
    assert colour(format_at(edit, at("easynegative"))) == c["embedding"]
    assert colour(format_at(edit, at("easynegative") + 11)) == c["embedding"]
    assert colour(format_at(edit, at("easynegative") + 12)) == ""
    assert colour(format_at(edit, at("BREAK"))) == c["break"]
    assert colour(format_at(edit, at("sky"))) == ""


def test_an_unknown_lora_is_underlined_with_the_reason(qtbot, box):
    edit, assist = box
    c = assist.highlighter.colours
    form = format_at(edit, at("missing"))
    assert form.underlineStyle() == QTextCharFormat.UnderlineStyle.WaveUnderline
    assert form.underlineColor().name() == c["problem"]
    assert colour(form) == ""  # the text's own colour: only what will work is coloured
    assert assist.tip_at(at("missing")) == "No LoRA named missing in the library"
    # The same tooltip when the pointer rests over the word.
    cursor = QTextCursor(edit.document())
    cursor.setPosition(at("missing") + 2)
    point = edit.cursorRect(cursor).center()
    viewport = edit.viewport()
    QApplication.sendEvent(viewport, QHelpEvent(QEvent.Type.ToolTip, point, viewport.mapToGlobal(point)))
    qtbot.waitUntil(QToolTip.isVisible)
    assert QToolTip.text() == "No LoRA named missing in the library"


def test_the_tooltips_say_weight_family_trigger_words_and_embedding(box):
    edit, assist = box
    assert assist.tip_at(at("golden")) == "Weight 1.3 (stronger)"
    assert assist.tip_at(at("fog")) == "Weight 0.91 (weaker)"
    assert assist.tip_at(at("watercolor")) == (
        "LoRA watercolor (SD 1.x) at weight 0.7\nTrigger words: wtrcolor style, paper, castle"
    )
    assert assist.tip_at(at("easynegative") + 3) == "Embedding EasyNegative (SD 1.x)"
    assert "new 75-token chunk" in assist.tip_at(at("BREAK"))
    assert assist.tip_at(at("castle")) == ""
    edit.setPlainText("a (castle")
    assert "never closed" in assist.tip_at(4)
    edit.setPlainText("a (castle)")
    assert assist.tip_at(4) == "Weight 1.1 (stronger)"


def test_a_lora_or_embedding_for_another_family_is_underlined(box, vocabulary):
    edit, assist = box
    assist.set_vocabulary(dataclasses.replace(vocabulary, model_family="sdxl"))
    assert format_at(edit, at("watercolor")).underlineStyle() == QTextCharFormat.UnderlineStyle.WaveUnderline
    assert assist.tip_at(at("watercolor")).startswith("LoRA watercolor is for SD 1.x and the model is SDXL\n")
    assert format_at(edit, at("easynegative")).underlineStyle() == QTextCharFormat.UnderlineStyle.WaveUnderline
    assert "Embedding EasyNegative is for SD 1.x and the model is SDXL" in assist.tip_at(at("easynegative"))
    edit.setPlainText("<lora:xl_detail>")
    assert format_at(edit, 3).underlineStyle() == QTextCharFormat.UnderlineStyle.NoUnderline
    assert assist.tip_at(3).endswith("Trigger words: hyperdetailed")


def test_nothing_fits_the_embedded_model(qtbot, data):
    session = Session()
    session.set("model", "embedded")
    controls = Controls(session)
    qtbot.addWidget(controls)
    controls.set_prompt_library(Library(data).entries())
    controls.prompt.setPlainText("<lora:watercolor:0.5>, easynegative")
    assist = controls.prompt_assist
    assert format_at(controls.prompt, 3).underlineStyle() == QTextCharFormat.UnderlineStyle.WaveUnderline
    assert assist.tip_at(3).startswith("LoRA watercolor is for SD 1.x and the embedded model takes no LoRAs\n")
    assert assist.tip_at(25).startswith(
        "Embedding EasyNegative is for SD 1.x and the embedded model takes no embeddings"
    )
    controls.show_lora_picker()
    picker = controls.lora_picker
    assert picker is not None
    assert picker.list.topLevelItem(0).toolTip(0).endswith("the embedded model takes no LoRAs")
    picker.close()


def test_the_colours_follow_the_theme(box):
    edit, _ = box
    for base, wanted in (("#16171b", "#f4b860"), ("#ffffff", "#b35c00")):  # the dark theme's, the light one's
        palette = edit.palette()
        palette.setColor(QPalette.ColorRole.Base, QColor(base))
        edit.setPalette(palette)
        assert colour(format_at(edit, at("golden"))) == wanted


def test_a_bracket_on_one_line_colours_the_next(qtbot, box):
    edit, assist = box
    edit.setPlainText("a (castle\nfog")
    assert colour(format_at(edit, 11)) == assist.highlighter.colours["up"]
    cursor = edit.textCursor()
    cursor.setPosition(2)
    cursor.deleteChar()  # the bracket goes: the second line is plain again
    qtbot.waitUntil(lambda: colour(format_at(edit, 10)) == "")


def select(edit: QPlainTextEdit, start: int, end: int) -> None:
    cursor = edit.textCursor()
    cursor.setPosition(start)
    cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
    edit.setTextCursor(cursor)


def test_ctrl_up_and_down_weight_the_selected_words(qtbot):
    edit = QPlainTextEdit()
    qtbot.addWidget(edit)
    PromptAssist(edit)
    edit.show()
    qtbot.waitExposed(edit)
    edit.setPlainText("a castle, golden hour, fog")
    select(edit, 10, 21)
    qtbot.keyClick(edit, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert edit.toPlainText() == "a castle, (golden hour:1.1), fog"
    assert edit.textCursor().selectedText() == "golden hour"
    qtbot.keyClick(edit, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert edit.toPlainText() == "a castle, (golden hour:1.2), fog"
    for _ in range(3):
        qtbot.keyClick(edit, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
    assert edit.toPlainText() == "a castle, (golden hour:0.9), fog"
    qtbot.keyClick(edit, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert edit.toPlainText() == "a castle, golden hour, fog"
    qtbot.keyClick(edit, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # one undo step per press
    assert edit.toPlainText() == "a castle, (golden hour:0.9), fog"
    select(edit, 4, 4)  # no selection: the word under the cursor
    qtbot.keyClick(edit, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
    assert edit.toPlainText() == "a (castle:0.9), (golden hour:0.9), fog"


def test_the_picker_inserts_a_tag_and_trigger_words(qtbot, data):
    session = Session()
    session.set("model", str(data / "a-model-outside-the-library"))  # of no family known: every LoRA may fit
    session.set("prompt", "a castle")
    controls = Controls(session)
    qtbot.addWidget(controls)
    controls.set_prompt_library(Library(data).entries())
    controls.show()
    qtbot.mouseClick(controls.lora_button, Qt.MouseButton.LeftButton)
    picker = controls.lora_picker
    assert picker is not None and picker.isVisible()
    rows = [[picker.list.topLevelItem(i).text(c) for c in range(3)] for i in range(picker.list.topLevelItemCount())]
    assert rows == [["watercolor", "SD 1.x", "wtrcolor style, paper, castle"], ["xl_detail", "SDXL", "hyperdetailed"]]
    picker.list.setCurrentItem(picker.list.topLevelItem(0))
    assert picker.slider.value() * 0.05 == pytest.approx(1.0)
    picker.slider.setValue(14)
    assert picker.weight_label.text() == "0.70"
    assert picker.triggers.text() == "Trigger words: wtrcolor style, paper, castle"
    qtbot.mouseClick(picker.insert, Qt.MouseButton.LeftButton)
    assert controls.prompt.toPlainText() == "a castle, <lora:watercolor:0.7>"
    assert session["prompt"] == "a castle, <lora:watercolor:0.7>"
    qtbot.mouseClick(picker.insert_triggers, Qt.MouseButton.LeftButton)
    assert session["prompt"] == "a castle, <lora:watercolor:0.7>, wtrcolor style, paper, castle"
    assert controls.prompt_assist.tip_at(12).startswith("LoRA watercolor (SD 1.x) at weight 0.7")
    picker.filter.setText("hyperdet")  # by trigger word
    assert picker.chosen() is not None and picker.chosen().name == "xl_detail"
    picker.slider.setValue(40)
    qtbot.mouseClick(picker.insert, Qt.MouseButton.LeftButton)
    assert session["prompt"].endswith("castle, <lora:xl_detail:2>")
    controls.prompt.setPlainText("a (castle:1.2), fog")
    select(controls.prompt, 4, 10)  # a selection (Ctrl+Up's) inside a weight: the tag goes after it
    qtbot.mouseClick(picker.insert, Qt.MouseButton.LeftButton)
    assert session["prompt"] == "a (castle:1.2), <lora:xl_detail:2>, fog"
    picker.filter.setText("nothing like it")
    assert picker.chosen() is None and not picker.insert.isEnabled()
    picker.close()


def test_the_picker_says_when_the_library_has_no_lora(qtbot, tmp_path):
    controls = Controls(Session())
    qtbot.addWidget(controls)
    controls.set_prompt_library(Library(tmp_path / "empty").entries())
    controls.show_lora_picker()
    picker = controls.lora_picker
    assert picker is not None
    assert picker.empty.isVisible() and "No LoRAs in the library" in picker.empty.text()
    assert not picker.insert.isEnabled() and not picker.insert_triggers.isEnabled()
    picker.close()


def test_the_window_highlights_with_the_library_it_reads(make_app, qtbot, tmp_path, data):
    studio = make_app(data)
    controls = studio.window.controls
    qtbot.waitUntil(
        lambda: [e.name for e in controls.prompt_assist.highlighter.vocabulary.loras] == ["watercolor", "xl_detail"],
        timeout=10000,
    )
    controls.prompt.setPlainText("<lora:watercolor:0.5>, easynegative")
    assert controls.prompt_assist.tip_at(3).startswith("LoRA watercolor (SD 1.x) at weight 0.5")
    assert controls.prompt_assist.tip_at(25) == "Embedding EasyNegative (SD 1.x)"
