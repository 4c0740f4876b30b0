"""Ctrl+Up/Down's text edit (AUTOMATIC1111's): wrap the words as (words:1.1), step an existing weight,
drop the brackets at 1; and where an inserted LoRA tag goes. Pure functions of the text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studio.engine.prompt_syntax import parse
from studio.model.prompt_edit import insertion, insertion_point, step_weight


def stepped(marked: str, delta: float) -> str:
    """Apply a step to text whose selection is written [[like this]] (or a cursor as |); the result
    is written the same way."""
    if "|" in marked:
        start = end = marked.index("|")
        text = marked.replace("|", "")
    else:
        start = marked.index("[[")
        end = marked.index("]]") - 2
        text = marked.replace("[[", "").replace("]]", "")
    edit = step_weight(text, start, end, delta)
    if edit is None:
        return "(no edit)"
    new = text[: edit.start] + edit.replacement + text[edit.end :]
    if edit.select_start == edit.select_end:
        return new[: edit.select_start] + "|" + new[edit.select_start :]
    return new[: edit.select_start] + "[[" + new[edit.select_start : edit.select_end] + "]]" + new[edit.select_end :]


@pytest.mark.parametrize(
    ("before", "delta", "after"),
    [
        ("a [[golden hour]], fog", 0.1, "a ([[golden hour]]:1.1), fog"),
        ("a [[golden hour]], fog", -0.1, "a ([[golden hour]]:0.9), fog"),
        ("a ([[golden hour]]:1.1), fog", 0.1, "a ([[golden hour]]:1.2), fog"),
        ("a ([[golden hour]]:1.1), fog", -0.1, "a [[golden hour]], fog"),
        ("a ([[golden hour]]:0.9), fog", 0.1, "a [[golden hour]], fog"),
        ("a ([[golden hour]]:1.25)", 0.1, "a ([[golden hour]]:1.35)"),
        ("a [[castle, ]]fog", 0.1, "a ([[castle]]:1.1), fog"),  # spaces and commas at the edges stay outside
        ("a [[(golden hour:1.3)]], fog", 0.1, "a ([[golden hour]]:1.4), fog"),  # the whole group selected
        ("a [[(golden hour)]], fog", 0.1, "a ([[golden hour]]:1.2), fog"),  # (words) is 1.1 already
        ("a ([[golden hour]]), fog", -0.1, "a [[golden hour]], fog"),
        ("a cas|tle, fog", 0.1, "a ([[castle]]:1.1), fog"),  # the word under the cursor
        ("a castle|, fog", 0.1, "a ([[castle]]:1.1), fog"),  # just after it
        ("a (golden ho|ur:1.3), fog", -0.1, "a ([[golden hour]]:1.2), fog"),  # the group around the cursor
        ("a (golden hour:1.3|), fog", 0.1, "a ([[golden hour]]:1.4), fog"),
        ("((a [[castle]]:1.5)), fog", 0.1, "((a [[castle]]:1.5)), fog".replace("[[castle]]", "([[castle]]:1.1)")),
        ("x ([[a]]:0)", -0.1, "(no edit)"),  # never below 0
        ("a ([[b]]:99.95)", 0.1, "a ([[b]]:100)"),
        ("a ([[b]]:100)", 0.1, "(no edit)"),
        ("a, |, b", 0.1, "(no edit)"),  # nothing under the cursor
        ("|", 0.1, "(no edit)"),
        ("a [[()]] b", 0.1, "(no edit)"),
        ("a [[ , ]] b", 0.1, "(no edit)"),
        ("a \\(x\\) [[y]]", 0.1, "a \\(x\\) ([[y]]:1.1)"),
        ("a <lora:water|color:0.7>, b", 0.1, "a <lora:watercolor:0.8|>, b"),  # a LoRA tag's own weight
        ("a <lora:watercolor|>, b", -0.1, "a <lora:watercolor:0.9|>, b"),  # no weight: 1
        ("a <lora:wc:1.5:0.3>|", 0.1, "a <lora:wc:1.6:0.3|>"),
        ("a [[<lora:wc:0.1>]]", -0.1, "a [[<lora:wc:0>]]"),
    ],
)
def test_steps_as_automatic1111_does(before, delta, after):
    assert stepped(before, delta) == after


def test_the_edit_means_what_it_says_to_the_parser():
    text = "a castle, golden hour, fog"
    edit = step_weight(text, 10, 21, 0.1)
    assert edit is not None
    new = text[: edit.start] + edit.replacement + text[edit.end :]
    weights = {piece.text: piece.weight for piece in parse(new).pieces}
    assert weights["golden hour"] == pytest.approx(1.1)


@given(st.text(max_size=40), st.integers(0, 40), st.integers(0, 40), st.sampled_from([0.1, -0.1]))
def test_any_text_and_selection_never_fail(text, a, b, delta):
    start, end = sorted((min(a, len(text)), min(b, len(text))))
    edit = step_weight(text, start, end, delta)
    if edit is not None:
        new = text[: edit.start] + edit.replacement + text[edit.end :]
        assert 0 <= edit.start <= edit.end <= len(text)
        assert 0 <= edit.select_start <= edit.select_end <= len(new)
        parse(new)


@pytest.mark.parametrize(
    ("text", "at", "piece", "inserted"),
    [
        ("", 0, "<lora:wc:1>", "<lora:wc:1>"),
        ("a castle", 8, "<lora:wc:1>", ", <lora:wc:1>"),
        ("a castle, ", 10, "<lora:wc:1>", "<lora:wc:1>"),
        ("a castle,", 9, "<lora:wc:1>", " <lora:wc:1>"),
        ("a castle fog", 8, "<lora:wc:1>", ", <lora:wc:1>,"),
        ("a castle, fog", 0, "<lora:wc:1>", "<lora:wc:1>, "),
        ("a castle\n", 9, "wc style", "wc style"),
    ],
)
def test_an_insertion_is_set_off_by_commas(text, at, piece, inserted):
    assert insertion(text, at, piece) == inserted


@pytest.mark.parametrize(
    ("marked", "moved"),
    [
        ("a ca|stle, fog", "a ca|stle, fog"),
        ("a (cas|tle:1.2), fog", "a (castle:1.2)|, fog"),
        ("a ((cas|tle):1.2), fog", "a ((castle):1.2)|, fog"),
        ("a [f|og] b", "a [fog]| b"),
        ("a <lora:w|c:1>, b", "a <lora:wc:1>|, b"),
        ("a (open| end", "a (open end|"),
        ("|(a)", "|(a)"),
        ("(a)|", "(a)|"),
    ],
)
def test_an_insertion_never_lands_inside_brackets_or_a_tag(marked, moved):
    at = marked.index("|")
    text = marked.replace("|", "")
    to = insertion_point(text, at)
    assert text[:to] + "|" + text[to:] == moved
