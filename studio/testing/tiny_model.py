"""Tiny, real Stable-Diffusion-format models built from small configs, for tests and benches.

The components are the real diffusers and transformers classes with seeded random
weights (v-prediction, as SD 2.x, since a briefly trained UNet gets it right fastest), saved as an ordinary diffusers folder (safetensors), so they go through the same
loader as any model a person brings. `train_tiny_unet` teaches the UNet, in seconds, to
denoise smooth latents, so that its x0 guesses look like pictures rather than noise.
"""

from __future__ import annotations

import json
from pathlib import Path

from studio.embedded.tokenizer import write_clip_tokenizer

WORDS = [
    "a",
    "photo",
    "of",
    "the",
    "cat",
    "dog",
    "red",
    "green",
    "blue",
    "sky",
    "sea",
    "tree",
    "house",
    "mountain",
    "lake",
    "river",
    "sunset",
    "night",
    "day",
    "bright",
    "dark",
    "painting",
    "landscape",
    "with",
    "and",
    "in",
    "on",
    "under",
    "over",
    "big",
    "small",
    "old",
    "new",
]

SD_BETAS = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}


def build_tiny_components(
    seed: int = 0,
    max_length: int = 77,
    width: int = 64,
    unet_channels=(32, 64),
    in_channels: int = 4,
    prediction_type: str = "v_prediction",
):
    """Seeded tiny UNet, VAE (8x downsampling, 4 latent channels), CLIP text encoder, scheduler."""
    import tempfile

    import torch
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    from diffusers.schedulers.scheduling_euler_discrete import EulerDiscreteScheduler
    from transformers import CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=width // 8,
        in_channels=in_channels,
        out_channels=4,
        block_out_channels=tuple(unet_channels),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=16,
    )
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        # diffusers annotates these tuple[str] / tuple[int] where it means any length
        block_out_channels=(16, 16, 16, 16),  # pyright: ignore[reportArgumentType]
        down_block_types=("DownEncoderBlock2D",) * 4,  # pyright: ignore[reportArgumentType]
        up_block_types=("UpDecoderBlock2D",) * 4,  # pyright: ignore[reportArgumentType]
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=width,
    )
    with tempfile.TemporaryDirectory() as folder:
        write_clip_tokenizer(WORDS, folder, model_max_length=max_length)
        tokenizer = CLIPTokenizer.from_pretrained(folder)
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(tiny_clip_config(tokenizer))
    scheduler = EulerDiscreteScheduler(**SD_BETAS, steps_offset=1, prediction_type=prediction_type)
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer, "scheduler": scheduler}


def tiny_clip_config(tokenizer, **extra):
    """A two-layer, 32-wide CLIP text encoder's config for `tokenizer` (its length, its special tokens)."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=tokenizer.model_max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )


def smooth_latents(count: int, size: int, generator):
    """Latents with a per-channel level and a gentle slope: the 'pictures' the tiny UNet learns."""
    import torch

    levels = torch.randn(count, 4, 1, 1, generator=generator)
    slope = torch.randn(count, 4, 1, 1, generator=generator) * 0.5
    ramp = torch.linspace(-1, 1, size).view(1, 1, 1, size)
    return levels + slope * ramp


def train_tiny_unet(
    components: dict, steps: int = 150, seed: int = 0, batch: int = 16, lr: float = 2e-3
) -> list[float]:
    """Teach the tiny UNet to denoise smooth latents (its scheduler's prediction type); returns the losses."""
    import torch

    unet, scheduler = components["unet"], components["scheduler"]
    tokenizer, text_encoder = components["tokenizer"], components["text_encoder"]
    size = unet.config.sample_size
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        ids = tokenizer(
            [""], padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt"
        ).input_ids
        context = text_encoder(ids)[0]
    alphas = scheduler.alphas_cumprod
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
    unet.train()
    losses = []
    for _ in range(steps):
        x0 = smooth_latents(batch, size, generator)
        noise = torch.randn(x0.shape, generator=generator)
        t = torch.randint(0, len(alphas), (batch,), generator=generator)
        a = alphas[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
        prediction = unet(noisy, t, encoder_hidden_states=context.expand(batch, -1, -1)).sample
        if scheduler.config.prediction_type == "v_prediction":
            target = a.sqrt() * noise - (1 - a).sqrt() * x0
        else:
            target = noise
        loss = torch.nn.functional.mse_loss(prediction, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    unet.eval()
    return losses


def save_tiny_model(components: dict, folder: str | Path, studio: dict | None = None) -> Path:
    """Save the components as a Stable Diffusion diffusers folder with safetensors weights
    (an inpainting one when the UNet takes 9 channels, SDXL with a second text encoder)."""
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_inpaint import StableDiffusionInpaintPipeline
    from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import StableDiffusionXLPipeline

    if "text_encoder_2" in components:
        pipe = StableDiffusionXLPipeline(**components)
    else:
        inpainting = components["unet"].config.in_channels == 9
        pipeline_class = StableDiffusionInpaintPipeline if inpainting else StableDiffusionPipeline
        # diffusers annotates these two without Optional, yet documents None as the way to leave them out
        pipe = pipeline_class(
            **components,
            safety_checker=None,  # pyright: ignore[reportArgumentType]
            feature_extractor=None,  # pyright: ignore[reportArgumentType]
            requires_safety_checker=False,
        )
    folder = Path(folder)
    pipe.save_pretrained(folder, safe_serialization=True)
    if studio is not None:
        (folder / "studio.json").write_text(json.dumps(studio, indent=2), encoding="utf-8")
    return folder


def make_tiny_model(folder: str | Path, seed: int = 0, train_steps: int = 0, **options) -> Path:
    components = build_tiny_components(seed=seed, **options)
    if train_steps:
        train_tiny_unet(components, steps=train_steps, seed=seed)
    return save_tiny_model(
        components,
        folder,
        studio={"name": "tiny test model", "defaults": {"steps": 4, "width": 64, "height": 64, "scheduler": "Euler"}},
    )


def make_tiny_inpaint_model(folder: str | Path, seed: int = 0) -> Path:
    """A tiny inpainting model: its UNet takes 9 channels (latents, mask, masked-image latents),
    as Stable Diffusion inpainting models do; random weights."""
    components = build_tiny_components(seed=seed, in_channels=9)
    return save_tiny_model(
        components,
        folder,
        studio={
            "name": "tiny inpainting model",
            "defaults": {"steps": 4, "width": 64, "height": 64, "scheduler": "Euler"},
        },
    )


def bench_model_ref(size: int = 128) -> str:
    """The embedded model when installed, else a small SD-shaped model with random weights."""
    import tempfile

    from studio.engine.models import embedded_model_path

    if (embedded_model_path() / "model_index.json").exists():
        return "embedded"
    folder = Path(tempfile.mkdtemp()) / "bench-model"
    components = build_tiny_components(width=size, unet_channels=(64, 128), max_length=77)
    save_tiny_model(components, folder, studio={"name": "bench model (small SD-shaped, random weights)"})
    return str(folder)


def build_tiny_sdxl_components(seed: int = 0, width: int = 64, max_length: int = 77) -> dict:
    """A seeded tiny SDXL: two CLIP text encoders (the second with a projection, whose pooled
    output joins the size/crop conditioning), a UNet with SDXL's text-time embedding."""
    import torch
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    from transformers import CLIPTextModelWithProjection

    base = build_tiny_components(seed=seed, width=width, max_length=max_length, prediction_type="epsilon")
    tokenizer = base["tokenizer"]
    torch.manual_seed(seed + 3)
    text_encoder_2 = CLIPTextModelWithProjection(tiny_clip_config(tokenizer, projection_dim=32))
    torch.manual_seed(seed + 4)
    unet = UNet2DConditionModel(
        sample_size=width // 8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=64,  # both encoders' hidden states side by side
        attention_head_dim=8,
        norm_num_groups=16,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + 32,  # six size/crop numbers, pooled text
    )
    return {**base, "unet": unet, "text_encoder_2": text_encoder_2, "tokenizer_2": tokenizer}


def make_tiny_sdxl_model(folder: str | Path, seed: int = 0, max_length: int = 77) -> Path:
    """A tiny StableDiffusionXLPipeline folder (safetensors, random weights)."""
    return save_tiny_model(
        build_tiny_sdxl_components(seed=seed, max_length=max_length),
        folder,
        studio={
            "name": "tiny SDXL test model",
            "defaults": {"steps": 4, "width": 64, "height": 64, "scheduler": "Euler"},
        },
    )


def build_tiny_sd2_components(seed: int = 0, width: int = 64, max_length: int = 77, in_channels: int = 4) -> dict:
    """A seeded tiny SD 2.x (v-prediction; 9 input channels makes it an inpainting one).

    SD 2.x's text encoder is OpenCLIP's, which transformers' CLIPTextModel holds exactly when it
    uses OpenCLIP's exact GELU (CLIP's own default is quick GELU), so this one does; its UNet uses
    linear transformer projections and per-block head counts, as SD 2.x's does. A single-file SD 2.x
    checkpoint carries one transformer layer more than its encoder uses; this encoder has only the
    layers it uses, and `studio.testing.ldm_layout` writes just those.
    """
    import torch
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    from transformers import CLIPTextModel

    base = build_tiny_components(seed=seed, width=width, max_length=max_length)
    torch.manual_seed(seed + 5)
    text_encoder = CLIPTextModel(tiny_clip_config(base["tokenizer"], hidden_act="gelu"))
    torch.manual_seed(seed + 6)
    unet = UNet2DConditionModel(
        sample_size=width // 8,
        in_channels=in_channels,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=(2, 4),  # pyright: ignore[reportArgumentType]  # typed tuple[int], means any length
        norm_num_groups=16,
        use_linear_projection=True,
    )
    return {**base, "unet": unet, "text_encoder": text_encoder}


def build_tiny_sdxl_single_file_components(seed: int = 0, width: int = 64, max_length: int = 77) -> dict:
    """A seeded tiny SDXL whose second text encoder is wider than the first (48 against 32) and uses
    OpenCLIP's exact GELU, as SDXL's OpenCLIP bigG does: diffusers' single-file reader tells the two
    encoders of a checkpoint apart by their width, which `build_tiny_sdxl_components`' equal ones defeat."""
    import torch
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    from transformers import CLIPTextModelWithProjection

    base = build_tiny_components(seed=seed, width=width, max_length=max_length, prediction_type="epsilon")
    torch.manual_seed(seed + 7)
    config = tiny_clip_config(base["tokenizer"], projection_dim=48, hidden_act="gelu")
    config.hidden_size, config.intermediate_size = 48, 56
    text_encoder_2 = CLIPTextModelWithProjection(config)
    torch.manual_seed(seed + 8)
    unet = UNet2DConditionModel(
        sample_size=width // 8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32 + 48,  # both encoders' hidden states side by side
        attention_head_dim=8,
        norm_num_groups=16,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + 48,  # six size/crop numbers, pooled text
    )
    return {**base, "unet": unet, "text_encoder_2": text_encoder_2, "tokenizer_2": base["tokenizer"]}
