"""The model says what it draws: example prompts (placeholder and menu), a note under the model
picker, and a gentle warning under the prompt when it has no word the model knows, which never
stops Generate. The embedded model's hints are read from its real studio.json (no torch)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from studio.model.prompt_vocabulary import ModelHints, hints_for_folder
from studio.model.session import Session
from studio.resources import embedded_model_dir
from studio.ui.controls import Controls

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

UNKNOWN = "a cat wearing a hat"


@pytest.fixture
def embedded_hints() -> ModelHints:
    return hints_for_folder(embedded_model_dir())


@pytest.fixture
def controls(qtbot):
    session = Session()
    session.set("model", "embedded")
    controls = Controls(session)
    qtbot.addWidget(controls)
    controls.resize(320, 900)
    controls.show()
    qtbot.waitExposed(controls)
    return controls


def test_the_first_example_is_the_prompt_boxs_placeholder(controls, embedded_hints):
    controls.set_model_hints(embedded_hints)
    assert embedded_hints.examples[0] in controls.prompt.placeholderText()


def test_an_example_from_the_menu_goes_into_the_prompt(controls, embedded_hints):
    controls.set_model_hints(embedded_hints)
    controls.prompt.setPlainText(UNKNOWN)
    assert controls.examples_button.isVisible()
    actions = controls.examples_button.menu().actions()
    assert [a.text() for a in actions] == list(embedded_hints.examples)
    actions[1].trigger()
    assert controls.prompt.toPlainText() == embedded_hints.examples[1]
    assert controls.session["prompt"] == embedded_hints.examples[1]
    controls.prompt.undo()  # the example replaced the text as an edit, which undo takes back
    assert controls.prompt.toPlainText() == UNKNOWN


def test_the_note_sits_under_the_model_picker(controls, embedded_hints):
    controls.set_model_hints(embedded_hints)
    note = controls.model_note
    assert note.isVisible()
    assert note.text() == embedded_hints.note
    assert "landscape" in note.text()
    picker_bottom = controls.model.mapTo(controls, controls.model.rect().bottomLeft()).y()
    assert note.mapTo(controls, note.rect().topLeft()).y() >= picker_bottom
    assert (
        note.mapTo(controls, note.rect().bottomLeft()).y()
        < controls.size_combo.mapTo(controls, controls.size_combo.rect().topLeft()).y()
    )


def test_a_prompt_without_a_known_word_is_warned_of_but_still_generates(qtbot, controls, embedded_hints):
    controls.set_model_hints(embedded_hints)
    warning = controls.prompt_warning
    controls.prompt.setPlainText(embedded_hints.examples[0])
    assert not warning.isVisible()
    controls.prompt.setPlainText(UNKNOWN)
    assert warning.isVisible()
    assert "knows" in warning.text()
    assert controls.generate.isEnabled()
    with qtbot.waitSignal(controls.generateRequested, timeout=1000):
        qtbot.mouseClick(controls.generate, Qt.MouseButton.LeftButton)
    controls.prompt.setPlainText("a cat by a (LAKE:1.2)")
    assert not warning.isVisible()
    controls.prompt.setPlainText("")
    assert not warning.isVisible()


def test_a_model_without_hints_shows_none(controls, embedded_hints):
    default_placeholder = controls.prompt.placeholderText()
    controls.set_model_hints(ModelHints())
    controls.prompt.setPlainText(UNKNOWN)
    assert not controls.examples_button.isVisible()
    assert not controls.model_note.isVisible()
    assert not controls.prompt_warning.isVisible()
    assert controls.prompt.placeholderText() == default_placeholder
    # Hints come and go with the model.
    controls.set_model_hints(embedded_hints)
    assert controls.prompt_warning.isVisible() and controls.model_note.isVisible()
    controls.set_model_hints(ModelHints())
    assert not controls.prompt_warning.isVisible() and not controls.model_note.isVisible()
    assert controls.prompt.placeholderText() == default_placeholder
    assert not controls.examples_button.isVisible()


def test_the_warning_and_note_read_in_both_themes(qapp, controls, embedded_hints):
    from studio.ui.theme import apply_theme

    controls.set_model_hints(embedded_hints)
    controls.prompt.setPlainText(UNKNOWN)
    try:
        for theme in ("light", "dark"):
            apply_theme(QApplication.instance(), theme)
            text = controls.prompt_warning.palette().color(controls.prompt_warning.foregroundRole())
            back = controls.palette().color(controls.backgroundRole())
            assert abs(text.lightness() - back.lightness()) > 60
    finally:
        apply_theme(QApplication.instance(), "dark")


def test_the_app_gives_the_chosen_models_hints(qtbot, make_app, tiny_model, embedded_hints):
    studio = make_app()  # the tiny model: no hints
    controls = studio.window.controls
    assert not controls.model_note.isVisible()
    assert not controls.examples_button.isVisible()
    with qtbot.waitSignal(studio.worker.modelLoaded, timeout=60000):
        studio.session.set("model", "embedded")  # shown at once, while the model loads
        assert controls.model_note.text() == embedded_hints.note and controls.model_note.isVisible()
        assert controls.examples_button.isVisible()
    with qtbot.waitSignal(studio.worker.modelLoaded, timeout=60000):
        studio.session.set("model", str(tiny_model))
        assert not controls.model_note.isVisible()
        assert not controls.examples_button.isVisible()


def test_the_hints_do_not_widen_the_panel(controls, embedded_hints):
    controls.prompt.setPlainText(UNKNOWN)
    plain = controls.minimumSizeHint().width()
    controls.set_model_hints(embedded_hints)
    assert controls.prompt_warning.isVisible() and controls.examples_button.isVisible()
    assert controls.minimumSizeHint().width() <= plain
