"""Prompts longer than the text encoder takes: encoded in chunks, or the dropped words named.

CLIP reads at most `model_max_length` tokens (77 for Stable Diffusion). For pipelines with
one text encoder, a longer prompt is split into windows of that size (preferring to cut
after a comma), each encoded on its own, and the results joined along the sequence, as
AUTOMATIC1111 does. For other pipelines the words past the limit are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COMMA_LOOKBACK = 20


@dataclass(frozen=True)
class PromptInput:
    """What to hand the pipeline for the prompts, and anything the person should be told."""

    kwargs: dict[str, Any] = field(repr=False)
    warnings: tuple[str, ...] = ()


def token_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]


def prepare_prompts(pipe, prompt: str, negative: str, device) -> PromptInput:
    tokenizer = pipe.tokenizer
    limit = tokenizer.model_max_length - 2
    ids = token_ids(tokenizer, prompt)
    negative_ids = token_ids(tokenizer, negative)
    plain = PromptInput({"prompt": prompt, "negative_prompt": negative})
    if len(ids) <= limit and len(negative_ids) <= limit:
        return plain
    if getattr(pipe, "tokenizer_2", None) is not None or not hasattr(pipe, "text_encoder"):
        warnings = [
            _dropped_warning(tokenizer, label, token_list, limit)
            for label, token_list in (("prompt", ids), ("negative prompt", negative_ids))
            if len(token_list) > limit
        ]
        return PromptInput(plain.kwargs, tuple(warnings))
    comma = tokenizer.convert_tokens_to_ids(",</w>")
    chunks = split_chunks(ids, limit, comma)
    negative_chunks = split_chunks(negative_ids, limit, comma)
    count = max(len(chunks), len(negative_chunks))
    chunks += [[]] * (count - len(chunks))
    negative_chunks += [[]] * (count - len(negative_chunks))
    return PromptInput(
        {
            "prompt_embeds": _encode(pipe, chunks, device),
            "negative_prompt_embeds": _encode(pipe, negative_chunks, device),
        }
    )


def split_chunks(ids: list[int], limit: int, comma: int | None = None) -> list[list[int]]:
    """Windows of at most `limit` tokens; a window ends after a comma when one is near its end."""
    chunks: list[list[int]] = []
    rest = list(ids)
    while len(rest) > limit:
        cut = limit
        window = rest[:limit]
        if comma is not None and comma in window[limit - COMMA_LOOKBACK:]:
            cut = limit - window[::-1].index(comma)
        chunks.append(rest[:cut])
        rest = rest[cut:]
    chunks.append(rest)
    return chunks


def _encode(pipe, chunks: list[list[int]], device):
    import torch

    tokenizer = pipe.tokenizer
    limit = tokenizer.model_max_length - 2
    rows = [
        [tokenizer.bos_token_id, *chunk, tokenizer.eos_token_id] + [tokenizer.pad_token_id] * (limit - len(chunk))
        for chunk in chunks
    ]
    ids = torch.tensor(rows, dtype=torch.long, device=device)
    with torch.no_grad():
        hidden = pipe.text_encoder(ids)[0]
    return hidden.reshape(1, -1, hidden.shape[-1])


def _dropped_warning(tokenizer, label: str, ids: list[int], limit: int) -> str:
    dropped = tokenizer.decode(ids[limit:]).strip()
    return (
        f"the {label} is {len(ids)} tokens long and the text encoder reads {limit}; "
        f"these words were dropped: {dropped!r}"
    )
