"""VSI-Bench's report: per-question-type means, the three relative-direction levels folded into one, and the overall.

Both references group the per-question scores (accuracy 0/1 for multiple choice, MRA for numbers) by
`question_type` with pandas, average the `object_rel_direction_{easy,medium,hard}` means into
`object_rel_direction_accuracy`, and take the overall as the plain mean of the resulting subscores (eight on the full
benchmark: a macro mean over question types, not over questions). They differ in the report:
- `vsibench` (vision-x-nyu/thinking-in-space 51e089c3ae69b9435e9489058610f5b3964c56a8,
  `lmms_eval/tasks/vsibench/utils.py`, `vsibench_aggregate_results`): every value × 100, unrounded; the
  relative-direction fold only when the easy level is present.
- `lmms-eval` (EvolvingLMMs-Lab/lmms-eval 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3, same path,
  `_compute_all_subscores`): fractions in [0, 1], each rounded to 6 decimals; the fold always (the reference raises
  KeyError without all three levels; vtl says so).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import pandas as pd

from vtl.errors import VtlError

MC_QUESTION_TYPES = ("object_rel_direction_easy", "object_rel_direction_medium", "object_rel_direction_hard",
                     "object_rel_distance", "route_planning", "obj_appearance_order")
NUMERICAL_QUESTION_TYPES = ("object_abs_distance", "object_counting", "object_size_estimation",
                            "room_size_estimation")
_MRA_KEY = "MRA:.5:.95:.05"
_DIRECTIONS = tuple(f"object_rel_direction_{level}_accuracy" for level in ("easy", "medium", "hard"))
# the order of thinking-in-space's tabulated report
_REPORT_ORDER = ("object_counting", "object_abs_distance", "object_size_estimation", "room_size_estimation",
                 "object_rel_distance", "object_rel_direction", "route_planning", "obj_appearance_order")


def vsibench_subscores(scores: Iterable[tuple[str, float]], flavour: Literal["vsibench", "lmms-eval"] = "vsibench"
                       ) -> dict[str, float]:
    """{"overall", "<question_type>_accuracy" | "<question_type>_MRA:.5:.95:.05", ...} from (question_type, score)
    pairs, in the reference's order and units (see the module docstring)."""
    frame = pd.DataFrame(list(scores), columns=["question_type", "score"])
    if frame.empty:
        raise VtlError("VSI-Bench aggregation got no scored questions")
    output: dict[str, float] = {}
    for question_type, index in frame.groupby("question_type").groups.items():
        if question_type in MC_QUESTION_TYPES:
            key = f"{question_type}_accuracy"
        elif question_type in NUMERICAL_QUESTION_TYPES:
            key = f"{question_type}_{_MRA_KEY}"
        else:
            raise VtlError(f"VSI-Bench aggregation: question_type {question_type!r} is none of "
                           f"{', '.join(MC_QUESTION_TYPES + NUMERICAL_QUESTION_TYPES)}")
        output[key] = frame.iloc[index]["score"].mean()
    if flavour == "lmms-eval" or _DIRECTIONS[0] in output:
        missing = [k for k in _DIRECTIONS if k not in output]
        if missing:
            raise VtlError(f"VSI-Bench aggregation needs all three relative-direction levels; missing {missing}")
        output["object_rel_direction_accuracy"] = sum([output.pop(k) for k in _DIRECTIONS]) / 3.0
    output["overall"] = sum(output.values()) / len(output)
    if flavour == "lmms-eval":
        return {key: round(float(value), 6) for key, value in output.items()}
    if flavour != "vsibench":
        raise ValueError(f"flavour {flavour!r}: use 'vsibench' or 'lmms-eval'")
    report = {"overall": float(output["overall"]) * 100.0}
    for question_type in _REPORT_ORDER:
        for metric in ("accuracy", _MRA_KEY):
            if f"{question_type}_{metric}" in output:
                report[f"{question_type}_{metric}"] = float(output[f"{question_type}_{metric}"]) * 100.0
    return report
