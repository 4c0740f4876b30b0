# pyright: standard
"""The UNet on the CPU through OpenVINO, when it is installed (`studio[openvino]`).

`bench/cpu_backends.py` chose it (bench/results/cpu-backends.json): on the SD 1.5 UNet at
512x512 (batch 2), side by side with torch eager fp32 on this 2-core AVX512-BF16 machine, it ran
2.11x as fast (median of 3; 1.53x in another run), its output 50.6 dB PSNR from eager's, where
bf16 autocast gave 1.64x, ONNX Runtime 1.16x, channels-last 1.10x and OpenVINO in f32 1.05x.
It is used on the CPU for UNets of full size (`MIN_PARAMETERS`; a tiny model gains nothing worth
a conversion). Where OpenVINO is not installed or declines the UNet, a CPU that computes bf16
natively runs the UNet in bf16 autocast instead (`cpu_bf16`: 1.64x, 57.6 dB), by the same size
rule; any other CPU keeps torch fp32. $STUDIO_CPU_BACKEND says otherwise: `torch` uses neither,
`openvino` or `bf16` uses that one for any model (`candidates`).

The loaded pipeline keeps its own UNet: only that UNet's `forward` is replaced, on the
instance, so the pipelines made from it (img2img, inpaint, outpaint), LoRA loading, previews,
cancel and events see the same module. A call the converted UNet cannot answer the same way
goes to torch instead: a LoRA fused into the weights, extra inputs (ControlNet residuals,
timestep_cond, SDXL's added conditions), latents that are not a multiple of the UNet's
down-sampling, or another dtype.

The converted UNet (OpenVINO IR, weights stored as fp16) is cached under
DATA_DIR/cache/openvino/<key>/, the key being a hash of the UNet's weights and config and
of the versions that made it, so only a model's first load pays for the conversion; a
cache that cannot be read is converted again, with a warning in the log.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

BACKEND_ENV = "STUDIO_CPU_BACKEND"
CHOICES = ("auto", "torch", "openvino", "bf16")
MIN_PARAMETERS = 200_000_000  # auto: full-size UNets only (SD 1.5 has 860 M)
FORMAT = 1  # of the cached folder; raise it when what is cached changes
IR_NAME = "unet.xml"
META_NAME = "studio.json"  # written last: a folder without it is an unfinished conversion


@dataclass
class _Settings:
    folder: Path | None = None  # None: DATA_DIR/cache/openvino


_settings = _Settings()


def use_cpu_backend_cache(folder: Path | None) -> None:
    """Where converted UNets are cached (None: DATA_DIR/cache/openvino)."""
    _settings.folder = folder


def cache_folder() -> Path:
    if _settings.folder is not None:
        return _settings.folder
    from studio.paths import data_dir

    return data_dir() / "cache" / "openvino"


def chosen() -> str:
    """$STUDIO_CPU_BACKEND, "auto" when unset; an unknown value is warned about and read as auto."""
    value = os.environ.get(BACKEND_ENV, "").strip().lower() or "auto"
    if value not in CHOICES:
        log.warning("%s=%s is not one of %s; using auto", BACKEND_ENV, value, ", ".join(CHOICES))
        return "auto"
    return value


def openvino_installed() -> bool:
    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):
        return False


def candidates(choice: str, device: str, openvino: bool, native_bf16: bool) -> tuple[str, ...]:
    """The backends to try, in order, for the UNet of a model on `device`, given the `choice`
    ($STUDIO_CPU_BACKEND), whether OpenVINO is installed and whether the CPU computes bf16
    natively; none: torch fp32. Auto prefers OpenVINO and falls back to bf16 autocast only where
    bf16 is native (emulated, it is slower than fp32); a forced choice is honoured where it can run."""
    if choice == "torch" or device.split(":")[0] != "cpu":
        return ()
    if choice == "openvino":
        return ("openvino",) if openvino else ()
    if choice == "bf16":
        return ("bf16",)
    return (("openvino",) if openvino else ()) + (("bf16",) if native_bf16 else ())


@dataclass
class BackendPlan:
    """What the loader does for the CPU backend: `tries` are the backends to try in order (see
    `candidates`), `weights` their steps in the load's progress (OpenVINO's conversion; bf16 costs
    nothing), `attach` swaps the UNet's forward after the pipeline is built."""

    weights: list[int] = field(default_factory=list)
    forced: bool = False
    tries: tuple[str, ...] = ()
    native_bf16: bool = False  # the CPU computes bf16: a full-size model's VAE decodes in it (see cpu_bf16)

    def attach(self, pipe, step: Callable[[str], None]) -> str:
        """Run the pipeline's UNet through the first backend of the plan that takes it; returns the
        backend in use ("openvino", "bf16" or "torch"), which the load's progress and log also say."""
        unet = getattr(pipe, "unet", None)
        self._vae(pipe, unet)
        for backend in self.tries:
            if backend == "openvino" and self._openvino(unet, step):
                return "openvino"
            if backend == "bf16" and self._bf16(unet, step):
                return "bf16"
        return "torch"

    def _vae(self, pipe, unet) -> None:
        from studio.engine import cpu_bf16

        forced = self.forced and "bf16" in self.tries  # $STUDIO_CPU_BACKEND=bf16: any model
        vae = getattr(pipe, "vae", None)
        if not (self.native_bf16 or forced) or vae is None or not hasattr(vae, "parameters"):
            return
        if next(vae.parameters()).dtype != _float32() or bf16_unsupported(unet, forced):
            return
        cpu_bf16.install_decode(vae)
        log.info("the VAE decodes in bf16 autocast on the CPU")

    def _openvino(self, unet, step: Callable[[str], None]) -> bool:
        reason = unsupported(unet, self.forced)
        if reason:
            (log.warning if self.forced else log.info)("OpenVINO does not take the UNet: %s", reason)
            return False
        try:
            compiled = compiled_unet(unet, cache_folder(), step)
        except Exception:
            log.warning("OpenVINO could not take the UNet", exc_info=True)
            return False
        install(unet, compiled)
        return True

    def _bf16(self, unet, step: Callable[[str], None]) -> bool:
        from studio.engine import cpu_bf16

        reason = bf16_unsupported(unet, self.forced)
        if reason:
            (log.warning if self.forced else log.info)("the UNet stays on torch fp32: %s", reason)
            return False
        step("the UNet in bf16 on the CPU")
        cpu_bf16.install(unet)
        log.info("the UNet runs in bf16 autocast on the CPU (%s)", "forced" if self.forced else "OpenVINO not used")
        return True


def backend_plan(device: str, unet_bytes: int) -> BackendPlan:
    """The plan for a model on `device` (as `devices.pick_device` chose it) whose weights are about
    `unet_bytes` (the UNet's file, or the whole checkpoint)."""
    from studio.engine.cpu_bf16 import bf16_native
    from studio.engine.load_progress import weight_of

    choice = chosen()
    if choice == "torch" or device.split(":")[0] != "cpu":
        return BackendPlan()
    openvino = openvino_installed()
    native = bf16_native()
    if choice == "openvino" and not openvino:
        log.warning(
            "%s=openvino, but OpenVINO is not installed (pip install 'studio[openvino]'); using torch", BACKEND_ENV
        )
    if choice == "bf16" and not native:
        log.warning("%s=bf16 on a CPU without native bf16: emulated, it is likely slower than torch fp32", BACKEND_ENV)
    tries = candidates(choice, device, openvino, native)
    weights = [2 * weight_of(unet_bytes)] if "openvino" in tries else []
    return BackendPlan(weights, forced=choice != "auto", tries=tries, native_bf16=native)


def _over_size(unet, forced: bool) -> str:
    if not forced and sum(p.numel() for p in unet.parameters()) < MIN_PARAMETERS:
        return f"under {MIN_PARAMETERS // 1_000_000} M parameters (set {BACKEND_ENV} to use a backend anyway)"
    return ""


def unsupported(unet, forced: bool) -> str:
    """Why this UNet is not converted for OpenVINO ("" when it is)."""
    if unet is None or type(unet).__name__ != "UNet2DConditionModel":
        return f"{type(unet).__name__} is not a UNet2DConditionModel"
    config = unet.config
    if config.get("addition_embed_type") or config.get("class_embed_type") or config.get("time_cond_proj_dim"):
        return "it takes extra conditions (SDXL, class or LCM timestep embeddings)"
    if next(unet.parameters()).dtype.is_floating_point and next(unet.parameters()).dtype != _float32():
        return f"its weights are {next(unet.parameters()).dtype}"
    return _over_size(unet, forced)


def bf16_unsupported(unet, forced: bool) -> str:
    """Why this UNet is not run in bf16 autocast ("" when it is): any UNet of fp32 weights, by the size rule."""
    if unet is None or not hasattr(unet, "parameters"):
        return "the pipeline has no UNet"
    dtype = next(unet.parameters()).dtype
    if dtype != _float32():
        return f"its weights are {dtype}"
    return _over_size(unet, forced)


def _float32():
    import torch

    return torch.float32


# ---- the cache ----


def cache_key(unet) -> str:
    """A hash of the UNet's weights and config, and of the versions of what converts it."""
    import diffusers
    import openvino
    import torch

    digest = hashlib.sha256()
    made_by = {"format": FORMAT, "openvino": openvino.get_version(), "torch": torch.__version__}
    made_by["diffusers"] = diffusers.__version__
    digest.update(json.dumps([made_by, dict(unet.config)], sort_keys=True, default=str).encode())
    for name, tensor in unet.state_dict().items():
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(memoryview(tensor.detach().contiguous().view(torch.uint8).reshape(-1).numpy()))
    return digest.hexdigest()[:32]


def compiled_unet(unet, root: Path, step: Callable[[str], None]):
    """The UNet compiled for OpenVINO's CPU plugin: read from the cache, or converted and cached."""
    import openvino

    folder = root / cache_key(unet)
    core = openvino.Core()
    if (folder / META_NAME).is_file():
        step("loading the OpenVINO UNet")
        try:
            meta = json.loads((folder / META_NAME).read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT:
                raise ValueError(f"cache format {meta.get('format')}, not {FORMAT}")
            compiled = core.compile_model(core.read_model(folder / IR_NAME), "CPU")
            log.info("the OpenVINO UNet came from the cache %s", folder)
            return compiled
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            log.warning("the cached OpenVINO UNet in %s cannot be read (%s); converting it again", folder, first)
    else:
        step("converting the UNet for OpenVINO (first load only)")
    model = convert(unet)
    save(model, folder)
    return core.compile_model(model, "CPU")


def convert(unet):
    """The UNet as an OpenVINO model, inputs (sample, timestep, encoder_hidden_states) of dynamic shape."""
    import openvino
    import torch

    config = unet.config
    side = 8 * 2 ** (len(config.block_out_channels) - 1)
    example = (
        torch.randn(2, config.in_channels, side, side),
        torch.full((2,), 500.0),
        torch.randn(2, 77, config.cross_attention_dim),
    )
    with torch.no_grad():
        model = openvino.convert_model(plain_call(unet), example_input=example)
    for port, name in zip(model.inputs, ("sample", "timestep", "encoder_hidden_states")):
        port.get_tensor().set_names({name})
    return model


def save(model, folder: Path) -> None:
    """Write the model into `folder` whole or not at all: a temporary folder renamed into place."""
    import openvino

    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = folder.with_name(folder.name + f".partial-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        openvino.save_model(model, temporary / IR_NAME)  # weights compressed to fp16
        meta = {"format": FORMAT, "openvino": openvino.get_version()}
        (temporary / META_NAME).write_text(json.dumps(meta), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(temporary, folder)
        log.info("the OpenVINO UNet was converted and cached in %s", folder)
    except OSError:
        log.warning(
            "the converted UNet could not be cached in %s; the next load converts it again", folder, exc_info=True
        )
        shutil.rmtree(temporary, ignore_errors=True)


def _make_plain():
    import torch

    class Plain(torch.nn.Module):
        """The UNet's call as the converted model sees it: three tensors in, the noise prediction out."""

        def __init__(self, unet):
            super().__init__()
            self.unet = unet

        def forward(self, sample, timestep, encoder_hidden_states):
            return type(self.unet).forward(self.unet, sample, timestep, encoder_hidden_states, return_dict=False)[0]

    return Plain


def plain_call(unet):
    """`unet` as a module of three tensors in, the noise prediction out (the class is made on first
    use, so that torch is imported lazily)."""
    return _make_plain()(unet)


# ---- the swapped forward ----


def install(unet, compiled) -> None:
    """Route `unet`'s calls through `compiled` where it answers them the same way."""
    unet.forward = OpenVinoForward(unet, compiled)


def uninstall(unet) -> None:
    from studio.engine.cpu_bf16 import Bf16Forward

    if isinstance(unet.__dict__.get("forward"), (OpenVinoForward, Bf16Forward)):
        del unet.forward


def backend_of(unet) -> str:
    """The backend answering `unet`'s calls: "openvino" or "bf16" once installed, else "torch"."""
    from studio.engine.cpu_bf16 import Bf16Forward

    forward = getattr(unet, "__dict__", {}).get("forward")
    if isinstance(forward, OpenVinoForward):
        return "openvino"
    return "bf16" if isinstance(forward, Bf16Forward) else "torch"


_EXTRAS = (
    "class_labels",
    "timestep_cond",
    "attention_mask",
    "added_cond_kwargs",
    "down_block_additional_residuals",
    "mid_block_additional_residual",
    "down_intrablock_additional_residuals",
    "encoder_attention_mask",
)


class OpenVinoForward:
    """UNet2DConditionModel.forward's signature, answered by the compiled model or by torch."""

    def __init__(self, unet, compiled):
        self.unet = unet
        self.compiled = compiled
        self.calls = {"openvino": 0, "torch": 0}
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()
        self._factor = 2 ** (len(unet.config.block_out_channels) - 1)

    def __call__(self, sample, timestep, encoder_hidden_states, *args: Any, **kwargs: Any):
        import torch

        return_dict = kwargs.pop("return_dict", True)
        reason = self._torch_reason(sample, encoder_hidden_states, args, kwargs)
        if reason:
            self.calls["torch"] += 1
            return type(self.unet).forward(
                self.unet, sample, timestep, encoder_hidden_states, *args, return_dict=return_dict, **kwargs
            )
        steps = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1).expand(sample.shape[0])
        inputs = [t.detach().contiguous().numpy() for t in (sample, steps.contiguous(), encoder_hidden_states)]
        with self._lock:
            result = self._request.infer(inputs)
        out = torch.from_numpy(result[0].copy())
        self.calls["openvino"] += 1
        if not return_dict:
            return (out,)
        from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput

        return UNet2DConditionOutput(sample=out)

    def _torch_reason(self, sample, text, args, kwargs) -> str:
        import torch

        if args or any(kwargs.get(name) is not None for name in _EXTRAS):
            return "extra inputs"
        if kwargs.get("cross_attention_kwargs"):
            return "cross-attention arguments"
        if set(kwargs) - set(_EXTRAS) - {"cross_attention_kwargs"}:
            return "unknown arguments"
        if sample.dtype != torch.float32 or text.dtype != torch.float32 or sample.device.type != "cpu":
            return "dtype or device"
        if sample.shape[-1] % self._factor or sample.shape[-2] % self._factor or sample.shape[0] >= 64:
            return "shape"
        if torch.is_grad_enabled() and (sample.requires_grad or text.requires_grad):
            return "gradients"
        if lora_active(self.unet):
            return "a LoRA is active"
        return ""


def lora_active(unet) -> bool:
    """Whether a PEFT adapter changes what the UNet computes (merged into the weights, or applied)."""
    if not getattr(unet, "_hf_peft_config_loaded", False):
        return False
    from peft.tuners.tuners_utils import BaseTunerLayer

    return any(
        isinstance(m, BaseTunerLayer) and (m.merged or (not m.disable_adapters and bool(m.active_adapters)))
        for m in unet.modules()
    )
