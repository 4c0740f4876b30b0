"""The loader finds models offline and says clearly what is wrong with a broken one."""

import gc
import json
import shutil
import weakref

import pytest

from studio.engine.loader import ModelCache
from studio.engine.models import resolve_model
from studio.errors import ModelError


@pytest.fixture
def model_copy(tiny_model, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(tiny_model, target)
    return target


def test_folder_resolves_with_its_defaults(tiny_model):
    info = resolve_model(str(tiny_model))
    assert info.pipeline_class == "StableDiffusionPipeline"
    assert info.name == "tiny test model"
    assert (info.defaults.steps, info.defaults.width, info.defaults.scheduler) == (4, 64, "Euler")


def test_missing_folder(tmp_path):
    with pytest.raises(ModelError, match=rf"model {tmp_path / 'nothing'} does not exist"):
        resolve_model(str(tmp_path / "nothing"))


def test_a_damaged_single_file_checkpoint_says_so(tmp_path):
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"\0" * 16)
    with pytest.raises(ModelError, match="damaged: it is not a valid safetensors file"):
        resolve_model(str(checkpoint))


def test_folder_without_model_index(tmp_path):
    with pytest.raises(ModelError, match=r"model_index\.json is missing"):
        resolve_model(str(tmp_path))


def test_broken_model_index(model_copy):
    (model_copy / "model_index.json").write_text("{ not json")
    with pytest.raises(ModelError, match=r"model_index.json is not valid JSON \(line 1"):
        resolve_model(str(model_copy))


def test_missing_component(model_copy):
    index = json.loads((model_copy / "model_index.json").read_text())
    del index["vae"]
    (model_copy / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelError, match=r"wrong layout.*'vae'"):
        resolve_model(str(model_copy))


def test_missing_component_folder(model_copy):
    shutil.rmtree(model_copy / "unet")
    with pytest.raises(ModelError, match="missing the folder of its 'unet' component"):
        resolve_model(str(model_copy))


def test_weights_not_safetensors(model_copy):
    weights = model_copy / "unet" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))
    with pytest.raises(ModelError, match=r"diffusion_pytorch_model.bin but no safetensors"):
        resolve_model(str(model_copy))


def test_truncated_weights(model_copy):
    weights = model_copy / "vae" / "diffusion_pytorch_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=r"vae.*is damaged: it is truncated"):
        resolve_model(str(model_copy))


def test_garbage_weights(model_copy):
    (model_copy / "text_encoder" / "model.safetensors").write_bytes(b"this is not a model at all")
    with pytest.raises(ModelError, match="not a valid safetensors file"):
        resolve_model(str(model_copy))


def test_repo_id_missing_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelError, match=r"'someone/some-model' is not in the local Hugging Face cache"):
        resolve_model("someone/some-model")


def test_repo_id_found_in_local_cache(tiny_model, tmp_path, monkeypatch):
    """A hub id is looked up in the cache layout huggingface_hub itself writes."""
    cache = tmp_path / "hub"
    repo = cache / "models--someone--tiny-sd"
    revision = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_model, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    info = resolve_model("someone/tiny-sd")
    assert info.path == repo / "snapshots" / revision
    cache_ = ModelCache("cpu")
    assert cache_.get("someone/tiny-sd").pipe.unet is not None


def test_cache_reuses_and_switching_frees(tiny_model, model_copy):
    cache = ModelCache("cpu")
    first = cache.get(str(tiny_model))
    assert cache.get(str(tiny_model)) is first
    gone = weakref.ref(first.pipe.unet)
    del first
    second = cache.get(str(model_copy))
    gc.collect()
    assert gone() is None, "the previous model is still in memory"
    assert second.info.path == model_copy


def test_load_failure_is_one_clear_message(model_copy):
    config = model_copy / "unet" / "config.json"
    data = json.loads(config.read_text())
    data["block_out_channels"] = [48, 96]
    config.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=r"cannot load model .*copy"):
        ModelCache("cpu").get(str(model_copy))


def test_device_override_is_checked():
    import torch

    from studio.engine.devices import dtype_for, pick_device
    from studio.errors import RequestError

    assert pick_device("cpu") == "cpu" and dtype_for("cpu") == torch.float32
    with pytest.raises(RequestError, match="unknown device 'tpu'"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RequestError, match="no CUDA GPU is available"):
            pick_device("cuda")
