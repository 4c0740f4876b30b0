"""The UNet in bf16 autocast on the CPU (engine.cpu_bf16), the fallback when OpenVINO is not installed:
when it is chosen (the decision and the CPU's flags), and, forced on a tiny real model, generation with
events, previews and cancel, img2img, outpainting and a LoRA through it, its pictures close to fp32's."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.engine import cpu_backend, cpu_bf16
from studio.engine.events import Finished, Preview
from studio.engine.image_request import ImageRequest
from studio.engine.load_progress import LoadStep
from studio.engine.loader import ModelCache
from studio.engine.request import GenerateRequest
from studio.engine.runner import Engine
from studio.testing.backend_checks import check_cancel_at_step, check_outpaint

BF16_STAGE = "the UNet in bf16 on the CPU"


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


def load(model, choice: str, steps: list | None = None) -> Engine:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(cpu_backend.BACKEND_ENV, choice)
        engine = Engine(models=ModelCache("cpu"))
        engine.models.get(str(model), on_progress=None if steps is None else steps.append)
    return engine


@pytest.fixture(scope="module")
def bf16_load(tiny_model):
    steps: list[LoadStep] = []
    return load(tiny_model, "bf16", steps), steps


@pytest.fixture
def bf16_engine(bf16_load):
    return bf16_load[0]


def unet_of(engine, model):
    return engine.models.get(str(model)).pipe.unet


def psnr(a, b) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / mse) if mse else float("inf")


# ---- the choice ----


@pytest.mark.parametrize(
    "choice, device, openvino, native, expected",
    [
        ("auto", "cpu", True, True, ("openvino", "bf16")),  # bf16 when OpenVINO declines the UNet
        ("auto", "cpu", False, True, ("bf16",)),
        ("auto", "cpu", True, False, ("openvino",)),
        ("auto", "cpu", False, False, ()),  # a CPU without native bf16 keeps torch fp32
        ("bf16", "cpu", True, False, ("bf16",)),  # forced: honoured even where emulated
        ("bf16", "cpu", False, True, ("bf16",)),
        ("openvino", "cpu", False, True, ()),
        ("openvino", "cpu", True, True, ("openvino",)),
        ("torch", "cpu", True, True, ()),
        ("auto", "cuda:0", False, True, ()),
        ("bf16", "mps", False, True, ()),
    ],
)
def test_the_backends_tried_follow_the_choice_openvino_and_the_cpu(choice, device, openvino, native, expected):
    assert cpu_backend.candidates(choice, device, openvino, native) == expected


@pytest.mark.parametrize(
    "capabilities, native",
    [
        ({"avx512_f": True, "avx512_bf16": True, "avx512_vnni": True}, True),
        ({"avx2": True, "amx_tile": True, "amx_bf16": True}, True),
        ({"avx2": True, "avx512_f": True, "avx512_bw": True, "avx512_bf16": False}, False),  # bf16 emulated
        ({"neon": True, "bf16": True, "sve_bf16": True}, False),  # not measured on ARM: left on torch
        ({}, False),
    ],
)
def test_native_bf16_is_avx512_bf16_or_amx(capabilities, native):
    assert cpu_bf16.bf16_native(capabilities) is native


def test_native_bf16_agrees_with_the_cpus_own_flags():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file() or "flags" not in cpuinfo.read_text():
        pytest.skip("no x86 /proc/cpuinfo to compare with")
    flags = set(next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")).split())
    assert cpu_bf16.bf16_native() is bool(flags & {"avx512_bf16", "amx_bf16"})


def test_auto_without_openvino_plans_bf16_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.delenv(cpu_backend.BACKEND_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "openvino", None)  # what an import of a package not installed sees
    planned = cpu_backend.backend_plan("cpu", 4_000_000_000)
    assert planned.tries == (("bf16",) if cpu_bf16.bf16_native() else ()) and planned.weights == []
    assert not planned.forced
    monkeypatch.setenv(cpu_backend.BACKEND_ENV, "bf16")
    assert cpu_backend.backend_plan("cpu", 4_000_000_000).tries == ("bf16",)
    assert cpu_backend.backend_plan("cuda", 4_000_000_000).tries == ()


def test_auto_without_openvino_runs_a_full_size_unet_in_bf16_where_native(tiny_model, monkeypatch, caplog):
    monkeypatch.delenv(cpu_backend.BACKEND_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "openvino", None)
    monkeypatch.setattr(cpu_backend, "MIN_PARAMETERS", 1)  # the tiny UNet counted as full size
    steps: list[LoadStep] = []
    with caplog.at_level(logging.INFO, logger="studio.engine.cpu_backend"):
        engine = Engine(models=ModelCache("cpu"))
        engine.models.get(str(tiny_model), on_progress=steps.append)
    expected = "bf16" if cpu_bf16.bf16_native() else "torch"
    assert cpu_backend.backend_of(unet_of(engine, tiny_model)) == expected
    assert (BF16_STAGE in [s.stage for s in steps]) is (expected == "bf16")
    assert ("runs in bf16 autocast" in caplog.text) is (expected == "bf16")


def test_auto_leaves_a_small_unet_on_torch_fp32(tiny_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    engine = load(tiny_model, "auto")
    assert cpu_backend.backend_of(unet_of(engine, tiny_model)) == "torch"
    assert not cpu_bf16.decode_installed(engine.models.get(str(tiny_model)).pipe.vae)


def test_torch_keeps_the_vae_in_fp32(tiny_model):
    engine = load(tiny_model, "torch")
    assert not cpu_bf16.decode_installed(engine.models.get(str(tiny_model)).pipe.vae)


@pytest.mark.parametrize("native, expected", [(True, True), (False, False)])
def test_auto_plans_the_vae_in_bf16_only_where_the_cpu_has_it(monkeypatch, native, expected):
    monkeypatch.setattr(cpu_bf16, "bf16_native", lambda capabilities=None: native)
    monkeypatch.setenv(cpu_backend.BACKEND_ENV, "auto")
    assert cpu_backend.backend_plan("cpu", 3 * 10**9).native_bf16 is expected
    assert cpu_backend.backend_plan("cuda", 3 * 10**9).native_bf16 is False


def test_a_half_precision_unet_is_not_autocast(tiny_model, bf16_engine):
    import torch

    unet = unet_of(bf16_engine, tiny_model)
    assert cpu_backend.bf16_unsupported(unet, forced=True) == ""
    assert "torch.float16" in cpu_backend.bf16_unsupported(torch.nn.Linear(2, 2).half(), forced=True)


# ---- forced, on a tiny model ----


def test_the_load_says_the_unet_runs_in_bf16(bf16_load, tiny_model):
    engine, steps = bf16_load
    assert cpu_backend.backend_of(unet_of(engine, tiny_model)) == "bf16"
    stages = [s.stage for s in steps]
    assert stages.index("moving to cpu") < stages.index(BF16_STAGE) < stages.index("ready")
    measured = [s for s in steps if s.total]
    assert [s.done for s in measured] == sorted(s.done for s in measured) and measured[-1].fraction == 1.0


def test_a_generation_runs_in_bf16_with_events_and_previews_close_to_fp32(bf16_engine, engine, tiny_model):
    unet = unet_of(bf16_engine, tiny_model)
    before = dict(unet.forward.calls)
    events = []
    final = bf16_engine.run(request(tiny_model, count=2), events.append)
    assert isinstance(final, Finished), final
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Started"] + (["Step", "Preview"] * 4 + ["ImageDone"]) * 2 + ["Finished"]
    assert all(e.rgb is not None for e in events if isinstance(e, Preview))
    assert unet.forward.calls["bf16"] - before["bf16"] == 8 and unet.forward.calls["torch"] == before["torch"]
    theirs = engine.run(request(tiny_model, count=2))  # torch eager fp32, the same request
    assert isinstance(theirs, Finished)
    for ours, fp32 in zip(final.results, theirs.results):
        a, b = np.asarray(ours.image), np.asarray(fp32.image)
        assert not np.array_equal(a, b)  # bf16 really ran
        assert psnr(a, b) >= 30


def test_the_unet_output_is_fp32_and_close_to_torch(bf16_engine, tiny_model):
    import torch

    unet = unet_of(bf16_engine, tiny_model)
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(2, 4, 8, 8, generator=generator)
    text = torch.randn(2, 77, unet.config.cross_attention_dim, generator=generator)
    with torch.no_grad():
        ours = unet(sample, 500, text).sample
        theirs = type(unet).forward(unet, sample, 500, text).sample
        as_tuple = unet(sample, 500, text, return_dict=False)
    assert ours.dtype == torch.float32 and as_tuple[0].dtype == torch.float32
    peak = float(theirs.max() - theirs.min())
    assert 10 * np.log10(peak**2 / float(((ours - theirs) ** 2).mean())) >= 35


def test_the_unet_keeps_no_bf16_copy_of_its_weights_during_a_call(bf16_engine, tiny_model):
    """autocast's weight cache would hold a bf16 copy of every weight until the call ends: half
    the UNet's size again (5 GB for SDXL's, which took a 1024² CPU run to 22 GB)."""
    import torch

    unet = unet_of(bf16_engine, tiny_model)
    seen: list[tuple[bool, bool]] = []
    hook = unet.conv_in.register_forward_pre_hook(
        lambda *_: seen.append((torch.is_autocast_enabled("cpu"), torch.is_autocast_cache_enabled()))
    )
    try:
        with torch.no_grad():
            unet(torch.randn(1, 4, 8, 8), 500, torch.randn(1, 77, unet.config.cross_attention_dim))
    finally:
        hook.remove()
    assert seen == [(True, False)]


def test_the_vae_decodes_in_bf16_and_hands_back_fp32_pixels(bf16_engine, tiny_model):
    import torch

    vae = bf16_engine.models.get(str(tiny_model)).pipe.vae
    assert cpu_bf16.decode_installed(vae)
    seen: list[tuple[bool, bool]] = []
    hook = vae.decoder.conv_in.register_forward_pre_hook(
        lambda *_: seen.append((torch.is_autocast_enabled("cpu"), torch.is_autocast_cache_enabled()))
    )
    latents = torch.randn(1, vae.config.latent_channels, 8, 8, generator=torch.Generator().manual_seed(1))
    try:
        with torch.no_grad():
            ours = vae.decode(latents).sample
            as_tuple = vae.decode(latents, return_dict=False)[0]
    finally:
        hook.remove()
    with torch.no_grad():
        theirs = type(vae).decode(vae, latents).sample
    assert seen == [(True, False), (True, False)]
    assert ours.dtype == torch.float32 and as_tuple.dtype == torch.float32
    assert 10 * np.log10(4 / float(((ours.clamp(-1, 1) - theirs.clamp(-1, 1)) ** 2).mean())) >= 35


def test_cancel_stops_a_bf16_run_at_the_step(bf16_engine, tiny_model):
    check_cancel_at_step(bf16_engine, request(tiny_model))


def test_outpainting_and_img2img_run_in_bf16(bf16_engine, tiny_model):
    unet = unet_of(bf16_engine, tiny_model)
    check_outpaint(bf16_engine, request(tiny_model), unet.forward.calls, "bf16")
    after_edit = unet.forward.calls["bf16"]
    source = np.full((64, 64, 3), 90, np.uint8)
    image = ImageRequest(request(tiny_model), source, strength=0.5)
    final = bf16_engine.run_image(image)
    assert isinstance(final, Finished), final
    assert unet.forward.calls["bf16"] > after_edit


def test_a_lora_runs_in_bf16_close_to_torch(bf16_engine, engine, tiny_model, tmp_path):
    from studio.engine.models import use_resource_finder
    from studio.library.catalog import Library
    from studio.library.resources import resource_finder
    from studio.paths import model_kind_dir
    from studio.testing.tiny_lora import lora_tensors, write_lora

    unet = unet_of(bf16_engine, tiny_model)
    pairs = lora_tensors(bf16_engine.models.get(str(tiny_model)).pipe, rank=4, seed=1, parts=("unet",))
    write_lora(pairs, model_kind_dir(tmp_path, "loras") / "style.safetensors")
    found = resource_finder(Library(tmp_path))
    use_resource_finder(found)
    try:
        before = dict(unet.forward.calls)
        with_lora = request(tiny_model, prompt="a red house <lora:style:1>", steps=2)
        plain = request(tiny_model, steps=2)
        ours, theirs, without = bf16_engine.run(with_lora), engine.run(with_lora), engine.run(plain)
        assert isinstance(ours, Finished) and isinstance(theirs, Finished) and isinstance(without, Finished)
        assert unet.forward.calls["bf16"] - before["bf16"] == 2
        a, b = np.asarray(ours.results[0].image), np.asarray(theirs.results[0].image)
        assert psnr(a, b) >= 30
        assert psnr(a, b) > psnr(a, np.asarray(without.results[0].image))  # the LoRA's change is there
    finally:
        use_resource_finder(None)
        found.close()
