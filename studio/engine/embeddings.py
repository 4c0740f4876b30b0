# pyright: standard
"""Textual-inversion embeddings: a word in the prompt that names an embedding in the library.

As in AUTOMATIC1111, an embedding is used by writing its name (its file name without the
extension) in the prompt or the negative prompt. The name matches as a whole word, in any case
(CLIP reads lower case); `ensure` loads each one named, once per model, through diffusers'
textual-inversion loader. An SD 1.x/2.x file holds one tensor (`emb_params`, a converted
AUTOMATIC1111 file's `string_to_param.*`, or its only tensor); an SDXL file holds `clip_l` for
the first text encoder and `clip_g` for the second. An embedding of n vectors becomes n tokens,
which diffusers' `maybe_convert_prompt` writes out in place of the word.

An embedding made for another family (clip_l/clip_g against one text encoder, or vectors of
another width) is left out with a warning naming both families, the word read as plain text:
AUTOMATIC1111 skips such embeddings and lists them too, and a negative prompt pasted from
elsewhere often names embeddings of several families, so the job still runs. A pickled
embedding (.pt, .bin) is refused: `studio models convert` turns it into safetensors once.

Embeddings stay loaded on the model between jobs: one whose file changed is loaded again, one
gone from the library unloaded. Their tokens match whole words only, so a loaded name never
takes over part of another word.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.engine.checkpoints import is_pickle_file, pickle_message, read_header
from studio.engine.models import find_resource
from studio.errors import ModelError

FAMILIES = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL"}
_WIDTH_FAMILIES = {768: "SD 1.x", 1024: "SD 2.x"}
_TAG = re.compile(r"<[^<>]*>")  # <lora:...> and the like: never embedding words
_RUN = re.compile(r"[^\s,()\[\]{}<>:|]+")
_NUMBER = re.compile(r"[-+]?[\d.]+")
_TRAILING = ".!?;'\""


@dataclass
class _Embedding:
    """One embedding as loaded on a model: its file's identity and the tokens each encoder got."""

    key: tuple
    loaded: list[tuple[Any, Any, tuple[str, ...]]] = field(default_factory=list)  # tokenizer, encoder, tokens
    warning: str = ""  # set when it was left out


_states: weakref.WeakKeyDictionary[Any, dict[str, _Embedding]] = weakref.WeakKeyDictionary()


def ensure(model, texts: list[str]) -> tuple[str, ...]:
    """Load every library embedding named in `texts` onto `model` (a LoadedModel) unless it is
    loaded already; returns a warning for each one left out. A pickled or unreadable embedding
    file is a ModelError."""
    pipe = model.pipe
    tokenizer = getattr(pipe, "tokenizer", None) or getattr(pipe, "tokenizer_2", None)
    if tokenizer is None:
        return ()
    state = _states.setdefault(pipe, {})
    warnings: list[str] = []
    for word in candidate_words(texts):
        token = _token(tokenizer, word)
        known = state.get(token)
        found = _find(word)
        if found is None:
            if known is not None:
                _unload(pipe, state.pop(token))  # gone from the library
            continue
        key = _file_key(found)
        if known is not None and known.key != key:
            _unload(pipe, state.pop(token))
            known = None
        if known is None:
            known = _load(model, word, token, found, key)
            state[token] = known
        if known.warning and known.warning not in warnings:
            warnings.append(known.warning)
    return tuple(warnings)


def spelled(model, text: str) -> str:
    """`text` with each loaded embedding's name written as its token (lower case), so that
    diffusers writes out all the vectors of one named in capitals too."""
    state = _states.get(model.pipe)
    tokens = sorted((t for t, e in (state or {}).items() if not e.warning), key=len, reverse=True)
    if not tokens:
        return text
    pattern = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, tokens)) + r")(?!\w)", re.IGNORECASE)
    pieces = []
    last = 0
    for tag in _TAG.finditer(text):
        pieces += [pattern.sub(lambda m: m.group(0).lower(), text[last : tag.start()]), tag.group(0)]
        last = tag.end()
    pieces.append(pattern.sub(lambda m: m.group(0).lower(), text[last:]))
    return "".join(pieces)


def candidate_words(texts: list[str]) -> list[str]:
    """The words of the prompts that could name an embedding, in order, each once: runs of text
    between spaces, commas, brackets, colons and bars, outside <...> tags, and each without
    trailing punctuation; numbers are never names."""
    words: dict[str, None] = {}
    for text in texts:
        for run in _RUN.findall(_TAG.sub(" ", text or "")):
            for word in (run, run.rstrip(_TRAILING)):
                if word and not _NUMBER.fullmatch(word):
                    words.setdefault(word)
    return list(words)


def _find(word: str) -> Path | None:
    """The library's embedding named `word` (the name, not a hash or a path that happens to match)."""
    found = find_resource("embeddings", word)
    if found is None:
        return None
    path = Path(found[0])
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return path if word.split("/")[-1].casefold() == stem.casefold() else None


def _token(tokenizer, word: str) -> str:
    """The token an embedding gets: its name in lower case for a tokenizer that lowers case
    (CLIP's matches tokens after lowering the prompt), else as written."""
    lowers = tokenizer.tokenize("A") == tokenizer.tokenize("a")
    return word.lower() if lowers else word


def _file_key(path: Path) -> tuple:
    try:
        info = path.stat()
    except OSError:
        return (str(path), None, None)
    return (str(path.resolve()), info.st_size, info.st_mtime_ns)


def _load(model, word: str, token: str, path: Path, key: tuple) -> _Embedding:
    vectors = _vectors(path, _read(path))
    pipe = model.pipe
    if not hasattr(pipe, "load_textual_inversion"):
        raise ModelError(f"{model.info.name} cannot take textual-inversion embeddings (the prompt names {word})")
    plan, problem = _fit(model, word, vectors)
    if problem:
        return _Embedding(key, warning=problem)
    for tokenizer, _, _ in plan:
        vocabulary = tokenizer.get_vocab()
        if token in vocabulary or f"{token}_1" in vocabulary:
            return _Embedding(
                key,
                warning=f"the embedding {word} was left out: its name is a word the text encoder knows already "
                f"({token!r}); rename its file to use it",
            )
    embedding = _Embedding(key)
    try:
        for tokenizer, encoder, tensor in plan:
            pipe.load_textual_inversion(tensor, token=token, tokenizer=tokenizer, text_encoder=encoder)
            tokens = (token, *(f"{token}_{i}" for i in range(1, len(tensor))))
            embedding.loaded.append((tokenizer, encoder, tokens))
            _whole_words(tokenizer, tokens)
    except (ValueError, RuntimeError) as exc:
        _unload(pipe, embedding)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"the embedding {word} ({path}) cannot be loaded: {first}") from None
    return embedding


def _read(path: Path) -> dict:
    """The floating-point tensors of embedding file `path`."""
    if is_pickle_file(path):
        raise ModelError(pickle_message(path))
    if path.suffix.lower() != ".safetensors":
        raise ModelError(f"{path} is not an embedding Studio reads: embeddings are .safetensors files")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    read_header(path)  # a damaged or truncated file says so in one line
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise ModelError(f"{path} is damaged: {exc}") from None
    return {name: tensor for name, tensor in tensors.items() if tensor.is_floating_point()}


def _vectors(path: Path, tensors: dict) -> dict[str, Any]:
    """{"": vectors} for an SD 1.x/2.x embedding, {"clip_l": ..., "clip_g": ...} for SDXL; each n x width."""
    if "clip_l" in tensors or "clip_g" in tensors:
        chosen = {name: tensors[name] for name in ("clip_l", "clip_g") if name in tensors}
    elif "emb_params" in tensors:
        chosen = {"": tensors["emb_params"]}
    else:
        params = [name for name in tensors if name.startswith("string_to_param")]
        names = params if len(params) == 1 else list(tensors)
        if len(names) != 1:
            raise ModelError(
                f"{path} is not an embedding Studio can read: it holds {len(tensors)} tensors and none is "
                f"emb_params, clip_l or clip_g"
            )
        chosen = {"": tensors[names[0]]}
    shaped = {}
    for name, tensor in chosen.items():
        if tensor.ndim == 0 or tensor.numel() == 0:
            raise ModelError(f"{path} holds an empty embedding")
        shaped[name] = tensor.reshape(-1, tensor.shape[-1])
    return shaped


def _fit(model, word: str, vectors: dict) -> tuple[list[tuple[Any, Any, Any]], str]:
    """Which vectors go into which (tokenizer, text encoder), or why the embedding does not fit."""
    pipe = model.pipe
    first = _slot(pipe, "")
    second = _slot(pipe, "_2")
    if "" in vectors:
        wanted = [("", first)] if second is None else []
    else:
        wanted = [(name, slot) for name, slot in (("clip_l", first), ("clip_g", second)) if slot is not None]
        if second is None or any(name not in vectors for name, _ in wanted):
            wanted = []
    plan = []
    for name, slot in wanted:
        assert slot is not None
        tokenizer, encoder = slot
        if vectors[name].shape[-1] != _width(encoder):
            break
        plan.append((tokenizer, encoder, vectors[name]))
    else:
        if plan:
            return plan, ""
    return [], (
        f"the embedding {word} is for {_embedding_family(vectors)} and {model.info.name} is "
        f"{_model_family(model.info.family, first, second)}: it was left out (the word is read as text)"
    )


def _slot(pipe, suffix: str):
    tokenizer = getattr(pipe, "tokenizer" + suffix, None)
    encoder = getattr(pipe, "text_encoder" + suffix, None)
    return (tokenizer, encoder) if tokenizer is not None and encoder is not None else None


def _width(encoder) -> int:
    return int(encoder.get_input_embeddings().weight.shape[-1])


def _embedding_family(vectors: dict) -> str:
    if "" not in vectors:
        widths = " and ".join(f"{name} {tensor.shape[-1]} wide" for name, tensor in vectors.items())
        return f"SDXL ({widths})"
    width = int(vectors[""].shape[-1])
    family = _WIDTH_FAMILIES.get(width)
    return f"{family} ({width} wide)" if family else f"a text encoder {width} wide"


def _model_family(family: str, first, second) -> str:
    name = FAMILIES.get(family, "a custom model")
    if second is not None:
        widths = [f"clip_l {_width(first[1])} wide"] if first is not None else []
        widths.append(f"clip_g {_width(second[1])} wide")
        return f"{name} (embeddings with {' and '.join(widths)})"
    width = _width(first[1]) if first is not None else 0
    return f"{name} (one text encoder, {width} wide)"


def _whole_words(tokenizer, tokens: tuple[str, ...]) -> None:
    """Let `tokens` match whole words only (diffusers adds them matching anywhere)."""
    from tokenizers import AddedToken

    added = {str(t): t for t in tokenizer.added_tokens_decoder.values()}
    renewed = []
    for token in tokens:
        old = added.get(token)
        normalized = old.normalized if isinstance(old, AddedToken) else True
        renewed.append(AddedToken(token, single_word=True, normalized=normalized))
    tokenizer.add_tokens(renewed)


def _unload(pipe, embedding: _Embedding) -> None:
    for tokenizer, encoder, tokens in reversed(embedding.loaded):
        pipe.unload_textual_inversion(tokens=list(tokens), tokenizer=tokenizer, text_encoder=encoder)
    embedding.loaded.clear()
