"""The three image answer rules (blink, lmms-eval, vlmevalkit) on the same outputs, and the prompt presets.

The video rule `vsibench` has its own table in test_scoring_conformance.py.
"""

from __future__ import annotations

import pytest

from vtl.data.sample import BlinkSample
from vtl.models.harness import PRESETS, question_text
from vtl.models.parsing import ANSWER_RULES, parse_answer

ABCD = ["A", "B", "C", "D"]
CHOICES = ["two", "three", "four", "five"]

# output -> (blink, lmms-eval, vlmevalkit) verdicts for a question with options A-D = two, three, four, five.
TABLE = [
    ("B", ("B", "B", "B")),
    ("  C\n", (None, "C", "C")),  # BLINK compares the raw output, before any strip
    ("(D)", ("D", "D", "D")),
    ("b", (None, "B", None)),  # lower case: lmms-eval upper-cases it; the others read upper-case letters only
    ("(b)", (None, "B", None)),
    ("A.", (None, "A", "A")),
    ("B) three", (None, "B", "B")),
    ("The answer is (B)", ("B", "T", "B")),  # lmms-eval reads the first letter of the output
    ("The answer is B.", (None, "T", "B")),
    ("answer: B", (None, "A", "B")),
    ("The correct answer is **C**, because the shadow is longer on the left side of the picture.",
     (None, "T", "C")),  # vlmevalkit: not among the last words, but "answer is C"
    ("(A) looks plausible but\n\nthe answer is (C)", ("C", "A", None)),  # vlmevalkit: two letters, no "answer is X"
    ("I pick (A) \n\nFinal thoughts: none.", ("A", "I", "A")),  # vlmevalkit: "A" is among the last four words
    ("A is right: the left bird is clearly nearer to the camera.", (None, "A", None)),  # vlmevalkit: "A" too early
    ("(A) (A) again (A)", ("A", "A", "A")),
    ("(A) or (B)", (None, "A", None)),
    ("E", ("E", "E", None)),  # not an option: BLINK (any bare A-E) and lmms-eval read it, scored wrong
    ("", (None, None, None)),
    ("A cat sat.", (None, "A", "A")),  # vlmevalkit: a short output whose article "A" is its only letter
    ("There are three birds.", (None, "T", "B")),  # vlmevalkit matches the option text "three"
    ("There are three or four birds.", (None, "T", None)),  # two option texts
    ("Cannot determine the answer from this image.", (None, "C", "Z")),  # a refusal: "Z" in VLMEvalKit
    ("Z", (None, "Z", "Z")),
    ("Failed to obtain answer via API", (None, "F", None)),
    ("  (  C", (None, "C", "C")),
    ("4", (None, None, None)),  # a digit is no letter
    ("The image shows it. Final answer: D", (None, "T", "D")),
]


@pytest.mark.parametrize(("output", "expected"), TABLE, ids=[repr(o)[:40] for o, _ in TABLE])
def test_each_rule_reads_the_output_as_its_harness_does(output, expected):
    got = tuple(parse_answer(output, ABCD, rule, choices=CHOICES) for rule in ANSWER_RULES if rule != "vsibench")
    assert got == expected


def test_the_table_is_large_enough_and_rules_disagree():
    assert len(TABLE) >= 20
    for i in range(3):
        for j in range(i + 1, 3):
            assert any(v[i] != v[j] for _, v in TABLE)


def test_unknown_rule_is_named():
    with pytest.raises(ValueError, match="unknown answer rule 'gpt'"):
        parse_answer("B", ABCD, "gpt")


def _sample():
    return BlinkSample(idx="val_Counting_1", sub_task="Counting", question="How many birds are there?",
                       prompt="How many birds are there?\nSelect from the following choices.\n(A) two\n(B) three",
                       choices=["two", "three"], answer="(B)", images=[])


def test_prompt_presets():
    s = _sample()
    assert question_text(s, "vtl") == s.prompt
    assert question_text(s, "lmms-eval") == (
        "Note: You only need to respond with A, B without providing any additional information.\n" + s.prompt)
    assert question_text(s, "vlmevalkit") == (
        "Question: How many birds are there?\nOptions:\nA. two\nB. three\n"
        "Please select the correct answer from the options above. \n")
    assert {p.name: (p.answer_rule, p.max_new_tokens) for p in PRESETS.values()} == {
        "vtl": ("blink", 16), "lmms-eval": ("lmms-eval", 1024), "vlmevalkit": ("vlmevalkit", 2048)}
    with pytest.raises(ValueError, match="unknown prompt preset"):
        question_text(s, "helm")
