# pyright: standard
"""The VAE a model decodes with: its own, or one chosen for it from the library's vae/ folder.

A chosen VAE is a single .safetensors file in the original layout, as VAEs are shared (it holds
no config, so diffusers' `AutoencoderKL.from_single_file` reads it against the model's own VAE
config: the model folder's, or the shipped config folder of a single-file checkpoint), or a
diffusers VAE folder (config.json and weights). It must make the latents the model's UNet works
on, as many channels at the same scale; any other is refused before its weights are read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studio.engine.checkpoints import is_pickle_file, pickle_message, read_header
from studio.engine.models import ModelInfo, find_resource
from studio.errors import ModelError

_CONV_IN = "decoder.conv_in.weight"


def load_vae(info: ModelInfo, own, name: str, dtype) -> tuple[Any, str]:
    """The library's VAE called `name` for model `info` (whose own VAE is `own`), on the CPU in
    `dtype`, and its short hash."""
    found = find_resource("vae", name)
    if found is None:
        raise ModelError(
            f"the library has no VAE named {name!r} (studio models list --kind vae shows them); "
            f"choose another for {info.name}, or auto for its own"
        )
    path, short_hash = Path(found[0]), found[1]
    if path.is_dir():
        vae = _from_folder(info, own, name, path, dtype)
    else:
        vae = _from_file(info, own, name, path, dtype)
    return vae, short_hash


def _from_folder(info: ModelInfo, own, name: str, path: Path, dtype):
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise ModelError(f"the VAE {name} ({path}) has no readable config.json: {exc}") from None
    if config.get("_class_name") != "AutoencoderKL":
        raise ModelError(f"the VAE {name} ({path}) is a {config.get('_class_name')!r}; Studio uses AutoencoderKL VAEs")
    _check_fit(info, own, name, config.get("latent_channels"), len(config.get("block_out_channels") or ()))
    scaling, own_scaling = config.get("scaling_factor", 0.18215), own.config.scaling_factor
    if scaling != own_scaling:
        raise ModelError(
            f"the VAE {name} is made for latents scaled by {scaling} and {info.name}'s are scaled by {own_scaling} "
            f"(SD 1.x/2.x: 0.18215, SDXL: 0.13025); choose a VAE made for its family, or auto for its own"
        )
    return _loaded(
        info,
        name,
        path,
        lambda: AutoencoderKL.from_pretrained(path, dtype=dtype, use_safetensors=True, local_files_only=True),
    )


def _from_file(info: ModelInfo, own, name: str, path: Path, dtype):
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    if is_pickle_file(path):
        raise ModelError(pickle_message(path))
    if path.suffix.lower() != ".safetensors":
        raise ModelError(f"the VAE {name} ({path}) is not a .safetensors file or a diffusers VAE folder")
    tensors = read_header(path).tensors
    conv_in = tensors.get(_CONV_IN) or tensors.get("first_stage_model." + _CONV_IN)
    if conv_in is None or len(conv_in[1]) != 4:
        raise ModelError(f"{path} is not a VAE: it has no {_CONV_IN}")
    _check_fit(info, own, name, conv_in[1][1], None)
    root = _config_root(info)
    return _loaded(
        info,
        name,
        path,
        lambda: AutoencoderKL.from_single_file(
            str(path), config=str(root), subfolder="vae", local_files_only=True, dtype=dtype
        ),
    )


def _config_root(info: ModelInfo) -> Path:
    """The folder whose vae/ holds the model's own VAE config."""
    if info.checkpoint is not None:
        from studio.engine.single_file import config_folder_for

        return config_folder_for(info.checkpoint.config_name)
    return info.path


def _check_fit(info: ModelInfo, own, name: str, channels, levels: int | None) -> None:
    wanted = own.config.latent_channels
    if channels != wanted:
        raise ModelError(
            f"the VAE {name} makes {channels}-channel latents and {info.name} works with {wanted}-channel ones; "
            f"choose a VAE made for its family, or auto for its own"
        )
    own_levels = len(own.config.block_out_channels)
    if levels is not None and levels != own_levels:
        raise ModelError(
            f"the VAE {name} scales pictures by {2 ** (levels - 1)} and {info.name} by {2 ** (own_levels - 1)}; "
            f"choose a VAE made for its family, or auto for its own"
        )


def _loaded(info: ModelInfo, name: str, path: Path, load):
    try:
        return load()
    except ModelError:
        raise
    except Exception as exc:  # tensors of other shapes, a damaged file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"the VAE {name} ({path}) cannot be used with {info.name}: {first}") from None
