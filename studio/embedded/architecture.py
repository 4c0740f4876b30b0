"""The shapes of the embedded model's text encoder and UNet (the autoencoder is in train_vae)."""

from __future__ import annotations

TOKENIZER_MAX_LENGTH = 32  # the longest caption of the grammar is about 20 tokens
TEXT_WIDTH = 128
# Transformer layers of the text encoder. Tried on the held-out pairs (see the README):
# 0 (each word on its own) and 1 did not beat 3.
TEXT_LAYERS = 3
LATENT_SIZE = 16  # 128 px / 8
PREDICTION_TYPE = "v_prediction"
NOISE_SCHEDULE = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": PREDICTION_TYPE,
    "steps_offset": 1,
    "timestep_spacing": "trailing",
}


def build_text_encoder(tokenizer, width: int = TEXT_WIDTH, layers: int = TEXT_LAYERS):
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=width,
            intermediate_size=width * 4,
            num_hidden_layers=layers,
            num_attention_heads=4,
            max_position_embeddings=tokenizer.model_max_length,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )


def build_unet(channels=(32, 64, 128), cross_attention_dim: int = TEXT_WIDTH, layers_per_block: int = 1):
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=LATENT_SIZE,
        in_channels=4,
        out_channels=4,
        block_out_channels=tuple(channels),
        layers_per_block=layers_per_block,
        # Cross-attention at 8 x 8 and 4 x 4 only: at 16 x 16 it costs more than it adds.
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D")[: len(channels)],
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")[-len(channels) :],
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=32,
        norm_num_groups=32,
    )


def build_scheduler():
    from diffusers.schedulers.scheduling_euler_discrete import EulerDiscreteScheduler

    return EulerDiscreteScheduler(**NOISE_SCHEDULE)
