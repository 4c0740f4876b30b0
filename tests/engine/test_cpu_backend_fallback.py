"""Without OpenVINO, or with the CPU backend turned off, the UNet stays on torch and every job runs as
before (engine.cpu_backend); these run whether OpenVINO is installed or not."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest

from studio.engine import cpu_backend
from studio.engine.events import Finished
from studio.engine.loader import ModelCache
from studio.engine.request import GenerateRequest
from studio.engine.runner import Engine


def request(model):
    return GenerateRequest(
        prompt="a red house",
        seed=3,
        steps=3,
        width=64,
        height=64,
        scheduler="Euler",
        guidance_scale=4.0,
        model=str(model),
    )


def test_without_openvino_a_forced_backend_falls_back_to_torch_with_a_warning(
    tiny_model, engine, tmp_path, monkeypatch, caplog
):
    monkeypatch.setitem(sys.modules, "openvino", None)  # what an import of a package not installed sees
    monkeypatch.setenv(cpu_backend.BACKEND_ENV, "openvino")
    monkeypatch.setattr(cpu_backend._settings, "folder", tmp_path)
    steps = []
    with caplog.at_level(logging.WARNING, logger="studio.engine.cpu_backend"):
        ours = Engine(models=ModelCache("cpu"))
        ours.models.get(str(tiny_model), on_progress=steps.append)
    assert "OpenVINO is not installed" in caplog.text
    assert cpu_backend.backend_of(ours.models.get(str(tiny_model)).pipe.unet) == "torch"
    assert not any("OpenVINO" in s.stage for s in steps) and not any(tmp_path.iterdir())
    mine, theirs = ours.run(request(tiny_model)), engine.run(request(tiny_model))
    assert isinstance(mine, Finished) and isinstance(theirs, Finished)
    assert np.array_equal(np.asarray(mine.results[0].image), np.asarray(theirs.results[0].image))


@pytest.mark.parametrize("value", ["torch", " TORCH "])
def test_torch_turns_the_backend_off(value, monkeypatch):
    monkeypatch.setenv(cpu_backend.BACKEND_ENV, value)
    assert cpu_backend.chosen() == "torch"
    assert cpu_backend.backend_plan("cpu", 4_000_000_000).weights == []


def test_an_unknown_choice_is_warned_about_and_read_as_auto(monkeypatch, caplog):
    monkeypatch.setenv(cpu_backend.BACKEND_ENV, "tensorrt")
    with caplog.at_level(logging.WARNING, logger="studio.engine.cpu_backend"):
        assert cpu_backend.chosen() == "auto"
    assert "tensorrt" in caplog.text


def test_the_backend_is_planned_only_on_the_cpu_and_only_when_installed(monkeypatch):
    monkeypatch.delenv(cpu_backend.BACKEND_ENV, raising=False)
    planned = cpu_backend.backend_plan("cpu", 4_000_000_000)
    assert bool(planned.weights) == cpu_backend.openvino_installed()
    assert cpu_backend.backend_plan("cuda", 4_000_000_000).weights == []
    monkeypatch.setitem(sys.modules, "openvino", None)
    assert cpu_backend.backend_plan("cpu", 4_000_000_000).weights == []
