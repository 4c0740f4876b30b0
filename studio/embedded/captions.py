"""Captions of landscape scenes: the spec's canonical grammar, the training prompts built
from it (shortened, with everyday synonyms, or empty), and reading a prompt back.

Canonical: "a {time} landscape with {ground} hills[, mountains][, {one|two|three} pine
tree(s)][, a lake][, the {sun|moon} on the {left|right}]". A prompt that names both the time
and the ground is read as complete: a clause it lacks means the attribute is absent.
Shortened training prompts therefore always drop the time or the ground (or both), so that
the attributes they leave out are free rather than absent.
"""

from __future__ import annotations

import re

import numpy as np

from studio.embedded.scene import GROUNDS, TIMES, Scene

NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}
TIME_SYNONYMS = {"sunset": ("dusk", "evening")}
GROUND_SYNONYMS = {
    "snowy": ("winter hills", "snow-covered hills"),
    "desert": ("sand hills", "dunes", "sand dunes"),
}
# What a shortened training prompt keeps at its head: the time, the ground, or neither.
SHORT_HEADS = ("time", "ground", "neither")
TREE_NOUNS = ("pine tree", "pine trees")  # singular, plural
TREE_NOUN_SYNONYMS = (("pine", "pines"), ("tree", "trees"))
# The words the prompt templates add around the attribute phrases.
TEMPLATE_WORDS = (
    "a",
    "an",
    "landscape",
    "with",
    "hills",
    "mountains",
    "lake",
    "the",
    "on",
    "sun",
    "moon",
    "left",
    "right",
)

_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


def words(text: str) -> list[str]:
    """The words of a prompt, lower-cased, without punctuation."""
    return _WORD.findall(text.lower())


def caption(scene: Scene) -> str:
    """The canonical caption of `scene`, exactly per the spec's grammar."""
    extras = _extra_clauses(scene, TREE_NOUNS)
    return _assemble(scene.time, f"{scene.ground} hills", extras)


def caption_variant(
    scene: Scene,
    rng: np.random.Generator,
    empty_probability: float = 0.1,
    short_probability: float = 0.25,
    synonym_probability: float = 0.2,
    short_heads: tuple[str, ...] = SHORT_HEADS,
) -> str:
    """A training prompt for `scene`: mostly the canonical caption, sometimes shortened
    (the time and/or the ground and some other clauses dropped; those attributes are then
    free; `short_heads` says which heads they may keep), sometimes with everyday synonyms, and with `empty_probability` the empty prompt
    that classifier-free guidance learns from."""
    if rng.random() < empty_probability:
        return ""
    time_word, ground_phrase = scene.time, f"{scene.ground} hills"
    tree_nouns = TREE_NOUNS
    if rng.random() < synonym_probability:
        time_word = _maybe_synonym(time_word, TIME_SYNONYMS.get(scene.time, ()), rng)
        ground_phrase = _maybe_synonym(ground_phrase, GROUND_SYNONYMS.get(scene.ground, ()), rng)
        tree_nouns = _maybe_synonym(tree_nouns, TREE_NOUN_SYNONYMS, rng)
    extras = _extra_clauses(scene, tree_nouns)
    if rng.random() >= short_probability:
        return _assemble(time_word, ground_phrase, extras)

    extras = [clause for clause in extras if rng.random() < 0.5]
    kept = short_heads[rng.integers(len(short_heads))]
    if kept == "neither" and not extras:
        kept = short_heads[0]
    if kept == "time":
        head = f"{_article(time_word)} {time_word} landscape"
    elif kept == "ground":
        head = ground_phrase
    else:
        head = "a landscape"
    return f"{head} with {', '.join(extras)}" if extras else head


def parse_caption(text: str) -> dict:
    """The scene attributes a prompt states, keyed like Scene's fields. A prompt naming both
    time and ground is complete, so absent clauses read as absent; otherwise only the
    attributes it mentions are returned."""
    text = text.lower()
    found: dict = {}
    if match := re.search(r"\b(day|sunset|night|dusk|evening)\b", text):
        found["time"] = "sunset" if match[1] in TIME_SYNONYMS["sunset"] else match[1]
    if match := re.search(r"\b(green|autumn|snowy|desert|winter|snow-covered|sand|dunes)\b", text):
        found["ground"] = _GROUND_WORDS.get(match[1], match[1])
    if re.search(r"\bmountains?\b", text):
        found["mountains"] = True
    if match := re.search(r"\b(one|two|three)\s+(?:pine\s+)?(?:trees?|pines?)\b", text):
        found["trees"] = {word: n for n, word in NUMBER_WORDS.items()}[match[1]]
    if re.search(r"\blake\b", text):
        found["lake"] = True
    if match := re.search(r"\b(?:sun|moon)\s+on\s+the\s+(left|right)\b", text):
        found["body"] = match[1]
    if "time" in found and "ground" in found:
        found = {"body": None, "mountains": False, "lake": False, "trees": 0} | found
    return found


def vocabulary() -> list[str]:
    """Every word that a caption or a training prompt can contain, sorted."""
    phrases = [*TEMPLATE_WORDS, *TIMES, *GROUNDS, *NUMBER_WORDS.values()]
    phrases += [s for synonyms in TIME_SYNONYMS.values() for s in synonyms]
    phrases += [s for synonyms in GROUND_SYNONYMS.values() for s in synonyms]
    phrases += [*TREE_NOUNS, *(noun for pair in TREE_NOUN_SYNONYMS for noun in pair)]
    return sorted({word for phrase in phrases for word in words(phrase)})


_GROUND_WORDS = {"winter": "snowy", "snow-covered": "snowy", "sand": "desert", "dunes": "desert"}


def _assemble(time_word: str, ground_phrase: str, extras: list[str]) -> str:
    return f"{_article(time_word)} {time_word} landscape with {', '.join([ground_phrase, *extras])}"


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _maybe_synonym(canonical, synonyms, rng: np.random.Generator):
    """One of the synonyms most of the time, else the canonical form."""
    if not synonyms or rng.random() < 0.3:
        return canonical
    return synonyms[rng.integers(len(synonyms))]


def _extra_clauses(scene: Scene, tree_nouns: tuple[str, str]) -> list[str]:
    extras = []
    if scene.mountains:
        extras.append("mountains")
    if scene.trees:
        extras.append(f"{NUMBER_WORDS[scene.trees]} {tree_nouns[scene.trees > 1]}")
    if scene.lake:
        extras.append("a lake")
    if scene.body is not None:
        body = "moon" if scene.time == "night" else "sun"
        extras.append(f"the {body} on the {scene.body}")
    return extras
