"""The local Qwen2.5-VL judge on the tiny offline model: the real generate path, malformed answers counted."""

from __future__ import annotations

import numpy as np

from vtl.vicl.scoring.viescore import make_scorer


def test_tiny_qwen_judge_runs_and_counts_malformed_answers(tiny_model_dir):
    scorer = make_scorer({"class_path": "vtl.vicl.scoring.judge.QwenJudge",
                          "init_args": {"model": str(tiny_model_dir), "max_new_tokens": 8}}, max_attempts=2)
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    result = scorer.score("remove the noise", img, img)
    # random weights cannot write {"score": [..]}: retried, then a counted failure with the reason
    assert not result.ok and result.attempts == 2 and result.O is None
    assert result.error.startswith("SC: ") and result.judge.startswith("qwen:")
