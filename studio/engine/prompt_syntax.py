# pyright: standard
"""AUTOMATIC1111's prompt syntax, read into weighted pieces of text and LoRA tags.

A pure function of the text, which never fails: anything that is not well-formed syntax
is kept as literal text, as AUTOMATIC1111 keeps it.

- `(words)` multiplies their weight by 1.1, `[words]` divides it by 1.1, `(words:1.3)` sets
  the factor; brackets nest and their factors multiply. An unclosed bracket applies to the
  rest of the prompt; a closing bracket with nothing open is literal text.
- `\\(`, `\\)`, `\\[`, `\\]` and `\\\\` are the literal characters.
- `BREAK`, in capitals and as a word, starts a new 75-token chunk (anywhere, inside
  brackets too, where AUTOMATIC1111 would read it as a word).
- `<lora:NAME:WEIGHT>` and `<lora:NAME>` (weight 1), also written `<lyco:...>`, are taken
  out of the text and listed in order. A third field (`<lora:NAME:0.8:0.5>`, the UNet's
  weight in AUTOMATIC1111) is ignored; `te=0.8` sets the weight as the second field does.

Weights out of reason are kept within reason: every weight's size lies between
`MIN_WEIGHT` and `MAX_WEIGHT` (a weight written as 0 stays 0; a negative one keeps its
sign), a LoRA's weight within `MAX_LORA_WEIGHT`, and a LoRA weight that is not a number
(or is NaN) counts as 1. A bracket weight must be a plain decimal number (`1.2`, `-0.5`,
`.5`); anything else after the colon (`(a:1.2.3)`, `(a:x)`) is literal text, and the
bracket then closes with the ordinary 1.1. Parsing takes time linear in the text's length
and has no nesting limit (there is no recursion).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import NamedTuple

ROUND = 1.1
SQUARE = 1 / 1.1
MIN_WEIGHT = 1e-4
MAX_WEIGHT = 100.0
MAX_LORA_WEIGHT = 100.0

_TOKEN = re.compile(
    r"""
    (?P<tag><(?i:lora|lyco):(?P<args>\s*+[^<>:\s][^<>]*+)>)
    | (?P<escape>\\[()\[\]\\])
    | (?P<weight>:\s*+(?P<number>[+-]?(?:\d++(?:\.\d*+)?|\.\d++))\s*+\))
    | (?P<open>[(\[])
    | (?P<close>[)\]])
    | (?P<brk>\bBREAK\b)
    | (?P<text>[^\\()\[\]:<B]++|.)
    """,
    re.VERBOSE | re.DOTALL,
)


class Piece(NamedTuple):
    """A run of text with one weight; `new_chunk` when a BREAK comes before it."""

    text: str
    weight: float
    new_chunk: bool = False


class LoraTag(NamedTuple):
    name: str
    weight: float


class Span(NamedTuple):
    """Where a piece of syntax lies in the text, for highlighting.

    kind: "weight" (a bracket, from its opening to its closing character or the end of the
    text; weight: that of the text directly inside), "lora" (a tag; the LoRA's weight),
    "break" (the word BREAK) or "escape" (a backslash pair; the weight of where it stands).
    """

    start: int
    end: int
    kind: str
    weight: float


@dataclass(frozen=True)
class ParsedPrompt:
    pieces: tuple[Piece, ...]
    loras: tuple[LoraTag, ...]

    @property
    def plain_text(self) -> str:
        return "".join(piece.text for piece in self.pieces)

    @property
    def weighted(self) -> bool:
        """True when a weight differs from 1 or a BREAK is written: the text alone does not say it all."""
        return any(piece.weight != 1.0 or piece.new_chunk for piece in self.pieces)

    @property
    def segments(self) -> list[list[Piece]]:
        """The pieces between BREAKs (each segment has at least one piece, perhaps empty)."""
        out: list[list[Piece]] = []
        for piece in self.pieces:
            if piece.new_chunk or not out:
                out.append([])
            out[-1].append(piece)
        return out


def parse(text: str) -> ParsedPrompt:
    return _scan(text)[0]


def spans(text: str) -> list[Span]:
    return _scan(text, want_spans=True)[1]


def lora_tags(text: str) -> tuple[LoraTag, ...]:
    return parse(text).loras


def plain_text(text: str) -> str:
    """The prompt without weight syntax or LoRA tags (escaped brackets as plain brackets)."""
    return parse(text).plain_text


def clamp_weight(weight: float) -> float:
    if MIN_WEIGHT <= weight <= MAX_WEIGHT:
        return weight
    if math.isnan(weight):
        return 1.0
    if weight == 0:
        return 0.0
    size = min(max(abs(weight), MIN_WEIGHT), MAX_WEIGHT)
    return math.copysign(size, weight)


def _scan(text: str, want_spans: bool = False) -> tuple[ParsedPrompt, list[Span]]:
    """One pass over the text. Each kind of bracket makes a tree of frames (0 is the root,
    a frame's parent is the frame of its kind open when it opened); a piece of text lies
    inside every frame open when it was read, so its weight is the product of the weights
    of its round and its square frame, each the product of the factors on its path."""
    parents = ([0], [0])  # per kind (0 round, 1 square): each frame's parent
    factors = ([1.0], [1.0])
    stacks: tuple[list[int], list[int]] = ([], [])
    current = [0, 0]
    raw: list[list] = []  # [text parts, round frame, square frame, segment]
    segment = 0
    loras: list[LoraTag] = []
    marks: list[list] = []  # [start, end, kind, detail]
    opened: tuple[list[int], list[int]] = ([-1], [-1])  # per frame: its mark
    last = None

    for match in _TOKEN.finditer(text):
        group = match.lastgroup
        if group == "text" or group == "escape":
            value = match.group()
            if group == "escape":
                value = value[1]
                if want_spans:
                    marks.append([match.start(), match.end(), "escape", (current[0], current[1])])
        elif group == "open":
            kind = 0 if match.group() == "(" else 1
            parents[kind].append(current[kind])
            factors[kind].append(ROUND if kind == 0 else SQUARE)
            frame = len(parents[kind]) - 1
            stacks[kind].append(frame)
            current[kind] = frame
            if want_spans:
                opened[kind].append(len(marks))
                marks.append([match.start(), len(text), "weight", (current[0], current[1])])
            continue
        elif group == "close" or group == "weight":
            kind = 0 if group == "weight" or match.group() == ")" else 1
            stack = stacks[kind]
            if stack:
                frame = stack.pop()
                current[kind] = stack[-1] if stack else 0
                if group == "weight":
                    factors[kind][frame] = clamp_weight(float(match.group("number")))
                if want_spans:
                    marks[opened[kind][frame]][1] = match.end()
                continue
            value = match.group()
        elif group == "tag":
            tag = _lora_tag(match.group("args"))
            loras.append(tag)
            if want_spans:
                marks.append([match.start(), match.end(), "lora", tag.weight])
            continue
        else:  # BREAK
            segment += 1
            if want_spans:
                marks.append([match.start(), match.end(), "break", 1.0])
            continue
        if last is not None and last[1] == current[0] and last[2] == current[1] and last[3] == segment:
            last[0].append(value)
        else:
            last = [[value], current[0], current[1], segment]
            raw.append(last)

    round_weights, square_weights = _frame_weights(parents[0], factors[0]), _frame_weights(parents[1], factors[1])
    pieces = _merge(raw, segment, round_weights, square_weights)
    found: list[Span] = []
    for start, end, kind, detail in marks:
        if kind in ("weight", "escape"):
            detail = clamp_weight(round_weights[detail[0]] * square_weights[detail[1]])
        found.append(Span(start, end, kind, detail))
    return ParsedPrompt(tuple(pieces), tuple(loras)), found


def _frame_weights(parents: list[int], factors: list[float]) -> list[float]:
    """Each frame's weight: its factor times its parent's (parents come before children)."""
    out = [1.0]
    for frame in range(1, len(parents)):
        out.append(clamp_weight(out[parents[frame]] * factors[frame]))
    return out


def _merge(raw: list[list], segments: int, round_weights: list[float], square_weights: list[float]) -> list[Piece]:
    """Pieces of equal weight side by side joined; every segment keeps at least one piece."""
    by_segment: list[list[Piece]] = [[] for _ in range(segments + 1)]
    for parts, round_frame, square_frame, segment in raw:
        weight = clamp_weight(round_weights[round_frame] * square_weights[square_frame])
        value = "".join(parts)
        pieces = by_segment[segment]
        if pieces and pieces[-1].weight == weight:
            pieces[-1] = Piece(pieces[-1].text + value, weight)
        else:
            pieces.append(Piece(value, weight))
    out: list[Piece] = []
    for index, pieces in enumerate(by_segment):
        if not pieces:
            pieces = [Piece("", 1.0)]
        if index:
            pieces[0] = Piece(pieces[0].text, pieces[0].weight, True)
        out.extend(pieces)
    return out


def _lora_tag(args: str) -> LoraTag:
    fields = args.split(":")
    name = fields[0].strip()
    positional = [field.strip() for field in fields[1:] if "=" not in field]
    named = {key.strip(): value.strip() for key, _, value in (f.partition("=") for f in fields[1:] if "=" in f)}
    written = positional[0] if positional else named.get("te")
    return LoraTag(name, _lora_weight(written))


def _lora_weight(written: str | None) -> float:
    if written is None:
        return 1.0
    try:
        weight = float(written)
    except ValueError:
        return 1.0
    if math.isnan(weight):
        return 1.0
    return max(-MAX_LORA_WEIGHT, min(MAX_LORA_WEIGHT, weight))
