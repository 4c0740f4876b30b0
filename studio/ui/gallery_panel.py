"""The gallery panel: search and filters, a grid of thumbnails by day, and a large view with the recipe.

The grid (studio.ui.gallery_grid) shows the rows of a GalleryModel (studio.model.gallery).
Selecting one image shows it large with its full recipe and the actions on it; selecting
several keeps the actions that work on many (favourite, export, delete). Images can be
dragged out of the grid, onto the canvas to open them.
"""

from __future__ import annotations

import html
import time
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.gallery.files import display_name
from studio.model.local_files import local_path
from studio.ui.gallery_grid import STAR, GalleryView

PREVIEW_SIDE = 768
UNDO_SECONDS = 20
DATES = (("Any time", None), ("Today", 0), ("Past 7 days", 7), ("Past 30 days", 30), ("Past year", 365))
SOURCES = {
    "studio": "Studio",
    "a1111": "AUTOMATIC1111",
    "forge": "Forge",
    "fooocus": "Fooocus",
    "comfyui": "ComfyUI",
    "invokeai": "InvokeAI",
}


class GalleryPanel(QWidget):
    # Paths go as Python objects, never as QStrings: a name that is not UTF-8 keeps its bytes.
    openRequested = Signal(object)  # path (str)
    reuseRequested = Signal(object)  # dict of session settings
    revealRequested = Signal(object)  # path (str)
    variationsRequested = Signal(object)  # path (str) of a picture to make variations of

    def __init__(self, model, parent=None):
        super().__init__(parent)
        self.setObjectName("gallery")
        self.model = model
        self._preview_image = QImage()
        self._preview_name: str | None = None

        self.search = QLineEdit()
        self.search.setObjectName("gallerySearch")
        self.search.setPlaceholderText("Search prompt, negative prompt, model, seed…")
        self.search.setClearButtonEnabled(True)
        self.model_filter = QComboBox()
        self.model_filter.setToolTip("Only images made with this model")
        self.size_filter = QComboBox()
        self.size_filter.setToolTip("Only images of this size")
        self.date_filter = QComboBox()
        self.date_filter.setToolTip("Only images made in this time")
        for label, days in DATES:
            self.date_filter.addItem(label, days)
        self.favourites_only = QToolButton()
        self.favourites_only.setText(STAR)
        self.favourites_only.setCheckable(True)
        self.favourites_only.setToolTip("Show favourites only")
        self.more = QToolButton()
        self.more.setText("⋯")
        self.more.setToolTip("More: import images, restore or empty the trash")
        self.more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        more_menu = QMenu(self.more)
        self.import_action = more_menu.addAction("Import images…", self.choose_import)
        self.import_action.setToolTip("Copy the images in a folder (and its subfolders) into the gallery")
        more_menu.addSeparator()
        self.restore_trash_action = more_menu.addAction("Restore deleted images", self.restore_trash)
        self.empty_trash_action = more_menu.addAction("Empty the trash…", self.empty_trash)
        more_menu.aboutToShow.connect(self._update_trash_action)
        self.more.setMenu(more_menu)
        self.more.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        for button in (self.favourites_only, self.more):
            button.setFixedWidth(34)
        self.model_filter.addItem("All models", None)  # the models and sizes come once the listing is in
        self.size_filter.addItem("All sizes", None)
        for combo in (self.model_filter, self.size_filter, self.date_filter):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(4)

        self.view = GalleryView()
        self.view.setModel(model)
        self.count = QLabel("")
        self.count.setObjectName("section")
        self.status = QLabel("")
        self.status.setObjectName("galleryStatus")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.setVisible(False)
        self._status_text = ""

        self.undo_bar = QFrame()
        self.undo_bar.setObjectName("undoBar")
        undo_row = QHBoxLayout(self.undo_bar)
        undo_row.setContentsMargins(8, 4, 4, 4)
        self.undo_label = QLabel("")
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Put the deleted images back (Ctrl+Z in the grid)")
        undo_row.addWidget(self.undo_label, 1)
        undo_row.addWidget(self.undo_button)
        self.undo_bar.setVisible(False)
        self._undo_timer = QTimer(self, singleShot=True, interval=UNDO_SECONDS * 1000)
        self._undo_timer.timeout.connect(lambda: self.undo_bar.setVisible(False))

        self.details = self._build_details()
        top = QWidget()
        top_column = QVBoxLayout(top)
        top_column.setContentsMargins(0, 0, 0, 0)
        top_column.setSpacing(6)
        top_column.addWidget(self.search)
        filters = QHBoxLayout()
        filters.setSpacing(4)
        filters.addWidget(self.model_filter, 3)
        filters.addWidget(self.size_filter, 2)
        filters.addWidget(self.date_filter, 2)
        filters.addWidget(self.favourites_only)
        filters.addWidget(self.more)
        top_column.addLayout(filters)
        top_column.addWidget(self.view, 1)
        top_column.addWidget(self.count)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setChildrenCollapsible(False)

        column = QVBoxLayout(self)
        column.setContentsMargins(8, 8, 8, 8)
        column.setSpacing(6)
        column.addWidget(self.splitter, 1)
        column.addWidget(self.undo_bar)
        column.addWidget(self.status)

        self._search_timer = QTimer(self, singleShot=True, interval=180)
        self._search_timer.timeout.connect(self.apply_filters)
        self.search.textChanged.connect(lambda _: self._search_timer.start())
        for combo in (self.model_filter, self.size_filter, self.date_filter):
            combo.currentIndexChanged.connect(lambda _: self.apply_filters())
        self.favourites_only.toggled.connect(lambda _: self.apply_filters())
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.view.doubleClicked.connect(lambda index: self._open_index(index))
        self.undo_button.clicked.connect(self.undo_delete)
        model.optionsChanged.connect(self._fill_options)
        model.countChanged.connect(self._count_changed)
        model.statusChanged.connect(self.show_status)
        model.previewReady.connect(self._preview_ready)
        model.exportFinished.connect(self.show_status)
        model.modelReset.connect(self._selection_changed)
        QShortcut(
            QKeySequence(QKeySequence.StandardKey.Delete),
            self.view,
            self.delete_selected,
            context=Qt.ShortcutContext.WidgetShortcut,
        )
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._show_context_menu)
        self.view.installEventFilter(self)
        self.view.viewport().installEventFilter(self)  # image files dropped from outside are imported
        self.view.viewport().setAcceptDrops(True)
        model.importFinished.connect(self._import_finished)
        QShortcut(
            QKeySequence(Qt.Key.Key_Return), self.view, self.open_selected, context=Qt.ShortcutContext.WidgetShortcut
        )
        self._selection_changed()

    def _build_details(self) -> QWidget:
        box = QWidget()
        box.setObjectName("galleryDetails")
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 4, 0, 0)
        column.setSpacing(6)
        self.preview = QLabel()
        self.preview.setObjectName("galleryPreview")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumHeight(100)
        self.preview.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.recipe = QTextBrowser()
        self.recipe.setObjectName("galleryRecipe")
        self.recipe.setOpenLinks(False)
        self.recipe.setMinimumHeight(80)
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Open this image on the canvas (or drag it there; double-click works too)")
        self.reuse_button = QPushButton("Reuse")
        self.reuse_button.setToolTip("Fill the prompt and settings from this image, seed included")
        self.copy_button = QPushButton("Copy prompt")
        self.favourite_button = QPushButton(STAR)
        self.favourite_button.setCheckable(True)
        self.favourite_button.setToolTip("Mark or unmark the selected images as favourites")
        self.reveal_button = QPushButton("Reveal")
        self.reveal_button.setToolTip("Show the file in the file manager")
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setToolTip("Save as PNG, JPEG or WebP; the recipe goes along")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.export_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        menu = QMenu(self.export_button)
        for label, suffix in (("PNG…", ".png"), ("JPEG…", ".jpg"), ("WebP…", ".webp")):
            menu.addAction(label, lambda s=suffix: self.export_selected(s))
        self.export_button.setMenu(menu)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Move the selected images to the trash (Del); undo puts them back")
        self.open_button.setToolTip("Open this image on the canvas (or drag it there, or double-click it)")
        self.reuse_button.setToolTip(
            "Reuse its parameters: fill the prompt and settings from this image, seed included"
        )
        buttons = QVBoxLayout()
        buttons.setSpacing(4)
        for group in (
            (self.open_button, self.reuse_button, self.copy_button),
            (self.favourite_button, self.reveal_button, self.export_button, self.delete_button),
        ):
            row = QHBoxLayout()
            row.setSpacing(4)
            for button in group:
                button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
                row.addWidget(button)
            buttons.addLayout(row)
        self.open_button.clicked.connect(self.open_selected)
        self.reuse_button.clicked.connect(self.reuse_selected)
        self.copy_button.clicked.connect(self.copy_prompt)
        self.favourite_button.clicked.connect(self.toggle_favourite)
        self.reveal_button.clicked.connect(self._reveal)
        self.delete_button.clicked.connect(self.delete_selected)
        column.addWidget(self.preview, 5)
        column.addWidget(self.recipe, 4)
        column.addLayout(buttons)
        return box

    # Filters.
    def _fill_options(self) -> None:
        for combo, everything, values in (
            (self.model_filter, "All models", [(m, m) for m in self.model.models()]),
            (self.size_filter, "All sizes", [(f"{w}×{h}", (w, h)) for w, h in self.model.sizes()]),
        ):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(everything, None)
            for label, value in values:
                combo.addItem(label, value)
            position = combo.findData(current) if current is not None else 0
            combo.setCurrentIndex(max(0, position))
            combo.blockSignals(False)
            if current is not None and position < 0:
                self.apply_filters()

    def apply_filters(self) -> None:
        days = self.date_filter.currentData()
        since = None
        if days is not None:
            midnight = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
            since = midnight if days == 0 else time.time() - days * 86400
        size = self.size_filter.currentData()
        self.model.set_filters(
            search=self.search.text().strip(),
            model=self.model_filter.currentData(),
            size=tuple(size) if size is not None else None,
            favourites=self.favourites_only.isChecked(),
            since=since,
        )

    def _count_changed(self, count: int) -> None:
        filtered = any(v for v in self.model.filters.values())
        self.count.setText(f"{count:,} image{'s' if count != 1 else ''}{' match' if filtered else ''}")
        self.view.empty_text = (
            "No image matches the search and filters" if filtered else "The pictures you make appear here"
        )
        self.view.viewport().update()

    def show_status(self, text: str) -> None:
        """One line under the grid (cut to fit; the whole text is its tooltip)."""
        self._status_text = text
        self.status.setToolTip(text)
        self.status.setVisible(bool(text))
        self._elide_status()

    def _elide_status(self) -> None:
        width = max(40, self.width() - 20)
        self.status.setText(self.status.fontMetrics().elidedText(self._status_text, Qt.TextElideMode.ElideRight, width))

    # Selection.
    def selected_names(self) -> list[str]:
        rows = sorted(index.row() for index in self.view.selectionModel().selectedIndexes())
        return [name for name in (self.model.name_at(r) for r in rows) if name]

    def select_names(self, names: list[str]) -> None:
        from PySide6.QtCore import QItemSelection, QItemSelectionModel

        selection = QItemSelection()
        for name in names:
            row = self.model.row_of(name)
            if row >= 0:
                index = self.model.index(row)
                selection.select(index, index)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.view.selectionModel().select(selection, flags)
        if names and self.model.row_of(names[0]) >= 0:
            current = self.model.index(self.model.row_of(names[0]))
            self.view.selectionModel().setCurrentIndex(current, QItemSelectionModel.SelectionFlag.NoUpdate)
            self.view.scrollTo(current)

    def _selection_changed(self) -> None:
        names = self.selected_names()
        if self.details.isHidden() == bool(names):  # the grid has the whole height until an image is chosen
            self.details.setVisible(bool(names))
            if names:
                total = sum(self.splitter.sizes()) or self.splitter.height()
                self.splitter.setSizes([total * 9 // 20, total * 11 // 20])
        one = len(names) == 1
        for button in (self.open_button, self.reuse_button, self.copy_button, self.reveal_button):
            button.setEnabled(one)
        for button in (self.favourite_button, self.export_button, self.delete_button):
            button.setEnabled(bool(names))
        rows = [self.model.entry(n) for n in names]
        self.favourite_button.setChecked(bool(rows) and all(r is not None and r.favourite for r in rows))
        if one:
            info = self.model.info(names[0])
            self.reuse_button.setEnabled(bool(info and info.has_recipe))
            self.copy_button.setEnabled(bool(info and info.recipe and info.recipe.prompt))
            self.recipe.setHtml(self._recipe_html(names[0], info))
            if names[0] != self._preview_name:
                self._preview_name = names[0]
                self._preview_image = QImage()
                self.preview.setPixmap(QPixmap())
                self.preview.setText("Loading…")
                self.model.request_preview(names[0], PREVIEW_SIDE)
        else:
            self._preview_name = None
            self._preview_image = QImage()
            self.preview.setPixmap(QPixmap())
            self.preview.setText(
                f"{len(names)} images selected" if names else "Select an image to see it large, with its recipe"
            )
            self.recipe.setHtml("" if not names else "<p>Favourite, export and delete work on all of them.</p>")

    def _recipe_html(self, name: str, info) -> str:
        row = self.model.entry(name)
        esc = lambda v: html.escape(str(v))
        parts = []
        if info is not None and info.recipe is not None:
            r = info.recipe
            parts.append(f"<p><b>{esc(r.prompt) or '<i>(empty prompt)</i>'}</b></p>")
            if r.negative_prompt:
                parts.append(f"<p><span style='color:gray'>Negative:</span> {esc(r.negative_prompt)}</p>")
            settings = [
                ("Seed", r.seed),
                ("Steps", r.steps),
                ("CFG", None if r.guidance_scale is None else f"{r.guidance_scale:g}"),
                ("Sampler", r.scheduler or None),
                ("Model", r.model or None),
                ("Size", f"{r.width}×{r.height}" if r.width else None),
                ("Made with", SOURCES.get(r.source, r.source)),
            ]
            cells = "".join(
                f"<tr><td style='color:gray'>{k}&nbsp;&nbsp;</td><td>{esc(v)}</td></tr>"
                for k, v in settings
                if v is not None
            )
            parts.append(f"<table cellspacing=0 cellpadding=1>{cells}</table>")
        else:
            parts.append("<p><i>This image carries no recipe.</i></p>")
        if row is not None:
            when = datetime.fromtimestamp(row.created).strftime("%d %b %Y %H:%M")
            fmt = info.format if info is not None else ""
            parts.append(
                f"<p style='color:gray'>{esc(display_name(name))}<br>{row.width}×{row.height} {esc(fmt)} · {when}</p>"
            )
        if info is not None and info.notes:
            parts.append("<p style='color:gray'>" + "<br>".join(esc(n) for n in info.notes) + "</p>")
        return "".join(parts)

    def _preview_ready(self, name: str, image: QImage) -> None:
        if name != self._preview_name:
            return
        self._preview_image = image
        if image.isNull():
            self.preview.setText("This image cannot be shown")
        self._show_preview()

    def _show_preview(self) -> None:
        if self._preview_image.isNull():
            return
        ratio = self.devicePixelRatioF()
        size = self.preview.size() * ratio
        pixmap = QPixmap.fromImage(
            self._preview_image.scaled(
                size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        )
        pixmap.setDevicePixelRatio(ratio)
        self.preview.setText("")
        self.preview.setPixmap(pixmap)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide_status()
        QTimer.singleShot(0, self._show_preview)

    # Actions.
    def _open_index(self, index) -> None:
        name = self.model.name_at(index.row())
        if name:
            self.openRequested.emit(str(self.model.path(name)))

    def open_selected(self) -> None:
        names = self.selected_names()
        if names:
            self.openRequested.emit(str(self.model.path(names[0])))

    def reuse_selected(self) -> None:
        names = self.selected_names()
        info = self.model.info(names[0]) if len(names) == 1 else None
        if info is not None and info.has_recipe:
            self.reuseRequested.emit(info.settings())

    def vary_selected(self) -> None:
        names = self.selected_names()
        if len(names) == 1:
            self.variationsRequested.emit(str(self.model.path(names[0])))

    def context_menu(self) -> QMenu:
        """What a right-click on the selection offers."""
        names = self.selected_names()
        one = len(names) == 1
        info = self.model.info(names[0]) if one else None
        menu = QMenu(self)
        menu.addAction("Open", self.open_selected).setEnabled(one)
        variations = menu.addAction("Variations", self.vary_selected)
        variations.setEnabled(bool(info and info.has_recipe))
        variations.setToolTip("Pictures close to this one (its recipe with a new variation seed), side by side")
        menu.addAction("Reuse parameters", self.reuse_selected).setEnabled(bool(info and info.has_recipe))
        menu.addAction("Copy prompt", self.copy_prompt).setEnabled(bool(info and info.recipe and info.recipe.prompt))
        menu.addSeparator()
        menu.addAction("Reveal in the file manager", self._reveal).setEnabled(one)
        menu.addAction("Delete", self.delete_selected).setEnabled(bool(names))
        menu.setToolTipsVisible(True)
        return menu

    def _show_context_menu(self, point) -> None:
        index = self.view.indexAt(point)
        if index.isValid() and self.model.name_at(index.row()) not in self.selected_names():
            self.view.setCurrentIndex(index)  # a right-click on another picture chooses it
        if self.selected_names():
            menu = self.context_menu()
            menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            menu.popup(self.view.viewport().mapToGlobal(point))

    def copy_prompt(self) -> None:
        names = self.selected_names()
        info = self.model.info(names[0]) if len(names) == 1 else None
        if info is not None and info.recipe is not None:
            QGuiApplication.clipboard().setText(info.recipe.prompt)
            self.show_status("Prompt copied")

    def toggle_favourite(self) -> None:
        names = self.selected_names()
        if not names:
            return
        rows = [self.model.entry(n) for n in names]
        favourite = not all(r is not None and r.favourite for r in rows)
        self.model.set_favourite(names, favourite)
        self.select_names(names)
        self._selection_changed()

    def _reveal(self) -> None:
        names = self.selected_names()
        if names:
            self.revealRequested.emit(str(self.model.path(names[0])))

    def delete_selected(self) -> None:
        names = self.selected_names()
        if not names:
            return
        following = self._neighbour_after(names)
        batch = self.model.delete(names)
        if batch is None:
            return
        count = len(batch.items)
        self.undo_label.setText(f"Deleted {_images(count)} (kept in the trash)")
        self.undo_bar.setVisible(True)
        self._undo_timer.start()
        if following:
            self.select_names([following])

    def _neighbour_after(self, names: list[str]) -> str | None:
        last = max(self.model.row_of(n) for n in names)
        for row in range(last + 1, self.model.rowCount()):
            name = self.model.name_at(row)
            if name and name not in names:
                return name
        return None

    def undo_delete(self) -> None:
        """Take back the latest delete not yet undone (the model keeps this session's deletes)."""
        if not self.model.can_undo():
            return
        restored = self.model.undo_delete()
        self.undo_bar.setVisible(False)
        self._undo_timer.stop()
        self.select_names(restored)
        if restored:
            self.show_status(f"Put back {_images(len(restored))}")

    def eventFilter(self, watched, event) -> bool:
        if watched is self.view.viewport() and event.type() in _DROP_EVENTS:
            paths = _outside_files(event)
            if not paths:
                return False
            event.acceptProposedAction()
            if event.type() == QEvent.Type.Drop:
                self.import_paths(paths)
            return True
        # Ctrl+Z in the grid undoes a delete; with none left it goes on to the window's edit undo.
        if (
            watched is self.view
            and event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress)
            and self.model.can_undo()
            and event.matches(QKeySequence.StandardKey.Undo)
        ):
            event.accept()
            if event.type() == QEvent.Type.KeyPress:
                self.undo_delete()
            return True
        return super().eventFilter(watched, event)

    def choose_import(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import the images in a folder into the gallery")
        if folder:
            self.import_paths([folder])

    def import_paths(self, paths: list[str]) -> None:
        """Copy image files (and the images in folders) into the gallery, in the background."""
        self.show_status("Importing…")
        self.model.import_paths(paths)

    def _import_finished(self, message: str, names: list) -> None:
        self.show_status(message)
        if names:
            self.select_names(names)

    def _update_trash_action(self) -> None:
        count = self.model.trash_count()
        self.restore_trash_action.setText(f"Restore deleted images ({count})")
        self.restore_trash_action.setEnabled(count > 0)
        self.empty_trash_action.setText(f"Empty the trash ({_images(count)})…")
        self.empty_trash_action.setEnabled(count > 0)

    def restore_trash(self) -> None:
        """Put back every image in the trash (the trash keeps deletes for 30 days)."""
        restored = self.model.restore_trash()
        self.undo_bar.setVisible(False)
        self.select_names(restored)
        self.show_status(f"Put back {_images(len(restored))} from the trash")

    def empty_trash(self, confirm: bool = True) -> None:
        """Delete the trashed images for good (they also go by themselves after 30 days)."""
        from PySide6.QtWidgets import QMessageBox

        count = self.model.trash_count()
        if not count:
            return
        if confirm:
            answer = QMessageBox.question(self, "Empty the trash", f"Delete {_images(count)} in the trash for good?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        removed = self.model.empty_trash()
        self.undo_bar.setVisible(False)
        self.show_status(f"Trash emptied: {_images(removed)} deleted for good")

    def export_selected(self, suffix: str) -> None:
        names = self.selected_names()
        if not names:
            return
        if len(names) == 1:
            default = str(Path.home() / (display_name(Path(names[0]).stem) + suffix))
            filters = {".png": "PNG (*.png)", ".jpg": "JPEG (*.jpg *.jpeg)", ".webp": "WebP (*.webp)"}[suffix]
            target, _ = QFileDialog.getSaveFileName(self, "Export image", default, filters)
            if target:
                self.export_to(names, target)
        else:
            folder = QFileDialog.getExistingDirectory(self, f"Export {len(names)} images into")
            if folder:
                self.export_to(names, folder, suffix)

    def export_to(self, names: list[str], target: str, suffix: str | None = None) -> None:
        self.show_status("Exporting…")
        self.model.export(names, target, suffix)


def _images(count: int) -> str:
    return f"{count} image{'s' if count != 1 else ''}"


_DROP_EVENTS = (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop)


def _outside_files(event) -> list[str]:
    """The local files and folders a drag from another program carries (none for the grid's own drags)."""
    if event.source() is not None or not event.mimeData().hasUrls():
        return []
    return [path for path in map(local_path, event.mimeData().urls()) if path]
