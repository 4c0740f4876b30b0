"""The Models dialog, the model picker and model loading in the window, on a real library in a tmp DATA_DIR."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from studio.engine.checkpoints import UNET, pack_header
from studio.ui.models_dialog import COLUMNS, DefaultsDialog, ModelsDialog, transfer_text

pytestmark = pytest.mark.qt_log_ignore(  # the offscreen platform, with top-level dialogs
    "This plugin does not support propagateSizeHints", "This plugin does not support raise"
)


def test_a_model_that_fails_to_load_leaves_the_previous_one_selected_and_usable(qtbot, make_app, tmp_path, tiny_model):
    studio = make_app(steps=2)
    broken = tmp_path / "not-a-model.safetensors"
    broken.write_bytes(pack_header({"encoder.down.0.weight": ("F16", (2, 2))}))
    with qtbot.waitSignal(studio.worker.modelFailed, timeout=30000):
        studio.window.controls.model.addItem("not-a-model", str(broken))  # as if the picker offered it
        studio.window.controls.model.setCurrentIndex(studio.window.controls.model.count() - 1)
    assert "not a Stable Diffusion checkpoint" in studio.window.error.text()
    qtbot.waitUntil(lambda: studio.window.controls.model.currentData() == str(tiny_model), timeout=10000)
    assert studio.session["model"] == str(tiny_model)
    qtbot.waitUntil(lambda: "ready" in studio.window.model_status.text(), timeout=30000)
    assert "not a Stable Diffusion checkpoint" in studio.window.error.text()  # the reason stays on screen
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        studio.window.controls.generate.click()
    assert len(list(studio.gallery.glob("*.png"))) == 1


def test_loading_says_which_model_with_a_busy_indicator(qtbot, make_app, tiny_model):
    studio = make_app(steps=2)
    assert not studio.window.model_busy.isVisible()
    studio.window.controls.model.setCurrentIndex(studio.window.controls.model.findData("embedded"))
    assert studio.window.model_status.text() == "Loading Studio landscape (embedded)…"
    assert studio.window.model_busy.isVisible() and studio.window.model_busy.maximum() == 0
    qtbot.waitUntil(lambda: "ready" in studio.window.model_status.text(), timeout=60000)
    assert not studio.window.model_busy.isVisible()


SD1 = {
    UNET + "input_blocks.0.0.weight": ("F16", (8, 4, 3, 3)),
    "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": ("F16", (10, 4)),
}


def checkpoint(path: Path, tensors: dict = SD1) -> Path:
    """A single-file SD 1.x checkpoint of names and shapes only (zero-filled): enough to list, not to draw."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pack_header(tensors))
    return path


def rows(dialog) -> list[dict[str, str]]:
    table = dialog.table
    return [{COLUMNS[c]: table.item(r, c).text() for c in range(table.columnCount())} for r in range(table.rowCount())]


def row_of(dialog, name: str) -> int:
    return next(r for r in range(dialog.table.rowCount()) if dialog.table.item(r, 0).text() == name)


@pytest.fixture
def models(qtbot, tmp_path):
    from studio.model.models_library import ModelsLibrary

    library = ModelsLibrary(tmp_path / "data")
    yield library
    library.close()


@pytest.fixture
def dialog(qtbot, models):
    shown = ModelsDialog(models)
    qtbot.addWidget(shown)
    shown.show()
    qtbot.waitExposed(shown)
    return shown


def test_the_dialog_lists_the_library_with_hashes_defaults_and_problems(qtbot, tmp_path, models):
    own = tmp_path / "data" / "models" / "checkpoints"
    checkpoint(own / "dream.safetensors")
    (own / "old.ckpt").write_bytes(b"\x80\x02}q\x00.")  # a pickle
    dialog = ModelsDialog(models)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 2, timeout=10000)
    sha = hashlib.sha256((own / "dream.safetensors").read_bytes()).hexdigest()
    qtbot.waitUntil(lambda: rows(dialog)[row_of(dialog, "dream")]["Hash"] == sha[:10], timeout=10000)
    dream = rows(dialog)[row_of(dialog, "dream")]
    assert dream == {
        "Name": "dream",
        "Kind": "Checkpoint",
        "Model": "SD 1.x",
        "Size": "928 B",
        "Hash": sha[:10],
        "Defaults": "20 steps · CFG 7 · DPM++ 2M Karras · 512×512",
        "Where": "library",
    }
    old = row_of(dialog, "old")
    assert rows(dialog)[old]["Model"] == "⚠ pickle (.ckpt)"
    problem = "old: a Python pickle: convert it with studio models convert "
    assert dialog.details.text().startswith(problem)  # nothing selected: what cannot be used, and why
    name = dialog.table.item(old, 0)
    assert name is not None and name.foreground().color() == dialog._error_colour()
    dialog.table.selectRow(old)
    assert "studio models convert" in dialog.details.text()
    assert not dialog.use.isEnabled() and not dialog.edit_defaults.isEnabled() and dialog.remove.isEnabled()
    dialog.table.selectRow(row_of(dialog, "dream"))
    assert dialog.use.isEnabled() and dialog.edit_defaults.isEnabled()
    with qtbot.waitSignal(dialog.useRequested) as used:
        dialog.use.click()
    assert used.args == ["dream"]


def test_an_empty_library_says_how_to_fill_it(qtbot, dialog):
    assert dialog.empty.isVisible() and not dialog.table.isVisible()
    assert "AUTOMATIC1111" in dialog.empty.text()


def test_adding_a_file_copies_it_and_says_so(qtbot, tmp_path, dialog, models):
    source = checkpoint(tmp_path / "downloads" / "dream.safetensors")
    with qtbot.waitSignal(models.transferEnded, timeout=10000) as ended:
        dialog.add_paths([source])
    assert ended.args == ["Added dream", True]
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=10000)
    assert rows(dialog)[0]["Where"] == "library"
    assert (tmp_path / "data" / "models" / "checkpoints" / "dream.safetensors").read_bytes() == source.read_bytes()
    assert source.exists() and dialog.message.text() == "Added dream"


def test_linking_leaves_the_file_where_it_is(qtbot, tmp_path, dialog, models):
    source = checkpoint(tmp_path / "elsewhere" / "dream.safetensors")
    dialog.link.setChecked(True)
    with qtbot.waitSignal(models.transferEnded, timeout=10000):
        dialog.add_paths([source])
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=10000)
    assert rows(dialog)[0]["Where"] == "library (linked)"
    assert (tmp_path / "data" / "models" / "checkpoints" / "dream.safetensors").resolve() == source


def test_a_file_that_is_not_a_model_is_refused_with_the_reason(qtbot, tmp_path, dialog, models):
    source = tmp_path / "notes.safetensors"
    source.write_bytes(pack_header({"score.weight": ("F16", (2, 2))}))
    with qtbot.waitSignal(models.transferEnded, timeout=10000) as ended:
        dialog.add_paths([source])
    assert ended.args[1] is False and "notes.safetensors" in ended.args[0] and "unknown layout" in ended.args[0]
    assert dialog.message.isVisible() and dialog.message.text() == ended.args[0]
    assert dialog.table.rowCount() == 0


def test_dropping_a_file_on_the_dialog_adds_it(qtbot, tmp_path, dialog, models):
    source = checkpoint(tmp_path / "dropped.safetensors")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(source))])
    where = QPointF(dialog.rect().center())
    enter = QDragEnterEvent(
        where.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(dialog, enter)
    assert enter.isAccepted()
    drop = QDropEvent(where, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(models.transferEnded, timeout=10000) as ended:
        QApplication.sendEvent(dialog, drop)
    assert ended.args == ["Added dropped", True]
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=10000)


def test_text_dragged_over_the_dialog_is_not_taken(qtbot, dialog):
    mime = QMimeData()
    mime.setText("a prompt")
    enter = QDragEnterEvent(
        dialog.rect().center(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(dialog, enter)
    assert not enter.isAccepted()


def test_remove_asks_first_then_moves_the_copy_to_the_trash(qtbot, tmp_path, models, dialog):
    copy = checkpoint(tmp_path / "data" / "models" / "checkpoints" / "dream.safetensors")
    models.refresh()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=10000)
    dialog.table.selectRow(0)
    dialog.remove.click()
    box = dialog.findChild(QMessageBox)
    assert box is not None and "dream" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert copy.exists()
    dialog.remove.click()
    box = next(b for b in dialog.findChildren(QMessageBox) if b.isVisible())
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 0, timeout=10000)
    assert not copy.exists()
    assert [p.name for p in (tmp_path / "data" / "trash").rglob("*.safetensors")] == ["dream.safetensors"]


def test_a_model_read_from_another_folder_cannot_be_removed(qtbot, tmp_path, models, dialog):
    a1111 = tmp_path / "webui" / "models"
    checkpoint(a1111 / "Stable-diffusion" / "theirs.safetensors")
    dialog.read_folder(a1111)
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=10000)
    assert rows(dialog)[0]["Where"] == str(a1111)
    assert dialog.folders_row.isVisible() and dialog.folders.item(0).text() == str(a1111)
    dialog.table.selectRow(0)
    assert not dialog.remove.isEnabled() and str(a1111) in dialog.remove.toolTip()
    dialog.folders.setCurrentRow(0)
    dialog.forget_folder.click()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 0, timeout=10000)
    assert (a1111 / "Stable-diffusion" / "theirs.safetensors").exists()


def _open_defaults(qtbot, dialog):
    dialog.table.selectRow(0)
    dialog.edit_defaults.click()
    editor = dialog.findChild(DefaultsDialog)
    assert editor is not None and editor.isVisible()
    return editor


def test_edited_defaults_are_saved_in_the_library(qtbot, tmp_path, models, dialog):
    checkpoint(tmp_path / "data" / "models" / "checkpoints" / "dream.safetensors")
    models.refresh()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=10000)
    editor = _open_defaults(qtbot, dialog)
    assert (editor.steps.value(), editor.width_box.value(), editor.prediction.currentData()) == (20, 512, None)
    editor.steps.setValue(4)
    editor.guidance.setValue(1.5)
    editor.scheduler.setCurrentText("Euler a")
    editor.height_box.setValue(768)
    editor.prediction.setCurrentIndex(editor.prediction.findData("v"))
    editor.ok.click()
    saved = "4 steps · CFG 1.5 · Euler a · 512×768 · v-prediction"
    qtbot.waitUntil(lambda: rows(dialog)[0]["Defaults"] == saved, timeout=10000)
    from studio.library.catalog import Library

    again = Library(tmp_path / "data").entries()[0]
    assert again.defaults == {"steps": 4, "guidance_scale": 1.5, "scheduler": "Euler a", "width": 512, "height": 768}
    assert again.prediction == "v"
    editor = _open_defaults(qtbot, dialog)
    editor.reset.click()
    qtbot.waitUntil(lambda: rows(dialog)[0]["Defaults"].startswith("20 steps"), timeout=10000)
    again = Library(tmp_path / "data").entries()[0]
    assert (again.defaults["steps"], again.prediction) == (20, None)


def test_a_refused_default_says_why_and_saves_nothing(qtbot, tmp_path, models, dialog):
    checkpoint(tmp_path / "data" / "models" / "checkpoints" / "dream.safetensors")
    models.refresh()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=10000)
    editor = _open_defaults(qtbot, dialog)
    editor.width_box.setValue(500)  # typed: not a multiple of 8
    editor.ok.click()
    assert editor.isVisible() and editor.message.isVisible() and "multiple of 8" in editor.message.text()
    from studio.library.catalog import Library

    assert Library(tmp_path / "data").entries()[0].defaults["width"] == 512


def test_the_picker_lists_the_library_and_uses_its_models(qtbot, make_app, tmp_path, tiny_model):
    studio = make_app(steps=2)
    studio.window.controls.add_model.click()
    dialog = studio.models_dialog
    assert dialog is not None and dialog.isVisible()
    picker = studio.window.controls.model
    source = tmp_path / "mine" / "tiny-copy"
    shutil.copytree(tiny_model, source)
    with qtbot.waitSignal(studio.models.transferEnded, timeout=30000) as ended:
        dialog.add_paths([source])
    assert ended.args == ["Added tiny-copy", True]
    qtbot.waitUntil(lambda: picker.findData("tiny-copy") >= 0, timeout=10000)
    index = picker.findData("tiny-copy")
    assert picker.itemText(index) == "tiny-copy"
    tip = picker.itemData(index, Qt.ItemDataRole.ToolTipRole)
    assert str(tmp_path / "data" / "models" / "checkpoints" / "tiny-copy") in tip and "diffusers folder" in tip
    dialog.table.selectRow(row_of(dialog, "tiny-copy"))
    with qtbot.waitSignal(studio.worker.modelLoaded, timeout=60000) as loaded:
        dialog.use.click()
    assert loaded.args[0] == "tiny-copy" and studio.session["model"] == "tiny-copy"
    assert picker.currentData() == "tiny-copy"
    qtbot.waitUntil(lambda: studio.window.model_status.text() == "Model: tiny-copy · ready", timeout=10000)
    with qtbot.waitSignal(studio.worker.jobFinished, timeout=60000):
        studio.window.controls.generate.click()
    assert len(list(studio.gallery.glob("*.png"))) == 1


REPO_FILE = "studio-test/tiny-ckpt/dream.safetensors"
BIG_FILE = "studio-test/tiny-ckpt/big.safetensors"  # 800 KB: minutes at the speed the tests set


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """The local stand-in for the Hub, serving one single-file checkpoint, and this process pointed at it."""
    import huggingface_hub.constants

    from studio.testing.hub_server import HubServer

    root = tmp_path / "hub"
    checkpoint(root / REPO_FILE, {**SD1, "model.diffusion_model.out.2.weight": ("F16", (4, 1024))})
    checkpoint(root / BIG_FILE, {**SD1, "model.diffusion_model.out.2.weight": ("F16", (4, 100_000))})
    with HubServer(root) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # read when it was imported
        monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
        yield server


def test_a_download_shows_bytes_speed_and_time_left_then_lists_the_model(qtbot, hub, models, dialog):
    hub.slow(REPO_FILE, 4000)  # about two seconds for its 9 KB
    seen = []
    models.progress.connect(lambda t: seen.append((transfer_text(t), dialog.transfer_bar.value())))
    qtbot.keyClicks(dialog.source, REPO_FILE)
    with qtbot.waitSignal(models.transferEnded, timeout=30000) as ended:
        qtbot.keyClick(dialog.source, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: dialog.transfer_row.isVisible(), timeout=10000)
        assert not dialog.download.isEnabled() and dialog.cancel.isEnabled()
    assert ended.args == ["Downloaded dream", True]
    moving = [(text, value) for text, value in seen if " of 9 KB · " in text and "/s" in text and "left" in text]
    assert moving and all(0 < value < 1000 for _, value in moving), seen
    assert moving[0][0].startswith(f"Downloading {REPO_FILE} · ")
    assert not dialog.transfer_row.isVisible() and dialog.download.isEnabled()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=10000)
    assert rows(dialog)[0]["Name"] == "dream" and rows(dialog)[0]["Model"] == "SD 1.x"


def test_a_download_can_be_cancelled_and_keeps_nothing_in_the_list(qtbot, tmp_path, hub, models, dialog):
    hub.slow(BIG_FILE, 4000)
    dialog.source.setText(BIG_FILE)
    with qtbot.waitSignal(models.progress, timeout=30000, check_params_cb=lambda t: t.done > 0):
        dialog.download.click()
    with qtbot.waitSignal(models.transferEnded, timeout=10000) as ended:
        dialog.cancel.click()
    assert ended.args == ["Cancelled", False]
    assert not dialog.transfer_row.isVisible() and dialog.download.isEnabled()
    assert dialog.message.text() == "Cancelled"
    qtbot.waitUntil(lambda: not models._transfers.busy, timeout=10000)  # the transfer stopped, long before its end
    folder = tmp_path / "data" / "models" / "checkpoints"
    assert [p.name.startswith(".big.") for p in folder.iterdir()] == [True]  # what arrived, hidden, to resume
    assert models.library.entries() == [] and dialog.table.rowCount() == 0


def test_downloading_offline_says_so(qtbot, models, dialog):
    dialog.source.setText(REPO_FILE)
    with qtbot.waitSignal(models.transferEnded, timeout=10000) as ended:
        dialog.download.click()
    assert ended.args == ["downloads are switched off (HF_HUB_OFFLINE is set)", False]
    assert dialog.message.isVisible() and dialog.message.text() == ended.args[0]
