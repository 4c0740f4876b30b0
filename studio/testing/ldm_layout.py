"""Stable Diffusion checkpoints in the original single-file layout, made from diffusers components.

Model sites hand Stable Diffusion out as one .safetensors file in the layout of the original
(CompVis / Stability AI) code: the UNet under `model.diffusion_model.`, the VAE under
`first_stage_model.`, the text encoder under `cond_stage_model.` (SD 1.x: transformers' CLIP names;
SD 2.x: OpenCLIP's), and for SDXL both encoders under `conditioner.embedders.0.` / `.1.`.
`to_original_layout` renames a pipeline's components into that layout, tensor for tensor, nothing
dropped or invented; `save_original_checkpoint` writes the file. Tests make small real checkpoints
from `studio.testing.tiny_model`; benches make full-size random ones from `full_size_components`.
An inpainting model needs nothing special: the same layout with a 9-channel UNet input.

The returned tensors share memory with the models (some are reshaped views); tensors on the meta
device stay there, so names and shapes of a full-size model cost no memory.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

FAMILIES = ("sd1", "sd2", "sdxl")

# the original's name for each of a module's parts; None: its parts keep their diffusers names
_Names = dict[str, str] | None
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_DOWNSAMPLER = {"conv": "op"}
_VAE_RESNET = {"norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2", "conv_shortcut": "nin_shortcut"}
_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
_OPENCLIP_LAYER = {
    "self_attn.out_proj": "attn.out_proj",
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}


def to_original_layout(components: dict, family: str) -> dict[str, torch.Tensor]:
    """The UNet, VAE and text encoder(s) of `components` (as `build_tiny_components` gives them)
    under their names in an original `family` ("sd1", "sd2" or "sdxl") checkpoint."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}: expected one of {', '.join(FAMILIES)}")
    second = components.get("text_encoder_2")
    if family == "sdxl" and second is None:
        raise ValueError("an sdxl checkpoint needs the second text encoder (text_encoder_2)")
    if family != "sdxl" and second is not None:
        raise ValueError(f"{family} has one text encoder, but the components have a text_encoder_2 (sdxl?)")

    unet, vae, text_encoder = components["unet"], components["vae"], components["text_encoder"]
    layout = _prefixed("model.diffusion_model.", _renamed(unet.state_dict(), _unet_places(unet), "UNet"))
    layout |= _prefixed("first_stage_model.", _vae_layout(vae))
    if family == "sd1":
        layout |= _prefixed("cond_stage_model.transformer.", _clip_state(text_encoder))
    elif family == "sd2":
        layout |= _prefixed("cond_stage_model.model.", _openclip_layout(text_encoder))
    else:
        layout |= _prefixed("conditioner.embedders.0.transformer.", _clip_state(text_encoder))
        layout |= _prefixed("conditioner.embedders.1.model.", _openclip_layout(second))
    return layout


def save_original_checkpoint(
    components: dict,
    path: str | Path,
    family: str,
    metadata: dict[str, str] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write `components` as one original-layout .safetensors file, its floating-point tensors cast
    to `dtype` when given (torch.float16, as most shared checkpoints are)."""
    from safetensors.torch import save_file

    tensors = {}
    for key, tensor in to_original_layout(components, family).items():
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        tensors[key] = tensor.contiguous()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path


def full_size_components(family: str, in_channels: int = 4, empty: bool = False) -> dict:
    """SD 1.5, SD 2.x (768-v) or SDXL base's UNet, VAE and text encoder(s) at full size with random
    weights, from their published shapes (nothing is fetched, so no tokenizer or scheduler).
    `empty` puts them on the meta device: names and shapes without memory or time."""
    from accelerate import init_empty_weights
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}: expected one of {', '.join(FAMILIES)}")
    with init_empty_weights() if empty else contextlib.nullcontext():
        unet = UNet2DConditionModel(in_channels=in_channels, out_channels=4, **_FULL_UNET[family])
        vae = AutoencoderKL(**_FULL_VAE, **_FULL_VAE_SIZE[family])
        components = {"unet": unet, "vae": vae}
        if family == "sdxl":
            components["text_encoder"] = CLIPTextModel(CLIPTextConfig(**_CLIP_L))
            components["text_encoder_2"] = CLIPTextModelWithProjection(CLIPTextConfig(**_OPENCLIP_BIGG))
        else:
            components["text_encoder"] = CLIPTextModel(CLIPTextConfig(**(_CLIP_L if family == "sd1" else _OPENCLIP_H)))
    return components


def _prefixed(prefix: str, state: dict) -> dict:
    return {prefix + key: tensor for key, tensor in state.items()}


def _renamed(state: dict, places: dict[str, tuple[str, _Names]], what: str) -> dict:
    """Each tensor under its module's original name, found by the longest module path that has one."""
    out = {}
    for key, tensor in state.items():
        parts = key.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = ".".join(parts[:cut])
            if module in places:
                target, names = places[module]
                rest = ".".join(parts[cut:])
                new = f"{target}.{_part_name(rest, names, what, key) if names is not None else rest}"
                break
        else:
            raise ValueError(f"{what}: {key} has no place in the original layout")
        if new in out:
            raise ValueError(f"{what}: {key} would overwrite {new}")
        out[new] = tensor.detach()
    return out


def _part_name(rest: str, names: dict[str, str], what: str, key: str) -> str:
    for name, original in names.items():
        if rest.startswith(name + "."):
            return original + rest[len(name) :]
    raise ValueError(f"{what}: {key} has no place in the original layout")


def _unet_places(unet) -> dict[str, tuple[str, _Names]]:
    """Where each of the UNet's modules lies in the original: the input blocks run on one counter
    (a resnet and its attention share a number, a downsampler takes its own), the output blocks too
    (the upsampler rides with the block's last resnet), the middle block alternates resnet and attention."""
    places: dict[str, tuple[str, _Names]] = {
        "conv_in": ("input_blocks.0.0", None),
        "time_embedding.linear_1": ("time_embed.0", None),
        "time_embedding.linear_2": ("time_embed.2", None),
        "add_embedding.linear_1": ("label_emb.0.0", None),
        "add_embedding.linear_2": ("label_emb.0.2", None),
        "conv_norm_out": ("out.0", None),
        "conv_out": ("out.2", None),
    }
    number = 1
    for b, block in enumerate(unet.down_blocks):
        has_attention = getattr(block, "attentions", None) is not None
        for j in range(len(block.resnets)):
            places[f"down_blocks.{b}.resnets.{j}"] = (f"input_blocks.{number}.0", _UNET_RESNET)
            if has_attention:
                places[f"down_blocks.{b}.attentions.{j}"] = (f"input_blocks.{number}.1", None)
            number += 1
        if block.downsamplers is not None:
            places[f"down_blocks.{b}.downsamplers.0"] = (f"input_blocks.{number}.0", _DOWNSAMPLER)
            number += 1
    mid = unet.mid_block
    if mid is not None:
        for j in range(len(mid.resnets)):
            places[f"mid_block.resnets.{j}"] = (f"middle_block.{2 * j}", _UNET_RESNET)
        for j in range(len(getattr(mid, "attentions", ()))):
            places[f"mid_block.attentions.{j}"] = (f"middle_block.{2 * j + 1}", None)
    number = 0
    for b, block in enumerate(unet.up_blocks):
        has_attention = getattr(block, "attentions", None) is not None
        for j in range(len(block.resnets)):
            places[f"up_blocks.{b}.resnets.{j}"] = (f"output_blocks.{number + j}.0", _UNET_RESNET)
            if has_attention:
                places[f"up_blocks.{b}.attentions.{j}"] = (f"output_blocks.{number + j}.1", None)
        number += len(block.resnets)
        if block.upsamplers is not None:
            places[f"up_blocks.{b}.upsamplers.0"] = (f"output_blocks.{number - 1}.{2 if has_attention else 1}", None)
    return places


def _vae_layout(vae) -> dict:
    """The VAE's tensors by their original names; the original numbers the decoder's levels from the
    full-resolution end (the reverse of diffusers' up blocks) and keeps its mid-block attention's
    projections as 1x1 convolutions."""
    places: dict[str, tuple[str, _Names]] = {
        name: (name, None)
        for name in (
            *("encoder.conv_in", "encoder.conv_out", "decoder.conv_in", "decoder.conv_out"),
            *("quant_conv", "post_quant_conv"),
        )
    }
    places["encoder.conv_norm_out"] = ("encoder.norm_out", None)
    places["decoder.conv_norm_out"] = ("decoder.norm_out", None)
    for b, block in enumerate(vae.encoder.down_blocks):
        for j in range(len(block.resnets)):
            places[f"encoder.down_blocks.{b}.resnets.{j}"] = (f"encoder.down.{b}.block.{j}", _VAE_RESNET)
        if block.downsamplers is not None:
            places[f"encoder.down_blocks.{b}.downsamplers.0"] = (f"encoder.down.{b}.downsample", None)
    levels = len(vae.decoder.up_blocks)
    for b, block in enumerate(vae.decoder.up_blocks):
        level = levels - 1 - b
        for j in range(len(block.resnets)):
            places[f"decoder.up_blocks.{b}.resnets.{j}"] = (f"decoder.up.{level}.block.{j}", _VAE_RESNET)
        if block.upsamplers is not None:
            places[f"decoder.up_blocks.{b}.upsamplers.0"] = (f"decoder.up.{level}.upsample", None)
    for half in ("encoder", "decoder"):
        mid = getattr(vae, half).mid_block
        for j in range(len(mid.resnets)):
            places[f"{half}.mid_block.resnets.{j}"] = (f"{half}.mid.block_{j + 1}", _VAE_RESNET)
        for j, attention in enumerate(mid.attentions):
            if attention is not None:
                places[f"{half}.mid_block.attentions.{j}"] = (f"{half}.mid.attn_{j + 1}", _VAE_ATTENTION)
    layout = _renamed(vae.state_dict(), places, "VAE")
    for key, tensor in layout.items():
        if re.search(r"\.mid\.attn_\d+\.(q|k|v|proj_out)\.weight$", key) and tensor.ndim == 2:
            layout[key] = tensor.reshape(*tensor.shape, 1, 1)
    return layout


def _clip_state(model) -> dict:
    """transformers' CLIP weights under the `text_model.` level the original files have (newer
    transformers keep a CLIPTextModel's weights without that level)."""
    state = {key: tensor.detach() for key, tensor in model.state_dict().items()}
    if hasattr(model, "text_model"):
        return state
    return _prefixed("text_model.", state)


def _openclip_layout(model) -> dict:
    """A transformers CLIP text encoder under OpenCLIP's names: q, k and v joined in one in_proj,
    the projection stored as the matrix text features are multiplied by (the Linear weight transposed)."""
    import torch

    out = {}
    joined: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, tensor in _clip_state(model).items():
        if key == "text_model.embeddings.token_embedding.weight":
            out["token_embedding.weight"] = tensor
        elif key == "text_model.embeddings.position_embedding.weight":
            out["positional_embedding"] = tensor
        elif key.startswith("text_model.final_layer_norm."):
            out["ln_final." + key.rsplit(".", 1)[1]] = tensor
        elif key == "text_projection.weight":
            out["text_projection"] = tensor.T.contiguous()
        elif key.endswith("position_ids"):
            continue  # positions 0..n-1, which OpenCLIP does not store
        elif layer := re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.(.+)", key):
            number, rest = layer.groups()
            if qkv := re.fullmatch(r"self_attn\.([qkv])_proj\.(weight|bias)", rest):
                joined.setdefault((number, qkv[2]), {})[qkv[1]] = tensor
            else:
                out[f"transformer.resblocks.{number}.{_part_name(rest, _OPENCLIP_LAYER, 'text encoder', key)}"] = tensor
        else:
            raise ValueError(f"text encoder: {key} has no place in the OpenCLIP layout")
    for (number, kind), parts in joined.items():
        out[f"transformer.resblocks.{number}.attn.in_proj_{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out


_FULL_UNET: dict[str, dict[str, Any]] = {
    "sd1": dict(
        sample_size=64,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=768,
        attention_head_dim=8,
    ),
    "sd2": dict(
        sample_size=96,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=1024,
        attention_head_dim=(5, 10, 20, 20),
        use_linear_projection=True,
    ),
    "sdxl": dict(
        sample_size=128,
        block_out_channels=(320, 640, 1280),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2, 10),
        cross_attention_dim=2048,
        attention_head_dim=(5, 10, 20),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816,
    ),
}
_FULL_VAE: dict[str, Any] = dict(
    in_channels=3,
    out_channels=3,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    layers_per_block=2,
    latent_channels=4,
)
_FULL_VAE_SIZE: dict[str, dict[str, Any]] = {
    "sd1": dict(sample_size=512),
    "sd2": dict(sample_size=768),
    "sdxl": dict(sample_size=1024, scaling_factor=0.13025),
}
_CLIP_L: dict[str, Any] = dict(
    hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, projection_dim=768
)
# SD 2.x uses 23 of OpenCLIP ViT-H's 24 layers
_OPENCLIP_H: dict[str, Any] = dict(
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=23,
    num_attention_heads=16,
    projection_dim=512,
    hidden_act="gelu",
)
_OPENCLIP_BIGG: dict[str, Any] = dict(
    hidden_size=1280,
    intermediate_size=5120,
    num_hidden_layers=32,
    num_attention_heads=20,
    projection_dim=1280,
    hidden_act="gelu",
)
