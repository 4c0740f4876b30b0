"""The main window: controls on the left, the canvas in the middle, results below.

It opens in two steps so that it is on screen at once: the frame (title, status bar)
paints first and announces it with `firstPainted`; `build()` then adds the panels and
menus, whose modules and Qt classes cost more to load than the frame itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

# Qt classes by attribute where only the panels use them: each loads (with its many enums)
# when first used, after the frame has painted.
from PySide6 import QtCore, QtGui
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QMainWindow

_UNSHOWN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # controls; a file name's undecodable bytes

SHORTCUTS = (
    ("Ctrl+Enter", "Generate (again to queue another job)"),
    ("Esc", "Cancel the running job (none running: discard an edit's candidates)"),
    ("Ctrl+O", "Open an image"),
    ("Ctrl+Shift+S", "Save the image as…"),
    ("Ctrl+0 / Ctrl+1", "Fit to window / actual size"),
    ("Ctrl++ / Ctrl+-", "Zoom in / out (or the mouse wheel)"),
    ("Drag", "Pan the canvas"),
    ("Drag an edge or corner", "Grow the canvas by 8 px steps (Shift: 64 px); drag back in to crop back"),
    ("B / E / X", "Brush, eraser, extend"),
    ("← / →", "Flip between an edit's candidates (canvas focused)"),
    ("Ctrl+Z / Ctrl+Shift+Z", "Undo / redo an edit"),
    ("Ctrl+G", "Show the batch's candidates"),
    ("Ctrl+Shift+G", "Show or hide the gallery"),
    ("Del / Enter", "Delete / open the selected gallery images (grid focused)"),
    ("Ctrl+Q", "Quit"),
)


class MainWindow(QMainWindow):
    generateRequested = Signal()
    cancelRequested = Signal()
    openRequested = Signal()
    saveAsRequested = Signal()
    exportAnimationRequested = Signal()
    reuseRequested = Signal()
    undoRequested = Signal()
    redoRequested = Signal()
    themeToggled = Signal(bool)
    modelsRequested = Signal()  # Models > Manage models…
    engineRequested = Signal()  # Models > Engine…
    closing = Signal()
    firstPainted = Signal()  # the frame is on screen; build() may follow

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.built = False
        self.log_folder: str | os.PathLike | None = None  # DATA_DIR/logs, for Help > Open log folder
        self.device_of: Callable[[], str] | None = None  # what About says the model runs on
        self.open_url: Callable[[QtCore.QUrl], bool] = QtGui.QDesktopServices.openUrl  # a file manager, a browser
        self._saved: tuple[str, Path] | None = None  # the message of the last save, and its folder
        self._painted = False
        self.setWindowTitle("Studio")
        self.setMinimumSize(960, 600)
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        width, height = 1280, 800
        if screen is not None:  # leave room for the frame and title bar the window manager adds
            width, height = min(width, screen.width() - 16), min(height, screen.height() - 40)
        self.resize(width, height)
        self.model_status = QLabel("Starting…")
        self.zoom_status = QLabel("")
        self.statusBar().addPermanentWidget(self.zoom_status)
        self.statusBar().addWidget(self.model_status)
        self.statusBar().messageChanged.connect(self._status_message_changed)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self.firstPainted.emit()

    def build(self) -> None:
        """The panels, menus and their connections (once)."""
        if self.built:
            return
        from PySide6.QtWidgets import (
            QHBoxLayout,
            QProgressBar,
            QPushButton,
            QScrollArea,
            QStackedWidget,
            QVBoxLayout,
            QWidget,
        )

        from studio.ui.canvas import Canvas
        from studio.ui.controls import Controls
        from studio.ui.edit_bar import CandidateBar, EditBar
        from studio.ui.results import CandidateGrid, RecentStrip, Timeline

        session = self.session
        self.controls = Controls(session)
        scroll = QScrollArea()
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        scroll.setFixedWidth(340)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.canvas = Canvas()
        self.edit_bar = EditBar(session)
        self.candidate_bar = CandidateBar(self.canvas)
        self.grid = CandidateGrid()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.canvas)
        self.stack.addWidget(self.grid)
        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setTextFormat(QtCore.Qt.TextFormat.PlainText)  # a file name in it is never markup
        self.error.setWordWrap(True)
        self.error.setVisible(False)
        self.progress = QProgressBar()
        self.progress.setObjectName("progress")
        self.progress.setFormat("Ready")
        self.progress.setValue(0)
        self.candidates_button = QPushButton("Candidates")
        self.candidates_button.setObjectName("candidatesButton")
        self.candidates_button.setToolTip("Show the batch's candidates side by side again (Ctrl+G)")
        self.candidates_button.setVisible(False)
        self.show_folder_button = QPushButton("Show in folder")
        self.show_folder_button.setObjectName("statusButton")
        self.show_folder_button.setToolTip("Open the folder the file was saved in")
        self.show_folder_button.setVisible(False)
        bar = self.statusBar()  # the button goes left of the zoom readout
        bar.removeWidget(self.zoom_status)
        bar.addPermanentWidget(self.show_folder_button)
        bar.addPermanentWidget(self.zoom_status)
        self.zoom_status.show()
        self.model_busy = QProgressBar()  # while a model loads: how far it has got (moving only while torch starts)
        self.model_busy.setObjectName("modelBusy")
        self.model_busy.setRange(0, 0)
        self.model_busy.setFormat("%p %")
        self.model_busy.setFixedSize(110, 16)
        self.model_busy.setVisible(False)
        self.statusBar().addWidget(self.model_busy)
        self.timeline = Timeline()
        self.recent = RecentStrip()

        centre = QWidget()
        column = QVBoxLayout(centre)
        column.setContentsMargins(4, 12, 12, 8)
        column.setSpacing(8)
        column.addWidget(self.error)
        column.addWidget(self.edit_bar)
        column.addWidget(self.stack, 1)
        column.addWidget(self.progress)
        steps_row = QHBoxLayout()  # as tall as the timeline's own button: the canvas keeps its size
        steps_row.setSpacing(8)
        steps_row.addWidget(self.timeline, 1)
        steps_row.addWidget(self.candidates_button)
        column.addLayout(steps_row)
        column.addWidget(self.recent)

        body = QWidget()
        row = QHBoxLayout(body)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(scroll)
        row.addWidget(centre, 1)
        self.setCentralWidget(body)

        self.canvas.zoomChanged.connect(lambda z: self.zoom_status.setText(f"{z * 100:.0f} %"))
        self.grid.chosen.connect(lambda _: self.stack.setCurrentWidget(self.canvas))
        self.grid.countChanged.connect(lambda _: self._show_candidates_button())
        self.stack.currentChanged.connect(lambda _: self._show_candidates_button())
        self.candidates_button.clicked.connect(self.toggle_candidates)
        self.show_folder_button.clicked.connect(self.show_saved_folder)
        self.controls.generateRequested.connect(self.generateRequested)
        self.controls.cancelRequested.connect(self.cancelRequested)
        self.timeline.exportRequested.connect(self.exportAnimationRequested)
        self._menus(session["theme"] == "light")
        self.controls.prompt.setFocus()
        self.built = True

    def _action(self, menu, text: str, shortcut=None, slot=None, tip: str = "") -> QtGui.QAction:
        action = QtGui.QAction(text, self)
        if shortcut:
            shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QtGui.QKeySequence(s) for s in shortcuts])
            action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
        if slot is not None:
            action.triggered.connect(slot)
        if tip:
            action.setToolTip(tip)
        menu.addAction(action)
        return action

    def _menus(self, light: bool) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&Open image…", QtGui.QKeySequence.StandardKey.Open, self.openRequested)
        self._action(file, "Save image &as…", "Ctrl+Shift+S", self.saveAsRequested)
        self._action(file, "&Export animation…", None, self.exportAnimationRequested)
        file.addSeparator()
        self._action(file, "&Quit", "Ctrl+Q", self.close)
        edit = bar.addMenu("&Edit")
        self.generate_action = self._action(edit, "&Generate", ["Ctrl+Return", "Ctrl+Enter"], self.generateRequested)
        self.cancel_action = self._action(edit, "&Cancel", "Esc", self.cancelRequested)
        self._action(edit, "&Reuse this image's parameters", None, self.reuseRequested)
        edit.addSeparator()
        self.undo_action = self._action(edit, "&Undo", "Ctrl+Z", self.undoRequested)
        self.redo_action = self._action(edit, "&Redo", ["Ctrl+Shift+Z", "Ctrl+Y"], self.redoRequested)
        self.undo_action.setEnabled(False)
        self.redo_action.setEnabled(False)
        self._action(edit, "&Extend tool", "X", lambda: self.edit_bar.set_tool("extend"))
        self._action(edit, "&Brush", "B", lambda: self.edit_bar.set_tool("brush"))
        self._action(edit, "&Eraser", "E", lambda: self.edit_bar.set_tool("eraser"))
        edit.addSeparator()  # jobs on the whole picture (the edit bar has them too)
        bar_ = self.edit_bar
        self.image_job_actions: dict = {
            scale: self._action(
                edit, f"Upscale ×{scale:g}", None, lambda _=False, s=scale: bar_.upscaleRequested.emit(s)
            )
            for scale in (1.5, 2.0)
        }
        self.image_job_actions["variations"] = self._action(edit, "&Variations", None, bar_.variationsRequested)
        for action in self.image_job_actions.values():
            action.setEnabled(False)  # until a picture is on the canvas
        models = bar.addMenu("&Models")
        self._action(
            models,
            "&Manage models…",
            None,
            self.modelsRequested,
            "The models you have: add, download, remove, defaults",
        )
        self._action(models, "&Engine…", None, self.engineRequested, "Make pictures on this computer or on a server")
        view = self.view_menu = bar.addMenu("&View")
        self._action(view, "&Fit to window", "Ctrl+0", self.show_canvas_fit)
        self._action(view, "&Actual size", "Ctrl+1", self.canvas.actual_size)
        self._action(view, "Zoom &in", ["Ctrl++", "Ctrl+="], lambda: self.canvas.zoom_by(1.25))
        self._action(view, "Zoom &out", "Ctrl+-", lambda: self.canvas.zoom_by(0.8))
        self._action(view, "Show &candidates", "Ctrl+G", lambda: self.stack.setCurrentWidget(self.grid))
        view.addSeparator()
        theme = self._action(view, "&Light theme", None, None)
        theme.setCheckable(True)
        theme.setChecked(light)
        theme.toggled.connect(self.themeToggled)
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", "F1", self.show_shortcuts)
        self._action(
            help_menu,
            "Open &log folder",
            None,
            self.open_log_folder,
            "The log and crash reports, for finding out what went wrong",
        )
        self._action(help_menu, "&About Studio", None, self.show_about)

    def add_gallery(self, panel) -> None:
        """Dock the gallery panel on the right; View > Gallery (Ctrl+Shift+G) shows or hides it."""
        from PySide6.QtWidgets import QDockWidget

        dock = QDockWidget("Gallery", self)
        dock.setObjectName("galleryDock")
        dock.setWidget(panel)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.resizeDocks([dock], [380], QtCore.Qt.Orientation.Horizontal)
        toggle = dock.toggleViewAction()
        toggle.setText("&Gallery")
        toggle.setShortcut(QtGui.QKeySequence("Ctrl+Shift+G"))
        actions = self.view_menu.actions()
        if actions:
            self.view_menu.insertAction(actions[0], toggle)
        else:
            self.view_menu.addAction(toggle)
        self.gallery_dock = dock

    def show_canvas_fit(self) -> None:
        self.stack.setCurrentWidget(self.canvas)
        self.canvas.fit()

    def show_model_state(self, text: str, busy: bool = False, done: int = 0, total: int = 0) -> None:
        """The status bar's model line; `busy` shows the bar of a load in progress: `done` of `total`
        steps, or with `total` 0 a moving bar without a percentage (what cannot be measured)."""
        self.model_status.setText(text)
        if self.built:
            self.model_busy.setRange(0, total)
            self.model_busy.setValue(done)
            self.model_busy.setTextVisible(bool(total))
            self.model_busy.setVisible(busy)

    def show_error(self, message: str) -> None:
        """One line over the canvas and in the status bar ("" hides it)."""
        message = one_line(message)
        self.error.setText(message)
        self.error.setVisible(bool(message))
        if message:
            self.statusBar().showMessage(message, 10000)

    def toggle_candidates(self) -> None:
        """The candidates button: from the picture to the batch's grid, and back."""
        showing_grid = self.stack.currentWidget() is self.grid
        self.stack.setCurrentWidget(self.canvas if showing_grid else self.grid)

    def _show_candidates_button(self) -> None:
        count = len(self.grid.buttons)
        self.candidates_button.setVisible(count > 1)
        if self.stack.currentWidget() is self.grid:
            self.candidates_button.setText("Back to the picture")
        else:
            self.candidates_button.setText(f"Candidates ({count})")

    def show_saved(self, path: str, message: str = "", folder: bool = False) -> None:
        """Say that `path` was written (with `folder`, the folder files went into), with a Show in
        folder button beside the message for as long as it shows."""
        where = Path(path) if folder else Path(path).parent
        text = one_line(message or f"Saved {Path(path).name} in {where}")
        self._saved = (text, where)
        self.statusBar().showMessage(text, 15000)
        if self.built:
            self.show_folder_button.setVisible(True)

    def _status_message_changed(self, text: str) -> None:
        if self.built and (self._saved is None or text != self._saved[0]):
            self.show_folder_button.setVisible(False)

    def show_saved_folder(self) -> None:
        """Show in folder: the folder of the last save, in the file manager."""
        if self._saved is None:
            return
        from studio.model.local_files import file_url

        folder = self._saved[1]
        if not self.open_url(file_url(folder)):
            self.show_error(f"cannot open the folder {folder}")

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in SHORTCUTS)
        self._info("Keyboard shortcuts", f"<table cellpadding=4>{rows}</table>")

    def open_log_folder(self) -> None:
        """Show the log folder (studio.log, crash.log) in the file manager."""
        if self.log_folder is None:
            return
        from pathlib import Path

        folder = Path(self.log_folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.show_error(f"cannot make the log folder {folder}: {exc.strerror or exc}")
            return
        if not QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(folder))):
            self.show_error(f"cannot open the log folder {folder}")

    def show_about(self) -> None:
        """Help > About Studio: what it is, and the versions and device a bug report needs."""
        from studio.ui.info_dialog import about_html

        device = self.device_of() if self.device_of is not None else "not known yet"
        self.about_dialog = self._info("About Studio", about_html(device))

    def _info(self, title: str, html: str):
        from studio.ui.info_dialog import InfoDialog

        dialog = InfoDialog(title, html, self)
        dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def closeEvent(self, event) -> None:
        self.closing.emit()
        super().closeEvent(event)


def one_line(text: str) -> str:
    """`text` as one line a person can read: line breaks and tabs as spaces, other control
    characters as \\xNN escapes, the undecodable bytes of a file name as replacement characters."""
    return _UNSHOWN.sub(_shown, text)


def _shown(match: re.Match) -> str:
    char = match.group()
    if char in "\n\r\t":
        return " "
    return "\ufffd" if char >= "\ud800" else f"\\x{ord(char):02x}"
