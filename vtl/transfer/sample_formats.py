"""`vtl eval --samples_format`: per-question results in the file layout of lmms-eval or VLMEvalKit.

So that a user can diff vtl's verdicts line by line against a real run of that harness, the files carry the fields
the harness itself writes (read at the commits recorded in vtl.models.parsing):

- `lmms-eval` (EvolvingLMMs-Lab/lmms-eval 75571cf, `evaluator.py` with `--log_samples`, then
  `loggers/evaluation_tracker.py` `save_results_samples`): one `samples_blink_<task>.jsonl` per task, a line per
  question with `doc_id` (the row's position in its task), `target` (BLINK's "(X)"), `filtered_resps` (the model's
  output), `input` (the prompt text), `token_counts` and the task's metric entry `blink_acc` = {id, gt_content,
  pred_parsed, pred, sub_task, is_correct} as `blink_process_results` builds it. `doc_hash` is left out: lmms-eval
  hashes the row with its images' Python reprs, which hold memory addresses and differ from run to run.
- `vlmevalkit` (open-compass/VLMEvalKit e8e78f0, `ImageMCQDataset.evaluate` with the `exact_matching` judge): one
  `<label>_BLINK_exact_matching_result.tsv` with the dataset columns (index, question, A..D, answer, category),
  `prediction`, `hit` (1/0) and `log` in the harness's "Match Log: ..." wording. VLMEvalKit writes .xlsx by default
  and reads .tsv alike; vtl writes .tsv to need no spreadsheet library.

In likelihood mode there is no generated text: the output is the chosen option, "(X)".
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from vtl.data.sample import LETTERS, BlinkSample
from vtl.models.harness import PromptPreset, question_text

if TYPE_CHECKING:  # vtl eval's option types are read before torch is imported
    from vtl.models.scoring import Prediction

SamplesFormat = Literal["lmms-eval", "vlmevalkit"]
SAMPLES_FORMATS: tuple[str, ...] = ("lmms-eval", "vlmevalkit")
_NO_ANSWER_LOG = "Failed in Prefetch, no GPT-based answer matching under `exact_matching` policy."


def write_samples(
    out: Path, fmt: SamplesFormat, samples: Sequence[BlinkSample], predictions: Sequence[Prediction], *,
    preset: PromptPreset, label: str,
) -> list[Path]:
    """Write `predictions` (aligned with `samples`) under `out` in harness format `fmt`; return the files written."""
    if fmt == "lmms-eval":
        return _write_lmms_eval(out, samples, predictions, preset)
    if fmt == "vlmevalkit":
        return [_write_vlmevalkit(out, samples, predictions, label)]
    raise ValueError(f"unknown samples format {fmt!r}; use one of {', '.join(SAMPLES_FORMATS)}")


def _output(prediction: Prediction) -> str:
    from vtl.models.scoring import option_answer

    if prediction.output_text is not None:
        return prediction.output_text
    return option_answer(prediction.pred_letter) if prediction.pred_letter else ""


def lmms_eval_sample(doc_id: int, sample: BlinkSample, prediction: Prediction, preset: PromptPreset) -> dict:
    """One line of lmms-eval's samples JSONL for a BLINK question."""
    gold = sample.answer.strip("()")
    tokens = None if prediction.generated_tokens is None else {"output_tokens": prediction.generated_tokens}
    return {
        "doc_id": doc_id,
        "target": sample.answer,
        "filtered_resps": _output(prediction),
        "token_counts": [tokens],
        "blink_acc": {
            "id": sample.idx, "gt_content": gold, "pred_parsed": prediction.pred_letter or "",
            "pred": _output(prediction), "sub_task": sample.sub_task, "is_correct": prediction.correct,
        },
        "input": question_text(sample, preset),
    }


def lmms_eval_task_name(sub_task: str) -> str:
    """lmms-eval's task name for a BLINK subtask: "Art_Style" -> "blink_art_style"."""
    return "blink_" + re.sub(r"[^a-z0-9]+", "_", sub_task.lower()).strip("_")


def _write_lmms_eval(out: Path, samples, predictions, preset) -> list[Path]:
    lines: dict[str, list[str]] = {}
    for sample, prediction in zip(samples, predictions, strict=True):
        task_lines = lines.setdefault(sample.sub_task, [])
        record = lmms_eval_sample(len(task_lines), sample, prediction, preset)
        task_lines.append(json.dumps(record, ensure_ascii=False))
    paths = []
    for task, task_lines in lines.items():
        path = out / f"samples_{lmms_eval_task_name(task)}.jsonl"
        path.write_text("\n".join(task_lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def vlmevalkit_row(index: int, sample: BlinkSample, prediction: Prediction, n_options: int) -> dict:
    """One row of VLMEvalKit's exact-matching result table for a BLINK question."""
    output = _output(prediction)
    options = {letter: (sample.choices[i] if i < len(sample.choices) else "") for i, letter in
               enumerate(LETTERS[:n_options])}
    log = output if prediction.pred_letter else _NO_ANSWER_LOG
    return {
        "index": index, "question": sample.question, **options, "answer": sample.answer_letter or "",
        "category": sample.sub_task, "prediction": output, "hit": int(prediction.correct),
        "log": f"Match Log: {log}. ",
    }


def _write_vlmevalkit(out: Path, samples, predictions, label: str) -> Path:
    n_options = max((len(s.choices) for s in samples), default=0)
    rows = [vlmevalkit_row(i, s, p, n_options) for i, (s, p) in enumerate(zip(samples, predictions, strict=True))]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "vtl"
    path = out / f"{name}_BLINK_exact_matching_result.tsv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["index"], delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    return path
