"""Exact conversions between QImages and numpy pixel arrays (worker, app and edit models alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QImage

if TYPE_CHECKING:
    import numpy as np  # imported where used: not on the window's startup path


def to_array(image: QImage) -> np.ndarray:
    """An H x W x 3 uint8 copy of a QImage's RGB pixels."""
    import numpy as np

    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, line = image.width(), image.height(), image.bytesPerLine()
    data = np.frombuffer(image.constBits(), dtype=np.uint8, count=line * height).reshape(height, line)
    return data[:, : width * 3].reshape(height, width, 3).copy()


def to_qimage(pixels: np.ndarray) -> QImage:
    """An RGB888 QImage owning a copy of an H x W x 3 uint8 array."""
    import numpy as np

    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width, _ = pixels.shape
    return QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def to_rgba_qimage(pixels: np.ndarray, alpha: np.ndarray) -> QImage:
    """An ARGB QImage (not premultiplied) from H x W x 3 colours and an H x W alpha."""
    import numpy as np

    height, width, _ = pixels.shape
    rgba = np.empty((height, width, 4), dtype=np.uint8)
    rgba[..., :3] = pixels
    rgba[..., 3] = alpha
    return QImage(rgba.data, width, height, 4 * width, QImage.Format.Format_RGBA8888).copy()


def mask_to_qimage(mask: np.ndarray) -> QImage:
    """A Grayscale8 QImage owning a copy of an H x W uint8 mask."""
    import numpy as np

    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    height, width = mask.shape
    return QImage(mask.data, width, height, width, QImage.Format.Format_Grayscale8).copy()


def mask_from_qimage(image: QImage) -> np.ndarray:
    """An H x W uint8 copy of a Grayscale8 QImage (its lines may be padded)."""
    import numpy as np

    image = image.convertToFormat(QImage.Format.Format_Grayscale8)
    width, height, line = image.width(), image.height(), image.bytesPerLine()
    data = np.frombuffer(image.constBits(), dtype=np.uint8, count=line * height).reshape(height, line)
    return data[:, :width].copy()
