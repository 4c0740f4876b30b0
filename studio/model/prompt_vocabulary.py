"""What a model says of what it draws, and whether a prompt speaks its language.

A model may carry hints in its studio.json: `examples` (prompts it draws well), `note` (one
line on what it draws) and `vocabulary` (the words it knows). A model trained on a small,
closed vocabulary that gives examples or a note but no `vocabulary` list gets one from its
tokenizer: every whole-word token. An open vocabulary (CLIP's 49k tokens) lists nothing, and a
model without hints warns of nothing.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from studio.engine.prompt_syntax import plain_text

log = logging.getLogger(__name__)

# A tokenizer with more tokens than this is taken to know any word (CLIP's has 49408).
CLOSED_VOCABULARY_SIZE = 5000
# Words that say nothing of what is drawn: a prompt made only of these and unknown words warns.
LITTLE_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "on",
        "in",
        "at",
        "by",
        "with",
        "to",
        "from",
        "for",
        "is",
        "are",
        "its",
        "it",
        "this",
        "that",
        "some",
        "very",
    ]
)
_WORD = re.compile(r"[^\W\d_]+")  # runs of letters, as CLIP's pre-tokenizer splits words
_END_OF_WORD = "</w>"


@dataclass(frozen=True)
class ModelHints:
    """Plain data for the window: example prompts, a one-line note, the words the model knows."""

    examples: tuple[str, ...] = ()
    note: str = ""
    vocabulary: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.examples or self.note or self.vocabulary)


def prompt_words(prompt: str) -> list[str]:
    """The words of a prompt, lower-cased, without weights, LoRA tags or punctuation."""
    return _WORD.findall(plain_text(prompt).lower())


def has_known_word(prompt: str, vocabulary: frozenset[str] | set[str]) -> bool:
    """True unless the prompt has words and none of them (but little words) is in `vocabulary`.

    An empty vocabulary means the model says nothing of what it knows: every prompt is fine."""
    if not vocabulary:
        return True
    words = [word for word in prompt_words(prompt) if word not in LITTLE_WORDS]
    return not words or any(word in vocabulary for word in words)


def hints_for_folder(folder: Path) -> ModelHints:
    """The hints in `folder`'s studio.json; its tokenizer's words when the file lists none."""
    studio = _read_json(folder / "studio.json")
    if not isinstance(studio, dict):
        studio = {}
    return hints_from_studio(studio, folder / "tokenizer")


def hints_from_studio(studio: dict, tokenizer: Path | None = None) -> ModelHints:
    """Hints from a studio.json's contents; what is not of the right kind is left out."""
    examples = studio.get("examples")
    examples = (
        tuple(e.strip() for e in examples if isinstance(e, str) and e.strip()) if isinstance(examples, list) else ()
    )
    note = studio.get("note")
    note = note.strip().splitlines()[0] if isinstance(note, str) and note.strip() else ""
    listed = studio.get("vocabulary")
    if isinstance(listed, list):
        vocabulary = frozenset(w for entry in listed if isinstance(entry, str) for w in _WORD.findall(entry.lower()))
    elif tokenizer is not None and (examples or note):  # a model that says what it draws, but not its words
        vocabulary = tokenizer_words(tokenizer)
    else:
        vocabulary = frozenset()
    return ModelHints(examples=examples, note=note, vocabulary=vocabulary)


def tokenizer_words(folder: Path) -> frozenset[str]:
    """The whole words of a closed tokenizer vocabulary (vocab.json or tokenizer.json); none for an open one."""
    vocab = _read_json(folder / "vocab.json")
    if not isinstance(vocab, dict):
        whole = _read_json(folder / "tokenizer.json")
        model = whole.get("model") if isinstance(whole, dict) else None
        vocab = model.get("vocab") if isinstance(model, dict) else None
    if not isinstance(vocab, dict) or len(vocab) > CLOSED_VOCABULARY_SIZE:
        return frozenset()
    words = (token[: -len(_END_OF_WORD)] for token in vocab if token.endswith(_END_OF_WORD))
    return frozenset(word for word in words if len(word) > 1 and _WORD.fullmatch(word))


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None


def model_hints(ref: str) -> ModelHints:
    """The hints of model `ref` (a path, a library name, a cached hub id or the embedded model),
    read from its files without its weights; none when it cannot be found (loading it says why)."""
    from studio.engine.models import resolve_model
    from studio.errors import StudioError

    try:
        info = resolve_model(ref)
    except (StudioError, OSError):
        return ModelHints()
    tokenizer = info.path / "tokenizer" if info.path.is_dir() else None
    return hints_from_studio(info.studio, tokenizer)
