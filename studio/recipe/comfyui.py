# pyright: standard
"""ComfyUI's recipes: the `prompt` text chunk (the API graph that ran) and `workflow` (the editor's nodes).

The sampler node is found, and its inputs followed back through links to the prompt texts,
seed, steps, guidance, the checkpoint and the empty latent's size. `read` never raises.
"""

from __future__ import annotations

from typing import Any

from studio.recipe.schema import FoundRecipe, scheduler_name
from studio.recipe.studio_json import object_or_none


def read(prompt_text: str, workflow_text: str) -> FoundRecipe | None:
    """What ComfyUI's graph (else its workflow) says; None when neither holds a sampler."""
    graph = object_or_none(prompt_text)
    if graph:
        fields = _comfy_api(graph)
        if fields:
            return _found(fields)
    workflow = object_or_none(workflow_text)
    fields = _comfy_workflow(workflow) if workflow else None
    return _found(fields) if fields else None


def _found(fields: dict[str, Any]) -> FoundRecipe:
    return FoundRecipe.checked(fields.pop("source"), **fields)


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

    sampler = next(
        (
            n
            for n in nodes.values()
            if "positive" in n["inputs"]
            and ("seed" in n["inputs"] or "noise_seed" in n["inputs"] or "steps" in n["inputs"])
        ),
        None,
    )
    if sampler is None:
        return None
    inputs = sampler["inputs"]
    model = next(
        (
            n["inputs"].get("ckpt_name") or n["inputs"].get("unet_name")
            for n in nodes.values()
            if "ckpt_name" in n["inputs"] or "unet_name" in n["inputs"]
        ),
        "",
    )
    latent = next(
        (
            n["inputs"]
            for n in nodes.values()
            if str(n.get("class_type", "")).startswith("Empty") and "width" in n["inputs"]
        ),
        {},
    )
    seed = value(inputs.get("seed", inputs.get("noise_seed")), ("seed", "noise_seed", "value", "int"))
    return {
        "source": "comfyui",
        "prompt": text(inputs.get("positive")),
        "negative_prompt": text(inputs.get("negative")),
        "seed": seed,
        "steps": value(inputs.get("steps"), ("steps", "value", "int")),
        "guidance_scale": value(inputs.get("cfg"), ("cfg", "value", "float")),
        "scheduler": scheduler_name(
            value(inputs.get("sampler_name"), ("sampler_name",)), value(inputs.get("scheduler"), ("scheduler",))
        ),
        "model": model if isinstance(model, str) else "",
        "width": value(latent.get("width"), ("width", "value", "int")),
        "height": value(latent.get("height"), ("height", "value", "int")),
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
    get = lambda i: w[i] if len(w) > i else None
    checkpoint = next(
        (widgets(n)[0] for n in nodes.values() if "CheckpointLoader" in str(n.get("type", "")) and widgets(n)), ""
    )
    latent = next((widgets(n) for n in nodes.values() if str(n.get("type", "")).startswith("EmptyLatentImage")), [])
    return {
        "source": "comfyui",
        "prompt": text(source_node(sampler, "positive")),
        "negative_prompt": text(source_node(sampler, "negative")),
        "seed": get(offset),
        "steps": get(offset + 2),
        "guidance_scale": get(offset + 3),
        "scheduler": scheduler_name(get(offset + 4), get(offset + 5)),
        "model": checkpoint if isinstance(checkpoint, str) else "",
        "width": latent[0] if len(latent) > 1 else None,
        "height": latent[1] if len(latent) > 1 else None,
    }
