"""What the prompt box shows about a prompt: where its weights, LoRA tags, BREAKs, escapes and
embedding names lie, which of them will not work and why, and the words of its tooltips.

`prompt_marks(text, vocabulary)` is a pure function of the text and of what the library holds
(`PromptVocabulary`); it reads the text as the engine does (`studio.engine.prompt_syntax` for the
syntax; an embedding is a word, in any case, between spaces, commas, brackets, colons and bars,
outside tags, as `studio.engine.embeddings` finds them). Only `mark_tip` reads a file: a LoRA's
trigger words, from its header.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from studio.engine.prompt_syntax import Span, spans
from studio.engine.request import EMBEDDED_MODEL
from studio.library.kinds import FAMILY_WORDS
from studio.model.prompt_edit import weight_text

if TYPE_CHECKING:  # the library's catalog loads after the window's first paint
    from studio.library.catalog import LibraryEntry

_TAG = re.compile(r"<[^<>]*>")
_RUN = re.compile(r"[^\s,()\[\]{}<>:|]+")
_NUMBER = re.compile(r"[-+]?[\d.]+")
_TRAILING = ".!?;'\""
_WEIGHT_CLOSE = re.compile(r":\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)\s*\)$")
_HEX = re.compile(r"[0-9a-fA-F]{10,64}")
EMBEDDED = "embedded"


@dataclass(frozen=True)
class PromptVocabulary:
    """The library's LoRAs and embeddings, and the family of the model chosen: "sd1", "sd2", "sdxl",
    EMBEDDED (Studio's own model, which no LoRA or embedding fits) or "" when unknown."""

    loras: tuple[LibraryEntry, ...] = ()
    embeddings: tuple[LibraryEntry, ...] = ()
    model_family: str = ""

    @classmethod
    def from_entries(cls, entries: Iterable[LibraryEntry], model: str = "") -> PromptVocabulary:
        """From the library's entries (any kinds) and the model chosen (a library name or a path)."""
        entries = list(entries)
        family = next((e.family for e in entries if e.kind == "checkpoints" and model in (e.name, str(e.path))), "")
        if model == EMBEDDED_MODEL:
            family = EMBEDDED
        return cls(
            tuple(e for e in entries if e.kind == "loras"),
            tuple(e for e in entries if e.kind == "embeddings"),
            family,
        )

    @cached_property
    def _embedding_names(self) -> dict[str, LibraryEntry]:
        named: dict[str, LibraryEntry] = {}
        for entry in self.embeddings:
            named.setdefault(entry.name.casefold(), entry)
        return named

    def lora(self, name: str) -> LibraryEntry | None:
        """The LoRA a tag names, matched as the library matches names (exactly, then in any case when
        only one fits, then by its hash)."""
        name = name.strip()
        exact = next((e for e in self.loras if e.name == name), None)
        if exact is not None or not name:
            return exact
        folded = [e for e in self.loras if e.name.casefold() == name.casefold()]
        if len(folded) == 1:
            return folded[0]
        if _HEX.fullmatch(name):
            wanted = name.lower()
            return next((e for e in self.loras if wanted in (e.short_hash, e.sha256)), None)
        return None

    def embedding(self, word: str) -> LibraryEntry | None:
        return self._embedding_names.get(word.casefold())


@dataclass(frozen=True)
class Mark:
    """A stretch of the prompt shown apart.

    kind: "weight" (a bracket's words; `weight` theirs), "bracket" (the bracket characters and a
    written weight), "escape", "break", "lora" (a tag; `weight` the LoRA's), "embedding".
    `problem` says why it will not work, "" when it will.
    """

    start: int
    end: int
    kind: str
    weight: float = 1.0
    name: str = ""
    entry: LibraryEntry | None = field(default=None, compare=False)
    problem: str = ""
    unclosed: bool = False


def prompt_marks(text: str, vocabulary: PromptVocabulary) -> list[Mark]:
    """The marks of `text`, in the order to paint them (a later one over an earlier one)."""
    found = spans(text)
    weights = [s for s in found if s.kind == "weight"]
    closed = _closed(text, found)
    marks = [Mark(s.start, s.end, "weight", s.weight, unclosed=s not in closed) for s in weights]
    for span in weights:
        marks.append(Mark(span.start, span.start + 1, "bracket", span.weight))
        if span in closed:
            tail = _WEIGHT_CLOSE.search(text, span.start + 1, span.end)
            marks.append(Mark(tail.start() if tail else span.end - 1, span.end, "bracket", span.weight))
    marks += [Mark(s.start, s.end, s.kind, s.weight) for s in found if s.kind in ("escape", "break")]
    marks += _embeddings(text, vocabulary)
    for span in found:
        if span.kind == "lora":
            name = _lora_name(text[span.start : span.end])
            entry = vocabulary.lora(name)
            marks.append(
                Mark(span.start, span.end, "lora", span.weight, name, entry, _lora_problem(name, entry, vocabulary))
            )
    return marks


def mark_at(marks: list[Mark], position: int) -> Mark | None:
    """The mark that says most about the character at `position`: a name or a keyword before the
    innermost weight around it."""
    here = [m for m in marks if m.start <= position < m.end]
    named = [m for m in here if m.kind in ("lora", "embedding", "break", "escape")]
    if named:
        return named[-1]
    weights = [m for m in here if m.kind == "weight"]
    return max(weights, key=lambda m: m.start) if weights else None


def mark_tip(mark: Mark) -> str:
    """The tooltip of a mark, its problem first."""
    from studio.library.lora_info import trigger_words

    if mark.kind == "weight":
        feel = "stronger" if mark.weight > 1 else "weaker" if mark.weight < 1 else "as written"
        tip = f"Weight {weight_text(mark.weight)} ({feel})"
        if mark.unclosed:
            tip += "\nThis bracket is never closed: it weights the rest of the prompt"
        return tip
    if mark.kind == "break":
        return "BREAK: what follows starts a new 75-token chunk"
    if mark.kind == "escape":
        return "A bracket written as itself, not a weight"
    lines = [mark.problem] if mark.problem else []
    entry = mark.entry
    if mark.kind == "lora":
        if entry is not None:
            lines.append(f"LoRA {entry.name}{_family(entry)} at weight {weight_text(mark.weight)}")
            words = trigger_words(entry.path)
            lines.append(f"Trigger words: {', '.join(words)}" if words else "No trigger words in its file")
        return "\n".join(lines)
    if entry is not None:
        lines.append(f"Embedding {entry.name}{_family(entry)}")
    return "\n".join(lines)


def _family(entry: LibraryEntry) -> str:
    return f" ({FAMILY_WORDS[entry.family]})" if entry.family in FAMILY_WORDS else ""


def _closed(text: str, found: list[Span]) -> list[Span]:
    """The weight spans whose bracket is closed. An open one runs to the end of the text, as does the
    innermost open one a last closing character closes; they are told apart by that character."""
    weights = [s for s in found if s.kind == "weight"]
    closed = [s for s in weights if s.end < len(text)]
    escaped_end = any(s.kind == "escape" and s.end == len(text) for s in found)
    for opening, closing in (("(", ")"), ("[", "]")):
        at_end = [s for s in weights if s.end == len(text) and text[s.start] == opening]
        if at_end and text.endswith(closing) and not escaped_end:
            closed.append(max(at_end, key=lambda s: s.start))
    return closed


def _embeddings(text: str, vocabulary: PromptVocabulary) -> list[Mark]:
    if not vocabulary.embeddings:
        return []
    blanked = _TAG.sub(lambda m: " " * len(m.group()), text)
    marks = []
    for run in _RUN.finditer(blanked):
        for word in dict.fromkeys((run.group(), run.group().rstrip(_TRAILING))):
            entry = vocabulary.embedding(word) if word and not _NUMBER.fullmatch(word) else None
            if entry is not None:
                problem = entry.problem or family_problem(entry, vocabulary.model_family)
                marks.append(Mark(run.start(), run.start() + len(word), "embedding", 1.0, word, entry, problem))
                break
    return marks


def _lora_name(tag: str) -> str:
    return tag[1:-1].partition(":")[2].split(":")[0].strip()


def _lora_problem(name: str, entry: LibraryEntry | None, vocabulary: PromptVocabulary) -> str:
    if entry is None:
        return f"No LoRA named {name} in the library"
    if entry.problem:
        return f"LoRA {entry.name} cannot be used: {entry.problem}"
    return family_problem(entry, vocabulary.model_family)


def family_problem(entry: LibraryEntry, model_family: str) -> str:
    """Why a LoRA or an embedding does not fit the model chosen, as the engine will find it ("" when
    it fits, or when either family is unknown)."""
    own = entry.family
    if own not in FAMILY_WORDS or model_family not in (*FAMILY_WORDS, EMBEDDED) or own == model_family:
        return ""
    what = "LoRA" if entry.kind == "loras" else "Embedding"
    if model_family == EMBEDDED:
        model = f"the embedded model takes no {'LoRAs' if entry.kind == 'loras' else 'embeddings'}"
    else:
        model = f"the model is {FAMILY_WORDS[model_family]}"
    after = "" if entry.kind == "loras" else ": its name is read as words"
    return f"{what} {entry.name} is for {FAMILY_WORDS[own]} and {model}{after}"
