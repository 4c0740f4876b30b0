"""Small real LoRA files for a given model, for tests and benches, in both layouts people share.

`lora_tensors` makes seeded random low-rank pairs (down A: rank x in, up B: out x rank) for the
attention layers of a pipeline's UNet and text encoders, named by component and module path.
`write_lora` saves them either as diffusers writes a LoRA (its own `save_lora_weights`; the
text encoders' modules under `text_model.`, as files made before transformers 5 name them)
or in the kohya-ss / AUTOMATIC1111 layout (`lora_unet_…`, `lora_te_…` or `lora_te1_…`/`lora_te2_…`
for SDXL, `.lora_down.weight`, `.lora_up.weight`, `.alpha`). A LoRA's effect on a layer is
`scale * B @ A` with scale = alpha / rank; the diffusers layout has no alpha (scale 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

UNET_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
TEXT_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")
ENCODERS = ("text_encoder", "text_encoder_2")

Pairs = dict[tuple[str, str], tuple[Any, Any]]  # (component, module path) -> (A, B)


def lora_tensors(
    pipe, rank: int = 4, seed: int = 0, scale: float = 0.3, parts: tuple[str, ...] = ("unet", *ENCODERS)
) -> Pairs:
    """Random (A, B) pairs for the attention layers of the pipeline's `parts` that it has."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    pairs: Pairs = {}
    for part in parts:
        module = getattr(pipe, part, None)
        if module is None:
            continue
        targets = UNET_TARGETS if part == "unet" else TEXT_TARGETS
        for name, layer in module.named_modules():
            if type(layer) is torch.nn.Linear and any(name == t or name.endswith("." + t) for t in targets):
                down = torch.randn(rank, layer.in_features, generator=generator) * scale
                up = torch.randn(layer.out_features, rank, generator=generator) * scale
                pairs[(part, name)] = (down, up)
    return pairs


def write_lora(pairs: Pairs, file: Path, layout: str = "diffusers", alpha: float | None = None) -> Path:
    """Save `pairs` as one .safetensors LoRA at `file`; `alpha` (kohya only) defaults to the rank."""
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    if layout == "kohya":
        _write_kohya(pairs, file, alpha)
    elif layout == "diffusers":
        if alpha is not None:
            raise ValueError("the diffusers layout has no alpha")
        _write_diffusers(pairs, file)
    else:
        raise ValueError(f"unknown LoRA layout {layout!r}")
    return file


def _encoder_path(name: str) -> str:
    return name if name.startswith("text_model.") else "text_model." + name


def _write_diffusers(pairs: Pairs, file: Path) -> None:
    from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import StableDiffusionXLPipeline

    layers: dict[str, dict] = {}
    for (part, name), (down, up) in pairs.items():
        path = name if part == "unet" else _encoder_path(name)
        layers.setdefault(part, {})[f"{path}.lora_A.weight"] = down.contiguous()
        layers[part][f"{path}.lora_B.weight"] = up.contiguous()
    # SDXL's writer takes both text encoders; for SD 1.x/2.x the second is left out.
    StableDiffusionXLPipeline.save_lora_weights(
        file.parent,
        unet_lora_layers=layers.get("unet"),  # pyright: ignore[reportArgumentType]
        text_encoder_lora_layers=layers.get("text_encoder"),  # pyright: ignore[reportArgumentType]
        text_encoder_2_lora_layers=layers.get("text_encoder_2"),  # pyright: ignore[reportArgumentType]
        weight_name=file.name,
    )


def _write_kohya(pairs: Pairs, file: Path, alpha: float | None) -> None:
    import torch
    from safetensors.torch import save_file

    sdxl = any(part == "text_encoder_2" for part, _ in pairs)
    prefixes = {
        "unet": "lora_unet_",
        "text_encoder": "lora_te1_" if sdxl else "lora_te_",
        "text_encoder_2": "lora_te2_",
    }
    tensors = {}
    for (part, name), (down, up) in pairs.items():
        path = name if part == "unet" else _encoder_path(name)
        key = prefixes[part] + path.replace(".", "_")
        tensors[f"{key}.lora_down.weight"] = down.contiguous()
        tensors[f"{key}.lora_up.weight"] = up.contiguous()
        tensors[f"{key}.alpha"] = torch.tensor(float(alpha if alpha is not None else down.shape[0]))
    save_file(tensors, str(file))


def summed(weighted: list[tuple[Pairs, float]]) -> Pairs:
    """One LoRA whose effect is the weighted sum of the given ones' (ranks side by side):
    B = [w1 B1, w2 B2], A = [A1; A2]. Each input must have scale 1 (the diffusers layout)."""
    import torch

    out: Pairs = {}
    for key in {key for pairs, _ in weighted for key in pairs}:
        found = [(pairs[key], weight) for pairs, weight in weighted if key in pairs]
        down = torch.cat([a for (a, _), _ in found], dim=0)
        up = torch.cat([b * weight for (_, b), weight in found], dim=1)
        out[key] = (down, up)
    return out
