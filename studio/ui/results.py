"""Result views: the strip of recent images, the grid of a batch's candidates, the step timeline."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QToolButton,
    QWidget,
)

THUMB = 72
PATH_ROLE = Qt.ItemDataRole.UserRole + 1  # the file's path as a Python str (a QString would lose undecodable bytes)


def thumbnail(image: QImage, side: int) -> QPixmap:
    return QPixmap.fromImage(
        image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    )


class _Path:
    """A path held in item data as a Python object: Qt turns a bare str into a QString."""

    __slots__ = ("path",)

    def __init__(self, path: str):
        self.path = path


class RecentStrip(QListWidget):
    """Newest first; clicking one asks to reopen it with its parameters."""

    opened = Signal(object)  # path (str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("recent")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setFixedHeight(THUMB + 30)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMovement(QListView.Movement.Static)
        self.setSpacing(3)
        self.setToolTip("Recent results: click to reopen one with its parameters")
        self.itemClicked.connect(lambda item: self.opened.emit(item.data(PATH_ROLE).path))

    def add(self, path: str, image: QImage, prompt: str) -> None:
        """A new result, in front."""
        self.insertItem(0, self._item(path, image, prompt))
        self._trim()

    def add_older(self, images: list) -> None:
        """Earlier results (objects with path, thumbnail and prompt; newest first), behind the rest."""
        known = set(self.paths())
        for image in images:
            if image.path not in known:
                self.addItem(self._item(image.path, image.thumbnail, image.prompt))
        self._trim()

    def paths(self) -> list[str]:
        return [self.item(row).data(PATH_ROLE).path for row in range(self.count())]

    def remove(self, paths: list[str]) -> None:
        """Drop the images of `paths` (deleted ones) from the strip."""
        gone = set(paths)
        for row in reversed(range(self.count())):
            if self.item(row).data(PATH_ROLE).path in gone:
                self.takeItem(row)

    def _item(self, path: str, image: QImage, prompt: str) -> QListWidgetItem:
        item = QListWidgetItem(QIcon(thumbnail(image, THUMB)), "")
        item.setData(Qt.ItemDataRole.UserRole, path)  # as Qt shows it
        item.setData(PATH_ROLE, _Path(path))
        item.setToolTip(prompt or "(no prompt)")
        return item

    def _trim(self) -> None:
        while self.count() > 60:
            self.takeItem(self.count() - 1)


class CandidateGrid(QWidget):
    """A batch's candidates in a grid (up to 3x3); clicking one chooses it."""

    chosen = Signal(int)
    countChanged = Signal(int)  # how many candidates it holds

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("candidates")
        self._layout = QGridLayout(self)
        self._layout.setSpacing(8)
        self.buttons: list[QToolButton] = []

    def set_images(self, images: list[QImage]) -> None:
        for button in self.buttons:
            button.deleteLater()
        self.buttons = []
        columns = 1 if len(images) == 1 else 2 if len(images) <= 4 else 3
        rows = max(1, (len(images) + columns - 1) // columns)
        parent = self.parentWidget()
        area = parent.size() if parent is not None else self.size()
        side = max(96, min(area.width() // columns, area.height() // rows) - 16)
        for position, image in enumerate(images):
            button = QToolButton()
            button.setIcon(QIcon(thumbnail(image, side)))
            button.setIconSize(QSize(side, side))
            button.setToolTip(f"Candidate {position + 1}: click to open it on the canvas")
            button.clicked.connect(lambda _=False, p=position: self.chosen.emit(p))
            self._layout.addWidget(button, position // columns, position % columns)
            self.buttons.append(button)
        self.countChanged.emit(len(images))


class Timeline(QWidget):
    """Scrubs the step previews of the shown image, from noise to picture; exports them."""

    scrubbed = Signal(int)
    exportRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.label.setMinimumWidth(90)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("timeline")
        self.slider.setToolTip("Scrub through the denoising steps of this image")
        self.export = QPushButton("Export animation…")
        self.export.setToolTip("Save the steps as an animated GIF or WebP")
        layout.addWidget(self.label)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.export)
        self.slider.valueChanged.connect(self._moved)
        self.export.clicked.connect(self.exportRequested)
        self._final = True
        self.set_frames(0)

    def set_frames(self, count: int, final: bool = True) -> None:
        """`count` frames: one step preview each, and the finished image last when `final`
        (while an image is being made, the last frame is its latest preview)."""
        self._final = final
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, count - 1))
        self.slider.setValue(max(0, count - 1))
        self.slider.blockSignals(False)
        self.setEnabled(count > 1)
        self._label(max(0, count - 1), count)

    def _moved(self, value: int) -> None:
        self._label(value, self.slider.maximum() + 1)
        self.scrubbed.emit(value)

    def _label(self, value: int, count: int) -> None:
        if count == 0 or (count == 1 and self._final):
            self.label.setText("")  # the picture shown has no steps
        elif not self._final:
            self.label.setText(f"Step {value + 1}")
        elif value == count - 1:
            self.label.setText(f"Final ({count - 1} steps)")
        else:
            self.label.setText(f"Step {value + 1}/{count - 1}")
