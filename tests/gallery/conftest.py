"""Fixtures for the gallery tests: a fresh DATA_DIR with an empty gallery folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def data(tmp_path) -> Path:
    folder = tmp_path / "data"
    (folder / "gallery").mkdir(parents=True)
    return folder


@pytest.fixture
def gallery_folder(data) -> Path:
    return data / "gallery"
