"""Build a small CLIP tokenizer whose vocabulary holds a given list of words.

Studio's own models (the embedded landscape model and the tiny models the tests build)
need a real `CLIPTokenizer` folder without fetching one from a hub. The vocabulary has every
byte-level character, alone and at the end of a word, so any text tokenizes; merges are
added so that each given word comes out as one token.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable

SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")
# How CLIP's pre-tokenizer splits text: runs of letters, single digits, runs of other marks.
_PRETOKEN = re.compile(r"[^\W\d_]+|\d|[^\s\w]+")


@lru_cache(maxsize=1)
def byte_alphabet() -> tuple[str, ...]:
    """The 256 printable characters that byte-level BPE uses to stand for raw bytes."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return tuple(table[b] for b in range(256))


def _encode_word(word: str) -> list[str]:
    alphabet = byte_alphabet()
    symbols = [alphabet[b] for b in word.encode("utf-8")]
    symbols[-1] += "</w>"
    return symbols


def vocabulary_and_merges(words: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    """A CLIP BPE vocabulary and merge list in which each of `words` is one token."""
    alphabet = byte_alphabet()
    tokens: list[str] = list(alphabet) + [c + "</w>" for c in alphabet]
    merges: list[str] = []
    seen_merges: set[str] = set()
    # Each word is built from its end: every merge has a word-final symbol on its right,
    # and a word holds only one such symbol, so merges of different words never compete.
    pieces = {p for w in words for p in _PRETOKEN.findall(w.lower())}
    for word in sorted(pieces):
        symbols = _encode_word(word)
        current = symbols[-1]
        for symbol in reversed(symbols[:-1]):
            merge = f"{symbol} {current}"
            current = symbol + current
            if merge not in seen_merges:
                seen_merges.add(merge)
                merges.append(merge)
                tokens.append(current)
    tokens.extend(SPECIAL_TOKENS)
    vocab: dict[str, int] = {}
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    return vocab, merges


def write_clip_tokenizer(words: Iterable[str], out_dir: str | Path, model_max_length: int = 77) -> Path:
    """Write a CLIP tokenizer folder (vocab.json, merges.txt, configs) holding `words`.

    The folder loads with `CLIPTokenizer.from_pretrained(out_dir)` as any hub tokenizer does.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab, merges = vocabulary_and_merges(words)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    bos, eos = SPECIAL_TOKENS
    specials = {"bos_token": bos, "eos_token": eos, "unk_token": eos, "pad_token": eos}
    (out / "special_tokens_map.json").write_text(json.dumps(specials), encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": model_max_length,
        "do_lower_case": True,
        **specials,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return out
