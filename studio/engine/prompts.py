# pyright: standard
"""Prompts as the pipeline takes them: weights applied, long ones encoded in chunks.

The text is read with AUTOMATIC1111's syntax (`prompt_syntax`): LoRA tags are taken out
(the LoRA loader reads them from the same parse), and a prompt whose weights are all 1,
with no BREAK, that fits the text encoder, goes to the pipeline as plain text, exactly as
it always has.

Otherwise Studio encodes it. CLIP reads at most `model_max_length` tokens (77 for Stable
Diffusion): the tokens are split into windows of that size (preferring to cut after a
comma; a BREAK always ends one), each encoded on its own, and the results joined along the
sequence, as AUTOMATIC1111 does. Each piece of text is tokenized on its own (through the
pipeline's textual-inversion expansion when it has one), so every token carries its
piece's weight; after encoding, each window's token embeddings are multiplied by their
weights and the window is rescaled to the mean it had before (AUTOMATIC1111's way). A
window whose weights are all 1 is left untouched. SDXL encodes each window with both of
its encoders, side by side as its pipeline does, weights each encoder's output on its
own, and takes the pooled embedding (unweighted) from the first window. Pipelines with
another arrangement of encoders (the SDXL refiner has only the second) get the plain text:
the words past the first window are reported, and so are weights that could not be applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from studio.engine.prompt_syntax import ParsedPrompt, parse

COMMA_LOOKBACK = 20

Weights = list[list[float]]


@dataclass(frozen=True)
class PromptInput:
    """What to hand the pipeline for the prompts, and anything the person should be told."""

    kwargs: dict[str, Any] = field(repr=False)
    warnings: tuple[str, ...] = ()


def token_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]


def prepare_prompts(pipe, prompt: str, negative: str, device) -> PromptInput:
    parsed, negative_parsed = parse(prompt), parse(negative)
    text, negative_text = parsed.plain_text, negative_parsed.plain_text
    tokenizer = pipe.tokenizer
    limit = tokenizer.model_max_length - 2
    ids = token_ids(tokenizer, _expand(pipe, tokenizer, text))
    negative_ids = token_ids(tokenizer, _expand(pipe, tokenizer, negative_text))
    plain = PromptInput({"prompt": text, "negative_prompt": negative_text})
    weighted = parsed.weighted or negative_parsed.weighted
    if not weighted and len(ids) <= limit and len(negative_ids) <= limit:
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
        if weighted:
            warnings.append(
                "this model's text encoders cannot take prompt weights or BREAK here; the prompt was read without them"
            )
        return PromptInput(plain.kwargs, tuple(warnings))
    comma = tokenizer.convert_tokens_to_ids(",</w>")
    chunks, weights = weighted_chunks(pipe, parsed, limit, comma)
    negative_chunks, negative_weights = weighted_chunks(pipe, negative_parsed, limit, comma)
    count = max(len(chunks), len(negative_chunks))
    for token_chunks, chunk_weights in ((chunks, weights), (negative_chunks, negative_weights)):
        missing = count - len(token_chunks)
        token_chunks += [[]] * missing
        chunk_weights += [[]] * missing
    if not two_encoders:
        return PromptInput(
            {
                "prompt_embeds": _encode(pipe, chunks, device, weights),
                "negative_prompt_embeds": _encode(pipe, negative_chunks, device, negative_weights),
            }
        )
    embeds, pooled = _encode_two(pipe, chunks, device, weights)
    negative_embeds, negative_pooled = _encode_two(pipe, negative_chunks, device, negative_weights)
    return PromptInput(
        {
            "prompt_embeds": embeds,
            "negative_prompt_embeds": negative_embeds,
            "pooled_prompt_embeds": pooled,
            "negative_pooled_prompt_embeds": negative_pooled,
        }
    )


def weighted_chunks(pipe, parsed: ParsedPrompt, limit: int, comma: int | None) -> tuple[list[list[int]], Weights]:
    """The token windows of a parsed prompt and each token's weight.

    Every BREAK-separated segment is split on its own; an empty segment is an empty window,
    except a last one (a BREAK at the very end adds nothing), as in AUTOMATIC1111.
    """
    tokenizer = pipe.tokenizer
    chunks: list[list[int]] = []
    weights: Weights = []
    segments = parsed.segments
    for index, segment in enumerate(segments):
        ids: list[int] = []
        token_weights: list[float] = []
        for piece in segment:
            piece_ids = token_ids(tokenizer, _expand(pipe, tokenizer, piece.text)) if piece.text else []
            ids += piece_ids
            token_weights += [piece.weight] * len(piece_ids)
        if not ids and index == len(segments) - 1 and chunks:
            break
        start = 0
        for chunk in split_chunks(ids, limit, comma):
            chunks.append(chunk)
            weights.append(token_weights[start : start + len(chunk)])
            start += len(chunk)
    return chunks, weights


def _expand(pipe, tokenizer, text: str) -> str:
    """The text with each multi-vector textual-inversion token spelt out, as the pipeline does."""
    convert = getattr(pipe, "maybe_convert_prompt", None)
    return convert(text, tokenizer) if convert is not None else text


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


def _encode(pipe, chunks: list[list[int]], device, weights: Weights | None = None):
    import torch

    with torch.no_grad():
        hidden = pipe.text_encoder(_rows(pipe.tokenizer, chunks, device))[0]
        hidden = apply_weights(hidden, weights)
    return hidden.reshape(1, -1, hidden.shape[-1])


def apply_weights(hidden, weights: Weights | None):
    """Each window's token embeddings times their weights (start, end and padding weigh 1),
    then the window rescaled to its former mean. Windows weighing 1 throughout are untouched."""
    import torch

    if weights is None or all(weight == 1.0 for chunk in weights for weight in chunk):
        return hidden
    rows = []
    for window, chunk_weights in zip(hidden, weights):
        if all(weight == 1.0 for weight in chunk_weights):
            rows.append(window)
            continue
        factors = torch.ones(window.shape[0], dtype=window.dtype, device=window.device)
        factors[1 : 1 + len(chunk_weights)] = torch.tensor(chunk_weights, dtype=window.dtype)
        mean = window.mean()
        scaled = window * factors[:, None]
        new_mean = scaled.mean()
        if bool(new_mean != 0) and bool(torch.isfinite(new_mean)):
            scaled = scaled * (mean / new_mean)
        rows.append(scaled)
    return torch.stack(rows)


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


def _encode_two(pipe, chunks: list[list[int]], device, weights: Weights | None = None):
    """Each window through both encoders (their next-to-last layers, each weighted, side by
    side), joined along the sequence; the pooled embedding of the second encoder on the first
    window."""
    import torch

    hidden = []
    with torch.no_grad():
        for tokenizer, encoder in ((pipe.tokenizer, pipe.text_encoder), (pipe.tokenizer_2, pipe.text_encoder_2)):
            output = encoder(_rows(tokenizer, chunks, device), output_hidden_states=True)
            hidden.append(apply_weights(output.hidden_states[-2], weights))
        pooled = output[0][:1]
    joined = torch.cat(hidden, dim=-1)
    return joined.reshape(1, -1, joined.shape[-1]), pooled


def _dropped_warning(tokenizer, label: str, ids: list[int], limit: int) -> str:
    dropped = tokenizer.decode(ids[limit:]).strip()
    return (
        f"the {label} is {len(ids)} tokens long and the text encoder reads {limit}; "
        f"these words were dropped: {dropped!r}"
    )
