# pyright: standard
"""Prompts longer than the text encoder takes: encoded in chunks, or the dropped words named.

CLIP reads at most `model_max_length` tokens (77 for Stable Diffusion). A longer prompt is
split into windows of that size (preferring to cut after a comma), each encoded on its
own, and the results joined along the sequence, as AUTOMATIC1111 does. SDXL encodes each
window with both of its encoders, side by side as its pipeline does, and takes the pooled
embedding from the first window. Pipelines with another arrangement of encoders (the SDXL
refiner has only the second) keep the first window, and the words past it are reported.
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
    two_encoders = _has_two_matching_encoders(pipe)
    if getattr(pipe, "text_encoder", None) is None or (
        getattr(pipe, "tokenizer_2", None) is not None and not two_encoders
    ):
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
    if not two_encoders:
        return PromptInput(
            {
                "prompt_embeds": _encode(pipe, chunks, device),
                "negative_prompt_embeds": _encode(pipe, negative_chunks, device),
            }
        )
    embeds, pooled = _encode_two(pipe, chunks, device)
    negative_embeds, negative_pooled = _encode_two(pipe, negative_chunks, device)
    return PromptInput(
        {
            "prompt_embeds": embeds,
            "negative_prompt_embeds": negative_embeds,
            "pooled_prompt_embeds": pooled,
            "negative_pooled_prompt_embeds": negative_pooled,
        }
    )


def split_chunks(ids: list[int], limit: int, comma: int | None = None) -> list[list[int]]:
    """Windows of at most `limit` tokens; a window ends after a comma when one is near its end."""
    chunks: list[list[int]] = []
    rest = list(ids)
    while len(rest) > limit:
        cut = limit
        window = rest[:limit]
        if comma is not None and comma in window[limit - COMMA_LOOKBACK :]:
            cut = limit - window[::-1].index(comma)
        chunks.append(rest[:cut])
        rest = rest[cut:]
    chunks.append(rest)
    return chunks


def _rows(tokenizer, chunks: list[list[int]], device):
    import torch

    limit = tokenizer.model_max_length - 2
    rows = [
        [tokenizer.bos_token_id, *chunk, tokenizer.eos_token_id] + [tokenizer.pad_token_id] * (limit - len(chunk))
        for chunk in chunks
    ]
    return torch.tensor(rows, dtype=torch.long, device=device)


def _encode(pipe, chunks: list[list[int]], device):
    import torch

    with torch.no_grad():
        hidden = pipe.text_encoder(_rows(pipe.tokenizer, chunks, device))[0]
    return hidden.reshape(1, -1, hidden.shape[-1])


def _has_two_matching_encoders(pipe) -> bool:
    """SDXL's layout: two encoders whose tokenizers share one vocabulary and one length."""
    first, second = getattr(pipe, "tokenizer", None), getattr(pipe, "tokenizer_2", None)
    return (
        first is not None
        and second is not None
        and getattr(pipe, "text_encoder", None) is not None
        and getattr(pipe, "text_encoder_2", None) is not None
        and first.model_max_length == second.model_max_length
        and first.get_vocab() == second.get_vocab()
    )


def _encode_two(pipe, chunks: list[list[int]], device):
    """Each window through both encoders (their next-to-last layers side by side), joined
    along the sequence; the pooled embedding of the second encoder on the first window."""
    import torch

    hidden = []
    with torch.no_grad():
        for tokenizer, encoder in ((pipe.tokenizer, pipe.text_encoder), (pipe.tokenizer_2, pipe.text_encoder_2)):
            output = encoder(_rows(tokenizer, chunks, device), output_hidden_states=True)
            hidden.append(output.hidden_states[-2])
        pooled = output[0][:1]
    joined = torch.cat(hidden, dim=-1)
    return joined.reshape(1, -1, joined.shape[-1]), pooled


def _dropped_warning(tokenizer, label: str, ids: list[int], limit: int) -> str:
    dropped = tokenizer.decode(ids[limit:]).strip()
    return (
        f"the {label} is {len(ids)} tokens long and the text encoder reads {limit}; "
        f"these words were dropped: {dropped!r}"
    )
