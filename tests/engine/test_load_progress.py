"""A model load says how far it has got: a plain callback, steps in order, the last one 100 %."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from studio.engine.load_progress import LoadStep
from studio.engine.loader import ModelCache

ROOT = Path(__file__).resolve().parents[2]


def check_order(steps: list[LoadStep]) -> None:
    measured = [s for s in steps if s.total]
    assert measured, steps
    assert len({s.total for s in measured}) == 1  # one scale for the whole load
    done = [s.done for s in measured]
    assert done == sorted(done)  # never backwards
    assert measured[-1].done == measured[-1].total and measured[-1].fraction == 1.0
    assert all(s.total == 0 for s in steps[: steps.index(measured[0])])  # unmeasured parts only come first


def test_a_folder_reports_each_component_in_order_up_to_100_percent(tiny_model):
    steps: list[LoadStep] = []
    model = ModelCache("cpu").get(str(tiny_model), on_progress=steps.append)
    assert model.pipe.unet is not None
    check_order(steps)
    stages = [s.stage for s in steps]
    parts = [
        name
        for name, value in json.loads((tiny_model / "model_index.json").read_text()).items()
        if isinstance(value, list) and value[0] is not None
    ]
    for k, name in enumerate(sorted(parts), 1):  # each component named, counted among the components
        assert f"{name.replace('_', ' ')} {k}/{len(parts)}" in stages, stages
    assert stages[-1] == "ready"


def test_a_model_already_loaded_reports_nothing(tiny_model):
    cache = ModelCache("cpu")
    cache.get(str(tiny_model))
    steps: list[LoadStep] = []
    cache.get(str(tiny_model), on_progress=steps.append)
    assert steps == []


def test_in_a_fresh_process_torch_starting_is_the_one_unmeasured_stage(tiny_model):
    code = (
        "import sys\n"
        "from studio.engine.loader import ModelCache\n"
        "ModelCache('cpu').get(sys.argv[1], on_progress=lambda s: print('step', s.stage, s.done, s.total, flush=True))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tiny_model)],
        cwd=ROOT,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line.split(" ") for line in done.stdout.splitlines() if line.startswith("step ")]
    steps = [LoadStep(" ".join(parts[1:-2]), int(parts[-2]), int(parts[-1])) for parts in lines]
    assert steps[0] == LoadStep("starting torch", 0, 0)
    assert [s for s in steps if not s.total] == [steps[0]]
    check_order(steps)
