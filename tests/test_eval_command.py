"""`vtl eval` on the tiny model over the synthetic suite: the table, its files, presets, and a side-by-side run."""

from __future__ import annotations

import csv
import json

import pytest
from jsonargparse import CLI

from vtl.transfer.evaluate import EvalInputError, comparison_table, evaluate

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run(*args: str) -> int:
    return CLI(evaluate, args=["--eval_source=vtl://synth", "--tasks=[CT,RD]", "--max_samples=4", "--batch_size=4",
                               "--progress=false", *args])


def test_zero_shot_then_generate_with_lmms_eval_preset_side_by_side(tmp_path, tiny_model_dir, synth_dir, capsys):
    base = tmp_path / "base"
    assert run(f"--out={base}", "--label=likelihood") == 0
    table = capsys.readouterr().out
    assert "Counting" in table and "Relative_Depth" in table and "macro (mean over tasks)" in table
    result = json.loads((base / "eval.json").read_text())
    assert {t: c["n"] for t, c in result["per_task"].items()} == {"Counting": 4, "Relative_Depth": 4}
    assert result["n"] == 8 and result["n_unparsed"] == 0  # likelihood always picks an option
    assert result["macro_accuracy"] == pytest.approx(
        sum(c["accuracy"] for c in result["per_task"].values()) / 2)
    assert result["micro_accuracy"] == pytest.approx(result["n_correct"] / 8)
    rows = list(csv.DictReader(open(base / "eval.csv")))
    assert [r["task"] for r in rows] == ["Counting", "Relative_Depth", "macro", "micro"]
    assert len((base / "predictions.jsonl").read_text().splitlines()) == 8

    gen = tmp_path / "gen"
    assert run("--scoring=generate", "--prompt_preset=lmms-eval", "--max_new_tokens=3", f"--out={gen}",
               f"--compare={base}", "--label=generate") == 0
    out = capsys.readouterr().out
    other = json.loads((gen / "eval.json").read_text())
    assert other["settings"]["answer_rule"] == "lmms-eval" and other["settings"]["max_new_tokens"] == 3
    assert "likelihood" in out and "generate" in out and "delta" in out
    preds = [json.loads(line) for line in (gen / "predictions.jsonl").read_text().splitlines()]
    assert all(p["generated_tokens"] <= 3 for p in preds)
    assert other["n_unparsed"] == sum(not p["parsed"] for p in preds)


def test_config_file_and_bad_inputs(tmp_path, tiny_model_dir, synth_dir):
    config = tmp_path / "eval.yaml"
    config.write_text("eval_source: vtl://synth\ntasks: [Jigsaw]\nmax_samples: 2\nprogress: false\n"
                      f"out: {tmp_path / 'cfg'}\n")
    from vtl.cli import main

    assert main(["eval", f"--config={config}"]) == 0  # `vtl eval --config FILE`
    assert json.loads((tmp_path / "cfg" / "eval.json").read_text())["n"] == 2
    assert main(["eval", f"--config={config}", "--tasks", "JG", "CT"]) == 0
    assert list(json.loads((tmp_path / "cfg" / "eval.json").read_text())["per_task"]) == ["Jigsaw", "Counting"]
    assert main(["eval", f"--config={config}", "--prompt_preset=helm"]) == 2  # a typo fails when parsed
    with pytest.raises(EvalInputError, match="--compare"):
        evaluate(eval_source="vtl://synth", compare=tmp_path / "nothing.json")
    with pytest.raises(EvalInputError, match="--adapter"):
        evaluate(eval_source="vtl://synth", adapter=tmp_path)


def test_comparison_marks_tasks_missing_on_one_side():
    a = {"label": "base", "per_task": {"Counting": {"accuracy": 0.5}}, "macro_accuracy": 0.5, "micro_accuracy": 0.5}
    b = {"label": "lora", "per_task": {"Counting": {"accuracy": 0.75}, "Jigsaw": {"accuracy": 0.25}},
         "macro_accuracy": 0.5, "micro_accuracy": 0.5}
    text = comparison_table(a, b)
    assert "+0.2500" in text and "Jigsaw" in text.split("\n")[3]


def test_adapter_from_a_run_dir(tmp_path, tiny_model_dir, synth_dir):
    from vtl.models.loading import load_model
    from vtl.models.lora import LoraOptions, apply_lora

    model, _ = load_model("vtl://tiny-qwen2.5-vl")
    apply_lora(model, LoraOptions(r=4, alpha=8)).save_pretrained(tmp_path / "run" / "adapter")
    assert run(f"--adapter={tmp_path / 'run'}", f"--out={tmp_path / 'lora'}") == 0
    assert run(f"--out={tmp_path / 'zs'}") == 0
    lora, zs = (json.loads((tmp_path / d / "eval.json").read_text()) for d in ("lora", "zs"))
    assert lora["settings"]["adapter"] == str(tmp_path / "run" / "adapter")
    assert lora["per_task"] == zs["per_task"]  # a fresh LoRA adapter (B = 0) leaves the model as it was


@pytest.mark.gpu
def test_eval_on_cuda_matches_cpu_verdict_counts(tmp_path, tiny_model_dir, synth_dir):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    assert run("--device=cuda", f"--out={tmp_path / 'gpu'}") == 0
    result = json.loads((tmp_path / "gpu" / "eval.json").read_text())
    assert result["n"] == 8 and result["n_unparsed"] == 0


def test_samples_in_lmms_eval_and_vlmevalkit_layouts(tmp_path, tiny_model_dir, synth_dir):
    lmms = tmp_path / "lmms"
    assert run("--scoring=generate", "--prompt_preset=lmms-eval", "--max_new_tokens=3", f"--out={lmms}",
               "--samples_format=lmms-eval") == 0
    preds = [json.loads(line) for line in (lmms / "predictions.jsonl").read_text().splitlines()]
    lines = [json.loads(line) for line in (lmms / "samples_blink_counting.jsonl").read_text().splitlines()]
    lines += [json.loads(line) for line in (lmms / "samples_blink_relative_depth.jsonl").read_text().splitlines()]
    assert [x["doc_id"] for x in lines] == [0, 1, 2, 3] * 2  # a row's position within its task
    for line, pred in zip(lines, preds, strict=True):
        assert set(line) == {"doc_id", "target", "filtered_resps", "token_counts", "blink_acc", "input"}
        acc = line["blink_acc"]
        assert acc["id"] == pred["idx"] and acc["pred"] == line["filtered_resps"] == pred["output_text"]
        assert acc["is_correct"] == pred["correct"] and acc["pred_parsed"] == (pred["pred_letter"] or "")
        assert line["target"] == f"({acc['gt_content']})" and line["input"].startswith("Note: You only need")
        assert line["token_counts"] == [{"output_tokens": pred["generated_tokens"]}]

    vlm = tmp_path / "vlm"
    assert run(f"--out={vlm}", "--samples_format=vlmevalkit", "--label=tiny base") == 0
    preds = [json.loads(line) for line in (vlm / "predictions.jsonl").read_text().splitlines()]
    rows = list(csv.DictReader(open(vlm / "tiny_base_BLINK_exact_matching_result.tsv"), delimiter="\t"))
    assert list(rows[0])[:3] == ["index", "question", "A"] and list(rows[0])[-3:] == ["prediction", "hit", "log"]
    assert [int(r["hit"]) for r in rows] == [int(p["correct"]) for p in preds]
    assert all(r["prediction"] == f"({p['pred_letter']})" for r, p in zip(rows, preds, strict=True))  # likelihood
    assert all(r["log"].startswith("Match Log: ") for r in rows)
    with pytest.raises(EvalInputError, match="--out"):
        evaluate(eval_source="vtl://synth", samples_format="vlmevalkit")
