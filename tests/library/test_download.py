"""`studio models download`: a whole repo, one file of one, a URL; resume, cancel, and the one-line
messages when it cannot, all against a local stand-in for the Hub (studio.testing.hub_server)."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from studio.errors import ModelError
from studio.library.download import DownloadCancelled, conversion_note, download, select_repo_files
from studio.testing.hub_server import HubServer

REPO = "studio-test/tiny-sd"
SINGLE = f"{REPO}/single.safetensors"


def safetensors_bytes(count: int, seed: int) -> bytes:
    """A valid safetensors file holding one float32 tensor of `count` random values."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [count], "data_offsets": [0, 4 * count]}}).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + random.Random(seed).randbytes(4 * count)


@pytest.fixture(scope="module")
def hub_root(tmp_path_factory):
    """A Hub folder: the tiny diffusers model as a repo (with files a download must leave out), loose files."""
    from studio.testing.tiny_model import make_tiny_model

    root = tmp_path_factory.mktemp("hub")
    repo = make_tiny_model(root / REPO)
    model_files = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file())
    (repo / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(safetensors_bytes(64, 1))
    (repo / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"not for Studio" * 100)
    (repo / "tiny-full.ckpt").write_bytes(b"pickled" * 100)
    (repo / "README.md").write_text("# a tiny model\n")
    (repo / "single.safetensors").write_bytes(safetensors_bytes(300_000, 2))
    (repo / "broken.safetensors").write_bytes(b"\xff" * 1000)
    (root / "studio-test" / "just-weights").mkdir()
    (root / "studio-test" / "just-weights" / "model.safetensors").write_bytes(safetensors_bytes(16, 4))
    (root / "loose").mkdir()
    (root / "loose" / "model.safetensors").write_bytes(safetensors_bytes(200_000, 3))
    (root / "loose" / "old.ckpt").write_bytes(b"pickled" * 1000)
    (root / "model_files.json").write_text(json.dumps(model_files))
    return root


@pytest.fixture
def hub(hub_root, monkeypatch, tmp_path):
    """The local Hub running, and this process pointed at it (online, no token)."""
    import huggingface_hub.constants

    with HubServer(hub_root) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        # huggingface_hub reads these once, when it is imported (the tests import it offline)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
        yield server


@pytest.fixture
def data(tmp_path):
    return tmp_path / "data"


def checkpoints(data: Path) -> Path:
    return data / "models" / "checkpoints"


def library(data: Path) -> list[str]:
    """What the library shows: its entries that are not hidden."""
    folder = checkpoints(data)
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


def cli_env(hub: HubServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(
        HF_ENDPOINT=hub.url,
        HF_HUB_OFFLINE="0",
        HF_HOME=str(tmp_path / "hf-home"),
        HF_HUB_DISABLE_XET="1",
        STUDIO_DATA_DIR=str(tmp_path / "data"),
    )
    env.update(extra)
    return env


def studio(*args: str, env: dict[str, str], **options) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "studio.cli", *args], capture_output=True, text=True, env=env, timeout=600, **options
    )


# --- what is downloaded ------------------------------------------------------------------


def test_a_whole_repo_arrives_without_the_files_studio_does_not_use_and_generates(hub, hub_root, tmp_path, data):
    result = studio("models", "download", REPO, env=cli_env(hub, tmp_path))

    assert result.returncode == 0, result.stderr
    destination = checkpoints(data) / "tiny-sd"
    assert result.stdout.strip() == str(destination)
    got = sorted(p.relative_to(destination).as_posix() for p in destination.rglob("*") if p.is_file())
    assert got == json.loads((hub_root / "model_files.json").read_text())
    for name in got:
        assert (destination / name).read_bytes() == (hub_root / REPO / name).read_bytes(), name
    assert library(data) == ["tiny-sd"]
    assert [p.name for p in checkpoints(data).iterdir()] == ["tiny-sd"]  # nothing partial left behind
    fetched = {r.path for r in hub.requests("GET")}
    assert not any(p.endswith((".bin", ".ckpt", ".fp16.safetensors", "README.md")) for p in fetched)

    image = tmp_path / "x.png"
    made = studio(
        "generate",
        "--model",
        str(destination),
        "--steps",
        "2",
        "--width",
        "64",
        "--height",
        "64",
        "a lake",
        "--out",
        str(image),
        env=cli_env(hub, tmp_path, HF_HUB_OFFLINE="1"),
    )
    assert made.returncode == 0, made.stderr
    assert image.stat().st_size > 0


def test_one_file_of_a_repo_reports_its_progress(hub, hub_root, data):
    reports = []

    path = download(SINGLE, data, reports.append)

    assert path == checkpoints(data) / "single.safetensors"
    expected = (hub_root / SINGLE).read_bytes()
    assert path.read_bytes() == expected
    assert reports[-1].done_bytes == reports[-1].total_bytes == len(expected)
    done = [r.done_bytes for r in reports]
    assert done == sorted(done)
    assert {r.file for r in reports} == {"single.safetensors"}
    assert library(data) == ["single.safetensors"]
    assert [p.name for p in checkpoints(data).iterdir()] == ["single.safetensors"]


def test_a_hub_page_url_goes_to_hf_endpoint(hub, hub_root, data):
    path = download(f"https://huggingface.co/{REPO}/blob/main/single.safetensors", data)

    assert path.read_bytes() == (hub_root / SINGLE).read_bytes()
    assert ("HEAD", f"/{REPO}/resolve/main/single.safetensors") in [(r.method, r.path) for r in hub.requests()]


def test_a_plain_url_to_a_safetensors_file(hub, hub_root, data):
    path = download(hub.file_url("loose/model.safetensors"), data, name="mine")

    assert path == checkpoints(data) / "mine.safetensors"
    assert path.read_bytes() == (hub_root / "loose" / "model.safetensors").read_bytes()
    assert not any(r.path.startswith("/api/") for r in hub.requests())


def test_a_pickle_file_downloads_and_says_it_needs_converting(hub, hub_root, data):
    path = download(hub.file_url("loose/old.ckpt"), data)

    assert path.read_bytes() == (hub_root / "loose" / "old.ckpt").read_bytes()
    note = conversion_note(path)
    assert note is not None and "studio models convert" in note
    assert conversion_note(checkpoints(data) / "x.safetensors") is None


def test_the_chosen_files_of_a_diffusers_repo():
    names = [
        "model_index.json",
        "README.md",
        "v1-5-pruned.safetensors",
        "v1-5-pruned.ckpt",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "unet/diffusion_pytorch_model.bin",
        "unet/diffusion_flax_model.msgpack",
        "vae/config.json",
        "vae/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.bin",
        "vae/model.onnx",
        "text_encoder/config.json",
        "text_encoder/model-00001-of-00002.safetensors",
        "text_encoder/model-00002-of-00002.safetensors",
        "text_encoder/model.safetensors.index.json",
        "text_encoder/model.fp16-00001-of-00001.safetensors",
        "text_encoder/model.safetensors.index.fp16.json",
        "text_encoder/pytorch_model.bin.index.json",
        "text_encoder/tf_model.h5",
        "tokenizer/merges.txt",
        "tokenizer/vocab.json",
        "tokenizer/spiece.model",
        "scheduler/scheduler_config.json",
        "safety_checker/config.json",
        "safety_checker/model.safetensors",
        "feature_extractor/preprocessor_config.json",
    ]
    index = {
        "_class_name": "StableDiffusionPipeline",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
        "feature_extractor": [None, None],
    }

    assert select_repo_files(names, index) == [
        "model_index.json",
        "scheduler/scheduler_config.json",
        "text_encoder/config.json",
        "text_encoder/model-00001-of-00002.safetensors",
        "text_encoder/model-00002-of-00002.safetensors",
        "text_encoder/model.safetensors.index.json",
        "tokenizer/merges.txt",
        "tokenizer/spiece.model",
        "tokenizer/vocab.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.fp16.safetensors",
    ]
    with pytest.raises(ModelError, match=r"'unet'.*safetensors"):
        select_repo_files(["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.bin"], index)


def test_the_local_hub_serves_huggingface_hubs_own_downloads(hub, hub_root, tmp_path):
    from huggingface_hub import snapshot_download

    folder = Path(snapshot_download(REPO, cache_dir=tmp_path / "cache", endpoint=hub.url))

    for name in json.loads((hub_root / "model_files.json").read_text()):
        assert (folder / name).read_bytes() == (hub_root / REPO / name).read_bytes(), name


# --- resume and cancel ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["hub", "url"])
def test_a_cut_connection_resumes_with_a_range_request(hub, hub_root, data, kind):
    file = SINGLE if kind == "hub" else "loose/model.safetensors"
    source = SINGLE if kind == "hub" else hub.file_url(file)
    hub.cut(file, after=100_000)

    path = download(source, data)

    assert path.read_bytes() == (hub_root / file).read_bytes()
    assert "bytes=100000-" in [r.range for r in hub.requests("GET")]


def test_a_cancelled_download_stays_hidden_and_the_next_one_resumes(hub, hub_root, data):
    hub.slow(SINGLE, 100_000)
    cancel, arrived = threading.Event(), threading.Event()

    def on_progress(report):
        if report.done_bytes > 0:
            arrived.set()

    def canceller():
        arrived.wait(60)
        cancel.set()

    thread = threading.Thread(target=canceller)
    thread.start()
    with pytest.raises(DownloadCancelled):
        download(SINGLE, data, on_progress, cancel)
    thread.join()

    assert library(data) == []
    kept = [p for p in checkpoints(data).rglob("*") if p.is_file() and p.stat().st_size > 0]
    assert kept and all(p.relative_to(checkpoints(data)).parts[0].startswith(".") for p in kept)
    total = len((hub_root / SINGLE).read_bytes())
    part = max(kept, key=lambda p: p.stat().st_size)
    have = part.stat().st_size
    assert 0 < have < total

    hub.slow(SINGLE, None)
    path = download(SINGLE, data)

    assert path.read_bytes() == (hub_root / SINGLE).read_bytes()
    assert f"bytes={have}-" in [r.range for r in hub.requests("GET")]
    assert [p.name for p in checkpoints(data).iterdir()] == ["single.safetensors"]


def test_ctrl_c_cancels_the_command_and_running_it_again_resumes(hub, hub_root, tmp_path, data):
    hub.slow(SINGLE, 50_000)
    env = cli_env(hub, tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "studio.cli", "models", "download", SINGLE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(p.is_file() and p.stat().st_size for p in checkpoints(data).rglob("*")):
            assert process.poll() is None and time.monotonic() < deadline, "the download never started"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()

    assert process.returncode == 130, err
    assert out == ""
    assert "kept" in err and "resume" in err
    assert library(data) == []

    hub.slow(SINGLE, None)
    again = studio("models", "download", SINGLE, env=env)

    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == str(checkpoints(data) / "single.safetensors")
    assert (checkpoints(data) / "single.safetensors").read_bytes() == (hub_root / SINGLE).read_bytes()
    ranges = [r.range for r in hub.requests("GET")]
    assert any(r and r != "bytes=0-" for r in ranges)


# --- when it cannot ----------------------------------------------------------------------------


def test_offline_says_downloads_are_switched_off(hub, tmp_path, data):
    result = studio("models", "download", REPO, env=cli_env(hub, tmp_path, HF_HUB_OFFLINE="1"))

    assert result.returncode == 1
    assert result.stderr.strip() == "studio: error: downloads are switched off (HF_HUB_OFFLINE is set)"
    assert hub.requests() == []
    assert library(data) == []


def test_offline_in_process(hub, monkeypatch, data):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    with pytest.raises(ModelError, match=r"^downloads are switched off \(HF_HUB_OFFLINE is set\)$"):
        download(hub.file_url("loose/model.safetensors"), data)
    assert hub.requests() == []


def test_an_unreachable_endpoint_is_named(hub, monkeypatch, data):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")

    with pytest.raises(ModelError, match=rf"^cannot reach http://127\.0\.0\.1:{port}: "):
        download(REPO, data)
    with pytest.raises(ModelError, match=rf"^cannot reach http://127\.0\.0\.1:{port}: "):
        download(f"http://127.0.0.1:{port}/model.safetensors", data)
    assert library(data) == []


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("studio-test/nope", "no such model on {url}: studio-test/nope"),
        ("studio-test/nope/model.safetensors", "no such model on {url}: studio-test/nope"),
        (f"{REPO}/missing.safetensors", f"no such file on {{url}}: {REPO}/missing.safetensors"),
        (f"{{url}}/{REPO}/resolve/v9/single.safetensors", f"no such revision on {{url}}: {REPO}@v9"),
        ("{url}/files/loose/missing.safetensors", "no such file at {url}/files/loose/missing.safetensors"),
    ],
)
def test_what_is_not_there_is_named(hub, data, source, message):
    with pytest.raises(ModelError) as caught:
        download(source.format(url=hub.url), data)

    assert str(caught.value).startswith(message.format(url=hub.url))
    assert "\n" not in str(caught.value)
    assert library(data) == []


def test_a_repo_that_is_not_a_diffusers_model_names_a_file_to_take_instead(hub, data):
    with pytest.raises(ModelError, match=r"not a diffusers model .* studio-test/just-weights/model\.safetensors$"):
        download("studio-test/just-weights", data)

    assert library(data) == []


def test_a_gated_repo_needs_a_token_and_the_token_stays_on_the_hub(hub, hub_root, monkeypatch, data):
    hub.gate(REPO, "hf_right")

    with pytest.raises(ModelError, match="HF_TOKEN"):
        download(SINGLE, data)
    with pytest.raises(ModelError, match="HF_TOKEN"):
        download(REPO, data)
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(ModelError, match="HF_TOKEN"):
        download(SINGLE, data)
    assert library(data) == []

    monkeypatch.setenv("HF_TOKEN", "hf_right")
    path = download(SINGLE, data)

    assert path.read_bytes() == (hub_root / SINGLE).read_bytes()
    assert "Bearer hf_right" in [r.authorization for r in hub.requests() if r.port == "hub"]
    cdn = [r for r in hub.requests() if r.port == "cdn"]
    assert cdn and all(r.authorization is None for r in cdn)


def test_a_damaged_file_never_reaches_the_library(hub, data):
    with pytest.raises(ModelError, match=r"broken\.safetensors.*not a valid safetensors file"):
        download(f"{REPO}/broken.safetensors", data)

    assert library(data) == []


@pytest.mark.parametrize("taken", ["single.safetensors", "tiny-sd"])
def test_an_existing_destination_is_refused_and_kept(hub, data, taken):
    folder = checkpoints(data)
    folder.mkdir(parents=True)
    (folder / taken).write_bytes(b"mine")

    with pytest.raises(ModelError, match="already exists"):
        download(SINGLE if taken.endswith(".safetensors") else REPO, data)

    assert (folder / taken).read_bytes() == b"mine"
    assert hub.requests() == []


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("tiny-sd", "give a Hugging Face repo id"),
        ("ftp://example.com/model.safetensors", "http"),
        ("{url}/files/loose/picture.png", "--name"),
        ("studio-test/tiny-sd/../../etc/passwd", "give a Hugging Face repo id"),
    ],
)
def test_a_source_that_cannot_be_downloaded_is_refused_before_any_request(hub, data, source, message):
    with pytest.raises(ModelError, match=message):
        download(source.format(url=hub.url), data)

    assert hub.requests() == []
