"""Tiled VAE: canvases larger than the model's native size go through the VAE in tiles, every path."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from studio.engine.edit import EditRequest, extend_canvas
from studio.engine.events import Finished
from studio.engine.image_request import ImageRequest
from studio.engine.request import GenerateRequest
from studio.engine.tiling import needs_tiles, vae_tiles

NATIVE = 64  # the tiny model's native side (its defaults and its VAE's sample size)


def settings(model, **changes):
    values: dict = dict(prompt="a red house", seed=3, steps=2, scheduler="Euler", guidance_scale=1.0, model=str(model))
    values.update(changes)
    return GenerateRequest(**values)


def picture(width, height, seed=0):
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None, None]
    x = np.linspace(0, 1, width)[None, :, None]
    image = rng.integers(0, 256, 3) * (1 - y) + rng.integers(0, 256, 3) * y + 30 * np.sin(5 * x)
    return np.clip(image, 0, 255).astype(np.uint8)


class VaeCalls:
    """The sizes (latent or pixel side pairs) the VAE's decoder and encoder are called with:
    real forward hooks on the model's own modules."""

    def __init__(self, vae):
        self.decoded: list[tuple[int, int]] = []
        self.encoded: list[tuple[int, int]] = []
        self.handles = [
            vae.decoder.register_forward_hook(lambda m, args, out: self.decoded.append(tuple(args[0].shape[-2:]))),
            vae.encoder.register_forward_hook(lambda m, args, out: self.encoded.append(tuple(args[0].shape[-2:]))),
        ]

    def close(self):
        for handle in self.handles:
            handle.remove()


@pytest.fixture
def calls(engine, tiny_model):
    vae = engine.load(str(tiny_model)).pipe.vae
    seen = VaeCalls(vae)
    yield seen
    seen.close()
    assert vae.use_tiling is False  # tiling is on for the call only


def test_the_threshold_is_the_native_side():
    assert not needs_tiles(64, 64, NATIVE)
    assert not needs_tiles(48, 64, NATIVE)
    assert needs_tiles(72, 64, NATIVE)
    assert needs_tiles(64, 2048, NATIVE)


def test_a_text_to_image_canvas_above_native_is_decoded_in_tiles(engine, tiny_model, calls):
    final = engine.run(settings(tiny_model, width=160, height=64), previews=False)
    assert isinstance(final, Finished), final
    assert final.results[0].image.size == (160, 64)
    assert len(calls.decoded) > 1
    assert max(max(side) for side in calls.decoded) <= NATIVE // 8


def test_a_text_to_image_canvas_at_native_is_decoded_whole(engine, tiny_model, calls):
    final = engine.run(settings(tiny_model, width=64, height=64), previews=False)
    assert isinstance(final, Finished), final
    assert calls.decoded == [(8, 8)]


def test_an_img2img_picture_above_native_is_encoded_and_decoded_in_tiles(engine, tiny_model, calls):
    request = ImageRequest(settings(tiny_model), picture(136, 72), strength=0.5)
    final = engine.run_image(request, previews=False)
    assert isinstance(final, Finished), final
    assert len(calls.encoded) > 1 and max(max(side) for side in calls.encoded) <= NATIVE
    assert len(calls.decoded) > 1 and max(max(side) for side in calls.decoded) <= NATIVE // 8


def test_an_outpaint_window_above_native_is_encoded_and_decoded_in_tiles(engine, tiny_model, calls):
    canvas, mask = extend_canvas(picture(256, 64), bottom=16)
    request = EditRequest(settings(tiny_model), canvas, mask)
    final = engine.run_edit(request, previews=False)
    assert isinstance(final, Finished), final
    assert final.results[0].image.size == (256, 80)
    assert len(calls.encoded) > 1 and max(max(side) for side in calls.encoded) <= NATIVE
    assert len(calls.decoded) > 1 and max(max(side) for side in calls.decoded) <= NATIVE // 8


def test_an_inpaint_window_at_native_is_encoded_and_decoded_whole(engine, tiny_model, calls):
    mask = np.zeros((64, 64), np.uint8)
    mask[16:40, 24:48] = 255
    final = engine.run_edit(EditRequest(settings(tiny_model), picture(64, 64), mask, kind="inpaint"), previews=False)
    assert isinstance(final, Finished), final
    assert calls.decoded == [(8, 8)]
    assert calls.encoded and set(calls.encoded) == {(64, 64)}


def small_vae():
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(
        block_out_channels=(16, 32, 32, 32),  # pyright: ignore[reportArgumentType]
        down_block_types=("DownEncoderBlock2D",) * 4,  # pyright: ignore[reportArgumentType]
        up_block_types=("UpDecoderBlock2D",) * 4,  # pyright: ignore[reportArgumentType]
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=NATIVE,
    ).eval()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of two pictures in [-1, 1] (a range of 2)."""
    mse = float(((a.clamp(-1, 1) - b.clamp(-1, 1)) ** 2).mean())
    return 10 * math.log10(4 / mse)


def test_tiled_decode_is_close_to_the_whole_decode():
    """On the embedded model's trained VAE (native 128 px), a 384² picture's latents decoded in
    tiles and whole: measured 25.9 dB apart, the tiles 0.7 dB further from the picture."""
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    from studio.resources import embedded_model_dir

    vae = AutoencoderKL.from_pretrained(embedded_model_dir() / "vae").eval()
    native = vae.config.sample_size
    source = torch.from_numpy(wavy_picture(3 * native)).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        latents = vae.encode(source).latent_dist.mean  # pyright: ignore
        whole = vae.decode(latents).sample  # pyright: ignore
        with vae_tiles(vae, 3 * native, 3 * native, native) as tiled:
            tiles = vae.decode(latents).sample  # pyright: ignore
    assert tiled and vae.use_tiling is False
    assert tiles.shape == whole.shape == source.shape
    assert not torch.equal(tiles, whole)  # it did go through the tiles
    assert psnr(tiles, whole) >= 24
    assert psnr(tiles, source) >= psnr(whole, source) - 1.5


def wavy_picture(side: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    y = np.linspace(0, 1, side)[:, None, None]
    x = np.linspace(0, 1, side)[None, :, None]
    image = rng.integers(0, 256, 3) * (1 - y) + rng.integers(0, 256, 3) * y + 40 * np.sin(9 * x + 3 * y)
    return np.clip(image, 0, 255).astype(np.uint8)


def test_tiles_are_left_as_they_were_when_already_on():
    vae = small_vae()
    vae.enable_tiling()
    with vae_tiles(vae, 256, 256, NATIVE) as tiled:
        assert tiled
    assert vae.use_tiling is True
    vae.disable_tiling()
    with vae_tiles(vae, 64, 64, NATIVE) as tiled:
        assert not tiled and vae.use_tiling is False


def test_on_the_cpu_a_larger_native_side_works_in_tiles_of_cpu_tile(engine, tiny_model, calls, monkeypatch):
    """SDXL's 1024² is its native side, yet decoded whole it takes a CPU run past 16 GB: on the
    CPU, tiles of CPU_TILE (here made smaller than the tiny model's native 64)."""
    from studio.engine import tiling

    monkeypatch.setattr(tiling, "CPU_TILE", 32)
    vae = engine.load(str(tiny_model)).pipe.vae
    sizes = (vae.tile_sample_min_size, vae.tile_latent_min_size)
    final = engine.run(settings(tiny_model, width=64, height=64), previews=False)
    assert isinstance(final, Finished), final
    assert final.results[0].image.size == (64, 64)
    assert len(calls.decoded) > 1 and max(max(side) for side in calls.decoded) <= 32 // 8
    assert (vae.tile_sample_min_size, vae.tile_latent_min_size) == sizes  # diffusers' own sizes put back
