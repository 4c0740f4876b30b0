"""AUTOMATIC1111's prompt syntax read into weighted pieces and LoRA tags: its own examples,
escapes, BREAK, LoRA tags, and any string at all (fuzzed)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.engine.prompt_syntax import (
    MAX_LORA_WEIGHT,
    MAX_WEIGHT,
    MIN_WEIGHT,
    LoraTag,
    Piece,
    Span,
    lora_tags,
    parse,
    plain_text,
    spans,
)


def pieces(text: str) -> list[tuple[str, float]]:
    return [(piece.text, piece.weight) for piece in parse(text).pieces]


# The examples AUTOMATIC1111 documents for its parser, with the weights it gives.
A1111_EXAMPLES = [
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
    ("(unbalanced", [("unbalanced", 1.1)]),
    ("\\(literal\\]", [("(literal]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
    (
        "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
        [
            ("a ", 1.0),
            ("house", 1.5730000000000004),
            (" ", 1.1),
            ("on", 1.0),
            (" a ", 1.1),
            ("hill", 0.55),
            (", sun, ", 1.1),
            ("sky", 1.4641000000000006),
            (".", 1.1),
        ],
    ),
]

MORE_EXAMPLES = [
    ("(word)", [("word", 1.1)]),
    ("((word))", [("word", 1.1 * 1.1)]),
    ("[word]", [("word", 1 / 1.1)]),
    ("[[word]]", [("word", 1 / 1.1 / 1.1)]),
    ("(word:1.3)", [("word", 1.3)]),
    ("(several words:0.8), tree", [("several words", 0.8), (", tree", 1.0)]),
    ("( word : 1.5 )", [(" word ", 1.5)]),
    ("(word:.5)", [("word", 0.5)]),
    ("(word:+2)", [("word", 2.0)]),
    ("(word:-1)", [("word", -1.0)]),
    ("(word:0)", [("word", 0.0)]),
    ("(word:1.0)", [("word", 1.0)]),
    ("a ((b:1.5) c)", [("a ", 1.0), ("b", 1.5 * 1.1), (" c", 1.1)]),
    ("([a)b]", [("a", 1.1 / 1.1), ("b", 1 / 1.1)]),
    ("unopened) and ]", [("unopened) and ]", 1.0)]),
    ("[unclosed", [("unclosed", 1 / 1.1)]),
    ("a:b, 1:2", [("a:b, 1:2", 1.0)]),
    ("time 12:30)", [("time 12:30)", 1.0)]),
    ("(a:1.2.3)", [("a:1.2.3", 1.1)]),
    ("(a:x)", [("a:x", 1.1)]),
    ("\\\\(a)", [("\\", 1.0), ("a", 1.1)]),
    ("a \\ b", [("a \\ b", 1.0)]),
    ("\\(a:1.5\\)", [("(a:1.5)", 1.0)]),
    ("", [("", 1.0)]),
]


@pytest.mark.parametrize(("text", "expected"), A1111_EXAMPLES + MORE_EXAMPLES)
def test_weights_as_automatic1111_gives_them(text, expected):
    got = pieces(text)
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert [w for _, w in got] == pytest.approx([w for _, w in expected], rel=1e-12)


@pytest.mark.parametrize(("text", "expected"), A1111_EXAMPLES)
def test_automatic1111_examples_to_the_last_bit(text, expected):
    assert pieces(text) == expected


def test_break_starts_a_new_chunk_as_a_word_in_capitals():
    parsed = parse("a castle BREAK (fog:1.2) BREAK")
    assert parsed.pieces == (
        Piece("a castle ", 1.0),
        Piece(" ", 1.0, True),
        Piece("fog", 1.2),
        Piece(" ", 1.0),
        Piece("", 1.0, True),
    )
    assert [[p.text for p in segment] for segment in parsed.segments] == [["a castle "], [" ", "fog", " "], [""]]
    assert parsed.weighted
    for text in ("a break b", "BREAKING news", "aBREAK", "BREAK_", "éBREAK"):
        assert parse(text).pieces == (Piece(text, 1.0),), text
    assert len(parse("(a BREAK b)").segments) == 2
    assert len(parse("a,BREAK,b").segments) == 2


def test_weighted_says_whether_the_text_alone_says_it_all():
    assert not parse("a castle, golden hour").weighted
    assert not parse("a (castle:1.0) <lora:x:0.5>").weighted
    assert parse("a (castle)").weighted
    assert parse("a castle BREAK fog").weighted


def test_lora_tags_are_taken_out_and_listed_in_order():
    parsed = parse("a castle, <lora:watercolor:0.7>, (fog) <lora:detail> <LyCO:my style v2:-0.5>")
    assert parsed.loras == (("watercolor", 0.7), ("detail", 1.0), ("my style v2", -0.5))
    assert parsed.plain_text == "a castle, , fog  "
    assert lora_tags("<lora:ünïcødé 水彩:1.25>") == (LoraTag("ünïcødé 水彩", 1.25),)
    assert lora_tags("<lora: spaced name : 0.5 >") == (("spaced name", 0.5),)
    assert lora_tags("<lora:a:0.8:0.3>") == (("a", 0.8),)
    assert lora_tags("<lora:a:te=0.6:unet=0.2>") == (("a", 0.6),)
    assert lora_tags("<lora:a:unet=0.2>") == (("a", 1.0),)
    assert lora_tags("(<lora:a:2>:1.5)") == (("a", 2.0),)


@pytest.mark.parametrize(
    ("text", "weight"),
    [
        ("<lora:a:nan>", 1.0),
        ("<lora:a:strong>", 1.0),
        ("<lora:a:>", 1.0),
        ("<lora:a:1e9>", MAX_LORA_WEIGHT),
        ("<lora:a:-inf>", -MAX_LORA_WEIGHT),
        ("<lora:a:1e-1>", 0.1),
    ],
)
def test_lora_weights_out_of_reason(text, weight):
    assert lora_tags(text) == (("a", weight),)


@pytest.mark.parametrize("text", ["<lora:>", "<lora::0.5>", "<lora: :1>", "<hypernet:x:1>", "<lora:a", "lora:a:1>"])
def test_what_is_not_a_lora_tag_stays_text(text):
    parsed = parse(text)
    assert parsed.loras == ()
    assert parsed.plain_text == text


@pytest.mark.parametrize(
    ("text", "weight"),
    [
        ("(a:" + "9" * 400 + ")", MAX_WEIGHT),
        ("(a:1000)", MAX_WEIGHT),
        ("(a:0.0000001)", MIN_WEIGHT),
        ("(a:-1000)", -MAX_WEIGHT),
        ("(" * 5000 + "a", MAX_WEIGHT),
        ("[" * 5000 + "a", MIN_WEIGHT),
    ],
)
def test_weights_out_of_reason_are_clamped(text, weight):
    assert pieces(text) == [("a", weight)]


def test_spans_for_highlighting():
    text = "a (b [c]) \\( <lora:x:0.5> BREAK (d"
    assert spans(text) == [
        Span(2, 9, "weight", 1.1),
        Span(5, 8, "weight", 1.1 * (1 / 1.1)),
        Span(10, 12, "escape", 1.0),
        Span(13, 25, "lora", 0.5),
        Span(26, 31, "break", 1.0),
        Span(32, 34, "weight", 1.1),
    ]
    assert spans("(a:1.3)") == [Span(0, 7, "weight", 1.3)]
    assert spans("plain words") == []


def test_helpers_agree_with_parse():
    text = "(a:1.2) b <lora:c:0.3>"
    assert plain_text(text) == parse(text).plain_text == "a b "
    assert lora_tags(text) == parse(text).loras


@pytest.mark.parametrize(
    "text",
    [
        "(" * 1_000_000,
        "(a[" * 250_000 + "])" * 100_000,
        "a(b)\\(" * 150_000,
        "<lora:" * 150_000 + ": 1" + "1" * 100_000 + " " * 100_000,
        "BREAK " * 150_000,
    ],
    ids=["open", "nested", "pairs", "colons", "breaks"],
)
def test_megabyte_prompts_do_not_fail(text):
    """No recursion and no backtracking: a quadratic parser would not finish these."""
    parsed = parse(text)
    assert all(math.isfinite(p.weight) for p in parsed.pieces)
    assert len(spans(text)) <= len(text)


SYNTAX = st.sampled_from(
    ["(", ")", "[", "]", "\\", ":", "1.5", "0.9", "-2", "0", ".", " ", "BREAK", "<lora:", "<lyco:", ">", "a", "é", ","]
)
PROMPTS = st.one_of(st.text(), st.lists(st.one_of(SYNTAX, st.text(max_size=3)), max_size=40).map("".join))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(PROMPTS)
def test_any_text_parses(text):
    parsed = parse(text)
    assert "".join(piece.text for piece in parsed.pieces) == plain_text(text)
    assert all(math.isfinite(p.weight) and abs(p.weight) <= MAX_WEIGHT for p in parsed.pieces)
    assert all(math.isfinite(weight) for _, weight in parsed.loras)
    if "0" not in text and "-" not in text:
        assert all(p.weight > 0 for p in parsed.pieces)
    assert parsed.pieces and not parsed.pieces[0].new_chunk
    for span in spans(text):
        assert 0 <= span.start < span.end <= len(text)


@given(st.text().filter(lambda t: not any(c in t for c in "()[]\\<") and "BREAK" not in t))
def test_text_without_syntax_is_one_piece(text):
    parsed = parse(text)
    assert parsed.pieces == (Piece(text, 1.0),)
    assert parsed.loras == () and not parsed.weighted and spans(text) == []
