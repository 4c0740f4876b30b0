"""CUDA options: half precision, SDPA attention, model CPU offload; on a CPU the offload is a no-op with a note."""

from __future__ import annotations

import logging

import pytest
import torch

from studio.engine.devices import (
    OFFLOAD_ENV,
    attention_kind,
    dtype_for,
    offload_note,
    offload_wanted,
    place_pipeline,
    use_offload_setting,
)
from studio.engine.events import Finished
from studio.engine.request import GenerateRequest
from studio.engine.runner import Engine


def test_half_precision_on_cuda_full_elsewhere():
    assert dtype_for("cuda") == torch.float16 and dtype_for("cuda:1") == torch.float16
    assert dtype_for("cpu") == torch.float32 and dtype_for("mps") == torch.float32


@pytest.mark.parametrize(
    "option, env, wanted",
    [
        (None, None, False),
        (True, None, True),
        (None, "1", True),
        (None, "yes", True),
        (None, "0", False),
        (False, "1", False),
    ],
)
def test_offload_is_asked_for_by_the_option_or_the_environment(monkeypatch, option, env, wanted):
    monkeypatch.delenv(OFFLOAD_ENV, raising=False)
    if env is not None:
        monkeypatch.setenv(OFFLOAD_ENV, env)
    assert offload_wanted(option) is wanted


def test_the_setting_asks_for_offload_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.setenv(OFFLOAD_ENV, "0")
    use_offload_setting(True)
    assert not offload_wanted()
    monkeypatch.delenv(OFFLOAD_ENV)
    use_offload_setting(False)
    assert not offload_wanted()
    use_offload_setting(True)
    assert offload_wanted()


def tiny_pipe():
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline

    from studio.testing.tiny_model import build_tiny_components

    return StableDiffusionPipeline(
        **build_tiny_components(),
        safety_checker=None,  # pyright: ignore[reportArgumentType]
        feature_extractor=None,  # pyright: ignore[reportArgumentType]
    )


def test_offload_on_a_cpu_keeps_the_pipeline_whole_and_says_so():
    pipe = tiny_pipe()
    note = place_pipeline(pipe, "cpu", offload=True)
    assert note == offload_note("cpu")
    assert "CUDA" in note and "cpu" in note
    assert not hasattr(pipe.unet, "_hf_hook")  # no accelerate offload hooks
    assert pipe.unet.device.type == "cpu"
    assert place_pipeline(pipe, "cpu", offload=False) is None


def test_attention_runs_through_torch_sdpa():
    assert attention_kind(tiny_pipe()) == "sdpa (AttnProcessor2_0)"


def test_an_engine_asked_to_offload_on_a_cpu_runs_and_notes_it(tiny_model, caplog):
    engine = Engine(device="cpu", offload=True)
    with caplog.at_level(logging.WARNING, logger="studio.engine.loader"):
        model = engine.load(str(tiny_model))
    assert model.offload is False
    assert offload_note("cpu") in caplog.text
    request = GenerateRequest(prompt="a red house", seed=1, steps=2, width=64, height=64, model=str(tiny_model))
    final = engine.run(request, previews=False)
    assert isinstance(final, Finished), final


def test_the_command_line_takes_offload_before_or_after_the_command_word():
    from studio.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["--offload", "generate", "a house"]).offload is True
    assert parser.parse_args(["generate", "a house", "--offload"]).offload is True
    assert parser.parse_args(["generate", "a house"]).offload is False


def test_generate_with_offload_on_a_cpu_makes_its_picture_and_prints_the_note(
    tiny_model, tmp_path, monkeypatch, capsys
):
    from studio.cli import main

    monkeypatch.setenv(OFFLOAD_ENV, "0")  # restored after the test; the command sets it for its process
    out = tmp_path / "house.png"
    words = ["generate", "a red house", "--model", str(tiny_model), "--steps", "1", "--device", "cpu", "--offload"]
    code = main([*words, "--data-dir", str(tmp_path / "data"), "--out", str(out)])
    assert code == 0 and out.exists()
    assert offload_note("cpu") in capsys.readouterr().err
