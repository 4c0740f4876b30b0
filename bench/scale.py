"""Speed at real scale: full-size SD 1.5, SD-Turbo and SDXL architectures with random weights.

Builds each model from the public architecture numbers written below (random weights: they
do not change the speed, and nothing is downloaded), saves it as a diffusers folder
(safetensors), then measures on this machine, one model at a time:

    load s         Studio's loader (`Engine.load`) on that folder, its files first dropped
                   from the page cache (fsync, then posix_fadvise DONTNEED)
    UNet s/step    one UNet call at the request's size, batch 2 with guidance, 1 without
    VAE s          one VAE decode, in the precision the pipeline decodes in
    UNet by        torch, or OpenVINO where Studio's CPU backend converted the UNet (load s then
                   includes the conversion); STUDIO_CPU_BACKEND=torch|openvino chooses
    plain s        a plain diffusers `pipe(...)` call (same pipeline, seed, sampler, steps)
    engine s       `Engine.run` with a preview every step; ratio = engine / plain (goal <= 1.05)
    no-preview s   `Engine.run` without previews
    peak RSS       the process's peak resident memory (getrusage), load and runs included
    peak GPU       torch.cuda.max_memory_allocated, on CUDA
    attention      the UNet's attention processor (diffusers' default: torch SDPA), in the JSON

The three kinds of run alternate, after two warm-up rounds, and their medians are reported;
the UNet and VAE are timed alone after them, on a GPU the runs have warmed. Each model runs
at its 20-step figure and, for the fast models (SD-Turbo), at 1 and 4 steps: the "one image"
figures a user of a few-step model sees.

On a CPU a full-size run takes minutes per picture, so the quick profile (the default there,
`--quick`; `--full` for the whole one) does one warm-up round and one repeat, runs SD 1.5 and
SDXL at 4 steps and computes their 20-step figure from the seconds per step seen
(engine s + 16 x step s, marked "computed"), and times the UNet and VAE alone once.
Each model is built in one child process and measured in another, so every model's peak
memory is its own. The table is printed and written as JSON after each model.

Run: python bench/scale.py [--device auto|cuda|cpu] [--dtype fp16|fp32] [--quick | --full] [--offload]
     [--models sd15,sdturbo,sdxl] [--steps N] [--repeats 3] [--out bench/results/scale-DEVICE.json]
     [--tiny]   (small configs of the same shapes: a quick check of the script itself)
The table is printed as Markdown, ready for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

WARMUP_ROUNDS = 2
QUICK_WARMUP_ROUNDS = 1
FULL_STEPS = 20  # the figure a few-step quick run is extrapolated to
PROMPT = "a photo of the old house by the lake under a red sunset sky, mountain and tree"
CLIP_VOCAB = 49408
BETAS = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}
SD_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}
CLIP_L = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}
OPENCLIP_H = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 23,
    "num_attention_heads": 16,
    "hidden_act": "gelu",
    "projection_dim": 512,
}
OPENCLIP_BIGG = {
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 20,
    "hidden_act": "gelu",
    "projection_dim": 1280,
}
SD_BLOCKS = {
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "in_channels": 4,
    "out_channels": 4,
    "sample_size": 64,
}

MODELS = {
    "sd15": {
        "label": "SD 1.5",
        "pipeline": "StableDiffusionPipeline",
        "size": 512,
        "steps": (20,),
        "quick_steps": (4,),
        "guidance": 7.0,
        "sampler": "DPM++ 2M Karras",
        "unet": {**SD_BLOCKS, "cross_attention_dim": 768, "attention_head_dim": 8},
        "vae": SD_VAE,
        "text_encoder": CLIP_L,
        "scheduler": {**BETAS, "steps_offset": 1, "prediction_type": "epsilon"},
    },
    "sdturbo": {
        "label": "SD-Turbo",
        "pipeline": "StableDiffusionPipeline",
        "size": 512,
        "steps": (1, 4),  # a fast model's "one image" figures
        "quick_steps": (1, 4),
        "guidance": 0.0,
        "sampler": "Euler",
        "unet": {
            **SD_BLOCKS,
            "cross_attention_dim": 1024,
            "attention_head_dim": (5, 10, 20, 20),
            "use_linear_projection": True,
        },
        "vae": {**SD_VAE, "sample_size": 768},
        "text_encoder": OPENCLIP_H,
        "scheduler": {**BETAS, "timestep_spacing": "trailing", "prediction_type": "epsilon"},
    },
    "sdxl": {
        "label": "SDXL",
        "pipeline": "StableDiffusionXLPipeline",
        "size": 1024,
        "steps": (20,),
        "quick_steps": (4,),
        "guidance": 5.0,
        "sampler": "DPM++ 2M Karras",
        "unet": {
            "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            "block_out_channels": (320, 640, 1280),
            "layers_per_block": 2,
            "norm_num_groups": 32,
            "transformer_layers_per_block": (1, 2, 10),
            "attention_head_dim": (5, 10, 20),
            "cross_attention_dim": 2048,
            "use_linear_projection": True,
            "addition_embed_type": "text_time",
            "addition_time_embed_dim": 256,
            "projection_class_embeddings_input_dim": 6 * 256 + 1280,
            "in_channels": 4,
            "out_channels": 4,
            "sample_size": 128,
        },
        "vae": {**SD_VAE, "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True},
        "text_encoder": CLIP_L,
        "text_encoder_2": OPENCLIP_BIGG,
        "scheduler": {**BETAS, "steps_offset": 1, "timestep_spacing": "leading", "prediction_type": "epsilon"},
    },
}

# --tiny: the same block layouts, narrow and shallow, at 64 x 64.
TINY_CLIP = {
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "projection_dim": 32,
}
TINY = {
    "sd15": {
        "unet": {
            "block_out_channels": (32, 64, 64, 64),
            "layers_per_block": 1,
            "cross_attention_dim": 32,
            "attention_head_dim": 4,
            "sample_size": 8,
        }
    },
    "sdturbo": {
        "unet": {
            "block_out_channels": (32, 64, 64, 64),
            "layers_per_block": 1,
            "cross_attention_dim": 32,
            "attention_head_dim": (2, 4, 4, 4),
            "sample_size": 8,
        }
    },
    "sdxl": {
        "unet": {
            "block_out_channels": (32, 64, 64),
            "layers_per_block": 1,
            "cross_attention_dim": 64,
            "transformer_layers_per_block": (1, 1, 2),
            "attention_head_dim": (2, 4, 4),
            "addition_time_embed_dim": 8,
            "projection_class_embeddings_input_dim": 6 * 8 + 32,
            "sample_size": 8,
        }
    },
}
TINY_VAE = {"block_out_channels": (32, 32, 32, 32), "layers_per_block": 1, "sample_size": 64}


def model_spec(name: str, tiny: bool) -> dict:
    spec = {**MODELS[name]}
    if tiny:
        spec["unet"] = {**spec["unet"], **TINY[name]["unet"]}
        spec["vae"] = {**spec["vae"], **TINY_VAE}
        for key in ("text_encoder", "text_encoder_2"):
            if key in spec:
                spec[key] = {**spec[key], **TINY_CLIP}
        spec["size"] = 64
    return spec


# ---- child: build and save ----


def build(name: str, tiny: bool, device: str, dtype_name: str, folder: Path) -> dict:
    import torch
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    from diffusers.schedulers.scheduling_euler_discrete import EulerDiscreteScheduler
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from studio.embedded.tokenizer import write_clip_tokenizer
    from studio.testing.tiny_model import WORDS, save_tiny_model

    spec = model_spec(name, tiny)
    dtype = {"fp16": torch.float16, "fp32": torch.float32}[dtype_name]
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as words:
        write_clip_tokenizer(WORDS + PROMPT.split(), words)
        tokenizer = CLIPTokenizer.from_pretrained(words)

    def text_config(numbers: dict) -> CLIPTextConfig:
        return CLIPTextConfig(
            vocab_size=len(tokenizer) if tiny else CLIP_VOCAB,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **numbers,
        )

    torch.manual_seed(0)
    with torch.device(device):  # random init straight on the device: fast on a GPU
        components = {
            "unet": UNet2DConditionModel(**spec["unet"]),
            "vae": AutoencoderKL(**spec["vae"]),
            "text_encoder": CLIPTextModel(text_config(spec["text_encoder"])),
        }
        if "text_encoder_2" in spec:
            components["text_encoder_2"] = CLIPTextModelWithProjection(text_config(spec["text_encoder_2"]))
            components["tokenizer_2"] = tokenizer
    finite = True
    for module in [m for m in components.values() if isinstance(m, torch.nn.Module)]:
        module.to(dtype)
        finite = finite and all(bool(torch.isfinite(p).all()) for p in module.parameters())
    components["tokenizer"] = tokenizer
    components["scheduler"] = EulerDiscreteScheduler(**spec["scheduler"])
    built = time.perf_counter() - began
    save_tiny_model(components, folder, studio={"name": f"{spec['label']} (random weights)"})
    sizes = {k: sum(p.numel() for p in m.parameters()) for k, m in components.items() if isinstance(m, torch.nn.Module)}
    return {
        "build_s": built,
        "save_s": time.perf_counter() - began - built,
        "params": sizes,
        "weights_finite": finite,
        "folder_bytes": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
    }


def drop_from_page_cache(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


# ---- child: measure ----


def measure(
    name: str, tiny: bool, device: str, folder: Path, steps: int | None, repeats: int, quick: bool, offload: bool
) -> dict:
    import torch

    from studio.engine.devices import attention_kind
    from studio.engine.runner import Engine

    spec = model_spec(name, tiny)
    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def timed(call) -> float:
        sync()
        began = time.perf_counter()
        call()
        sync()
        return time.perf_counter() - began

    drop_from_page_cache(folder)
    engine = Engine(device=device, offload=offload)
    holder = {}
    load_s = timed(lambda: holder.setdefault("model", engine.load(str(folder))))
    model = holder["model"]
    pipe = model.pipe
    size, guidance = spec["size"], spec["guidance"]
    counts = (steps,) if steps else spec["quick_steps" if quick else "steps"]
    warmups = QUICK_WARMUP_ROUNDS if quick else WARMUP_ROUNDS
    runs = [run_at(engine, model, spec, folder, count, repeats, warmups, timed) for count in counts]
    # The components alone, last, on a GPU whose clocks the runs above have raised.
    component_repeats, component_warmup = (1, 0) if quick else (10, 1)
    with torch.inference_mode():
        unet_s = median_of(
            lambda: timed(lambda: unet_call(pipe, size, guidance, model.device, model.dtype)),
            component_repeats,
            component_warmup,
        )
        vae_s, vae_dtype = vae_decode_seconds(
            pipe, size, model.device, model.dtype, timed, max(1, component_repeats // 2), component_warmup
        )
    return {
        "profile": "quick" if quick else "full",
        "load_s": load_s,
        "unet_step_s": unet_s,
        "vae_decode_s": vae_s,
        "vae_dtype": vae_dtype,
        "runs": runs,
        "run_dtype": str(model.dtype).replace("torch.", ""),
        "attention": attention_kind(pipe),
        "unet_backend": unet_backend(pipe.unet),
        "offload": model.offload,
        "device": model.device,
        "family": model.info.family,
        "size": size,
        "guidance": guidance,
        "sampler": spec["sampler"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
    }


def run_at(engine, model, spec: dict, folder: Path, steps: int, repeats: int, warmups: int, timed) -> dict:
    """The three kinds of run at `steps` steps, alternating after `warmups` warm-up rounds."""
    from studio.engine.events import Finished, Step
    from studio.engine.request import GenerateRequest
    from studio.testing.reference import plain_pipeline_call

    size = spec["size"]
    request = GenerateRequest(
        prompt=PROMPT,
        seed=1,
        steps=steps,
        guidance_scale=spec["guidance"],
        width=size,
        height=size,
        scheduler=spec["sampler"],
        model=str(folder),
    )
    finals, step_seconds = [], []

    def on_event(event) -> None:
        if isinstance(event, Step):
            step_seconds.append(event.step_s)

    runs = {
        "plain": lambda: timed(lambda: plain_pipeline_call(model, request)),
        "engine": lambda: timed(lambda: finals.append(engine.run(request, on_event, previews=True))),
        "engine_no_previews": lambda: timed(lambda: finals.append(engine.run(request, previews=False))),
    }
    first = {name: run() for name, run in runs.items()}
    for _ in range(warmups - 1):
        for run in runs.values():
            run()
    step_seconds.clear()
    times = {name: [] for name in runs}
    for round_ in range(repeats):
        order = list(runs) if round_ % 2 == 0 else list(runs)[::-1]
        for name in order:
            times[name].append(runs[name]())
    bad = [f for f in finals if not isinstance(f, Finished)]
    median = {name: statistics.median(values) for name, values in times.items()}
    plain_s, engine_s = median["plain"], median["engine"]
    step_s = statistics.median(step_seconds) if step_seconds else None
    result = {
        "steps": steps,
        "plain_s": plain_s,
        "engine_s": engine_s,
        "ratio": engine_s / plain_s,
        "engine_no_previews_s": median["engine_no_previews"],
        **{f"{name}_runs_s": values for name, values in times.items()},
        **{f"first_{name}_s": seconds for name, seconds in first.items()},
        "engine_step_event_median_s": step_s,
        "engine_status": "ok" if not bad else f"{type(bad[0]).__name__}: {getattr(bad[0], 'message', bad[0])}",
    }
    if steps == FULL_STEPS:
        result["engine_20_steps_s"], result["engine_20_steps_source"] = engine_s, "measured"
    elif steps > 1 and step_s is not None and spec["guidance"] > 1:  # a model made for 20 steps, run fewer
        result["engine_20_steps_s"] = engine_s + (FULL_STEPS - steps) * step_s
        result["engine_20_steps_source"] = f"computed: engine s + {FULL_STEPS - steps} x step s"
    return result


def unet_backend(unet) -> str:
    """What answers the UNet's calls: "torch", or "openvino" where the CPU backend converted it
    (engine.cpu_backend; its first load's "load s" includes the conversion)."""
    from studio.engine.cpu_backend import backend_of

    return backend_of(unet)


def median_of(measure_once, count: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        measure_once()
    return statistics.median(measure_once() for _ in range(count))


def unet_call(pipe, size: int, guidance: float, device: str, dtype) -> None:
    import torch

    unet = pipe.unet
    batch = 2 if guidance > 1 else 1
    side = size // pipe.vae_scale_factor
    latents = torch.randn(batch, unet.config.in_channels, side, side, device=device, dtype=dtype)
    context = torch.randn(batch, 77, unet.config.cross_attention_dim, device=device, dtype=dtype)
    extra = {}
    if unet.config.addition_embed_type == "text_time":
        pooled = unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim
        extra["added_cond_kwargs"] = {
            "text_embeds": torch.randn(batch, pooled, device=device, dtype=dtype),
            "time_ids": torch.tensor([[size, size, 0, 0, size, size]] * batch, device=device, dtype=dtype),
        }
    unet(latents, torch.tensor(500, device=device), encoder_hidden_states=context, **extra)


def vae_decode_seconds(pipe, size: int, device: str, dtype, timed, repeats: int, warmup: int) -> tuple[float, str]:
    """One decode, upcast to float32 first where the pipeline would (SDXL's, with force_upcast)."""
    import torch

    vae = pipe.vae
    upcast = hasattr(pipe, "upcast_vae") and dtype == torch.float16 and bool(getattr(vae.config, "force_upcast", False))
    run_dtype = torch.float32 if upcast else dtype
    side = size // pipe.vae_scale_factor
    latents = torch.randn(1, vae.config.latent_channels, side, side, device=device, dtype=run_dtype)
    vae.to(run_dtype)
    try:
        seconds = median_of(lambda: timed(lambda: vae.decode(latents / vae.config.scaling_factor)), repeats, warmup)
    finally:
        vae.to(dtype)
    return seconds, str(run_dtype).replace("torch.", "")


# ---- parent ----

COLUMNS = (
    ("model", "{label}"),
    ("UNet by", "{unet_backend}"),
    ("size", "{size}²"),
    ("steps", "{steps}"),
    ("load s", "{load_s:.2f}"),
    ("UNet s/step", "{unet_step_s:.4f}"),
    ("VAE s", "{vae_decode_s:.3f}"),
    ("plain s", "{plain_s:.3f}"),
    ("engine s", "{engine_s:.3f}"),
    ("engine/plain", "{ratio:.3f}"),
    ("no-preview s", "{engine_no_previews_s:.3f}"),
    ("20 steps s", "{twenty}"),
    ("peak RSS MiB", "{peak_rss_mib:.0f}"),
    ("peak GPU MiB", "{peak_gpu}"),
)


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table, one line per model and step count."""
    cells = []
    for row in rows:
        if "error" in row:
            cells.append([row["label"], f"failed: {row['error']}"] + [""] * (len(COLUMNS) - 2))
            continue
        for run in row["runs"]:
            twenty = run.get("engine_20_steps_s")
            values = {
                "unet_backend": "torch",  # rows measured before the backend was recorded
                **row,
                **run,
                "peak_gpu": "-" if row["peak_gpu_mib"] is None else f"{row['peak_gpu_mib']:.0f}",
                "twenty": "-"
                if twenty is None
                else f"{twenty:.1f}" + (" (computed)" if run["engine_20_steps_source"] != "measured" else ""),
            }
            cells.append([fmt.format(**values) for _, fmt in COLUMNS])
    lines = ["| " + " | ".join(title for title, _ in COLUMNS) + " |"]
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(COLUMNS))) + "|")
    lines += ["| " + " | ".join(line) + " |" for line in cells]
    return "\n".join(lines)


def child(stage: str, args, folder: Path) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result = Path(handle.name)
    command = [
        sys.executable,
        __file__,
        "--child",
        stage,
        "--child-model",
        args.child_model or "",
        "--child-folder",
        str(folder),
        "--child-result",
        str(result),
        "--device",
        args.device,
        "--dtype",
        args.dtype,
        "--repeats",
        str(args.repeats),
    ]
    command += (
        ["--tiny"] * args.tiny
        + ["--quick"] * args.quick
        + ["--offload"] * args.offload
        + (["--steps", str(args.steps)] if args.steps else [])
    )
    done = subprocess.run(command, capture_output=True, text=True)
    try:
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            sys.stderr.write(done.stderr[-3000:])
            return {"error": f"{stage}: {last}"}
        return json.loads(result.read_text())
    finally:
        result.unlink(missing_ok=True)


def machine(device: str, dtype: str) -> dict:
    import diffusers
    import torch
    import transformers

    info = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(sys.argv),
        "device": device,
        "weights_dtype": dtype,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "weights": "random (architecture numbers of the public configs; nothing downloaded)",
        "load": "Studio's Engine.load on a saved folder whose files were fsynced, then dropped from the page cache",
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", choices=("fp16", "fp32"), help="weights written: fp16 on CUDA, fp32 elsewhere")
    parser.add_argument("--models", default="sd15,sdturbo,sdxl")
    parser.add_argument(
        "--steps", type=int, help="steps for every model (default: 20, SD-Turbo 1 and 4; quick: 4, SD-Turbo 1 and 4)"
    )
    parser.add_argument("--repeats", type=int, help="measured rounds (default: 3; 1 in the quick profile)")
    profile = parser.add_mutually_exclusive_group()
    profile.add_argument("--quick", action="store_true", default=None, help="the CPU profile (default on a CPU)")
    profile.add_argument("--full", dest="quick", action="store_false", help="the whole profile (default elsewhere)")
    parser.add_argument("--out")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--offload", action="store_true", help="model CPU offload (CUDA; see engine.devices)")
    for hidden in ("--child", "--child-model", "--child-folder", "--child-result"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        folder = Path(args.child_folder)
        if args.child == "build":
            result = build(args.child_model, args.tiny, args.device, args.dtype, folder)
        else:
            result = measure(
                args.child_model,
                args.tiny,
                args.device,
                folder,
                args.steps,
                args.repeats,
                bool(args.quick),
                args.offload,
            )
        Path(args.child_result).write_text(json.dumps(result))
        return

    from studio.engine.devices import pick_device

    args.device = pick_device(None if args.device == "auto" else args.device)
    args.dtype = args.dtype or ("fp16" if args.device.startswith("cuda") else "fp32")
    if args.quick is None:
        args.quick = args.device == "cpu"
    args.repeats = args.repeats or (1 if args.quick else 3)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}; choose from {', '.join(MODELS)}")
    out = Path(args.out or ROOT / "bench" / "results" / f"scale-{args.device.split(':')[0]}{'-tiny' * args.tiny}.json")
    profile = {"profile": "quick" if args.quick else "full", "offload": args.offload}
    report = {"machine": {**machine(args.device, args.dtype), **profile}, "rows": []}
    print(
        " ".join(
            f"{k}: {v}"
            for k, v in report["machine"].items()
            if k in ("device", "gpu", "weights_dtype", "torch", "diffusers", "cpu_count", "profile", "offload")
        ),
        flush=True,
    )
    for name in names:
        args.child_model = name
        row = {"model": name, "label": MODELS[name]["label"]}
        folder = Path(tempfile.mkdtemp(prefix=f"studio-scale-{name}-"))
        try:
            row.update(child("build", args, folder))
            if "error" not in row:
                row.update(child("measure", args, folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        report["rows"].append(row)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        shown = {k: v for k, v in row.items() if k != "runs"}
        shown["runs"] = [{k: v for k, v in run.items() if not k.endswith("runs_s")} for run in row.get("runs", [])]
        print(f"{name}: " + json.dumps(shown), flush=True)
    report["table"] = table(report["rows"])
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print()
    print(report["table"])
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
