"""`studio generate` end to end: files in the right place, JSON lines, batch prompts, errors."""

import json
import os
import signal
import subprocess
import sys

import pytest

from studio import cli
from studio.engine import loader
from studio.recipe.walker import read_recipe


def _studio(*args, env=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "studio.cli", *map(str, args)], capture_output=True, text=True, env=full_env, timeout=300
    )


def test_generate_json_to_out_dir(tiny_model, tmp_path):
    result = _studio(
        "generate",
        "a red house",
        "--model",
        tiny_model,
        "--seed",
        7,
        "--count",
        2,
        "--steps",
        3,
        "--cfg",
        2.5,
        "--scheduler",
        "DDIM",
        "--out-dir",
        tmp_path / "out",
        "--json",
        "--negative",
        "dark",
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["seed"] for r in records] == [7, 8]
    for record in records:
        assert {"path", "prompt", "seed", "steps", "width", "height", "elapsed_s"} <= set(record)
        assert record["prompt"] == "a red house" and record["steps"] == 3
        assert (record["width"], record["height"]) == (64, 64)
        assert record["elapsed_s"] > 0
        recipe = read_recipe(record["path"])
        assert recipe.request.seed == record["seed"]
        assert recipe.request.negative_prompt == "dark"
        assert recipe.request.scheduler == "DDIM" and recipe.request.guidance_scale == 2.5
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(os.path.basename(r["path"]) for r in records)


def test_out_file_and_model_defaults(tiny_model, tmp_path):
    target = tmp_path / "one.png"
    result = _studio("generate", "", "--model", tiny_model, "--out", target)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(target)
    recipe = read_recipe(target)
    assert recipe.request.steps == 4 and recipe.request.scheduler == "Euler"  # from the model's studio.json
    assert recipe.request.prompt == ""


def test_default_goes_to_gallery_in_data_dir(tiny_model, tmp_path):
    env_dir, flag_dir = tmp_path / "env", tmp_path / "flag"
    by_env = _studio("generate", "a lake", "--model", tiny_model, "--steps", 2, env={"STUDIO_DATA_DIR": str(env_dir)})
    assert by_env.returncode == 0, by_env.stderr
    assert len(list((env_dir / "gallery").glob("*.png"))) == 1
    by_flag = _studio(
        "generate",
        "a lake",
        "--model",
        tiny_model,
        "--steps",
        2,
        "--data-dir",
        flag_dir,
        env={"STUDIO_DATA_DIR": str(env_dir)},
    )
    assert by_flag.returncode == 0, by_flag.stderr
    assert len(list((flag_dir / "gallery").glob("*.png"))) == 1
    assert len(list((env_dir / "gallery").glob("*.png"))) == 1


def test_prompts_file_loads_the_model_once(tiny_model, tmp_path, monkeypatch, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red house\n\na blue lake\nthe old tree\n")
    loads = []
    real_load = loader.load_model

    def counting_load(*args, **kwargs):
        loads.append(args[0].ref)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(loader, "load_model", counting_load)
    code = cli.main(
        [
            "generate",
            "--prompts-file",
            str(prompts),
            "--model",
            str(tiny_model),
            "--count",
            "2",
            "--steps",
            "2",
            "--out-dir",
            str(tmp_path / "o"),
            "--json",
            "--seed",
            "100",
        ]
    )
    assert code == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["prompt"], r["seed"]) for r in records] == [
        ("a red house", 100),
        ("a red house", 101),
        ("a blue lake", 100),
        ("a blue lake", 101),
        ("the old tree", 100),
        ("the old tree", 101),
    ]
    assert loads == [str(tiny_model)]


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "x", "--width", "100"], "nearest valid sizes are 96 and 104"),
        (["generate", "x", "--steps", "0"], "steps must be 1 to 150"),
        (["generate", "x", "--scheduler", "Fast"], "known schedulers: Euler"),
        (["generate", "x", "--count", "2", "--out", "a.png"], "--out names one file"),
        (["generate", "--prompts-file", "/nonexistent/prompts.txt"], "cannot read prompts file"),
        (["generate"], "give a PROMPT"),
    ],
)
def test_errors_are_one_line_without_traceback(tiny_model, args, message):
    result = _studio(*args, "--model", tiny_model)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_missing_model_error(tmp_path):
    result = _studio("generate", "x", "--model", tmp_path / "none")
    assert result.returncode == 1
    assert result.stderr.strip() == f"studio: error: model {tmp_path / 'none'} does not exist (no such file or folder)"


def test_ctrl_c_stops_and_keeps_only_finished_images(tiny_model, tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "studio.cli",
            "generate",
            "a lake",
            "--model",
            str(tiny_model),
            "--steps",
            "150",
            "--count",
            "9",
            "--out-dir",
            str(out),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = json.loads(process.stdout.readline())
    process.send_signal(signal.SIGINT)
    rest, errors = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "cancelled" in errors and "Traceback" not in errors
    written = [first["path"]] + [json.loads(line)["path"] for line in rest.splitlines()]
    assert sorted(os.listdir(out)) == sorted(os.path.basename(p) for p in written)
    assert len(written) < 9
    for path in written:
        assert read_recipe(path) is not None


def test_data_dir_and_device_work_before_or_after_the_command_word():
    from studio.cli import build_parser

    parser = build_parser()
    for argv in (
        ["--data-dir", "D", "--device", "cpu", "generate", "a cat"],
        ["generate", "a cat", "--data-dir", "D", "--device", "cpu"],
    ):
        args = parser.parse_args(argv)
        assert (args.data_dir, args.device) == ("D", "cpu"), argv
    assert parser.parse_args(["generate", "a cat"]).data_dir is None
