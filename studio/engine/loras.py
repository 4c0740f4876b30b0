# pyright: standard
"""LoRAs named in a prompt (`<lora:NAME:WEIGHT>`), applied to the loaded model through diffusers.

`activate(model, wanted)` finds each LoRA by its library name (`models.find_resource`), checks
that it is a safetensors LoRA of the model's family (before the pipeline is touched), loads
the ones not loaded yet as PEFT adapters (diffusers reads the kohya-ss/AUTOMATIC1111 and the
diffusers/PEFT layouts, UNet and text encoders alike) and makes exactly those active with
their weights. Adapters stay loaded on the `LoadedModel` between jobs, keyed by file, time
and size, so a new weight costs no load and the base model is never reloaded.

The active LoRAs are fused into the weights of the layers they change (PEFT's own `merge`
of each such layer), so a job's steps cost what they cost without LoRAs. The original weights of
those layers are kept (in main memory) the first time, and put back exactly before the next
change, so a job with no LoRA (every adapter then disabled) draws the base model's own
pixels, never a rounding away from them. A job with the same LoRAs and weights as the one
before changes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.engine.checkpoints import Header, is_pickle_file, pickle_message, read_header
from studio.engine.loader import LoadedModel
from studio.engine.models import find_resource
from studio.errors import ModelError

log = logging.getLogger(__name__)

KEPT = 4  # adapters kept loaded between jobs (each one kept makes loading the next slower); the least recently used beyond these are deleted
_FAMILIES = {768: "SD 1.x", 1024: "SD 2.x", 2048: "SDXL"}
_MODEL_FAMILIES = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL"}
_LORA_PARTS = (".lora_down.", ".lora_up.", ".lora_A.", ".lora_B.", ".lora.down.", ".lora.up.", "_lora.down.")
_SECOND_ENCODER = ("lora_te2_", "text_encoder_2.", "te2.")
_CROSS_KEYS = ("attn2_to_k", "attn2.to_k", "attn2.processor.to_k", "attn2_to_v", "attn2.to_v")
_DOWN = ("lora_down", "lora_A", "lora.down", "_lora.down")

Key = tuple[str, int, int]


@dataclass
class _Fusion:
    """What is fused into a pipeline's weights now, and the original weights of the layers LoRAs change."""

    state: tuple[tuple[Key, float], ...] = ()  # the LoRAs fused and their weights; () when none
    changed: list = field(default_factory=list)  # the layers the fused LoRAs changed
    originals: dict = field(default_factory=dict)  # layer -> its base weight before any LoRA, on the CPU
    layers: dict[str, list] = field(default_factory=dict)  # adapter -> the PEFT layers it holds weights in
    disabled: bool = False  # every adapter disabled (diffusers' disable_lora) since the last job with LoRAs


_fusions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class LoraUse:
    """One LoRA a job uses: its library name, weight, short hash ("" until hashed) and file."""

    name: str
    weight: float
    short_hash: str
    path: Path


def activate(model: LoadedModel, wanted: list[tuple[str, float]], kept: int = KEPT) -> tuple[LoraUse, ...]:
    """Make exactly the LoRAs `wanted` ((name, weight), in prompt order) active on `model`.

    A name given twice is one LoRA with the weights added. Every LoRA is found and checked
    before anything changes; a missing or unusable one is a ModelError naming it."""
    uses = _merged([_find(name, weight) for name, weight in wanted])
    keys = [_check(model, use) for use in uses]
    pipe = model.pipe
    fusion = _fusions.setdefault(pipe, _Fusion())
    state = tuple(zip(keys, [use.weight for use in uses]))
    if state and state == fusion.state and all(key in model.loras for key in keys):
        return tuple(uses)
    _unfuse(fusion)
    if not uses:
        if model.loras and not fusion.disabled:
            pipe.disable_lora()
            fusion.disabled = True
        return ()
    adapters = []
    for use, key in zip(uses, keys):
        _forget_changed(model, key)
        adapter = model.loras.pop(key, None) or _load(model, use)
        model.loras[key] = adapter  # last in the dict: most recently used
        adapters.append(adapter)
    _evict(model, set(adapters), kept)
    if fusion.disabled:
        pipe.enable_lora()
        fusion.disabled = False
    pipe.set_adapters(adapters, [use.weight for use in uses])
    _fuse(pipe, fusion, adapters, state)
    return tuple(uses)


def _fuse(pipe, fusion: _Fusion, adapters: list[str], state: tuple) -> None:
    """Fuse the active adapters into the weights, keeping the original weights of the layers they change."""
    changed: dict[Any, list[str]] = {}
    for adapter in adapters:
        if adapter not in fusion.layers:
            fusion.layers[adapter] = _layers_of(pipe, adapter)
        for layer in fusion.layers[adapter]:
            changed.setdefault(layer, []).append(adapter)
    for layer in changed:
        if layer not in fusion.originals:
            fusion.originals[layer] = _base_weight(layer).detach().to("cpu", copy=True)
    fusion.changed = list(changed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for layer, names in changed.items():
            layer.merge(adapter_names=names)
    fusion.state = state


def _layers_of(pipe, adapter: str) -> list:
    from peft.tuners.tuners_utils import BaseTunerLayer

    found = []
    for part in ("unet", "text_encoder", "text_encoder_2"):
        component = getattr(pipe, part, None)
        for layer in component.modules() if component is not None else ():
            if isinstance(layer, BaseTunerLayer) and adapter in getattr(layer, "lora_A", {}):
                found.append(layer)
    return found


def _base_weight(layer: Any):
    return layer.get_base_layer().weight


def _unfuse(fusion: _Fusion) -> None:
    """Take the fused LoRAs out of the weights: PEFT's unmerge, then the original weights exactly."""
    if not fusion.state:
        return
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for layer in fusion.changed:
            layer.unmerge()
    with torch.no_grad():
        for layer in fusion.changed:
            _base_weight(layer).copy_(fusion.originals[layer])
    fusion.state, fusion.changed = (), []


def _find(name: str, weight: float) -> LoraUse:
    found = find_resource("loras", name)
    if found is None:
        raise ModelError(f"no LoRA named {name!r} in the library ({_where()})")
    path, short_hash = found
    return LoraUse(name, float(weight), short_hash, Path(path))


def _where() -> str:
    from studio.engine import models

    folder = getattr(models._resource_finder, "folder", None)  # the library's finder knows its folder
    return str(folder("loras")) if callable(folder) else "DATA_DIR/models/loras"


def _merged(uses: list[LoraUse]) -> list[LoraUse]:
    """One use per file, in the order first named, its weights added."""
    merged: dict[Path, LoraUse] = {}
    for use in uses:
        before = merged.get(use.path)
        merged[use.path] = use if before is None else dataclasses.replace(before, weight=before.weight + use.weight)
    return list(merged.values())


def _check(model: LoadedModel, use: LoraUse) -> Key:
    """The LoRA's cache key, once its file is known to be a safetensors LoRA of the model's family."""
    path = use.path
    if path.is_dir():
        raise ModelError(f"LoRA {use.name!r} is a folder ({path}); Studio loads a LoRA from one .safetensors file")
    if is_pickle_file(path):
        raise ModelError(f"LoRA {use.name!r}: " + pickle_message(path))
    try:
        info = path.stat()
    except OSError as exc:
        raise ModelError(f"LoRA {use.name!r} cannot be read ({path}): {exc.strerror or exc}") from None
    header = read_header(path)
    if not any(any(part in name for part in _LORA_PARTS) for name in header.tensors):
        raise ModelError(f"{use.name!r} ({path}) holds no LoRA weights (no lora_down/lora_up or lora_A/lora_B tensors)")
    _check_family(model, use, header)
    return (str(path.resolve()), info.st_mtime_ns, info.st_size)


def _check_family(model: LoadedModel, use: LoraUse, header: Header) -> None:
    second, width = _lora_shape(header)
    pipe = model.pipe
    model_second = getattr(pipe, "text_encoder_2", None) is not None
    unet = getattr(pipe, "unet", None)
    model_width = getattr(getattr(unet, "config", None), "cross_attention_dim", None)
    if (second and not model_second) or (width is not None and width != model_width):
        lora = _family_words(second, width)
        own = _MODEL_FAMILIES.get(model.info.family) or _family_words(model_second, model_width)
        raise ModelError(
            f"LoRA {use.name!r} is for {lora} and the model {model.info.name!r} is {own}; "
            f"a LoRA works only with models of its own family"
        )


def _lora_shape(header: Header) -> tuple[bool, int | None]:
    """Whether the LoRA has weights for SDXL's second text encoder, and the width its UNet's
    cross-attention reads (the text encoders' output width), when it says."""
    names = header.tensors
    second = any(name.startswith(_SECOND_ENCODER) for name in names)
    for name, (_, shape, _) in names.items():
        if any(k in name for k in _CROSS_KEYS) and any(d in name for d in _DOWN) and len(shape) == 2:
            return second, shape[1]
    return second, None


def _family_words(second_encoder: bool, width) -> str:
    if second_encoder or width == 2048:
        return "SDXL"
    if width in _FAMILIES:
        return _FAMILIES[width]
    return f"a model whose cross-attention is {width} wide" if width else "an unknown family"


def _forget_changed(model: LoadedModel, key: Key) -> None:
    """Delete the adapter of an earlier version of this file (it changed on disk since)."""
    stale = [old for old in model.loras if old[0] == key[0] and old != key]
    if stale:
        _delete(model, [model.loras.pop(old) for old in stale])


def _evict(model: LoadedModel, in_use: set[str], kept: int) -> None:
    extra = len(model.loras) - max(kept, len(in_use))
    if extra <= 0:
        return
    gone = [key for key, adapter in model.loras.items() if adapter not in in_use][:extra]
    _delete(model, [model.loras.pop(key) for key in gone])


def _delete(model: LoadedModel, adapters: list[str]) -> None:
    """Delete adapters (none of them fused), and the originals of the layers no adapter changes any more."""
    with warnings.catch_warnings():  # PEFT says which adapter it makes active instead; set_adapters follows
        warnings.simplefilter("ignore", UserWarning)
        model.pipe.delete_adapters(adapters)
    fusion = _fusions.get(model.pipe)
    if fusion is not None:
        for adapter in adapters:
            fusion.layers.pop(adapter, None)
        for layer in [layer for layer in fusion.originals if not getattr(layer, "lora_A", None)]:
            del fusion.originals[layer]


def _load(model: LoadedModel, use: LoraUse) -> str:
    """Load the LoRA as a new adapter; its name is returned. A failure leaves no part of it loaded."""
    pipe = model.pipe
    adapter = _new_adapter_name(model)
    try:
        with warnings.catch_warnings():  # PEFT warns each time a model gets a second adapter
            warnings.simplefilter("ignore", UserWarning)
            pipe.load_lora_weights(str(use.path), adapter_name=adapter)
    except Exception as exc:
        log.info("loading LoRA %s from %s failed", use.name, use.path, exc_info=True)
        _drop(pipe, adapter)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"LoRA {use.name!r} cannot be loaded into {model.info.name!r} ({use.path}): {first}") from None
    if not any(adapter in names for names in pipe.get_list_adapters().values()):
        raise ModelError(f"LoRA {use.name!r} ({use.path}) matches no layer of the model {model.info.name!r}")
    return adapter


def _new_adapter_name(model: LoadedModel) -> str:
    taken = set(model.loras.values())
    for names in model.pipe.get_list_adapters().values():
        taken.update(names)
    number = len(taken)
    while f"lora{number}" in taken:
        number += 1
    return f"lora{number}"


def _drop(pipe, adapter: str) -> None:
    try:
        if any(adapter in names for names in pipe.get_list_adapters().values()):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                pipe.delete_adapters([adapter])
    except Exception:
        log.warning("a half-loaded LoRA adapter %s could not be deleted", adapter, exc_info=True)


def activate_for_prompts(model: LoadedModel, *texts: str) -> tuple[LoraUse, ...]:
    """`activate` with the `<lora:NAME:WEIGHT>` tags of the given prompts, in order."""
    from studio.engine.prompt_syntax import parse

    return activate(model, [(tag.name, tag.weight) for text in texts for tag in parse(text).loras])


def lora_hashes(uses: tuple[LoraUse, ...]) -> tuple[tuple[str, str], ...]:
    """(name, short hash) of each LoRA used, as a recipe's `lora_hashes` holds them."""
    return tuple((use.name, use.short_hash) for use in uses)
