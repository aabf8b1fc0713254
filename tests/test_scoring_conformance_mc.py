"""Conformance: vtl's image multiple-choice rules give the references' verdicts, per output and in the mean.

tests/data/image_mc_conformance.json holds outputs (whitespace before and after, newlines, parentheses, markdown,
"The answer is", option texts, letters beyond the options, refusals, API failures, odd Unicode letters) with the
letter each reference reads, produced by running BLINK's `analyze_answer`, lmms-eval's `_extract_answer_letter` and
VLMEvalKit's `can_infer` at the commits the file records, outside this repository. None: the reference reads no
letter (BLINK would then ask GPT; VLMEvalKit's exact matching scores "Z").
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from vtl.models.parsing import parse_answer

DATA = json.loads((Path(__file__).parent / "data" / "image_mc_conformance.json").read_text())
RULES = ("blink", "lmms-eval", "vlmevalkit")
LETTERS = "ABCDE"


def _read(row: dict, rule: str) -> str | None:
    letters = list(LETTERS[: len(row["choices"])])
    return parse_answer(row["text"], letters, rule, choices=row["choices"])


def test_the_table_covers_each_rule_with_enough_distinct_verdicts():
    assert len({c["text"] for c in DATA["cases"]}) >= 60  # every case is scored by every rule
    for rule in RULES:
        verdicts = Counter(str(case[rule]) for case in DATA["cases"])
        assert len(verdicts) >= 4, (rule, verdicts)  # letters, outside letters and None all occur


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_reads_every_output_as_its_reference_does(rule):
    wrong = [(c["text"], c["choices"], c[rule], _read(c, rule)) for c in DATA["cases"] if _read(c, rule) != c[rule]]
    assert not wrong, wrong[:5]


@pytest.mark.parametrize("rule", RULES)
def test_mean_accuracy_over_640_outputs_equals_the_reference_to_the_bit(rule):
    rows = DATA["aggregate"]["rows"]
    assert len(rows) >= 500
    mean = sum(_read(row, rule) == row["answer"] for row in rows) / len(rows)
    assert mean == DATA["aggregate"]["mean"][rule]


def test_the_rules_disagree_where_the_references_do():
    # the table is only a check if the references differ on it; a rule aliasing another would pass less
    texts = {rule: [c[rule] for c in DATA["cases"]] for rule in RULES}
    assert texts["blink"] != texts["lmms-eval"] != texts["vlmevalkit"] != texts["blink"]
