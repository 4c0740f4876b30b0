"""The model's domain hints: which prompts hold a word the model knows, and the hints read from a
model's studio.json (or, for a closed vocabulary, from its tokenizer)."""

from __future__ import annotations

import json
from pathlib import Path

from studio.embedded.captions import vocabulary as caption_vocabulary
from studio.model.prompt_vocabulary import ModelHints, has_known_word, hints_for_folder, tokenizer_words
from studio.resources import embedded_model_dir

LANDSCAPE = frozenset({"hills", "lake", "sunset", "snowy", "mountains", "moon"})


def test_a_prompt_with_a_known_word_is_known_in_any_case():
    assert has_known_word("a castle by the LAKE", LANDSCAPE)
    assert has_known_word("Sunset", LANDSCAPE)


def test_a_prompt_without_a_known_word_is_not():
    assert not has_known_word("a cat wearing a hat", LANDSCAPE)


def test_little_words_do_not_count_as_known():
    # "a", "the", "on", "with" are in the embedded tokenizer, but say nothing of what is drawn.
    assert not has_known_word("a cat on the mat with a hat", LANDSCAPE | {"a", "the", "on", "with"})


def test_weights_and_lora_tags_are_not_words():
    assert has_known_word("(snowy:1.3) cat", LANDSCAPE)
    assert not has_known_word("<lora:lake:0.8> a cat", LANDSCAPE)


def test_hyphens_and_punctuation_split_words():
    assert has_known_word("cat,snowy-dog", LANDSCAPE)


def test_no_vocabulary_or_no_words_never_warns():
    assert has_known_word("a cat wearing a hat", frozenset())
    assert has_known_word("", LANDSCAPE)
    assert has_known_word("  (:1.2) ", LANDSCAPE)


def test_hints_read_from_studio_json(tmp_path):
    (tmp_path / "studio.json").write_text(
        json.dumps(
            {"examples": ["a lake", 3, ""], "note": "Draws lakes.\nSecond line", "vocabulary": ["Lake", "hills"]}
        )
    )
    hints = hints_for_folder(tmp_path)
    assert hints == ModelHints(examples=("a lake",), note="Draws lakes.", vocabulary=frozenset({"lake", "hills"}))


def test_a_model_without_hints_has_none(tmp_path):
    (tmp_path / "studio.json").write_text(json.dumps({"name": "x"}))
    assert hints_for_folder(tmp_path) == ModelHints()
    assert not ModelHints()
    assert hints_for_folder(tmp_path / "missing") == ModelHints()


def test_a_broken_studio_json_gives_no_hints(tmp_path):
    (tmp_path / "studio.json").write_text("{not json")
    assert hints_for_folder(tmp_path) == ModelHints()
    (tmp_path / "studio.json").write_text(json.dumps({"examples": "a lake", "vocabulary": {"a": 1}, "note": 5}))
    assert hints_for_folder(tmp_path) == ModelHints()


def test_a_closed_tokenizer_vocabulary_is_read_when_studio_json_lacks_one(tmp_path):
    from studio.embedded.tokenizer import write_clip_tokenizer

    write_clip_tokenizer(["a lake", "snowy hills"], tmp_path / "tokenizer")
    (tmp_path / "studio.json").write_text(json.dumps({"examples": ["a lake"]}))
    words = hints_for_folder(tmp_path).vocabulary
    assert {"lake", "snowy", "hills"} <= words
    assert "cat" not in words


def test_the_embedded_tokenizer_holds_every_caption_word():
    words = tokenizer_words(embedded_model_dir() / "tokenizer")
    assert set(caption_vocabulary()) - {"snow-covered"} <= words | {"a"}


def test_the_embedded_model_says_what_it_draws():
    hints = hints_for_folder(embedded_model_dir())
    assert len(hints.examples) >= 3
    assert hints.note and "\n" not in hints.note
    assert hints.vocabulary <= tokenizer_words(embedded_model_dir() / "tokenizer")
    for example in hints.examples:
        assert has_known_word(example, hints.vocabulary)
    assert not has_known_word("a cat wearing a hat", hints.vocabulary)


def test_an_open_vocabulary_is_not_a_list_of_what_the_model_knows(tmp_path):
    folder = tmp_path / "tokenizer"
    folder.mkdir()
    (folder / "vocab.json").write_text(json.dumps({f"w{i}</w>": i for i in range(60000)}))
    assert tokenizer_words(folder) == frozenset()
    assert tokenizer_words(Path(tmp_path / "nowhere")) == frozenset()


def test_hints_by_model_reference(tmp_path):
    import shutil

    from studio.model.prompt_vocabulary import model_hints

    assert model_hints("embedded") == hints_for_folder(embedded_model_dir())
    assert model_hints("embedded").examples
    plain = shutil.copytree(embedded_model_dir(), tmp_path / "plain")
    studio = json.loads((plain / "studio.json").read_text())
    for key in ("examples", "note", "vocabulary"):
        del studio[key]
    (plain / "studio.json").write_text(json.dumps(studio))
    assert model_hints(str(plain)) == ModelHints()
    assert model_hints(str(tmp_path / "no such model")) == ModelHints()
