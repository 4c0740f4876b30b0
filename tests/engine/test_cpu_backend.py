"""The UNet through OpenVINO on the CPU (engine.cpu_backend), on a tiny real model: generation with
events, previews and cancel, outpainting, the load's progress, and the cache (reused, rebuilt)."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

pytest.importorskip("openvino")

from studio.engine import cpu_backend
from studio.engine.events import Finished, Preview
from studio.engine.load_progress import LoadStep
from studio.engine.loader import ModelCache
from studio.engine.request import GenerateRequest
from studio.engine.runner import Engine
from studio.testing.backend_checks import check_cancel_at_step, check_outpaint

CONVERTING = "converting the UNet for OpenVINO (first load only)"
FROM_CACHE = "loading the OpenVINO UNet"


def request(model, **changes):
    values: dict = dict(
        prompt="a red house",
        seed=3,
        steps=4,
        width=64,
        height=64,
        scheduler="Euler",
        guidance_scale=4.0,
        model=str(model),
    )
    values.update(changes)
    return GenerateRequest(**values)


def load(model, cache, monkeypatch_env, steps: list | None = None) -> Engine:
    """An engine whose model was loaded with the backend forced and `cache` as the cache folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(cpu_backend.BACKEND_ENV, monkeypatch_env)
        cpu_backend.use_cpu_backend_cache(cache)
        try:
            engine = Engine(models=ModelCache("cpu"))
            engine.models.get(str(model), on_progress=None if steps is None else steps.append)
        finally:
            cpu_backend.use_cpu_backend_cache(None)
    return engine


@pytest.fixture(scope="module")
def first_load(tiny_model, tmp_path_factory):
    """The tiny model loaded once through OpenVINO into a fresh cache: (engine, cache folder, load steps)."""
    cache = tmp_path_factory.mktemp("openvino-cache")
    steps: list[LoadStep] = []
    return load(tiny_model, cache, "openvino", steps), cache, steps


@pytest.fixture
def ov_engine(first_load):
    return first_load[0]


def unet_of(engine, model):
    return engine.models.get(str(model)).pipe.unet


def psnr(a, b) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / mse) if mse else float("inf")


def check_progress(steps: list[LoadStep]) -> None:
    measured = [s for s in steps if s.total]
    assert len({s.total for s in measured}) == 1
    assert [s.done for s in measured] == sorted(s.done for s in measured)
    assert measured[-1].stage == "ready" and measured[-1].fraction == 1.0


def test_a_generation_runs_through_openvino_with_events_and_previews(ov_engine, engine, tiny_model):
    unet = unet_of(ov_engine, tiny_model)
    assert cpu_backend.backend_of(unet) == "openvino"
    before = dict(unet.forward.calls)
    events = []
    final = ov_engine.run(request(tiny_model, count=2), events.append)
    assert isinstance(final, Finished), final
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Started"] + (["Step", "Preview"] * 4 + ["ImageDone"]) * 2 + ["Finished"]
    assert all(e.rgb is not None for e in events if isinstance(e, Preview))
    assert unet.forward.calls["openvino"] - before["openvino"] == 8 and unet.forward.calls["torch"] == before["torch"]
    theirs = engine.run(request(tiny_model, count=2))  # torch eager fp32, the same request
    assert isinstance(theirs, Finished)
    for ours, torch_result in zip(final.results, theirs.results):
        assert psnr(np.asarray(ours.image), np.asarray(torch_result.image)) >= 30


def test_cancel_stops_an_openvino_run_at_the_step(ov_engine, tiny_model):
    check_cancel_at_step(ov_engine, request(tiny_model))


def test_outpainting_runs_through_openvino(ov_engine, tiny_model):
    check_outpaint(ov_engine, request(tiny_model), unet_of(ov_engine, tiny_model).forward.calls, "openvino")


def test_the_first_load_converts_and_says_so_in_its_progress(first_load):
    _, cache, steps = first_load
    stages = [s.stage for s in steps]
    assert stages.index("moving to cpu") < stages.index(CONVERTING) < stages.index("ready")
    assert FROM_CACHE not in stages
    check_progress(steps)
    assert len([p for p in cache.iterdir() if (p / cpu_backend.META_NAME).is_file()]) == 1


def test_a_second_load_reads_the_cache_instead_of_converting(first_load, tiny_model, caplog):
    _, cache, _ = first_load
    (folder,) = cache.iterdir()
    written = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    steps: list[LoadStep] = []
    with caplog.at_level(logging.INFO, logger="studio.engine.cpu_backend"):
        engine = load(tiny_model, cache, "openvino", steps)
    stages = [s.stage for s in steps]
    assert FROM_CACHE in stages and CONVERTING not in stages
    check_progress(steps)
    assert "came from the cache" in caplog.text and "converted" not in caplog.text
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == written
    assert cpu_backend.backend_of(unet_of(engine, tiny_model)) == "openvino"


def test_a_broken_cache_is_converted_again_with_a_warning(first_load, tiny_model, tmp_path, caplog):
    _, cache, _ = first_load
    broken = tmp_path / "cache"
    shutil.copytree(cache, broken)
    (folder,) = broken.iterdir()
    weights = folder / "unet.bin"
    size = weights.stat().st_size
    weights.write_bytes(b"not weights")
    with caplog.at_level(logging.INFO, logger="studio.engine.cpu_backend"):
        engine = load(tiny_model, broken, "openvino")
    assert "cannot be read" in caplog.text and "converting it again" in caplog.text
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    assert weights.stat().st_size == size
    unet = unet_of(engine, tiny_model)
    assert cpu_backend.backend_of(unet) == "openvino"
    final = engine.run(request(tiny_model, steps=2))
    assert isinstance(final, Finished) and unet.forward.calls["openvino"] == 2  # one call a step (batch 2)


def test_auto_leaves_a_small_unet_on_torch(tiny_model, tmp_path):
    engine = load(tiny_model, tmp_path, "auto")
    assert cpu_backend.backend_of(unet_of(engine, tiny_model)) == "torch"
    assert not any(tmp_path.iterdir())


def test_calls_it_cannot_answer_the_same_way_go_to_torch(ov_engine, tiny_model):
    import torch

    unet = unet_of(ov_engine, tiny_model)
    text = torch.randn(1, 77, unet.config.cross_attention_dim)
    before = dict(unet.forward.calls)
    with torch.no_grad():
        odd = unet(torch.randn(1, 4, 9, 8), 10, text).sample  # 9 latent rows: not a multiple of 2
        labelled = unet(torch.randn(1, 4, 8, 8), 10, text, class_labels=torch.tensor([1])).sample
        same = unet(torch.randn(1, 4, 8, 8), 10, text, cross_attention_kwargs={"scale": 0.5}).sample
    assert odd.shape == (1, 4, 9, 8) and labelled.shape == same.shape == (1, 4, 8, 8)
    assert unet.forward.calls["torch"] - before["torch"] == 3
    assert unet.forward.calls["openvino"] == before["openvino"]


def test_a_lora_sends_the_unet_to_torch_and_its_pixels_match_torch(ov_engine, engine, tiny_model, tmp_path):
    from studio.engine.models import use_resource_finder
    from studio.library.catalog import Library
    from studio.library.resources import resource_finder
    from studio.paths import model_kind_dir
    from studio.testing.tiny_lora import lora_tensors, write_lora

    unet = unet_of(ov_engine, tiny_model)
    pairs = lora_tensors(ov_engine.models.get(str(tiny_model)).pipe, rank=4, seed=1, parts=("unet",))
    write_lora(pairs, model_kind_dir(tmp_path, "loras") / "style.safetensors")
    found = resource_finder(Library(tmp_path))
    use_resource_finder(found)
    try:
        before = dict(unet.forward.calls)
        with_lora = request(tiny_model, prompt="a red house <lora:style:1>", steps=2)
        ours, theirs = ov_engine.run(with_lora), engine.run(with_lora)
        assert unet.forward.calls["torch"] - before["torch"] == 2
        assert unet.forward.calls["openvino"] == before["openvino"]
        assert isinstance(ours, Finished) and isinstance(theirs, Finished)
        assert np.array_equal(np.asarray(ours.results[0].image), np.asarray(theirs.results[0].image))
        assert isinstance(ov_engine.run(request(tiny_model, steps=2)), Finished)  # the LoRA gone: OpenVINO again
        assert unet.forward.calls["openvino"] - before["openvino"] == 2
    finally:
        use_resource_finder(None)
        found.close()
