"""Recipes in the dialects of other tools, read from an image's text chunks.

AUTOMATIC1111/Forge `parameters` text, Fooocus JSON, ComfyUI `prompt` (API graph) and
`workflow` JSON, InvokeAI `invokeai_metadata` and the older `sd-metadata`, and Studio's own
JSON; `recipe_fields` tries them in that order of trust and never raises.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable

from studio.engine.recipe import split_prompts, split_settings
from studio.engine.schedulers import SCHEDULER_NAMES

log = logging.getLogger(__name__)

# Sampler names of other tools, as Studio names them.
_SAMPLER_ALIASES = {
    "euler": "Euler", "euler_a": "Euler a", "euler_ancestral": "Euler a", "ddim": "DDIM",
    "dpmpp_2m": "DPM++ 2M", "dpmpp_2m_k": "DPM++ 2M Karras", "dpmpp_2m_sde_k": "DPM++ 2M SDE Karras",
    "uni_pc": "UniPC", "unipc": "UniPC", "lcm": "LCM",
}
_KARRAS = {"DPM++ 2M": "DPM++ 2M Karras", "DPM++ 2M SDE": "DPM++ 2M SDE Karras", "dpmpp_2m": "DPM++ 2M Karras",
           "dpmpp_2m_sde": "DPM++ 2M SDE Karras", "dpmpp_2m_sde_gpu": "DPM++ 2M SDE Karras"}


def recipe_fields(texts: dict[str, str]) -> dict[str, Any]:
    """The recipe fields (of ImageInfo) found in a file's text chunks; {} when none. Never raises."""
    for key, read in DIALECTS:
        if not texts.get(key):
            continue
        try:
            fields = read(texts)
        except Exception:  # a dialect bug must not hide the image; the fuzz tests call DIALECTS directly
            log.exception("reading the %r text failed", key)
            fields = None
        if fields:
            if key == "studio" and texts.get("parameters"):
                fields["parameters"] = texts["parameters"]
            return _clean(fields)
    return {}


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"source": str(fields.get("source", ""))}
    for key in ("prompt", "negative_prompt", "sampler", "model", "parameters", "studio"):
        value = fields.get(key)
        out[key] = value if isinstance(value, str) else ("" if value is None else str(value))
    out["seed"] = _int(fields.get("seed"), 0, 2**64 - 1)
    out["steps"] = _int(fields.get("steps"), 1, 10_000)
    out["cfg"] = _float(fields.get("cfg"))
    out["recipe_width"] = _int(fields.get("width"), 1, 1 << 20)
    out["recipe_height"] = _int(fields.get("height"), 1, 1 << 20)
    return out


def _int(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value) if not isinstance(value, float) else int(value) if value.is_integer() else None
    except (TypeError, ValueError, OverflowError):
        try:
            number = int(float(value))
        except (TypeError, ValueError, OverflowError):
            return None
    if number is None or not low <= number <= high:
        return None
    return number


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number == number and abs(number) < 1e6 else None


def _sampler(name: Any, scheduler: Any = "") -> str:
    if not isinstance(name, str):
        return ""
    if isinstance(scheduler, str) and scheduler.lower() == "karras" and name in _KARRAS:
        return _KARRAS[name]
    return name if name in SCHEDULER_NAMES else _SAMPLER_ALIASES.get(name, name)


def _from_studio(text: str) -> dict[str, Any] | None:
    data = _json_dict(text)
    request = data.get("request") if data else None
    if not isinstance(request, dict):
        return None
    return {
        "source": "studio", "prompt": request.get("prompt", ""), "negative_prompt": request.get("negative_prompt", ""),
        "seed": request.get("seed"), "steps": request.get("steps"), "cfg": request.get("guidance_scale"),
        "sampler": request.get("scheduler", ""), "model": data.get("model_name", "") or request.get("model", ""),
        "width": request.get("width"), "height": request.get("height"), "studio": text,
    }


_SETTING_KEYS = ("Steps", "Sampler", "CFG scale", "Seed", "Size", "Model")


def parse_a1111(text: str) -> dict[str, Any]:
    """Prompt, negative prompt and settings of an AUTOMATIC1111 `parameters` text."""
    lines = text.replace("\r\n", "\n").strip("\n").split("\n")
    settings: dict[str, str] = {}
    last = lines[-1].strip()
    if last.startswith("Steps:") or (
        ":" in last[:40] and len(set(split_settings(last)) & set(_SETTING_KEYS)) >= 2
    ):
        settings = split_settings(last)
        lines = lines[:-1]
    prompt, negative = split_prompts(lines)
    return {"prompt": prompt, "negative_prompt": negative, "settings": settings}


def _from_parameters(text: str, strict: bool = False) -> dict[str, Any] | None:
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return _from_fooocus_json(data, text)
    parsed = parse_a1111(text)
    s = parsed["settings"]
    if strict and not s:
        return None
    if not s and not parsed["prompt"].strip():
        return None
    width = height = None
    if "x" in s.get("Size", ""):
        width, height = s["Size"].lower().split("x", 1)
    version = s.get("Version", "")
    source = "fooocus" if version.startswith("Fooocus") else "forge" if version[:1] == "f" and version[1:2].isdigit() else "a1111"
    if version.startswith("Studio"):
        source = "studio"
    return {
        "source": source, "prompt": parsed["prompt"], "negative_prompt": parsed["negative_prompt"],
        "seed": s.get("Seed"), "steps": s.get("Steps"), "cfg": s.get("CFG scale"),
        "sampler": _sampler(s.get("Sampler"), s.get("Schedule type", "")), "model": s.get("Model", ""),
        "width": width, "height": height, "parameters": text,
    }


def _from_fooocus_json(data: dict[str, Any], text: str) -> dict[str, Any] | None:
    d = {str(k).lower().replace(" ", "_"): v for k, v in data.items()}
    if "prompt" not in d:
        return None
    width = height = None
    resolution = d.get("resolution")
    if isinstance(resolution, str):
        parts = [p for p in resolution.strip("()[] ").replace("x", ",").replace("×", ",").split(",") if p.strip()]
        if len(parts) == 2:
            width, height = parts[0].strip(), parts[1].strip()
    elif isinstance(resolution, (list, tuple)) and len(resolution) == 2:
        width, height = resolution
    return {
        "source": "fooocus", "prompt": d.get("prompt", ""), "negative_prompt": d.get("negative_prompt", ""),
        "seed": d.get("seed"), "steps": d.get("steps"), "cfg": d.get("guidance_scale", d.get("cfg_scale")),
        "sampler": _sampler(d.get("sampler"), d.get("scheduler", "")), "model": d.get("base_model", d.get("model", "")),
        "width": width, "height": height,
    }


def _json_dict(text: str) -> dict | None:
    if not text:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _from_comfyui(prompt_text: str, workflow_text: str) -> dict[str, Any] | None:
    graph = _json_dict(prompt_text)
    if graph:
        fields = _comfy_api(graph)
        if fields:
            return fields
    workflow = _json_dict(workflow_text)
    return _comfy_workflow(workflow) if workflow else None


def _comfy_api(graph: dict) -> dict[str, Any] | None:
    nodes = {str(k): v for k, v in graph.items() if isinstance(v, dict) and isinstance(v.get("inputs"), dict)}

    def node_of(link) -> dict | None:
        if isinstance(link, list) and link and str(link[0]) in nodes:
            return nodes[str(link[0])]
        return None

    def value(v, names, depth=0):
        """A plain value, following links into the nodes that make it."""
        if depth > 8:
            return None
        node = node_of(v)
        if node is None:
            return v
        inputs = node["inputs"]
        for name in names:
            if name in inputs:
                return value(inputs[name], names, depth + 1)
        return None

    def text(link, depth=0) -> str:
        node = node_of(link)
        if node is None or depth > 8:
            return ""
        inputs = node["inputs"]
        for name in ("text", "text_g", "string", "value", "prompt"):
            if name in inputs:
                found = value(inputs[name], ("text", "string", "value", "prompt"))
                if isinstance(found, str):
                    return found
        for name, v in inputs.items():  # conditioning passing through other nodes
            if node_of(v) is not None and name not in ("clip", "model", "vae", "image", "control_net"):
                found = text(v, depth + 1)
                if found:
                    return found
        return ""

    sampler = next((n for n in nodes.values() if "positive" in n["inputs"] and ("seed" in n["inputs"] or "noise_seed" in n["inputs"] or "steps" in n["inputs"])), None)
    if sampler is None:
        return None
    inputs = sampler["inputs"]
    model = next((n["inputs"].get("ckpt_name") or n["inputs"].get("unet_name") for n in nodes.values() if "ckpt_name" in n["inputs"] or "unet_name" in n["inputs"]), "")
    latent = next((n["inputs"] for n in nodes.values() if str(n.get("class_type", "")).startswith("Empty") and "width" in n["inputs"]), {})
    seed = value(inputs.get("seed", inputs.get("noise_seed")), ("seed", "noise_seed", "value", "int"))
    return {
        "source": "comfyui", "prompt": text(inputs.get("positive")), "negative_prompt": text(inputs.get("negative")),
        "seed": seed, "steps": value(inputs.get("steps"), ("steps", "value", "int")),
        "cfg": value(inputs.get("cfg"), ("cfg", "value", "float")),
        "sampler": _sampler(value(inputs.get("sampler_name"), ("sampler_name",)), value(inputs.get("scheduler"), ("scheduler",))),
        "model": model if isinstance(model, str) else "",
        "width": value(latent.get("width"), ("width", "value", "int")), "height": value(latent.get("height"), ("height", "value", "int")),
    }


def _comfy_workflow(workflow: dict) -> dict[str, Any] | None:
    raw_nodes = workflow.get("nodes")
    if not isinstance(raw_nodes, list):
        return None
    nodes = {n.get("id"): n for n in raw_nodes if isinstance(n, dict) and isinstance(n.get("widgets_values", []), list)}
    links = {}
    for link in workflow.get("links") or []:
        if isinstance(link, list) and len(link) >= 4:
            links[link[0]] = link[1]
        elif isinstance(link, dict):
            links[link.get("id")] = link.get("origin_id")

    def widgets(node) -> list:
        return node.get("widgets_values") or []

    def source_node(node, name):
        for slot in node.get("inputs") or []:
            if isinstance(slot, dict) and slot.get("name") == name:
                return nodes.get(links.get(slot.get("link")))
        return None

    def text(node, depth=0) -> str:
        if node is None or depth > 8:
            return ""
        if "CLIPTextEncode" in str(node.get("type", "")):
            strings = [w for w in widgets(node) if isinstance(w, str)]
            if strings:
                return strings[0]
        for slot in node.get("inputs") or []:
            if isinstance(slot, dict) and slot.get("link") is not None:
                found = text(nodes.get(links.get(slot.get("link"))), depth + 1)
                if found:
                    return found
        return ""

    sampler = next((n for n in nodes.values() if str(n.get("type", "")).startswith("KSampler")), None)
    if sampler is None:
        return None
    w = widgets(sampler)
    advanced = str(sampler.get("type")) == "KSamplerAdvanced"
    offset = 1 if advanced else 0  # KSamplerAdvanced starts with add_noise
    get = lambda i: w[i] if len(w) > i else None  # noqa: E731
    checkpoint = next((widgets(n)[0] for n in nodes.values() if "CheckpointLoader" in str(n.get("type", "")) and widgets(n)), "")
    latent = next((widgets(n) for n in nodes.values() if str(n.get("type", "")).startswith("EmptyLatentImage")), [])
    return {
        "source": "comfyui", "prompt": text(source_node(sampler, "positive")), "negative_prompt": text(source_node(sampler, "negative")),
        "seed": get(offset), "steps": get(offset + 2), "cfg": get(offset + 3), "sampler": _sampler(get(offset + 4), get(offset + 5)),
        "model": checkpoint if isinstance(checkpoint, str) else "",
        "width": latent[0] if len(latent) > 1 else None, "height": latent[1] if len(latent) > 1 else None,
    }


def _from_invokeai(text: str) -> dict[str, Any] | None:
    data = _json_dict(text)
    if not data:
        return None
    model = data.get("model")
    if isinstance(model, dict):
        model = model.get("name") or model.get("model_name") or ""
    prompt = data.get("positive_prompt", data.get("prompt", ""))
    return {
        "source": "invokeai", "prompt": prompt if isinstance(prompt, str) else "", "negative_prompt": data.get("negative_prompt", ""),
        "seed": data.get("seed"), "steps": data.get("steps"), "cfg": data.get("cfg_scale"),
        "sampler": _sampler(data.get("scheduler", "")), "model": model if isinstance(model, str) else "",
        "width": data.get("width"), "height": data.get("height"),
    }


def _from_invokeai_v2(text: str) -> dict[str, Any] | None:
    data = _json_dict(text)
    image = data.get("image") if data else None
    if not isinstance(image, dict):
        return None
    prompt = image.get("prompt")
    if isinstance(prompt, list):
        prompt = " ".join(p.get("prompt", "") for p in prompt if isinstance(p, dict) and isinstance(p.get("prompt", ""), str))
    return {
        "source": "invokeai", "prompt": prompt if isinstance(prompt, str) else "", "seed": image.get("seed"),
        "steps": image.get("steps"), "cfg": image.get("cfg_scale"), "sampler": _sampler(image.get("sampler", "")),
        "model": data.get("model_weights", "") if isinstance(data.get("model_weights", ""), str) else "",
        "width": image.get("width"), "height": image.get("height"),
    }


# Each text key with its reader, in order of trust; a reader returns fields or None and never raises.
DIALECTS: tuple[tuple[str, Callable[[dict[str, str]], dict[str, Any] | None]], ...] = (
    ("studio", lambda texts: _from_studio(texts["studio"])),
    ("parameters", lambda texts: _from_parameters(texts["parameters"])),
    ("prompt", lambda texts: _from_comfyui(texts.get("prompt", ""), texts.get("workflow", ""))),
    ("workflow", lambda texts: _from_comfyui("", texts["workflow"])),
    ("invokeai_metadata", lambda texts: _from_invokeai(texts["invokeai_metadata"])),
    ("sd-metadata", lambda texts: _from_invokeai_v2(texts["sd-metadata"])),
    ("exif", lambda texts: _from_parameters(texts["exif"])),
    ("comment", lambda texts: _from_parameters(texts["comment"], strict=True)),
    ("description", lambda texts: _from_parameters(texts["description"], strict=True)),
)
