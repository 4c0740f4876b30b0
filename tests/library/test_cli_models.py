"""`studio models list/add/remove/folders/defaults`, and `studio generate --model NAME` with a library name."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from library import samples
from studio import cli
from studio.engine.models import use_model_finder
from studio.library.catalog import Library
from studio.paths import model_kind_dir


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from studio.testing.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture
def data(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture(autouse=True)
def no_finder_left():
    yield
    use_model_finder(None)  # cli.main installs the library's finder for the process


def run(capsys, data: Path, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["models", *argv, "--data-dir", str(data)])
    out, err = capsys.readouterr()
    return code, out, err


def records(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_list_json_has_every_field_and_computes_hashes(capsys, data):
    path = samples.checkpoint(model_kind_dir(data, "checkpoints") / "dreamy.safetensors", "sdxl")
    samples.lora(model_kind_dir(data, "loras") / "ink.safetensors", "sd1")
    samples.pickled(model_kind_dir(data, "checkpoints") / "old.ckpt")
    code, out, err = run(capsys, data, "list", "--json")
    assert (code, err) == (0, "")
    got = {r["name"]: r for r in records(out)}
    assert list(got) == ["dreamy", "old", "ink"]
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert got["dreamy"] == {
        "name": "dreamy",
        "kind": "checkpoints",
        "family": "sdxl",
        "description": "SDXL",
        "size": path.stat().st_size,
        "hash": sha[:10],
        "sha256": sha,
        "defaults": {"steps": 20, "guidance_scale": 7.0, "scheduler": "DPM++ 2M Karras", "width": 1024, "height": 1024},
        "prediction": None,
        "path": str(path),
        "location": "library",
        "problem": "",
    }
    assert got["ink"]["family"] == "sd1" and len(got["ink"]["hash"]) == 12
    assert got["old"]["problem"].startswith("a Python pickle: convert it with studio models convert")


def test_list_no_hash_and_kind(capsys, data):
    samples.checkpoint(model_kind_dir(data, "checkpoints") / "dreamy.safetensors")
    samples.lora(model_kind_dir(data, "loras") / "ink.safetensors")
    code, out, _ = run(capsys, data, "list", "--json", "--no-hash", "--kind", "loras")
    assert code == 0
    (record,) = records(out)
    assert (record["name"], record["hash"], record["sha256"]) == ("ink", "", None)
    assert not (data / "cache" / "model-hashes.json").exists()


def test_list_prints_a_table(capsys, data):
    samples.checkpoint(model_kind_dir(data, "checkpoints") / "dreamy.safetensors", "sd2", v_pred=("F32", (0,)))
    samples.pickled(model_kind_dir(data, "checkpoints") / "old.ckpt")
    code, out, _ = run(capsys, data, "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["NAME", "KIND", "MODEL"]
    dreamy = next(line for line in lines if line.startswith("dreamy"))
    assert "SD 2.x, v-prediction" in dreamy and "20 steps, CFG 7, DPM++ 2M Karras, 768x768" in dreamy
    assert str(model_kind_dir(data, "checkpoints") / "dreamy.safetensors") in dreamy
    assert any(line.startswith("  ! a Python pickle") for line in lines)


def test_an_empty_library_says_how_to_add(capsys, data):
    code, out, err = run(capsys, data, "list")
    assert (code, out) == (0, "") and "studio models add PATH" in err


def test_hostile_names_are_printed_safely(capsys, data):
    names = ["with space", "ünïcode ☃", "new\nline", "bell\x07\x1b[31mred"]
    for name in names:
        samples.checkpoint(model_kind_dir(data, "checkpoints") / f"{name}.safetensors")
    code, out, _ = run(capsys, data, "list", "--no-hash")
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert len(out.splitlines()) == 1 + len(names)  # one line each: the newline is escaped
    assert "new\\x0aline" in out and "ünïcode ☃" in out
    code, out, _ = run(capsys, data, "list", "--json", "--no-hash")
    assert sorted(r["name"] for r in records(out)) == sorted(names)
    assert "\x1b" not in out


def test_add_prints_the_name_and_path(capsys, data, tmp_path):
    source = samples.checkpoint(tmp_path / "in" / "dreamy.safetensors")
    code, out, err = run(capsys, data, "add", str(source))
    target = model_kind_dir(data, "checkpoints") / "dreamy.safetensors"
    assert (code, out, err) == (0, f"dreamy\t{target}\n", "")
    assert target.read_bytes() == source.read_bytes()
    code, out, err = run(capsys, data, "add", str(samples.lora(tmp_path / "in" / "ink.safetensors")), "--link")
    assert code == 0 and (model_kind_dir(data, "loras") / "ink.safetensors").is_symlink()


def test_add_errors_are_one_line(capsys, data, tmp_path):
    source = samples.checkpoint(tmp_path / "in" / "dreamy.safetensors")
    run(capsys, data, "add", str(source))
    for argv, words in [
        (["add", str(source)], "already has a checkpoint named 'dreamy'"),
        (["add", str(samples.pickled(tmp_path / "old.ckpt"))], "Python pickle"),
        (["add", str(tmp_path / "none.safetensors")], "does not exist"),
        (["add", str(source), "--kind", "vae"], "not a VAE"),
    ]:
        code, out, err = run(capsys, data, *argv)
        assert code == cli.EXIT_ERROR and out == ""
        assert err.startswith("studio: error: ") and len(err.splitlines()) == 1 and words in err, err
    with pytest.raises(SystemExit) as caught:
        run(capsys, data, "add", str(source), "--kind", "upscaler")
    assert caught.value.code == cli.EXIT_USAGE and "invalid choice" in capsys.readouterr().err


def test_remove_and_refusals(capsys, data, tmp_path):
    run(capsys, data, "add", str(samples.checkpoint(tmp_path / "in" / "dreamy.safetensors")))
    code, out, _ = run(capsys, data, "remove", "dreamy")
    assert code == 0 and out.startswith("removed dreamy; it is in ") and "trash" in out
    assert not (model_kind_dir(data, "checkpoints") / "dreamy.safetensors").exists()
    webui = samples.a1111_install(tmp_path / "webui")
    run(capsys, data, "folders", "add", str(webui))
    code, out, err = run(capsys, data, "remove", "dreamy")
    assert code == cli.EXIT_ERROR and "never changes" in err and str(webui.resolve()) in err
    code, out, err = run(capsys, data, "remove", "ink", "--kind", "loras")
    assert code == cli.EXIT_ERROR and "never changes" in err
    assert (webui / "models" / "Stable-diffusion" / "dreamy.safetensors").exists()


def test_folders_list_add_remove(capsys, data, tmp_path, tiny):
    webui = samples.a1111_install(tmp_path / "webui")
    comfy = samples.comfyui_install(tmp_path / "ComfyUI", tiny)
    code, out, err = run(capsys, data, "folders")
    assert (code, out) == (0, "") and "folders add DIR" in err
    code, out, _ = run(capsys, data, "folders", "add", str(webui))
    assert (
        code == 0 and out == f"added {webui.resolve()} (AUTOMATIC1111: 3 checkpoints, 2 loras, 1 embeddings, 1 vae)\n"
    )
    code, out, _ = run(capsys, data, "folders", "add", str(comfy / "models"))
    assert "ComfyUI models folder" in out
    code, out, _ = run(capsys, data, "folders")
    assert out.splitlines() == [
        f"{webui.resolve()}\tAUTOMATIC1111",
        f"{(comfy / 'models').resolve()}\tComfyUI models folder",
    ]
    code, out, _ = run(capsys, data, "list", "--json", "--no-hash", "--kind", "checkpoints")
    assert {r["name"] for r in records(out)} == {"bigger", "dreamy", "old", "sharp", "tiny"}
    code, out, _ = run(capsys, data, "folders", "remove", str(webui))
    assert code == 0 and [line.split("\t")[0] for line in run(capsys, data, "folders")[1].splitlines()] == [
        str((comfy / "models").resolve())
    ]
    code, _, err = run(capsys, data, "folders", "add")
    assert code == cli.EXIT_USAGE and "give the folder" in err
    code, _, err = run(capsys, data, "folders", "remove", str(tmp_path / "never"))
    assert code == cli.EXIT_ERROR and "not one of the library's folders" in err


def test_defaults_are_shown_changed_and_checked(capsys, data):
    samples.checkpoint(model_kind_dir(data, "checkpoints") / "two.safetensors", "sd2")
    code, out, _ = run(capsys, data, "defaults", "two")
    assert (code, out) == (0, "two: 20 steps, CFG 7, DPM++ 2M Karras, 512x512; prediction from the file\n")
    code, out, _ = run(capsys, data, "defaults", "two", "--steps", "6", "--cfg", "3.5", "--sampler", "Euler a")
    assert out == "two: 6 steps, CFG 3.5, Euler a, 512x512; prediction from the file\n"
    code, out, _ = run(capsys, data, "defaults", "two", "--prediction", "v")
    assert out == "two: 6 steps, CFG 3.5, Euler a, 768x768; prediction v (saved)\n"
    code, out, err = run(capsys, data, "defaults", "two", "--width", "100")
    assert code == cli.EXIT_ERROR and "multiple of 8" in err and len(err.splitlines()) == 1
    code, out, err = run(capsys, data, "defaults", "nothing", "--steps", "3")
    assert code == cli.EXIT_ERROR and "no checkpoint named 'nothing'" in err
    saved = Library(data).find("two")
    assert saved is not None and saved.defaults["steps"] == 6


def test_generate_with_a_library_name(capsys, data, tmp_path, tiny):
    code, out, _ = run(capsys, data, "add", str(tiny))
    assert code == 0 and out.startswith("tiny\t")
    shutil.rmtree(tmp_path / "elsewhere", ignore_errors=True)
    picture = tmp_path / "out.png"
    argv = ["generate", "a lake", "--model", "tiny", "--steps", "2", "--width", "64", "--height", "64", "--seed", "1"]
    code = cli.main([*argv, "--out", str(picture), "--data-dir", str(data), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["model"] == "tiny test model"  # its studio.json name
    assert Image.open(picture).size == (64, 64)
    # A name the library does not know is still one clear line.
    code = cli.main(
        ["generate", "x", "--model", "nosuchname", "--out", str(tmp_path / "n.png"), "--data-dir", str(data)]
    )
    err = capsys.readouterr().err
    assert code == cli.EXIT_ERROR and len(err.splitlines()) == 1 and "nosuchname" in err
