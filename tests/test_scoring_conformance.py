"""Conformance: vtl's reference-named VSI-Bench rules give the references' verdicts, per question and in the mean.

The verdicts in tests/data/vsibench_conformance.json come from running the reference functions at the commits it
records (vision-x-nyu/thinking-in-space 51e089c, EvolvingLMMs-Lab/lmms-eval 75571cf) on these inputs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from vtl.models.numeric import mean_relative_accuracy, mra_slack, parse_number, score_number
from vtl.models.parsing import parse_answer
from vtl.models.vsibench_aggregate import MC_QUESTION_TYPES, vsibench_subscores

DATA = json.loads((Path(__file__).parent / "data" / "vsibench_conformance.json").read_text())
_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _value(x):
    return _SPECIAL.get(x, x) if isinstance(x, str) else x


def _same(got, want) -> bool:
    if want is None or got is None:
        return got is want
    return (math.isnan(got) and math.isnan(want)) or got == want


@pytest.mark.parametrize("rule", ["vsibench", "lmms-eval"])
def test_number_rules_read_what_the_reference_reads(rule):
    wrong = [(c["text"], parse_number(c["text"], rule), c[rule]) for c in DATA["numbers"]
             if not _same(parse_number(c["text"], rule), _value(c[rule]))]
    assert len(DATA["numbers"]) >= 60 and wrong == []


def test_mra_matches_the_reference_at_every_threshold_boundary():
    wrong = [c for c in DATA["mra"] if mean_relative_accuracy(_value(c["pred"]), c["truth"]) != c["mra"]]
    assert len(DATA["mra"]) >= 60 and wrong == []


def test_mra_slack_is_vtls_own_and_differs_on_the_boundary():
    assert mean_relative_accuracy(4.0, 5.0) == 0.6 and mra_slack(4.0, 5.0) == pytest.approx(0.7)
    assert score_number("4", 5.0, "vtl") == (4.0, pytest.approx(0.7))
    assert score_number("4", 5.0, "vsibench") == (4.0, 0.6)


def test_vsibench_video_mc_rule_is_first_token_exact_match():
    wrong = [c for c in DATA["vsibench_mc"]
             if float(parse_answer(c["text"], ["A", "B", "C", "D"], "vsibench") == c["truth"]) != c["correct"]]
    assert len(DATA["vsibench_mc"]) >= 60 and wrong == []


def _vtl_score(row: dict, rule: str) -> float:
    if row["question_type"] in MC_QUESTION_TYPES:
        return float(parse_answer(row["output"], ["A", "B", "C", "D"], "vsibench") == row["ground_truth"])
    return score_number(row["output"], float(row["ground_truth"]), rule)[1]


@pytest.mark.parametrize("rule", ["vsibench", "lmms-eval"])
def test_mean_score_over_500_boundary_pairs_equals_the_reference_to_the_bit(rule):
    rows = DATA["aggregate"]["rows"]
    scores = [_vtl_score(row, rule) for row in rows]
    assert len(rows) >= 500
    assert [s for s, row in zip(scores, rows, strict=True) if s != row[rule]] == []
    assert float(np.mean(scores)) == DATA["aggregate"]["mean"][rule]
    got = vsibench_subscores(((row["question_type"], s) for row, s in zip(rows, scores, strict=True)), rule)
    assert got == DATA["aggregate"]["subscores"][rule]
