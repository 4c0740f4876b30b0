# pyright: standard
"""What a single weights file is, read from its tensors' names and shapes, never its file name.

A safetensors file is recognised from its header alone (names, shapes, metadata), without
loading weights: a Stable Diffusion checkpoint in the original layout (SD 1.x, SD 2.x, SDXL,
their 9-channel inpainting variants), or something else that is named in the message (a LoRA,
an embedding, a VAE, a ControlNet, ...). Pickled files (.ckpt, .pt, .bin) are recognised by
their first bytes and never unpickled here.

SD 2.x checkpoints come as epsilon (512 px, "base") or v-prediction (768 px) models and the
layout is the same for both. The prediction is taken from what the file says (a `v_pred` key,
as ComfyUI and Forge write it, or `modelspec.prediction_type` in the metadata); failing that,
from the spread of one small tensor, the bias of the last output block's first norm: it is
above 0.09 in the published v-prediction models and below in the epsilon ones (the rule
ComfyUI uses). `--prediction v|epsilon` overrides it.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from studio.errors import ModelError

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
MAX_HEADER = 100 * 1024 * 1024
UNET = "model.diffusion_model."
V_RULE_TENSOR = UNET + "output_blocks.11.1.transformer_blocks.0.norm1.bias"
V_RULE_SPREAD = 0.09
SIDES = {"sd1": 512, "sdxl": 1024}
FAMILY_NAMES = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL"}
# Few-step models: what their makers publish as the settings that work.
SPEED_WORDS = ("lcm", "turbo", "lightning", "hyper")


@dataclass(frozen=True)
class Header:
    """A safetensors file's table of contents: tensor name -> (dtype, shape, offsets), and metadata."""

    path: Path
    tensors: dict[str, tuple[str, tuple[int, ...], tuple[int, int]]]
    metadata: dict[str, str]
    data_start: int

    def shape(self, name: str) -> tuple[int, ...] | None:
        entry = self.tensors.get(name)
        return entry[1] if entry else None

    def has_prefix(self, prefix: str) -> bool:
        return any(name.startswith(prefix) for name in self.tensors)


@dataclass(frozen=True)
class Checkpoint:
    """A Stable Diffusion checkpoint file in the original single-file layout."""

    family: str  # sd1, sd2, sdxl
    inpaint: bool
    prediction: str  # epsilon or v_prediction
    prediction_source: str  # what decided it: "the file", "the rule", "your setting"
    speed: str | None  # lcm, turbo, lightning, hyper, or None for an ordinary model
    metadata: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def config_name(self) -> str:
        """The shipped config folder this checkpoint loads with."""
        return self.family + ("-inpaint" if self.inpaint else "")

    @property
    def side(self) -> int:
        """The square size the model was trained at."""
        if self.family == "sd2":
            return 768 if self.prediction == "v_prediction" else 512
        return SIDES[self.family]

    @property
    def description(self) -> str:
        text = FAMILY_NAMES[self.family] + (" inpainting" if self.inpaint else "")
        if self.prediction == "v_prediction":
            text += ", v-prediction"
        return text


def is_pickle(path: Path) -> bool:
    """True for PyTorch's zip format and for plain pickles (by their first bytes)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
    except OSError:
        return False
    if head[8:9] == b"{":  # safetensors: an 8-byte header length, then the JSON header
        return False
    return head[:2] == b"PK" or (len(head) >= 2 and head[0] == 0x80 and head[1] <= 5)


def is_pickle_file(path: Path) -> bool:
    """A pickle by its name (.ckpt, .pt, .pth, .bin) or, whatever its name, by its first bytes."""
    return path.suffix.lower() in PICKLE_SUFFIXES or is_pickle(path)


def pickle_message(path: Path) -> str:
    return (
        f"{path} is a Python pickle ({path.suffix or 'no extension'}), a format that can run code when it "
        f"is loaded, so Studio does not load it; convert it once with: studio models convert {path}"
    )


def read_header(path: Path) -> Header:
    """The header of safetensors file `path`; a damaged or truncated one gives a ModelError."""
    try:
        total = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(8)
            size = int.from_bytes(head, "little") if len(head) == 8 else -1
            if size <= 1 or size > min(total - 8, MAX_HEADER):
                raise ValueError("bad header")
            raw = json.loads(handle.read(size))
        if not isinstance(raw, dict):
            raise ValueError("bad header")
        metadata = raw.pop("__metadata__", None) or {}
        tensors = {}
        for name, entry in raw.items():
            start, end = entry["data_offsets"]
            shape = tuple(int(n) for n in entry["shape"])
            tensors[str(name)] = (str(entry["dtype"]), shape, (int(start), int(end)))
        end = max((entry[2][1] for entry in tensors.values()), default=0)
        if 8 + size + end > total:
            raise ValueError("truncated")
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError) as exc:
        reason = "it is truncated" if str(exc) == "truncated" else "it is not a valid safetensors file"
        raise ModelError(f"{path} is damaged: {reason}") from None
    metadata = {str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {}
    return Header(path, tensors, metadata, 8 + size)


def read_tensor(header: Header, name: str):
    """One tensor of the file as a float32 numpy array (small tensors only: it reads the bytes)."""
    import numpy as np

    dtype, shape, (start, end) = header.tensors[name]
    with open(header.path, "rb") as handle:
        handle.seek(header.data_start + start)
        data = handle.read(end - start)
    if dtype == "BF16":
        values = (np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        numpy_types = {"F16": "<f2", "F32": "<f4", "F64": "<f8"}
        if dtype not in numpy_types:
            raise ModelError(f"{header.path}: tensor {name} has type {dtype}, not floating point")
        values = np.frombuffer(data, dtype=numpy_types[dtype]).astype(np.float32)
    return values.reshape(shape)


def inspect_checkpoint(path: Path, prediction: str | None = None) -> Checkpoint:
    """Recognise checkpoint `path`, or say what it is instead. `prediction` overrides the file's."""
    path = Path(path)
    if is_pickle_file(path):
        raise ModelError(pickle_message(path))
    header = read_header(path)
    family = _family(header)
    first_conv = header.shape(UNET + "input_blocks.0.0.weight")
    if first_conv is None or len(first_conv) != 4:
        raise ModelError(f"{path} looks like a {FAMILY_NAMES[family]} checkpoint but has no UNet input layer")
    if first_conv[1] not in (4, 9):
        raise ModelError(
            f"{path} is a {FAMILY_NAMES[family]} checkpoint with a {first_conv[1]}-channel UNet input; "
            f"Studio runs 4-channel models and 9-channel inpainting models"
        )
    if prediction is not None:
        chosen, source = _prediction_name(prediction), "your setting"
    else:
        chosen, source = _prediction(header, family)
    return Checkpoint(
        family=family,
        inpaint=first_conv[1] == 9,
        prediction=chosen,
        prediction_source=source,
        speed=speed_from_metadata(header.metadata),
        metadata=header.metadata,
    )


def _prediction_name(value: str) -> str:
    value = value.strip().lower()
    if value in ("v", "v_prediction", "v-prediction"):
        return "v_prediction"
    if value in ("eps", "epsilon"):
        return "epsilon"
    raise ModelError(f"prediction must be 'v' or 'epsilon', not {value!r}")


def _prediction(header: Header, family: str) -> tuple[str, str]:
    if "v_pred" in header.tensors:
        return "v_prediction", "the file"
    said = header.metadata.get("modelspec.prediction_type", "").strip().lower()
    if said in ("v", "v_prediction", "v-prediction", "epsilon", "eps"):
        return _prediction_name(said), "the file"
    if family != "sd2" or V_RULE_TENSOR not in header.tensors:
        return "epsilon", "the rule"
    spread = float(read_tensor(header, V_RULE_TENSOR).std())
    return ("v_prediction" if spread > V_RULE_SPREAD else "epsilon"), "the rule"


def speed_from_metadata(metadata: dict[str, str]) -> str | None:
    """lcm, turbo, lightning or hyper when the model's own description says so."""
    said = " ".join(
        value.lower()
        for key, value in metadata.items()
        if key in ("modelspec.title", "modelspec.description", "modelspec.tags", "studio.speed", "title", "tags")
    )
    return next((word for word in SPEED_WORDS if word in said), None)


def _family(header: Header) -> str:
    found = header.has_prefix
    if found("conditioner.embedders.0.model.") and not found("conditioner.embedders.1."):
        raise ModelError(f"{header.path} is an SDXL refiner, which Studio does not run on its own")
    if found("conditioner.embedders.") and found(UNET):
        return "sdxl"
    if found("cond_stage_model.model.") and found(UNET):
        return "sd2"
    if found("cond_stage_model.transformer.") and found(UNET):
        return "sd1"
    raise ModelError(f"{header.path} is not a Stable Diffusion checkpoint: {describe(header)}")


_OTHER_KINDS = (
    (("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_"), "it holds a LoRA (kohya-ss layout)"),
    ((".lora_down.", ".lora_up.", ".lora_A.", ".lora_B.", "lora.down", "lora.up"), "it holds a LoRA"),
    (("emb_params", "string_to_param", "clip_l", "clip_g"), "it holds a textual-inversion embedding"),
    (("control_model.", "input_hint_block"), "it holds a ControlNet"),
    (("model.diffusion_model.joint_blocks.",), "it holds an SD3 model, which Studio does not run yet"),
    (
        ("double_blocks.", "model.diffusion_model.double_blocks."),
        "it holds a Flux model, which Studio does not run yet",
    ),
    (("first_stage_model.",), "it holds only a VAE (first_stage_model) and no UNet"),
    (("encoder.down.", "decoder.up.", "encoder.down_blocks.", "decoder.up_blocks."), "it holds a VAE"),
    (("conv_first.", "model.0.weight", "body."), "it holds an upscaler"),
    (("down_blocks.", "up_blocks.", "mid_block."), "it holds a diffusers UNet alone, not a whole checkpoint"),
    (("text_model.", "cond_stage_model.", "conditioner."), "it holds a text encoder and no UNet"),
    ((UNET,), "it holds a UNet of a layout Studio does not know"),
)


def describe(header: Header) -> str:
    """What a safetensors file holds instead of a checkpoint, for the message that refuses it."""
    names = list(header.tensors)
    if not names:
        return "it holds no tensors"
    for markers, text in _OTHER_KINDS:
        if any(marker in name for name in names for marker in markers):
            return text
    sample = ", ".join(sorted(names)[:3])
    return f"{len(names)} tensors of an unknown layout (e.g. {sample})"


def pack_header(tensors: dict[str, tuple[str, tuple[int, ...]]], metadata: dict[str, str] | None = None) -> bytes:
    """A safetensors header with zero-filled data, for files that only need names and shapes (tests, benches)."""
    sizes = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1}
    table: dict = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        count = 1
        for n in shape:
            count *= n
        table[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + count * sizes[dtype]]}
        offset += count * sizes[dtype]
    raw = json.dumps(table).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(offset)
