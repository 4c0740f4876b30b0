"""Edits of prompt text the prompt box makes for a key or a button, as pure functions of the text.

`step_weight` is Ctrl+Up/Down, as AUTOMATIC1111 does it: the selected words (or the word under
the cursor) become `(words:1.1)`; the weight of a `(words:X)` the selection or the cursor is in,
or of a plain `(words)` (1.1), steps by the amount, and the brackets go when it comes back to 1.
Inside a `<lora:NAME:W>` tag it steps the LoRA's weight. Weights never step below 0 or above
the parser's largest. `insertion` sets a piece of text (a LoRA tag, trigger words) off from its
neighbours with commas, at an `insertion_point` outside any brackets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from studio.engine.prompt_syntax import MAX_LORA_WEIGHT, MAX_WEIGHT, spans

_TAG = re.compile(r"<(?i:lora|lyco):[^<>]*>")
_WEIGHT_END = re.compile(r":\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*$")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_EDGES = " \t\r\n,"
_NOT_WORD = set(" \t\r\n,()[]{}<>:|")


@dataclass(frozen=True)
class TextEdit:
    """Replace text[start:end] with `replacement`, then select new[select_start:select_end]."""

    start: int
    end: int
    replacement: str
    select_start: int
    select_end: int


def step_weight(text: str, start: int, end: int, delta: float) -> TextEdit | None:
    """Ctrl+Up (delta > 0) or Ctrl+Down on text[start:end] (start == end: a cursor); None when there is
    nothing to weight there or the weight cannot go further."""
    start, end = sorted((max(0, min(start, len(text))), max(0, min(end, len(text)))))
    tag = _tag_at(text, start, end)
    if tag is not None:
        return _step_tag(text, tag, start == end, delta)
    pairs = _round_pairs(text)
    group = _group_at(text, pairs, start, end)
    if group is not None:
        open_at, close_at, words_end, weight = group
        return _reweigh(text, open_at, close_at + 1, open_at + 1, words_end, weight, delta)
    if start == end:
        start, end = _word_at(text, start)
    else:
        while start < end and text[start] in _EDGES:
            start += 1
        while end > start and text[end - 1] in _EDGES:
            end -= 1
    if start == end:
        return None
    if (start, end - 1) in pairs:  # a whole (words) selected: 1.1 already
        return _reweigh(text, start, end, start + 1, end - 1, 1.1, delta)
    if (start - 1, end) in pairs:  # the words of a (words)
        return _reweigh(text, start - 1, end + 1, start, end, 1.1, delta)
    return _reweigh(text, start, end, start, end, 1.0, delta)


def insertion(text: str, at: int, piece: str) -> str:
    """What to insert at `at` so that `piece` stands apart from the text around it, commas between."""
    before, after = text[:at], text[at:]
    if not before or before[-1].isspace():
        lead = ""
    elif before.endswith(","):
        lead = " "
    else:
        lead = ", "
    if not after.strip() or after.lstrip(" \t").startswith((",", "\n")):
        trail = ""
    elif after[0].isspace():
        trail = ","
    else:
        trail = ", "
    return lead + piece + trail


def insertion_point(text: str, at: int) -> int:
    """Where an insertion asked for at `at` goes: after the brackets or the tag `at` stands inside
    (the outermost), so that a LoRA tag never lands within another's weight."""
    moved = True
    while moved:
        moved = False
        for span in spans(text):
            if span.kind in ("weight", "lora") and span.start < at < span.end:
                at, moved = span.end, True
    return at


def weight_text(weight: float) -> str:
    """A weight as a prompt writes it: 1.1, 0.75, 2."""
    return f"{round(weight, 2):g}"


def _reweigh(
    text: str, start: int, end: int, words_start: int, words_end: int, weight: float, delta: float
) -> TextEdit | None:
    """Replace text[start:end] (the words, or a group around them) with the words at weight + delta."""
    new = _stepped(weight, delta, MAX_WEIGHT)
    if new is None:
        return None
    words = text[words_start:words_end]
    if not words.strip(" \t\r\n,"):
        return None
    if abs(new - 1.0) < 1e-9:
        return TextEdit(start, end, words, start, start + len(words))
    return TextEdit(start, end, f"({words}:{weight_text(new)})", start + 1, start + 1 + len(words))


def _stepped(weight: float, delta: float, largest: float) -> float | None:
    new = round(weight + delta, 2)
    if delta < 0 and new < 0:
        if weight <= 0:
            return None
        new = 0.0
    new = min(new, largest)
    return None if new == round(weight, 2) else new


def _tag_at(text: str, start: int, end: int) -> re.Match | None:
    for match in _TAG.finditer(text):
        if match.start() < start <= end <= match.end() or (start, end) == (match.start(), match.end()):
            return match
    return None


def _step_tag(text: str, tag: re.Match, cursor: bool, delta: float) -> TextEdit | None:
    head, _, args = tag.group()[1:-1].partition(":")
    fields = args.split(":")
    at = next((i for i, field in enumerate(fields[1:], 1) if "=" not in field), None)
    written = fields[at].strip() if at is not None else ""
    weight = float(written) if _NUMBER.fullmatch(written) else 1.0
    new = _stepped(weight, delta, MAX_LORA_WEIGHT)
    if new is None:
        return None
    if at is None:
        fields.insert(1, weight_text(new))
    else:
        fields[at] = weight_text(new)
    replacement = f"<{head}:{':'.join(fields)}>"
    start = tag.start()
    if cursor:
        return TextEdit(start, tag.end(), replacement, start + len(replacement) - 1, start + len(replacement) - 1)
    return TextEdit(start, tag.end(), replacement, start, start + len(replacement))


def _round_pairs(text: str) -> set[tuple[int, int]]:
    """The matched round brackets (opening, closing), escaped ones left out."""
    pairs: set[tuple[int, int]] = set()
    stack: list[int] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "(":
            stack.append(index)
        elif char == ")" and stack:
            pairs.add((stack.pop(), index))
        index += 1
    return pairs


def _group_at(text: str, pairs: set[tuple[int, int]], start: int, end: int) -> tuple[int, int, int, float] | None:
    """The innermost (words:X) the selection is, or the cursor stands in: (opening, closing, end of the
    words, X)."""
    found = None
    for open_at, close_at in pairs:
        weight = _WEIGHT_END.search(text, open_at + 1, close_at)
        if weight is None:
            continue
        words_end = weight.start()
        if start == end:
            inside = open_at < start <= close_at
        else:
            inside = (start, end) in ((open_at + 1, words_end), (open_at, close_at + 1))
        if inside and (found is None or open_at > found[0]):
            found = (open_at, close_at, words_end, float(weight.group(1)))
    return found


def _word_at(text: str, at: int) -> tuple[int, int]:
    start = end = at
    while start > 0 and text[start - 1] not in _NOT_WORD:
        start -= 1
    while end < len(text) and text[end] not in _NOT_WORD:
        end += 1
    return start, end
