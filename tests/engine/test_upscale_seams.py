"""No tile border shows in a four times upscale at the default settings: each redrawn tile keeps
the enlarged picture's shading (`upscale.keep_low_frequencies`), so a tile of sky drawn lighter
or a faint blob drawn in one tile does not stay, while the detail the model adds does."""

import numpy as np

from studio.engine.events import Finished
from studio.engine.image_request import ImageRequest
from studio.engine.request import GenerateRequest
from studio.engine.upscale import DEFAULT_STRENGTH, enlarge, gaussian_blur, keep_low_frequencies, plan_tiles
from studio.testing.seams import relative_seam_scores, tile_drift

GOAL = 1.5
MAX_DRIFT = 2.0  # grey levels


def test_the_blur_keeps_flat_areas_and_the_mean():
    flat = np.full((9, 40, 3), 120.0, np.float32)
    assert np.allclose(gaussian_blur(flat, 4.0), 120.0)
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 20, (64, 64, 3)).astype(np.float32)
    blurred = gaussian_blur(noise, 4.0)
    assert blurred.std() < noise.std() / 5
    assert abs(float(blurred.mean() - noise.mean())) < 1.0
    assert np.array_equal(gaussian_blur(noise, 0), noise)


def test_a_tile_keeps_its_detail_but_not_a_lighter_shade_or_a_blob():
    rng = np.random.default_rng(1)
    reference = np.full((128, 128, 3), 100.0, np.float32)
    detail = rng.normal(0, 10, reference.shape).astype(np.float32)
    detail -= gaussian_blur(detail, 4.0)  # fine grain only
    rows, cols = np.mgrid[:128, :128]
    blob = 40.0 * (((rows - 40) ** 2 + (cols - 90) ** 2) < 12**2)[..., None]
    made = reference + 25.0 + blob + detail  # lighter, a sun-sized blob, and detail
    kept = keep_low_frequencies(made, reference, 4.0)
    assert abs(float(kept.mean() - 100.0)) < 1.0
    assert float(np.abs(kept - reference)[30:50, 80:100].mean()) < 12  # the blob mostly gone
    fine = kept - gaussian_blur(kept, 4.0)
    assert np.corrcoef(fine.ravel(), detail.ravel())[0, 1] > 0.8


def test_a_four_times_upscale_keeps_the_pictures_shading_in_every_tile(engine):
    """Seed 100 at x4: tiles of sky were redrawn lighter (a visible block) and drew faint blobs
    (each tile's mean low-frequency drift from the plain enlargement up to 11 grey levels)."""
    prompt = "a day landscape with green hills, a lake, the sun on the left"
    settings = GenerateRequest(prompt=prompt, seed=100, guidance_scale=6.0, model="embedded", steps=20)
    made = engine.run(settings.replace(width=128, height=128), previews=False)
    assert isinstance(made, Finished), made
    source = np.asarray(made.results[0].image)
    request = ImageRequest(settings.replace(steps=10), source, strength=DEFAULT_STRENGTH, kind="upscale", scale=4)
    final = engine.run_image(request, previews=False)
    assert isinstance(final, Finished), final
    result = np.asarray(final.results[0].image)
    plain = enlarge(source, (512, 512))
    tiles = plan_tiles(512, 512, 128)
    drift = tile_drift(result, plain, tiles)
    assert max(drift) < MAX_DRIFT, [round(d, 2) for d in drift]
    scores = relative_seam_scores(result, plain, tiles)
    assert len(scores) == 16 and max(scores) <= GOAL, [round(s, 2) for s in scores]
    assert np.abs(result.astype(int) - plain).mean() > 0.5  # it did redraw the picture
