"""`vtl eval`: score a model (zero-shot, or with a LoRA adapter) on a BLINK-format eval source, no training.

Prints a per-task table (accuracy, n, unparsed) with the macro mean over tasks (BLINK's overall) and the micro mean
over questions, writes it as `eval.json` and `eval.csv` with every question's verdict in `predictions.jsonl`, and
can set it side by side with an earlier result (e.g. base vs adapter, or vtl's prompt vs lmms-eval's).

A typed function rather than a LightningCLI `validate` config: evaluating needs no Trainer, no training data and no
PGF callback, and one call can point at any model, adapter and source without a fit config to start from.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from jsonargparse.typing import PositiveInt

from vtl.data.sources import BLINK_HUB
from vtl.errors import VtlError
from vtl.home import TINY_MODEL
from vtl.models.harness import PromptPreset
from vtl.models.loading import QuantizationOptions
from vtl.models.parsing import AnswerRule
from vtl.transfer.sample_formats import SamplesFormat

RESULT_FILE = "eval.json"
TABLE_FILE = "eval.csv"
PREDICTIONS_FILE = "predictions.jsonl"


class EvalInputError(VtlError, ValueError):
    """A bad `vtl eval` option or comparison file."""


def evaluate(
    model: str = TINY_MODEL,
    adapter: Path | None = None,
    eval_source: str = BLINK_HUB,
    split: str = "val",
    tasks: list[str] | None = None,
    scoring: Literal["likelihood", "generate"] = "likelihood",
    prompt_preset: PromptPreset = "vtl",
    answer_rule: AnswerRule | None = None,
    max_new_tokens: PositiveInt | None = None,
    batch_size: PositiveInt = 8,
    eval_order: Literal["given", "length"] = "length",
    merge_for_eval: bool = True,
    max_samples: PositiveInt | None = None,
    quantization: QuantizationOptions | None = None,
    min_pixels: PositiveInt | None = None,
    max_pixels: PositiveInt | None = None,
    device: str = "auto",
    out: Path | None = None,
    compare: Path | None = None,
    label: str | None = None,
    samples_format: SamplesFormat | None = None,
    skip_bad: bool = False,
    progress: bool = True,
) -> int:
    """Score a model (zero-shot, or with a LoRA adapter) on every row of an eval source; print a per-task table.

    Args:
        model: a local checkpoint dir, a hub id (e.g. Qwen/Qwen2.5-VL-7B-Instruct) or vtl://tiny-qwen2.5-vl.
        adapter: a peft LoRA adapter dir, or a run dir holding `adapter/`; null scores the model zero-shot.
        eval_source: BLINK-format source: hub id, parquet dir, JSONL/parquet file or vtl://synth.
        split: split of eval_source to read.
        tasks: tasks to score, names or abbreviations (e.g. CT RD, or CT,RD); null or all: the 13 transfer tasks.
        scoring: option likelihood, or generate-and-parse.
        prompt_preset: how a question is posed: vtl (BLINK's prompt), lmms-eval or vlmevalkit.
        answer_rule: how generate mode reads an answer: blink, lmms-eval or vlmevalkit; null: the preset's.
        max_new_tokens: generate mode's token budget; null: the preset's (vtl 16, lmms-eval 1024, vlmevalkit 2048).
        batch_size: questions per forward pass.
        eval_order: batch each task's questions longest prompt first (length: less padding, as the PGF callback
            does) or as given; results come back in the given order either way.
        merge_for_eval: fold the adapter into the base weights where that is exact (full precision), as the PGF
            callback scores; a 4-bit or bf16 base keeps the adapter unmerged.
        max_samples: score only the first N rows of each task (null: every row).
        quantization: 4-bit weights through bitsandbytes; null keeps full precision.
        min_pixels: image resize budget (lower bound, pixels); null keeps the checkpoint's.
        max_pixels: image resize budget (upper bound, pixels); null keeps the checkpoint's.
        device: auto (cuda when available), cpu, cuda or cuda:N.
        out: directory for eval.json, eval.csv and predictions.jsonl; null prints the table only.
        compare: an earlier eval.json (or the directory holding it) to set side by side with this result.
        label: this result's name in the comparison table (default: the adapter or model name).
        samples_format: also write every question's result under `out` in a harness's own layout, to diff against
            a run of it: lmms-eval (samples_blink_<task>.jsonl, as --log_samples writes) or vlmevalkit (its
            exact-matching result table, .tsv); null: vtl's predictions.jsonl only.
        skip_bad: skip malformed rows (reported) instead of failing.
        progress: show a progress bar on stderr.
    """
    from vtl.models.harness import get_preset
    from vtl.tasks import resolve_tasks

    if batch_size < 1:
        raise EvalInputError(f"--batch_size must be >= 1, got {batch_size}")
    if max_new_tokens is not None and max_new_tokens < 1:
        raise EvalInputError(f"--max_new_tokens must be >= 1, got {max_new_tokens}")
    if samples_format is not None and out is None:
        raise EvalInputError("--samples_format writes files: give --out DIR as well")
    preset = get_preset(prompt_preset)
    rule = answer_rule or preset.answer_rule
    budget = max_new_tokens or preset.max_new_tokens
    names = resolve_tasks("all" if tasks is None else ",".join(tasks))
    earlier = read_result(compare) if compare is not None else None
    adapter_dir = _adapter_dir(adapter) if adapter is not None else None

    from vtl.data.sources import load_tasks

    by_task = load_tasks(eval_source, names, split, skip_bad=skip_bad, flag="--eval_source")
    samples = [s for t in names for s in (by_task[t][:max_samples] if max_samples else by_task[t])]
    net, processor = _load(model, adapter_dir, quantization, min_pixels, max_pixels, device, merge_for_eval)

    from vtl.models.scoring import accuracy_summary, score_multiple_choice

    start = time.perf_counter()
    # Task by task, as the callback batches its targets: a length-sorted batch never mixes two tasks' questions.
    # No vision-feature cache: one pass sees each image once, so a cache would only cost memory.
    predictions = []
    for task in names:
        rows = [s for s in samples if s.sub_task == task]
        predictions += score_multiple_choice(net, processor, rows, mode=scoring, batch_size=batch_size,
                                             max_new_tokens=budget, progress=progress, prompt_preset=prompt_preset,
                                             answer_rule=rule, order=eval_order)
    seconds = time.perf_counter() - start
    label = label or (str(adapter) if adapter is not None else model)
    result = {
        "label": label,
        "settings": {
            "model": model, "adapter": None if adapter_dir is None else str(adapter_dir), "eval_source": eval_source,
            "split": split, "tasks": names, "scoring": scoring, "prompt_preset": prompt_preset,
            "answer_rule": rule if scoring == "generate" else None,
            "max_new_tokens": budget if scoring == "generate" else None, "max_samples": max_samples,
            "eval_order": eval_order, "merge_for_eval": merge_for_eval,
            "quantization": None if quantization is None else asdict(quantization),
            "min_pixels": min_pixels, "max_pixels": max_pixels,
        },
        "seconds": round(seconds, 3),
        **accuracy_summary(predictions),
    }
    print(result_table(result))
    if earlier is not None:
        print()
        print(comparison_table(earlier, result))
    if out is not None:
        write_result(Path(out), result, predictions)
        print(f"wrote {Path(out) / RESULT_FILE}, {TABLE_FILE} and {PREDICTIONS_FILE}", file=sys.stderr)
        if samples_format is not None:
            from vtl.transfer.sample_formats import write_samples

            paths = write_samples(Path(out), samples_format, samples, predictions, preset=prompt_preset, label=label)
            print(f"wrote {len(paths)} {samples_format} sample file(s), e.g. {paths[0]}", file=sys.stderr)
    return 0


def _adapter_dir(path: Path) -> Path:
    path = Path(path)
    for candidate in (path, path / "adapter"):
        if (candidate / "adapter_config.json").is_file():
            return candidate
    raise EvalInputError(f"--adapter {path}: no adapter_config.json there or in {path / 'adapter'}; give a peft "
                         "adapter dir or a run dir")


def _load(model: str, adapter: Path | None, quantization, min_pixels, max_pixels, device: str, merge: bool = True):
    import torch

    from vtl.models.loading import load_model

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    on_gpu = device.startswith("cuda")
    net, processor = load_model(model, quantization=quantization, dtype=torch.bfloat16 if on_gpu else torch.float32,
                                min_pixels=min_pixels, max_pixels=max_pixels,
                                device_map={"": device} if on_gpu else None)
    if adapter is not None:
        from peft import PeftModel

        net = PeftModel.from_pretrained(net, str(adapter))
        if merge:
            from vtl.models.merged_eval import merged_for_inference

            net, _ = merged_for_inference(net)
    if not on_gpu:
        net.to(device)
    net.eval()
    return net, processor


def write_result(out: Path, result: dict, predictions) -> None:
    """eval.json (the whole result), eval.csv (the table) and predictions.jsonl (one verdict per question)."""
    from vtl.records import JsonlAppender

    out.mkdir(parents=True, exist_ok=True)
    (out / RESULT_FILE).write_text(json.dumps(result, indent=1) + "\n")
    with open(out / TABLE_FILE, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["task", "accuracy", "n", "n_correct", "n_unparsed"])
        for task, c in result["per_task"].items():
            writer.writerow([task, c["accuracy"], c["n"], c["n_correct"], c["n_unparsed"]])
        writer.writerow(["macro", result["macro_accuracy"], result["n"], result["n_correct"], result["n_unparsed"]])
        writer.writerow(["micro", result["micro_accuracy"], result["n"], result["n_correct"], result["n_unparsed"]])
    (out / PREDICTIONS_FILE).unlink(missing_ok=True)
    with JsonlAppender(out / PREDICTIONS_FILE, fsync=False) as log:
        for p in predictions:
            log.append(asdict(p))


def read_result(path: Path) -> dict:
    """An eval.json written by `vtl eval` (or the directory holding one)."""
    path = Path(path)
    file = path / RESULT_FILE if path.is_dir() else path
    try:
        result = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EvalInputError(f"--compare {file}: cannot read an eval.json ({exc})") from None
    if not isinstance(result, dict) or "per_task" not in result or "macro_accuracy" not in result:
        raise EvalInputError(f"--compare {file}: not an eval.json of `vtl eval` (no per_task / macro_accuracy)")
    return result


def result_table(result: dict) -> str:
    """Per-task accuracy, n and unparsed, then the macro and micro means."""
    lines = [f"{'task':<27}{'accuracy':>9}{'n':>6}{'unparsed':>9}", "-" * 51]
    for task, c in result["per_task"].items():
        lines.append(f"{task:<27}{c['accuracy']:>9.4f}{c['n']:>6}{c['n_unparsed']:>9}")
    lines.append("-" * 51)
    n, unparsed = result["n"], result["n_unparsed"]
    lines.append(f"{'macro (mean over tasks)':<27}{result['macro_accuracy']:>9.4f}{n:>6}{unparsed:>9}")
    lines.append(f"{'micro (mean over questions)':<27}{result['micro_accuracy']:>9.4f}{n:>6}{unparsed:>9}")
    return "\n".join(lines)


def comparison_table(a: dict, b: dict) -> str:
    """Two results side by side, per task (tasks of either), with b - a; a task missing from one shows '-'."""
    la, lb = _short(a.get("label") or "A"), _short(b.get("label") or "B")
    tasks = list(dict.fromkeys([*a["per_task"], *b["per_task"]]))
    head = f"{'task':<27}{la:>14}{lb:>14}{'delta':>9}"
    lines = [head, "-" * len(head)]

    def row(name: str, x: float | None, y: float | None) -> str:
        delta = f"{y - x:+9.4f}" if x is not None and y is not None else f"{'-':>9}"
        fx = f"{x:>14.4f}" if x is not None else f"{'-':>14}"
        fy = f"{y:>14.4f}" if y is not None else f"{'-':>14}"
        return f"{name:<27}{fx}{fy}{delta}"

    for task in tasks:
        x, y = (r["per_task"].get(task, {}).get("accuracy") for r in (a, b))
        lines.append(row(task, x, y))
    lines.append("-" * len(head))
    lines.append(row("macro", a["macro_accuracy"], b["macro_accuracy"]))
    lines.append(row("micro", a["micro_accuracy"], b["micro_accuracy"]))
    return "\n".join(lines)


def _short(label: str, width: int = 13) -> str:
    label = str(label).rstrip("/")
    return label if len(label) <= width else "…" + label[-(width - 1):]
