"""BLINK's answer-parsing rule, case by case (the full reference table is in test_scoring_conformance.py)."""

from __future__ import annotations

import pytest

from vtl.models.parsing import parse_answer

ABCD = ["A", "B", "C", "D"]


@pytest.mark.parametrize(
    ("output", "letters", "expected"),
    [
        ("B", ABCD, "B"),  # bare letter -> (B)
        ("  C\n", ABCD, None),  # BLINK compares the raw output: no strip, so GPT would be asked
        ("(D)", ABCD, "D"),
        ("The answer is (B) because it is nearer.", ABCD, "B"),
        ("(A) looks plausible but\n\nthe answer is (C)", ABCD, "C"),  # the last paragraph decides
        ("(A) and (B) both look close.\n\nHard to say.", ABCD, None),  # two options, none in the last paragraph
        ("I pick (A).\n\nFinal thoughts: none.", ABCD, None),  # "(A)." is not a whitespace-separated option token
        ("I pick (A) \n\nFinal thoughts: none.", ABCD, "A"),  # no option in the last paragraph -> whole output
        ("(A) (A) again (A)", ABCD, "A"),  # one distinct option, repeated
        ("(A) or (B)", ABCD, None),
        ("E", ABCD, "E"),  # BLINK takes any bare A-E, scored wrong when it is no option
        ("(C)", ["A", "B"], "C"),  # likewise an exact "(A)".."(E)"
            ("(C) it is", ["A", "B"], None),  # inside a sentence only the options count
        ("", ABCD, None),
        ("A cat sat.", ABCD, None),  # a word starting with the letter is not an answer
        ("answer: (b)", ABCD, None),  # BLINK's options are upper case
    ],
)
def test_blink_rule(output, letters, expected):
    assert parse_answer(output, letters, "blink") == expected
