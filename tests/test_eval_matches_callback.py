"""`vtl eval` scores on the PGF callback's path: the same accuracies as the callback on the same adapter and rows,
and its fast path (length-sorted batches, merged adapter) gives the plain path's verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_train_eval_sources import eval_subset, train_jsonl

from vtl.lightning_cli import build_cli
from vtl.tasks import TRANSFER_TASKS
from vtl.transfer.evaluate import evaluate

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "transfer" / "tiny.yaml"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, tiny_model_dir, synth_dir):
    tmp = tmp_path_factory.mktemp("eval_vs_callback")
    val = eval_subset(synth_dir, tmp / "val", n=4)
    root = tmp / "run"
    build_cli(["fit", "--config", str(CONFIG), f"--trainer.default_root_dir={root}", "--trainer.max_epochs=1",
               "--trainer.enable_progress_bar=false", f"--data.train_source={train_jsonl(tmp / 'train.jsonl', n=8)}",
               f"--data.eval_source={val}", "--data.source_task=Counting", "--data.batch_size=4",
               "--model.lr=0.05"])  # a large step, so the adapter moves the verdicts
    return root, val


def _eval(out: Path, val: Path, adapter: Path, **kw) -> tuple[dict, list[dict]]:
    assert evaluate(eval_source=str(val), adapter=adapter, batch_size=16, out=out, progress=False, **kw) == 0
    result = json.loads((out / "eval.json").read_text())
    return result, [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


def test_eval_gives_the_callbacks_accuracies_on_the_fits_adapter(fitted, tmp_path):
    root, val = fitted
    last = {r["target"]: r for r in map(json.loads, (root / "transfer.jsonl").read_text().splitlines())}
    result, _ = _eval(tmp_path / "eval", val, root)
    assert set(result["per_task"]) == set(TRANSFER_TASKS)
    assert {t: c["accuracy"] for t, c in result["per_task"].items()} == {t: last[t]["accuracy"] for t in last}
    assert result["settings"]["eval_order"] == "length" and result["settings"]["merge_for_eval"] is True


def test_sorted_and_merged_scoring_gives_the_plain_paths_verdicts(fitted, tmp_path):
    root, val = fitted
    _, fast = _eval(tmp_path / "fast", val, root)
    _, plain = _eval(tmp_path / "plain", val, root, eval_order="given", merge_for_eval=False)
    assert [p["idx"] for p in fast] == [p["idx"] for p in plain]
    assert [p["pred_letter"] for p in fast] == [p["pred_letter"] for p in plain]
    for a, b in zip(fast, plain, strict=True):
        assert a["option_logprobs"] == pytest.approx(b["option_logprobs"], abs=1e-4)


def test_the_fixture_adapter_changes_verdicts(fitted):
    # the comparison above would pass vacuously if the fit had left the model as it was
    root, _ = fitted
    recs = [json.loads(line) for line in (root / "transfer.jsonl").read_text().splitlines()]
    assert any(r["accuracy"] != r["zero_shot_accuracy"] for r in recs)
