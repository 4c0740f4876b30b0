"""An outpaint is guided at most the model's studio.json "outpaint" / "guidance": guided strongly,
a strip below the picture drew the prompt's scene anew (a patch of sky, a tree and a second lake
under the ground, bench/outpaint.py picture 30); guided weakly, the picture leads and the strip
continues its ground."""

import numpy as np

from studio.engine.edit import EditRequest, extend_canvas
from studio.engine.events import Finished
from studio.testing.landscape_objects import Counts, count_objects


def test_the_embedded_model_guides_its_outpaints_weakly():
    from studio.engine.models import resolve_model

    info = resolve_model("embedded")
    assert info.studio["outpaint"]["guidance"] < info.defaults.guidance_scale


def test_a_strip_below_the_picture_continues_its_ground(engine):
    from studio.embedded.captions import caption
    from studio.embedded.world import random_scene
    from studio.engine.models import resolve_model

    defaults = resolve_model("embedded").defaults
    seed = 30  # bench/outpaint.py's picture 30, made as it makes it
    scene = random_scene(np.random.default_rng(2000 + seed))
    scene = type(scene)(scene.time, scene.ground, "left", scene.mountains, True, scene.trees)
    prompt = caption(scene)
    made = engine.run(defaults.request("embedded", prompt=prompt, seed=seed), previews=False)
    assert isinstance(made, Finished), made
    source = np.asarray(made.results[0].image)
    assert count_objects(source) == Counts(1, 1)
    canvas, mask = extend_canvas(source, bottom=64)
    request = EditRequest(defaults.request("embedded", prompt=prompt, seed=seed), canvas, mask, extend=(0, 0, 0, 64))
    final = engine.run_edit(request, previews=False)
    assert isinstance(final, Finished), final
    result = np.asarray(final.results[0].image)
    assert count_objects(result, frame=128) == Counts(1, 1)
    strip = result[128:].astype(np.float32)
    ground = source[-8:].reshape(-1, 3).astype(np.float32).mean(axis=0)
    assert np.abs(strip - ground).mean(axis=2).mean() < 12  # the ground goes on (14.5 guided at 6)
