"""VIEScore: answer parsing, aggregation, malformed-answer retries, and the Gemini judge against a local server."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fake_gemini import FakeGemini, error, reply, text_body

from vtl.errors import VtlError
from vtl.vicl.scoring.judge import (
    GeminiJudge,
    MalformedAnswer,
    VieScorer,
    aggregate,
    parse_scores,
)
from vtl.vicl.scoring.viescore import make_scorer

IMG = np.full((16, 16, 3), 120, np.uint8)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"score": [7, 4], "reasoning": "ok"}', [7.0, 4.0]),
        ('Sure!\n```json\n{"score": [10, 0.5], "reasoning": "x"}\n```', [10.0, 0.5]),
        ('Here: {"score": ["8", 6], "reasoning": "broken "quote" json"} done', [8.0, 6.0]),
    ],
)
def test_parse_good_answers(answer, expected):
    assert parse_scores(answer) == expected


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("the image looks great, 8/10", "no JSON"),
        ('{"rating": [1, 2]}', 'no "score"'),
        ('{"score": [7]}', "1 values"),
        ('{"score": [7, 11]}', "outside"),
        ('{"score": [7, "high"]}', "not a number"),
        ("", "no JSON"),
    ],
)
def test_parse_malformed_answers(answer, why):
    with pytest.raises(MalformedAnswer, match=why):
        parse_scores(answer)


def test_aggregate_min_and_geometric_mean():
    out = aggregate([8, 6], [9, 4])
    assert out == {"SC": 6.0, "PQ": 4.0, "O": pytest.approx(math.sqrt(24)), "O_mean": 5.0}
    assert aggregate([0, 10], [10, 10])["O"] == 0.0


class Scripted:
    """A judge backend answering from a list, recording what it was asked."""

    name = "scripted"
    concurrent = True

    def __init__(self, answers):
        self.answers, self.asked = list(answers), []

    def ask(self, prompt, images, attempt):
        self.asked.append((prompt, len(images), attempt))
        return self.answers.pop(0)


def test_malformed_answer_is_retried_then_scored():
    backend = Scripted(["no idea", '{"score": [6, 9]}', '{"score": [8, 7]}'])
    result = VieScorer(backend, max_attempts=3).score("remove the noise", IMG, IMG)
    assert result.ok and result.SC == 6 and result.PQ == 7 and result.O == pytest.approx(math.sqrt(42))
    assert result.attempts == 3
    assert [a[2] for a in backend.asked] == [0, 1, 0]  # SC retried once, PQ first try
    assert "remove the noise" in backend.asked[0][0] and backend.asked[0][1] == 2 and backend.asked[2][1] == 1


def test_persistently_malformed_answers_count_as_failure():
    backend = Scripted(["garbage"] * 2)
    result = VieScorer(backend, max_attempts=2).score("remove the rain streaks", IMG, IMG)
    assert not result.ok and result.O is None and result.attempts == 2
    assert result.error.startswith("SC: no JSON")


def test_make_scorer_choices():
    assert make_scorer(None) is None
    with pytest.raises(VtlError, match="judge"):
        make_scorer({"class_path": "vtl.vicl.scoring.judge.GptJudge"})
    with pytest.raises(VtlError, match="judge_max_attempts must be an integer >= 1, got 0"):
        make_scorer({"class_path": "vtl.vicl.scoring.judge.QwenJudge"}, max_attempts=0)  # refused before loading


def test_gemini_judge_against_local_server(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    replies = [
        error(429),
        reply(text_body('{"score": [9, 8], "reasoning": "good"}')),
        reply(text_body("I cannot rate this.")),
        reply(text_body('```json\n{"score": [7, 5], "reasoning": "fine"}\n```')),
    ]
    with FakeGemini(replies) as server:
        judge = GeminiJudge("gemini-judge", base_url=server.base_url, base_delay=0.01, max_delay=0.02)
        result = VieScorer(judge, max_attempts=3).score("remove the haze", IMG, IMG)
        assert result.ok and (result.SC, result.PQ) == (8.0, 5.0)
        assert len(server.requests) == 4
        assert all(r.path.endswith("/models/gemini-judge:generateContent") for r in server.requests)
        assert server.requests[3].body["generationConfig"]["temperature"] == 0.7  # retry samples
    with FakeGemini([error(500)] * 3) as server:
        judge = GeminiJudge("gemini-judge", base_url=server.base_url, max_attempts=3, base_delay=0.01,
                            max_delay=0.02)
        result = VieScorer(judge).score("remove the haze", IMG, IMG)
        assert not result.ok and "judge API error" in result.error and len(server.requests) == 3
