# pyright: standard
"""Loading a single-file checkpoint through diffusers' own single-file loader, offline.

The loader is given one of the config folders Studio ships (studio/engine/configs: JSON
configs, no weights) and the real CLIP tokenizers, so it never looks anything up on the Hub.
`STUDIO_MODEL_CONFIGS` may name a folder of config folders of the same names to use instead
(tests use it for small models); a `tokenizer/` folder inside one is used over the shipped one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from studio.engine.models import ModelInfo

CONFIGS_ENV = "STUDIO_MODEL_CONFIGS"
# Which tokenizer each family's text encoders read with: OpenCLIP's models pad with "!".
_TOKENIZERS = {"sd1": ("clip",), "sd2": ("open-clip",), "sdxl": ("clip", "open-clip")}


def config_folder_for(name: str) -> Path:
    override = os.environ.get(CONFIGS_ENV)
    if override:
        return Path(override) / name
    from studio.engine.model_configs import config_folder

    return config_folder(name)


def load_single_file(info: ModelInfo, dtype) -> Any:
    """The pipeline of checkpoint `info` (its `checkpoint` set), on the CPU in `dtype`."""
    import diffusers
    from diffusers.schedulers.scheduling_euler_discrete import EulerDiscreteScheduler
    from transformers import CLIPTokenizer

    from studio.engine.model_configs import load_tokenizer

    checkpoint = info.checkpoint
    assert checkpoint is not None
    folder = config_folder_for(checkpoint.config_name)
    components: dict[str, Any] = {}
    for slot, kind in zip(("tokenizer", "tokenizer_2"), _TOKENIZERS[checkpoint.family], strict=False):
        own = folder / slot
        components[slot] = CLIPTokenizer.from_pretrained(own) if own.is_dir() else load_tokenizer(kind)
    config = EulerDiscreteScheduler.load_config(str(folder), subfolder="scheduler", local_files_only=True)
    assert isinstance(config, dict)
    components["scheduler"] = EulerDiscreteScheduler.from_config(config, **info.scheduler_overrides)
    if checkpoint.family == "sdxl":
        components.update(image_encoder=None, feature_extractor=None)
    else:
        components.update(safety_checker=None, feature_extractor=None, image_encoder=None)
        components["requires_safety_checker"] = False
    pipeline_class = getattr(diffusers, info.pipeline_class)
    return pipeline_class.from_single_file(
        str(info.path), config=str(folder), local_files_only=True, dtype=dtype, **components
    )
