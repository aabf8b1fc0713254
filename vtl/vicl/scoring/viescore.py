"""VIEScore variants and how a run's VIEScore is averaged; the variant and the averaging are recorded.

- `paper` (`vtl.vicl.scoring.judge.VieScorer`): SC and PQ from separate judge calls, each the min of its sub-scores on
  0-10, O = sqrt(SC * PQ). A failed judgement is excluded from the means and counted.
- `authors-code` (`AuthorsCodeScorer`): what the T2T-VICL authors' evaluation computes. One judge call sees the
  four images (A_in, A_out, B_in, output) and both task names, answers {"score": [SC, PQ]} on 1-10, and the item's
  score is (SC + PQ) / 2; a failed judgement scores 0 and is averaged in.

Averaging (`mean_viescore`): "paired" (vtl's default: only tuples judged for both arms being compared) or "all"
(the authors': every logged row of the arm, failures included at the value their variant gives them).

The default authors-code prompt is vtl's wording of the same question; to send the authors' exact text, give it as
a file in the judge config (`prompts: {judge: FILE}`): `{task_a}` and `{task_b}` in the text are replaced by the
tasks' folder names.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vtl.components import build
from vtl.errors import UsageError
from vtl.vicl.scoring.judge import JudgeBackend, MalformedAnswer, VieScore, VieScorer, parse_scores

log = logging.getLogger("vtl.vicl")

VARIANTS = ("paper", "authors-code")
Variant = Literal["paper", "authors-code"]
Averaging = Literal["paired", "all"]
AUTHORS_CODE_VERSION = "viescore-authors-code-v1"

AUTHORS_CODE_PROMPT = (
    "Images 1 and 2 are an example: the input and the output of the task \"{task_a}\". Image 3 is the input of the "
    "task \"{task_b}\", and Image 4 is a model's attempt at that task on Image 3, made by learning from the example.\n"
    "Rate Image 4 on two criteria, each an integer from 1 to 10:\n"
    "1. Semantic consistency (SC): how well Image 4 carries out \"{task_b}\" on Image 3, the way the example carried "
    "out \"{task_a}\".\n"
    "2. Perceptual quality (PQ): how good Image 4 looks as an image.\n"
    "Answer with JSON only, in this form: {\"score\": [SC, PQ], \"reasoning\": \"one sentence\"}"
)


def _task_folder(task: str) -> str:
    from vtl.vicl.lowlevel.tasks import AUTHORS_TASK_DIRS

    return AUTHORS_TASK_DIRS.get(task, task)


@dataclass
class AuthorsCodeScorer:
    """One four-image judge call per item; score (SC + PQ) / 2 on 1-10, a failed judgement scores 0."""

    backend: JudgeBackend
    max_attempts: int = 3
    prompt: str = AUTHORS_CODE_PROMPT
    variant = "authors-code"

    @property
    def prompt_version(self) -> str:
        from vtl.vicl.teaching.prompt_source import prompt_sha

        if self.prompt == AUTHORS_CODE_PROMPT:
            return AUTHORS_CODE_VERSION
        return f"{AUTHORS_CODE_VERSION}+{prompt_sha(self.prompt)[:8]}"

    def score_tuple(self, task_a: str, task_b: str, images: Sequence[np.ndarray], output: np.ndarray) -> VieScore:
        """`images` = [A_in, A_out, B_in]; the judge sees them and `output`, with the tasks' folder names."""
        text = self.prompt.replace("{task_a}", _task_folder(task_a)).replace("{task_b}", _task_folder(task_b))
        common = {"judge": self.backend.name, "variant": self.variant, "prompt_version": self.prompt_version}
        last = None
        for attempt in range(self.max_attempts):
            try:
                answer = self.backend.ask(text, [*images, output], attempt)
            except Exception as exc:  # noqa: BLE001 - the authors count an API failure as a 0 score
                from vtl.vicl.clients.gemini import is_retryable

                if not is_retryable(exc):
                    raise
                return VieScore(ok=False, score=0.0, attempts=attempt + 1,
                                error=f"judge API error: {type(exc).__name__}: {exc}"[:300], **common)
            try:
                sc, pq = parse_scores(answer, n=2)
            except MalformedAnswer as exc:
                last = str(exc)
                continue
            return VieScore(ok=True, SC=sc, PQ=pq, O_mean=(sc + pq) / 2, score=(sc + pq) / 2, sc_scores=[sc],
                            pq_scores=[pq], attempts=attempt + 1, **common)
        return VieScore(ok=False, score=0.0, attempts=self.max_attempts, error=last, **common)


def make_variant_scorer(backend: JudgeBackend, variant: Variant = "paper", *, max_attempts: int = 3,
                        prompts: dict[str, str] | None = None):
    """The scorer of `variant` over `backend`; `prompts` replaces judge prompts ("sc"/"pq" or "judge")."""
    from vtl.vicl.scoring.judge import PQ_PROMPT, SC_PROMPT
    from vtl.vicl.teaching.prompt_source import PromptError, read_prompt

    if not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"judge.max_attempts must be an integer >= 1, got {max_attempts!r}")
    prompts = dict(prompts or {})
    allowed = {"paper": ("sc", "pq"), "authors-code": ("judge",)}[variant]
    unknown = sorted(set(prompts) - set(allowed))
    if unknown:
        raise PromptError(f"judge.prompts keys {unknown} do not apply to variant {variant!r}: use {list(allowed)}")
    texts = {k: read_prompt(v, f"judge.prompts.{k}") for k, v in prompts.items()}
    if variant == "authors-code":
        return AuthorsCodeScorer(backend, max_attempts=max_attempts, prompt=texts.get("judge", AUTHORS_CODE_PROMPT))
    return VieScorer(backend, max_attempts=max_attempts, sc_prompt=texts.get("sc", SC_PROMPT),
                     pq_prompt=texts.get("pq", PQ_PROMPT))


def item_score(viescore: dict[str, Any] | None) -> float | None:
    """The number an item contributes under its own variant: O (paper) or (SC+PQ)/2 with failure = 0
    (authors-code); None when the item is left out (no judgement, or a failed paper judgement)."""
    if not isinstance(viescore, dict):
        return None
    variant = viescore.get("variant", "paper")
    if variant == "authors-code":
        value = viescore.get("score")
        return 0.0 if value is None else float(value)
    if not viescore.get("ok"):
        return None
    value = viescore.get("score", viescore.get("O"))
    return None if value is None else float(value)


def mean_viescore(rows: Iterable[dict[str, Any] | None]) -> tuple[float | None, int, int]:
    """(mean, n used, n failed) of the item scores of `rows` (VieScore dicts) under their own variants."""
    used, failed = [], 0
    for vs in rows:
        if not isinstance(vs, dict):
            continue
        failed += not vs.get("ok")
        value = item_score(vs)
        if value is not None:
            used.append(value)
    return (sum(used) / len(used) if used else None), len(used), failed


def make_scorer(judge: dict[str, Any] | None, max_attempts: int = 3, variant: str = "paper",
                prompts: dict[str, str] | None = None):
    """A VIEScore scorer of `variant` ("paper" or "authors-code") over the judge a `class_path`/`init_args` spec
    names; None for no judge (VIEScore not computed). `prompts` may replace the variant's judge prompts (file or
    inline text): keys "sc" and "pq" for paper, "judge" for authors-code."""
    if judge is None:
        return None
    if variant not in VARIANTS:
        raise UsageError(f"viescore variant must be one of {list(VARIANTS)}, got {variant!r}")
    if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or max_attempts < 1:
        raise UsageError(f"judge_max_attempts must be an integer >= 1, got {max_attempts!r}")
    return make_variant_scorer(build(judge, JudgeBackend, "judge"), variant, max_attempts=max_attempts,
                               prompts=prompts)
