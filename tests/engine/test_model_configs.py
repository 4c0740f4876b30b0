"""The config folders Studio ships for single-file checkpoints build the published models' shapes."""

from __future__ import annotations

import importlib.util
import inspect
import json
from pathlib import Path

import pytest

from studio.engine.model_configs import FAMILIES, FAMILY_TOKENIZERS, config_folder, load_tokenizer, tokenizer_folder
from studio.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]

# Published parameter counts of the full-size models.
SD1_UNET = 859_520_964
SDXL_UNET = 2_567_463_684
SD_VAE = 83_653_863
CLIP_L_TEXT = 123_060_480
# An inpainting UNet's first convolution reads 9 channels instead of 4: 5 more per 3x3 kernel of its 320 outputs.
INPAINT_EXTRA = 320 * 5 * 3 * 3


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _empty(folder: Path, component: str):
    """The component of a config folder, built on the meta device from its config alone."""
    import diffusers
    import transformers
    from accelerate import init_empty_weights

    library, class_name = json.loads((folder / "model_index.json").read_text())[component]
    config_path = folder / component / "config.json"
    with init_empty_weights():
        if library == "diffusers":
            cls = getattr(diffusers, class_name)
            return cls.from_config(cls.load_config(config_path.parent))
        cls = getattr(transformers, class_name)
        return cls(cls.config_class.from_json_file(config_path))


def test_every_family_has_a_folder_of_json_only():
    for name in FAMILIES:
        folder = config_folder(name)
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        components = ["scheduler/scheduler_config.json", "text_encoder/config.json", "unet/config.json"]
        components += ["vae/config.json"]
        if name.startswith("sdxl"):
            components.append("text_encoder_2/config.json")
        assert files == sorted(["model_index.json", *components]), name


def test_unknown_family_and_tokenizer_are_refused_in_one_line():
    with pytest.raises(ModelError, match=r"no config folder for model family 'sd3' \(known: sd1, "):
        config_folder("sd3")
    with pytest.raises(ModelError, match=r"no tokenizer 't5' \(known: clip, open-clip\)"):
        tokenizer_folder("t5")


def test_pipeline_and_component_classes_exist_and_fit_the_pipeline():
    import diffusers
    import transformers
    from diffusers.pipelines.pipeline_utils import DiffusionPipeline

    libraries = {"diffusers": diffusers, "transformers": transformers}
    for name in FAMILIES:
        index = json.loads((config_folder(name) / "model_index.json").read_text())
        pipeline = getattr(diffusers, index["_class_name"])
        assert issubclass(pipeline, DiffusionPipeline)
        parameters = inspect.signature(pipeline.__init__).parameters
        required = {k for k, p in parameters.items() if k != "self" and p.default is inspect.Parameter.empty}
        settings = {k: v for k, v in index.items() if not k.startswith("_")}
        assert required <= set(settings), name
        assert set(settings) <= set(parameters), name
        for component, value in settings.items():
            if isinstance(value, list) and value[0] is not None:
                library, class_name = value
                assert hasattr(libraries[library], class_name), (name, component)


@pytest.mark.parametrize(
    ("name", "pipeline", "in_channels"),
    [
        ("sd1", "StableDiffusionPipeline", 4),
        ("sd1-inpaint", "StableDiffusionInpaintPipeline", 9),
        ("sd2", "StableDiffusionPipeline", 4),
        ("sd2-inpaint", "StableDiffusionInpaintPipeline", 9),
        ("sdxl", "StableDiffusionXLPipeline", 4),
        ("sdxl-inpaint", "StableDiffusionXLInpaintPipeline", 9),
    ],
)
def test_family_pipeline_and_unet_inputs(name, pipeline, in_channels):
    folder = config_folder(name)
    assert json.loads((folder / "model_index.json").read_text())["_class_name"] == pipeline
    assert json.loads((folder / "unet" / "config.json").read_text())["in_channels"] == in_channels


def test_sd1_components_have_the_published_sizes():
    folder = config_folder("sd1")
    unet = _empty(folder, "unet")
    assert _count(unet) == SD1_UNET
    assert unet.config.attention_head_dim == 8  # heads per block, in SD 1's config
    assert _count(_empty(folder, "vae")) == SD_VAE
    text = _empty(folder, "text_encoder")
    assert _count(text) == CLIP_L_TEXT
    assert (text.config.hidden_act, text.config.num_attention_heads) == ("quick_gelu", 12)
    assert _count(_empty(config_folder("sd1-inpaint"), "unet")) == SD1_UNET + INPAINT_EXTRA


def test_sd2_components_are_the_768_v_shape():
    folder = config_folder("sd2")
    unet = _empty(folder, "unet")
    assert list(unet.config.attention_head_dim) == [5, 10, 20, 20]
    assert unet.config.cross_attention_dim == 1024
    assert unet.config.use_linear_projection is True
    assert unet.config.sample_size == 96
    assert _count(unet) == 865_910_724
    assert _count(_empty(config_folder("sd2-inpaint"), "unet")) == 865_910_724 + INPAINT_EXTRA
    assert _count(_empty(folder, "vae")) == SD_VAE
    text = _empty(folder, "text_encoder")
    assert type(text).__name__ == "CLIPTextModel"
    assert (text.config.num_hidden_layers, text.config.hidden_size, text.config.hidden_act) == (23, 1024, "gelu")
    assert text.config.num_attention_heads == 16
    assert _count(text) == 340_387_840


def test_sdxl_components_have_the_published_sizes():
    folder = config_folder("sdxl")
    unet = _empty(folder, "unet")
    assert _count(unet) == SDXL_UNET
    assert unet.config.addition_embed_type == "text_time"
    assert list(unet.config.attention_head_dim) == [5, 10, 20]
    assert _count(_empty(config_folder("sdxl-inpaint"), "unet")) == SDXL_UNET + INPAINT_EXTRA
    vae = _empty(folder, "vae")
    assert _count(vae) == SD_VAE
    assert vae.config.scaling_factor == 0.13025
    assert _count(_empty(folder, "text_encoder")) == CLIP_L_TEXT
    text_2 = _empty(folder, "text_encoder_2")
    assert type(text_2).__name__ == "CLIPTextModelWithProjection"
    assert (text_2.config.projection_dim, text_2.config.num_attention_heads, text_2.config.hidden_act) == (
        1280,
        20,
        "gelu",
    )
    assert _count(text_2) == 694_659_840


def test_schedulers_are_sd_euler_with_its_betas():
    from diffusers.schedulers.scheduling_euler_discrete import EulerDiscreteScheduler

    for name in FAMILIES:
        config = json.loads((config_folder(name) / "scheduler" / "scheduler_config.json").read_text())
        assert config["_class_name"] == "EulerDiscreteScheduler"
        scheduler = EulerDiscreteScheduler.from_config(config)
        assert isinstance(scheduler, EulerDiscreteScheduler)
        settings = scheduler.config
        assert (settings["beta_start"], settings["beta_end"]) == (0.00085, 0.012)
        assert settings["beta_schedule"] == "scaled_linear"
        assert (settings["num_train_timesteps"], settings["steps_offset"]) == (1000, 1)
        assert settings["prediction_type"] == "epsilon"
        # DDIM reads these from the model's config too; their defaults would change the pictures.
        assert (config["clip_sample"], config["set_alpha_to_one"]) == (False, False)


def test_each_family_names_its_tokenizers():
    for name in FAMILIES:
        index = json.loads((config_folder(name) / "model_index.json").read_text())
        slots = sorted(k for k in index if k.startswith("tokenizer"))
        assert len(slots) == len(FAMILY_TOKENIZERS[name]), name
    assert FAMILY_TOKENIZERS["sd1"] == ("clip",)
    assert FAMILY_TOKENIZERS["sd2-inpaint"] == ("open-clip",)
    assert FAMILY_TOKENIZERS["sdxl"] == ("clip", "open-clip")


@pytest.mark.parametrize(("kind", "pad_id"), [("clip", 49407), ("open-clip", 0)])
def test_tokenizers_load_with_their_padding(kind, pad_id):
    tokenizer = load_tokenizer(kind)
    assert type(tokenizer).__name__ == "CLIPTokenizer"
    assert (len(tokenizer), tokenizer.model_max_length, tokenizer.pad_token_id) == (49408, 77, pad_id)
    ids = tokenizer("a red fox!", padding="max_length", max_length=77, truncation=True).input_ids
    assert ids[:6] == [49406, 320, 736, 3240, 256, 49407]
    assert ids[6:] == [pad_id] * 71


def test_build_script_writes_the_committed_folders(tmp_path):
    spec = importlib.util.spec_from_file_location("build_model_configs", ROOT / "scripts" / "build_model_configs.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.build(tmp_path)
    committed = config_folder("sd1").parent
    built = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    shipped = sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    assert built == shipped
    for relative in built:
        assert (tmp_path / relative).read_bytes() == (committed / relative).read_bytes(), relative
