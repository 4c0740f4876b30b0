# pyright: standard
"""Upscaling with detail (a "hires fix" for any picture): enlarge, then redraw in tiles.

The picture is enlarged to the output size (Lanczos, or an upscaler model from the library
through spandrel when one is chosen and spandrel is installed), then redrawn by img2img at
the job's strength in square tiles of the model's native side, in rows, each guided only
weakly (`tile_request`: a strongly guided tile draws the whole prompt again, a second sun in
every tile of sky). Tiles overlap by at least a quarter of that side. Each tile starts from
the picture as redrawn so far, so where it overlaps the tiles before it, it starts from their
pixels, and it is blended in over the overlap by a linear ramp; its own outermost pixels
towards the tiles after it fade out (see `tile_alpha`), so no tile border shows. A redrawn tile
keeps the enlarged picture's shading at scales above a few pixels (`keep_low_frequencies`): the
model adds detail, while a tile of sky drawn lighter, or a faint blob drawn again, does not
stay. Only one tile goes through the model (and its VAE) at a time, so the memory a job
needs grows with the tile, not with the picture.

Step events count on over all tiles (step k of tile t is t * steps + k); previews show the
whole picture, the tile in progress drawn from its x0 guess (`Preview.latents` is that tile's).
The job stops at the next step when cancelled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.engine.events import GeneratedImage, Preview
from studio.engine.image_request import UPSCALER_SUFFIXES, ImageRequest, denoise_steps
from studio.engine.request import SIZE_MULTIPLE
from studio.engine.step_reports import StepReporter
from studio.errors import ModelError, StudioError


@dataclass(frozen=True)
class Tile:
    """One tile, in pixels of the (padded) output; `left`, `top`, `right` and `bottom` are how
    far it overlaps its neighbour on that side (0 on the picture's edge)."""

    x: int
    y: int
    width: int
    height: int
    left: int = 0
    top: int = 0
    right: int = 0
    bottom: int = 0

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y, self.y + self.height), slice(self.x, self.x + self.width)


def default_overlap(native: int) -> int:
    """A quarter of the model's native side, in multiples of 8."""
    return max(SIZE_MULTIPLE, native // 4 // SIZE_MULTIPLE * SIZE_MULTIPLE)


def _positions(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along one axis: as few tiles as overlap by at least `overlap`, spread evenly
    from 0 to length - tile, on multiples of 8."""
    if length <= tile:
        return [0]
    count = -(-(length - overlap) // (tile - overlap))
    span = length - tile
    starts = [round(i * span / (count - 1) / SIZE_MULTIPLE) * SIZE_MULTIPLE for i in range(count)]
    starts[-1] = span
    return starts


def plan_tiles(width: int, height: int, native: int, overlap: int | None = None) -> list[Tile]:
    """The tiles, row by row, that cover a `width` x `height` picture (multiples of 8) with
    tiles of side `native` (or the picture's side where it is shorter)."""
    native = max(2 * SIZE_MULTIPLE, native // SIZE_MULTIPLE * SIZE_MULTIPLE)
    overlap = default_overlap(native) if overlap is None else overlap
    overlap = min(overlap, native - SIZE_MULTIPLE)
    tile_w, tile_h = min(native, width), min(native, height)
    xs, ys = _positions(width, tile_w, overlap), _positions(height, tile_h, overlap)
    overlaps_x = [xs[i] + tile_w - xs[i + 1] for i in range(len(xs) - 1)]
    overlaps_y = [ys[i] + tile_h - ys[i + 1] for i in range(len(ys) - 1)]
    tiles = []
    for row, y in enumerate(ys):
        for column, x in enumerate(xs):
            left = overlaps_x[column - 1] if column else 0
            right = overlaps_x[column] if column < len(xs) - 1 else 0
            top = overlaps_y[row - 1] if row else 0
            bottom = overlaps_y[row] if row < len(ys) - 1 else 0
            tiles.append(Tile(x, y, tile_w, tile_h, left, top, right, bottom))
    return tiles


def tile_alpha(tile: Tile) -> np.ndarray:
    """How much of a redrawn tile replaces the picture under it (H x W, 0-1): a ramp up across
    its overlap with the tiles before it, and a short ramp down over the last quarter of its
    overlap with the tiles after it (a tile's outermost pixels are its least sure, and the next
    tile starts from what is pasted here); 1 elsewhere."""

    def ramp(length: int, before: int, after: int) -> np.ndarray:
        values = np.ones(length, np.float32)
        values[:before] = (np.arange(before, dtype=np.float32) + 1) / (before + 1)
        fade = min(after // 2, max(SIZE_MULTIPLE, after // 4)) if after else 0
        if fade:
            values[length - fade :] *= (np.arange(fade, 0, -1, dtype=np.float32) - 0.5) / fade
        return values

    return ramp(tile.height, tile.top, tile.bottom)[:, None] * ramp(tile.width, tile.left, tile.right)[None, :]


def native_of(info) -> int:
    from studio.engine.edit import native_side

    return native_side(info.defaults)


def job_steps(request: ImageRequest) -> int:
    """Denoising steps per candidate (all tiles of an upscale), as Started reports them."""
    steps = denoise_steps(request.steps, request.strength)[1]
    if request.kind != "upscale" or not steps:
        return steps
    from studio.engine.models import resolve_model

    try:
        native = native_of(resolve_model(request.model))
    except (StudioError, OSError):
        return steps  # loading it will say what is wrong
    return steps * len(plan_tiles(request.generate.width, request.generate.height, native))


def enlarge(pixels: np.ndarray, size: tuple[int, int], upscaler: str = "", device: str = "cpu") -> np.ndarray:
    """`pixels` enlarged to `size` (width, height): Lanczos, or the upscaler model file `upscaler`
    (through spandrel) and then Lanczos to the exact size."""
    from PIL import Image

    if upscaler:
        pixels = _model_upscale(pixels, upscaler, device)
    if pixels.shape[1::-1] == tuple(size):
        return pixels
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))


def _model_upscale(pixels: np.ndarray, path: str, device: str) -> np.ndarray:
    file = Path(path)
    if file.suffix.lower() not in UPSCALER_SUFFIXES:
        raise ModelError(f"upscaler {file.name}: only .safetensors upscalers are loaded (pickles can run code)")
    if not file.is_file():
        raise ModelError(f"upscaler {file} is not there")
    try:
        import spandrel  # pyright: ignore[reportMissingImports]
    except ImportError:
        raise ModelError("upscaler models need the spandrel package: pip install spandrel") from None
    import torch

    try:
        loaded = spandrel.ModelLoader(device=torch.device(device)).load_from_file(str(file))
    except Exception as exc:
        raise ModelError(f"cannot load upscaler {file.name}: {(str(exc).splitlines() or [''])[0]}") from None
    loaded.eval()
    tensor = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None].float().div(255)
    with torch.no_grad():
        out = loaded(tensor.to(device))
    return (out[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()).copy()


DEFAULT_STRENGTH = 0.2  # what the CLI and the window start from
TILE_GUIDANCE = 1.0  # at most: the prompt only faintly steers a tile
# A redrawn tile keeps the enlarged picture's colours at scales above a Gaussian of this
# share of the model's native side (4 px at 128, 16 px at 512): the model adds detail, not shading.
LOW_PASS = 1 / 32


def gaussian_blur(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """`pixels` (H x W x C) blurred by a Gaussian of `sigma` px, as float32; beyond the edges
    the edge pixels repeat."""
    out = pixels.astype(np.float32)
    if sigma <= 0:
        return out
    reach = max(1, int(np.ceil(3 * sigma)))
    kernel = np.exp(-0.5 * (np.arange(-reach, reach + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    for axis in (0, 1):
        length = out.shape[axis]
        grow = [(0, 0)] * out.ndim
        grow[axis] = (reach, reach)
        padded = np.pad(out, grow, mode="edge")
        summed = np.zeros_like(out)
        for offset, weight in enumerate(kernel):
            summed += np.float32(weight) * np.take(padded, np.arange(offset, offset + length), axis=axis)
        out = summed
    return out


def keep_low_frequencies(made: np.ndarray, reference: np.ndarray, sigma: float) -> np.ndarray:
    """`made` (a redrawn tile) with its shading at scales above `sigma` px taken from
    `reference` (the same tile of the enlarged picture): a lighter sky or a faint new blob
    drawn by one tile does not stay, its detail does."""
    return made.astype(np.float32) + gaussian_blur(reference.astype(np.float32) - made.astype(np.float32), sigma)


def tile_request(request: ImageRequest) -> ImageRequest:
    """The request each tile is redrawn with: the job's, guided at most `TILE_GUIDANCE`.

    A tile is a part of the picture the prompt describes whole; guided strongly, each tile of
    the sky draws the prompt's sun again (and the ground its lake). With guidance 1 the model
    still hears the prompt but no longer pushes towards it, and it runs one pass a step, not two."""
    if request.guidance_scale <= TILE_GUIDANCE:
        return request
    return request.replace(guidance_scale=TILE_GUIDANCE)


def upscale_candidate(job, index: int, emit, cancelled, previews: bool) -> GeneratedImage:
    import torch

    from studio.engine.img2img import ImageJob, pad_edges
    from studio.engine.runner import _Stop

    request: ImageRequest = job.request
    model = job.model
    own = request.generate.single(index)
    began = time.perf_counter()
    width, height = request.output_size
    big = enlarge(np.asarray(request.image), (width, height), request.upscaler, model.device)
    if not job.run_steps:
        return job.result(index, np.ascontiguousarray(big), began)
    canvas = pad_edges(big, own.width, own.height).astype(np.float32)
    reference = canvas.copy()
    sigma = LOW_PASS * native_of(model.info)
    tiles = plan_tiles(own.width, own.height, native_of(model.info))
    current = tiles[0]
    base = _small(canvas) if previews else None

    def whole_preview(step: int, total: int, rgb: np.ndarray, latents: np.ndarray) -> Preview:
        assert base is not None
        picture = base.copy()
        x, y = current.x // SIZE_MULTIPLE, current.y // SIZE_MULTIPLE
        picture[y : y + rgb.shape[0], x : x + rgb.shape[1]] = rgb
        return Preview(index, step, total, picture, latents)

    reporter = StepReporter(index, emit, cancelled, model.previewer, model.device, make_preview=whole_preview)
    tiles_request = tile_request(request)
    tile_job = job if tiles_request is request else ImageJob(model, tiles_request)
    generator = torch.Generator("cpu").manual_seed(own.seed)
    done = 0
    for number, tile in enumerate(tiles):
        if cancelled():
            raise _Stop(index, done)
        current = tile
        crop = canvas[tile.slices].round().clip(0, 255).astype(np.uint8)

        def step_of(i: int, steps: int, number=number) -> tuple[int, int]:
            return number * steps + i + 1, len(tiles) * steps

        made = tile_job.denoise(crop, generator, reporter, index, previews, step_of)
        made = keep_low_frequencies(made, reference[tile.slices], sigma)
        alpha = tile_alpha(tile)[..., None]
        area = canvas[tile.slices]
        area += alpha * (made - area)
        done = (number + 1) * job.run_steps
        if previews:
            base = _small(canvas)
    out = canvas[:height, :width].round().clip(0, 255).astype(np.uint8)
    return job.result(index, out, began)


def _small(canvas: np.ndarray) -> np.ndarray:
    """The picture at an eighth of its size (mean of each 8 x 8 block), as previews are drawn."""
    h, w = canvas.shape[0] // SIZE_MULTIPLE, canvas.shape[1] // SIZE_MULTIPLE
    blocks = canvas[: h * SIZE_MULTIPLE, : w * SIZE_MULTIPLE].reshape(h, SIZE_MULTIPLE, w, SIZE_MULTIPLE, 3)
    return blocks.mean(axis=(1, 3)).round().clip(0, 255).astype(np.uint8)
