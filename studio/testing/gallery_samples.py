"""Gallery images as Studio and other tools write them, small and fast to make (tests, benches)."""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from studio.engine.request import GenerateRequest
from studio.recipe import studio_json
from studio.recipe.embed import write_png
from studio.recipe.schema import Recipe


def picture(width=64, height=72, seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(1, 1, 3))
    ramp = np.linspace(0, 1, width)[None, :, None] * rng.integers(0, 255, size=(1, 1, 3))
    pixels = (base * 0.5 + ramp * 0.5 + np.zeros((height, 1, 1))).astype(np.uint8)
    return Image.fromarray(pixels)


def studio_recipe(prompt="a red house by the lake", seed=42, **changes) -> Recipe:
    request = GenerateRequest(
        prompt=prompt,
        negative_prompt="blurry",
        seed=seed,
        steps=12,
        guidance_scale=6.5,
        width=64,
        height=72,
        scheduler="Euler a",
        model="/models/tiny",
    ).replace(**changes)
    return Recipe(request=request, model_name="tiny")


def save_studio_png(path: Path, prompt="a red house by the lake", seed=42, mtime=None, **changes) -> Path:
    recipe = studio_recipe(prompt, seed, **changes)
    write_png(path, picture(recipe.request.width, recipe.request.height, seed), recipe)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def save_png_with_texts(path: Path, texts: dict[str, str], size=(64, 72), seed=1, compressed=()) -> Path:
    info = PngInfo()
    for key, value in texts.items():
        if key in compressed:
            info.add_itxt(key, value, zip=True)
        else:
            info.add_text(key, value)
    buffer = io.BytesIO()
    picture(*size, seed=seed).save(buffer, format="PNG", pnginfo=info)
    path.write_bytes(buffer.getvalue())
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width: int, height: int, extra_chunks: bytes = b"", idat: bytes | None = None) -> bytes:
    """A PNG built chunk by chunk: any size in its header, whatever data follows."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    if idat is None:
        idat = zlib.compress(b"".join(b"\0" + b"\x40" * (3 * width) for _ in range(height)))
    return b"\x89PNG\r\n\x1a\n" + header + extra_chunks + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


A1111_TEXT = (
    "a castle on a hill, sunset, (masterpiece:1.2)\n"
    "Negative prompt: lowres, bad anatomy\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234567, Size: 512x768, "
    'Model hash: abc123, Model: dreamshaper_8, Lora hashes: "x: 1, y: 2", Version: v1.10.1'
)

COMFY_PROMPT = {
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 987654321,
            "steps": 20,
            "cfg": 8.0,
            "sampler_name": "euler_ancestral",
            "scheduler": "normal",
            "denoise": 1.0,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
    },
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
    "6": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "beautiful scenery nature glass bottle landscape", "clip": ["4", 1]},
    },
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
}

COMFY_WORKFLOW = {
    "nodes": [
        {
            "id": 3,
            "type": "KSampler",
            "widgets_values": [156680208700286, "randomize", 20, 8, "dpmpp_2m", "karras", 1],
            "inputs": [{"name": "model", "link": 1}, {"name": "positive", "link": 4}, {"name": "negative", "link": 6}],
        },
        {"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": ["sd_xl_base_1.0.safetensors"]},
        {"id": 5, "type": "EmptyLatentImage", "widgets_values": [1024, 1024, 1]},
        {
            "id": 6,
            "type": "CLIPTextEncode",
            "widgets_values": ["a fox in the snow"],
            "inputs": [{"name": "clip", "link": 3}],
        },
        {"id": 7, "type": "CLIPTextEncode", "widgets_values": ["blurry"], "inputs": [{"name": "clip", "link": 5}]},
    ],
    "links": [
        [1, 4, 0, 3, 0, "MODEL"],
        [3, 4, 1, 6, 0, "CLIP"],
        [4, 6, 0, 3, 1, "CONDITIONING"],
        [5, 4, 1, 7, 0, "CLIP"],
        [6, 7, 0, 3, 2, "CONDITIONING"],
    ],
}

INVOKE_METADATA = {
    "generation_mode": "txt2img",
    "positive_prompt": "an astronaut riding a horse",
    "negative_prompt": "ugly",
    "width": 768,
    "height": 512,
    "seed": 3141592,
    "cfg_scale": 7.5,
    "steps": 30,
    "scheduler": "dpmpp_2m_k",
    "model": {"key": "abc", "hash": "blake3:00", "name": "stable-diffusion-v1-5", "base": "sd-1", "type": "main"},
}

FOOOCUS_JSON = {
    "prompt": "a cat wearing a hat",
    "negative_prompt": "",
    "styles": "['Fooocus V2']",
    "performance": "Speed",
    "steps": 30,
    "resolution": "(1152, 896)",
    "guidance_scale": 4,
    "sharpness": 2,
    "sampler": "dpmpp_2m_sde_gpu",
    "scheduler": "karras",
    "base_model": "juggernautXL_v8Rundiffusion",
    "seed": "1234",
    "version": "Fooocus v2.5.0",
}


def write_examples(folder: Path) -> dict[str, Path]:
    """One image of every recipe dialect, plus one without any, in `folder`."""
    from studio.gallery.export import export_image

    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "studio": save_studio_png(folder / "studio.png", mtime=1_700_000_000),
        "a1111": save_png_with_texts(folder / "a1111.png", {"parameters": A1111_TEXT}, seed=2),
        "comfyui": save_png_with_texts(
            folder / "comfy.png", {"prompt": json.dumps(COMFY_PROMPT), "workflow": json.dumps(COMFY_WORKFLOW)}, seed=3
        ),
        "comfy_workflow": save_png_with_texts(
            folder / "comfy-ui-only.png", {"workflow": json.dumps(COMFY_WORKFLOW)}, seed=4, compressed=("workflow",)
        ),
        "invokeai": save_png_with_texts(
            folder / "invoke.png", {"invokeai_metadata": json.dumps(INVOKE_METADATA)}, seed=5
        ),
        "fooocus": save_png_with_texts(
            folder / "fooocus.png", {"parameters": json.dumps(FOOOCUS_JSON), "fooocus_scheme": "fooocus"}, seed=6
        ),
        "plain": save_png_with_texts(folder / "plain.png", {}, seed=7),
    }
    files["jpeg"] = export_image(files["a1111"], folder / "a1111.jpg")
    files["webp"] = export_image(files["studio"], folder / "studio.webp")
    for offset, path in enumerate(files.values()):
        stamp = 1_700_000_000_000_000_000 + offset * 3_600_000_000_000
        os.utime(path, ns=(stamp, stamp))
    return files


PROMPT_WORDS = (
    "a lake",
    "snowy hills",
    "a red house",
    "pine trees",
    "a sunset",
    "a castle",
    "fog",
    "a meadow",
    "mountains",
    "a river",
    "night sky",
    "a lighthouse",
    "autumn",
    "a bridge",
    "desert dunes",
    "a harbour",
)


def fast_gallery(folder: Path, count: int, days: int = 60, seed: int = 0, side: int = 64) -> list[Path]:
    """`count` small PNGs with Studio recipes, written chunk by chunk (no encoder), spread over `days`.

    A few dozen distinct pictures are reused, so thousands of files take seconds to write.
    """
    from studio.recipe.a1111 import recipe_text

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pictures = []
    for k in range(48):
        image = np.asarray(picture(side, side, seed=seed * 1000 + k))
        rows = b"".join(b"\0" + image[y].tobytes() for y in range(side))
        pictures.append(zlib.compress(rows, 6))
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
    now = 1_750_000_000
    paths = []
    for i in range(count):
        words = rng.choice(len(PROMPT_WORDS), size=3, replace=False)
        prompt = ", ".join(PROMPT_WORDS[w] for w in words)
        recipe = studio_recipe(prompt, seed=int(rng.integers(0, 2**32 - 1)), width=side, height=side)
        texts = png_chunk(b"tEXt", b"parameters\0" + recipe_text(recipe).encode("latin-1"))
        texts += png_chunk(b"tEXt", b"studio\0" + studio_json.encode(recipe).encode("latin-1"))
        data = (
            b"\x89PNG\r\n\x1a\n"
            + header
            + texts
            + png_chunk(b"IDAT", pictures[i % len(pictures)])
            + png_chunk(b"IEND", b"")
        )
        path = folder / f"img-{i:06d}.png"
        path.write_bytes(data)
        when = now - (count - i) * (days * 86400 / max(1, count))
        os.utime(path, (when, when))
        paths.append(path)
    return paths
