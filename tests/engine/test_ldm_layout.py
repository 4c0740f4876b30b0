"""The original single-file layout writer (studio.testing.ldm_layout), read back with diffusers' own
single-file readers: every tensor of every component returns unchanged under its own name; and at
full size (empty weights, no memory) the well-known original names appear and diffusers recognises
the model type."""

import pytest
import torch
from diffusers.loaders import single_file_utils as readers

from studio.testing import tiny_model
from studio.testing.ldm_layout import full_size_components, save_original_checkpoint, to_original_layout

TINY = {
    "sd1": lambda: tiny_model.build_tiny_components(seed=1),
    "sd1-inpaint": lambda: tiny_model.build_tiny_components(seed=2, in_channels=9),
    "sd2": lambda: tiny_model.build_tiny_sd2_components(seed=3),
    "sd2-inpaint": lambda: tiny_model.build_tiny_sd2_components(seed=5, in_channels=9),
    "sdxl": lambda: tiny_model.build_tiny_sdxl_components(seed=4),
    "sdxl-wide": lambda: tiny_model.build_tiny_sdxl_single_file_components(seed=6),
}


def _family(case: str) -> str:
    return case.split("-")[0]


def _text_model_keys(model, converted: dict) -> dict:
    """transformers' CLIPTextModel keeps its weights without the `text_model.` level that the readers
    give; diffusers' own loader drops the level for such models, and so do we."""
    if hasattr(model, "text_model"):
        return converted
    return {key.removeprefix("text_model."): value for key, value in converted.items()}


def _read_back(checkpoint: dict, components: dict, family: str) -> dict[str, dict]:
    unet, vae, text_encoder = components["unet"], components["vae"], components["text_encoder"]
    back = {
        "unet": readers.convert_ldm_unet_checkpoint(checkpoint, dict(unet.config)),
        "vae": readers.convert_ldm_vae_checkpoint(checkpoint, dict(vae.config)),
    }
    if family == "sd2":
        converted = readers.convert_open_clip_checkpoint(text_encoder, checkpoint, prefix="cond_stage_model.model.")
    else:
        converted = readers.convert_ldm_clip_checkpoint(checkpoint)
    back["text_encoder"] = _text_model_keys(text_encoder, converted)
    if family == "sdxl":
        second = components["text_encoder_2"]
        converted = readers.convert_open_clip_checkpoint(second, checkpoint, prefix="conditioner.embedders.1.model.")
        back["text_encoder_2"] = _text_model_keys(second, converted)
    return back


@pytest.fixture(scope="module", params=list(TINY))
def tiny(request):
    return request.param, TINY[request.param]()


def test_every_tensor_comes_back_through_diffusers_readers(tiny):
    case, components = tiny
    family = _family(case)
    checkpoint = to_original_layout(components, family)
    back = _read_back(checkpoint, components, family)
    assert set(back) == {"unet", "vae", "text_encoder"} | ({"text_encoder_2"} if family == "sdxl" else set())
    for name, state in back.items():
        model = components[name]
        expected = model.state_dict()
        missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        assert (missing, unexpected) == ([], []), name
        unequal = [key for key in expected if not torch.equal(state[key], expected[key])]
        assert unequal == [], name
        model.load_state_dict(state, strict=True)


def test_nothing_is_left_over_or_written_twice(tiny):
    case, components = tiny
    family = _family(case)
    checkpoint = to_original_layout(components, family)
    written = sum(
        len(components[name].state_dict())
        for name in ("unet", "vae", "text_encoder", "text_encoder_2")
        if name in components
    )
    # SD 2.x and SDXL's OpenCLIP encoders keep q, k and v in one tensor
    openclip = [components["text_encoder"]] if family == "sd2" else [components.get("text_encoder_2")]
    joined = sum(2 * 2 * model.config.num_hidden_layers for model in openclip if model is not None)
    assert len(checkpoint) == written - joined


def test_diffusers_detects_the_text_encoders_and_model_type(tiny):
    case, components = tiny
    family = _family(case)
    checkpoint = to_original_layout(components, family)
    assert readers.is_clip_model(checkpoint) == (family == "sd1")
    assert readers.is_open_clip_model(checkpoint) == (family == "sd2")
    assert readers.is_clip_sdxl_model(checkpoint) == (family == "sdxl")
    assert readers.is_open_clip_sdxl_model(checkpoint) == (family == "sdxl")
    assert checkpoint["model.diffusion_model.input_blocks.0.0.weight"].shape[1] == (9 if "inpaint" in case else 4)
    if family == "sd1":
        assert readers.infer_diffusers_model_type(checkpoint) == ("inpainting" if "inpaint" in case else "v1")


@pytest.mark.parametrize("case", ["sd1", "sd2", "sdxl-wide"])
def test_diffusers_single_file_loader_reads_the_file(case, tmp_path):
    """diffusers' whole single-file path, its configs taken from the same model saved as a folder."""
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
    from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import StableDiffusionXLPipeline

    components, family = TINY[case](), _family(case)
    folder = tiny_model.save_tiny_model(components, tmp_path / "folder")
    path = save_original_checkpoint(components, tmp_path / "model.safetensors", family)
    pipeline_class = StableDiffusionXLPipeline if family == "sdxl" else StableDiffusionPipeline
    pipe = pipeline_class.from_single_file(str(path), config=str(folder), local_files_only=True)
    names = ["unet", "vae", "text_encoder"] + (["text_encoder_2"] if family == "sdxl" else [])
    for name in names:
        loaded = getattr(pipe, name).state_dict()
        unequal = [key for key, tensor in components[name].state_dict().items() if not torch.equal(loaded[key], tensor)]
        assert unequal == [], name


def test_the_family_must_match_the_components():
    sd1 = TINY["sd1"]()
    with pytest.raises(ValueError, match="sdxl"):
        to_original_layout(sd1, "sdxl")
    with pytest.raises(ValueError, match="sd3"):
        to_original_layout(sd1, "sd3")
    with pytest.raises(ValueError, match="text_encoder_2"):
        to_original_layout(TINY["sdxl"](), "sd1")


def test_the_saved_file_holds_the_layout_cast_and_labelled(tmp_path):
    from safetensors import safe_open

    components = TINY["sd1"]()
    path = save_original_checkpoint(components, tmp_path / "model.safetensors", "sd1", metadata={"by": "studio test"})
    layout = to_original_layout(components, "sd1")
    with safe_open(str(path), "pt") as file:
        assert file.metadata() == {"by": "studio test"}
        assert set(file.keys()) == set(layout)
        assert all(torch.equal(file.get_tensor(key), layout[key]) for key in layout)
    half = save_original_checkpoint(components, tmp_path / "half.safetensors", "sd1", dtype=torch.float16)
    with safe_open(str(half), "pt") as file:
        names = file.keys()  # a safetensors file, not a dict
        assert {file.get_tensor(key).dtype for key in names} == {torch.float16}
        key = "model.diffusion_model.out.2.weight"
        assert torch.equal(file.get_tensor(key), layout[key].half())


WELL_KNOWN_SD1 = [
    "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight",
    "model.diffusion_model.input_blocks.3.0.op.weight",
    "model.diffusion_model.middle_block.1.proj_in.weight",
    "model.diffusion_model.middle_block.2.out_layers.3.weight",
    "model.diffusion_model.output_blocks.2.1.conv.weight",
    "model.diffusion_model.output_blocks.5.2.conv.weight",
    "model.diffusion_model.output_blocks.11.0.skip_connection.weight",
    "model.diffusion_model.output_blocks.11.1.proj_out.weight",
    "model.diffusion_model.time_embed.2.weight",
    "model.diffusion_model.out.2.bias",
    "first_stage_model.decoder.up.3.block.0.conv1.weight",
    "first_stage_model.decoder.up.1.upsample.conv.weight",
    "first_stage_model.encoder.down.1.block.0.nin_shortcut.weight",
    "first_stage_model.encoder.down.2.downsample.conv.weight",
    "first_stage_model.encoder.mid.attn_1.q.weight",
    "first_stage_model.decoder.mid.block_2.norm2.bias",
    "first_stage_model.encoder.norm_out.weight",
    "first_stage_model.post_quant_conv.weight",
    "cond_stage_model.transformer.text_model.encoder.layers.11.self_attn.q_proj.weight",
    "cond_stage_model.transformer.text_model.final_layer_norm.weight",
]


def test_full_size_sd1_names_and_shapes():
    layout = to_original_layout(full_size_components("sd1", empty=True), "sd1")
    assert [key for key in WELL_KNOWN_SD1 if key not in layout] == []
    assert layout["first_stage_model.encoder.mid.attn_1.q.weight"].shape == (512, 512, 1, 1)
    assert layout["first_stage_model.decoder.up.3.block.0.conv1.weight"].shape == (512, 512, 3, 3)
    assert layout["first_stage_model.decoder.up.0.block.0.conv1.weight"].shape == (128, 256, 3, 3)
    assert layout["model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"].shape == (320, 768)
    assert len([key for key in layout if key.startswith("model.diffusion_model.")]) == 686
    assert len([key for key in layout if key.startswith("first_stage_model.")]) == 248


def test_full_size_openclip_names_and_shapes():
    sd2 = to_original_layout(full_size_components("sd2", empty=True), "sd2")
    prefix = "cond_stage_model.model."
    assert sd2[prefix + "transformer.resblocks.22.attn.in_proj_weight"].shape == (3072, 1024)
    assert sd2[prefix + "positional_embedding"].shape == (77, 1024)
    assert prefix + "ln_final.weight" in sd2
    sdxl = to_original_layout(full_size_components("sdxl", empty=True), "sdxl")
    prefix = "conditioner.embedders.1.model."
    assert sdxl[prefix + "text_projection"].shape == (1280, 1280)
    assert sdxl[prefix + "transformer.resblocks.31.mlp.c_fc.weight"].shape == (5120, 1280)
    assert sdxl["model.diffusion_model.label_emb.0.0.weight"].shape == (1280, 2816)
    assert "conditioner.embedders.0.transformer.text_model.encoder.layers.11.mlp.fc2.bias" in sdxl
    assert "model.diffusion_model.input_blocks.7.1.transformer_blocks.9.attn1.to_q.weight" in sdxl
    assert "model.diffusion_model.output_blocks.8.0.skip_connection.weight" in sdxl


@pytest.mark.parametrize(
    ("family", "in_channels", "model_type"),
    [("sd1", 4, "v1"), ("sd1", 9, "inpainting"), ("sd2", 4, "v2"), ("sd2", 9, "inpainting_v2"), ("sdxl", 4, "xl_base")],
)
def test_diffusers_infers_the_full_size_model_type(family, in_channels, model_type):
    components = full_size_components(family, in_channels=in_channels, empty=True)
    layout = to_original_layout(components, family)
    assert {tensor.device.type for tensor in layout.values()} == {"meta"}
    assert readers.infer_diffusers_model_type(layout) == model_type
