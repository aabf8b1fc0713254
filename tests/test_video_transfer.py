"""Video targets end to end: option likelihood on video prompts equals brute force, numerical scoring by MRA, and a
tiny fit on an image source with image + synthetic-video targets (every (epoch, target) once, resume included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback
from test_scoring import _brute_force  # tests/ is on sys.path

from vtl.data.video import FrameRule
from vtl.data.vsibench import load_vsibench
from vtl.lightning_cli import build_cli
from vtl.models.loading import load_model
from vtl.models.scoring import score_multiple_choice, score_numerical
from vtl.tasks import VIDEO_TASKS
from vtl.transfer.cross_task import question_weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "transfer" / "tiny_video.yaml"


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    from vtl.data.synth_video import write_video_suite

    return write_video_suite(tmp_path_factory.mktemp("synth_video"), n_per_task=2, seed=0)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    model, processor = load_model(str(tiny_model_dir))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # sharper attention than the 0.02 init, so a wrong position moves the scores visibly
        for param in model.parameters():
            if param.ndim == 2:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.1)
    return model, processor


def test_video_option_likelihood_equals_brute_force(tiny, video_dir):
    model, processor = tiny
    by_task = load_vsibench(str(video_dir), rule=FrameRule(num_frames=4))
    samples = by_task["route_planning"] + by_task["object_rel_direction"]  # 4 and 2 options, mixed in one batch
    preds = score_multiple_choice(model, processor, samples, batch_size=4)
    for pred, sample in zip(preds, samples, strict=True):
        reference = _brute_force(model, processor, sample)
        got = torch.tensor(list(pred.option_logprobs.values()))
        torch.testing.assert_close(got, torch.tensor(list(reference.values())), rtol=0, atol=1e-4)
        assert pred.score == float(pred.correct)


def test_numerical_questions_score_mra_of_the_parsed_answer(tiny, video_dir):
    model, processor = tiny
    samples = load_vsibench(str(video_dir), rule=FrameRule(num_frames=2))["object_counting"]
    preds = score_numerical(model, processor, samples, batch_size=2, max_new_tokens=4)
    assert [p.idx for p in preds] == [s.idx for s in samples]
    for p in preds:
        assert 0.0 <= p.score <= 1.0 and p.output_text is not None
        assert p.parsed == (p.pred_value is not None)
        if not p.parsed:
            assert p.score == 0.0


def test_question_type_weights_average_the_parts_of_a_family():
    class S:
        def __init__(self, idx, qtype):
            self.idx, self.question_type = idx, qtype

    samples = [S("a", "easy"), S("b", "easy"), S("c", "easy"), S("d", "hard")]
    weights = question_weights(samples)
    scores = {"a": 1.0, "b": 1.0, "c": 1.0, "d": 0.0}
    mean = sum(weights[i] * scores[i] for i in scores) / sum(weights.values())
    assert mean == pytest.approx(0.5)  # (easy 1.0 + hard 0.0) / 2, not 3/4
    assert question_weights(samples[:3]) is None  # one type: plain mean, exact as for image tasks


class CrashAfterFirstEpoch(Callback):
    def on_validation_end(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise RuntimeError("simulated crash")


def _fit(root: Path, video_dir: Path, *extra: str):
    argv = ["fit", "--config", str(CONFIG), f"--trainer.default_root_dir={root}", f"--data.video_source={video_dir}",
            "--data.targets=Counting,vsi", "--data.max_eval_samples=2", "--trainer.enable_progress_bar=false", *extra]
    return build_cli(argv)


@pytest.mark.slow
def test_fit_with_video_targets_writes_every_epoch_and_target_once_and_resumes(tmp_path, video_dir, tiny_model_dir,
                                                                                 synth_dir):
    root = tmp_path / "run"
    _fit(root, video_dir)
    rows = [json.loads(line) for line in (root / "transfer.jsonl").read_text().splitlines()]
    targets = ["Counting", *VIDEO_TASKS]
    assert sorted((r["epoch"], r["target"]) for r in rows) == sorted((e, t) for e in (0, 1) for t in targets)
    metric = {r["target"]: r["metric"] for r in rows}
    assert metric["object_counting"] == "mra" and metric["route_planning"] == "accuracy"
    assert metric["Counting"] == "accuracy"

    killed = tmp_path / "killed"
    with pytest.raises(RuntimeError, match="simulated crash"):
        _fit(killed, video_dir, "--trainer.callbacks+=test_video_transfer.CrashAfterFirstEpoch")
    _fit(killed, video_dir, "--ckpt_path=last")
    again = [json.loads(line) for line in (killed / "transfer.jsonl").read_text().splitlines()]
    assert sorted((r["epoch"], r["target"]) for r in again) == sorted((e, t) for e in (0, 1) for t in targets)
    assert {r["target"]: r["metric"] for r in again} == metric
