"""CrossTaskPGF with a stand-in module whose answers we choose: baseline cache, ceiling handling, log and resume rules.

The stand-in scores questions by a rule (no model), so these tests exercise the callback's bookkeeping in seconds;
the real tiny model goes through the same callback in tests/test_finetune_fit.py.
"""

from __future__ import annotations

import contextlib
import json
import math

import pytest
import torch
from lightning.pytorch import LightningModule, Trainer

from vtl.analysis.pgf import TRANSFER_RECORD_FIELDS, pgf
from vtl.models.scoring import Prediction
from vtl.transfer.cross_task import CrossTaskPGF, _read_written
from vtl.transfer.datamodule import TransferDataModule

TARGETS = "Counting,Jigsaw,Art_Style"


class RuleModule(LightningModule):
    """Answers correctly on questions chosen by `rule(sample, epoch, zero_shot)`; trains a single scalar."""

    def __init__(self, rule):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.rule = rule
        self.scoring = "likelihood"
        self.model_name = "rule-model"
        self.in_zero_shot = False
        self.zero_shot_calls = 0

    def zero_shot_context(self):
        @contextlib.contextmanager
        def ctx():
            self.in_zero_shot = True
            self.zero_shot_calls += 1
            try:
                yield
            finally:
                self.in_zero_shot = False

        return ctx()

    def cache_identity(self):
        return {"model": self.model_name, "quantization": None}

    def score(self, samples):
        epoch = None if self.in_zero_shot else self.current_epoch
        return [
            Prediction(s.idx, s.sub_task, "A", s.answer_letter, self.rule(s, epoch), True) for s in samples
        ]

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return batch

    def training_step(self, batch, batch_idx):
        return (self.weight - 1.0).pow(2).sum()

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        return self.score(batch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _data(**kw):
    return TransferDataModule(source_task="Counting", targets=TARGETS, eval_fraction=0.25, max_train_samples=4,
                              max_eval_samples=6, batch_size=2, eval_batch_size=4, **kw)


def _trainer(root, callbacks, max_epochs=2):
    return Trainer(default_root_dir=root, max_epochs=max_epochs, accelerator="cpu", devices=1, logger=False,
                   enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                   num_sanity_val_steps=0, callbacks=callbacks)


def _records(root):
    return [json.loads(line) for line in (root / "transfer.jsonl").read_text().splitlines()]


def _rule(sample, epoch):
    """Zero-shot: first question of each task right; after training: one more per epoch."""
    rank = int(sample.idx.rsplit("_", 1)[-1]) % 6
    return rank < (1 if epoch is None else 2 + epoch)


def test_epochs_logged_once_with_pgf_from_accuracies(tmp_path, synth_dir):
    cb = CrossTaskPGF(cache_dir=str(tmp_path / "cache"))
    module = RuleModule(_rule)
    trainer = _trainer(tmp_path / "run", [cb])
    trainer.fit(module, datamodule=_data())
    records = _records(tmp_path / "run")
    assert [(r["epoch"], r["target"]) for r in records] == [(e, t) for e in (0, 1) for t in TARGETS.split(",")]
    for r in records:
        assert set(TRANSFER_RECORD_FIELDS) <= set(r)
        assert r["pgf"] == pytest.approx(pgf(r["accuracy"], r["zero_shot_accuracy"]))
        assert r["source_task"] == "Counting" and r["n"] == 6
    metrics = trainer.callback_metrics
    last = [r for r in records if r["epoch"] == 1]
    for r in last:
        assert float(metrics[f"val/{r['target']}/acc"]) == pytest.approx(r["accuracy"])
        assert float(metrics[f"transfer/{r['target']}/pgf"]) == pytest.approx(r["pgf"])
    positive = [r["pgf"] for r in last if r["pgf"] > 0]
    assert float(metrics["transfer/n_positive"]) == len(positive)
    assert float(metrics["transfer/n_negative"]) == sum(r["pgf"] < 0 for r in last)
    assert float(metrics["transfer/mean_positive_pgf"]) == pytest.approx(sum(positive) / len(positive))
    assert (tmp_path / "run" / "fit_complete.json").is_file()
    assert cb.zero_shot_source == "measured" and module.zero_shot_calls == 1


def test_every_question_is_recorded_paired_with_its_zero_shot_score(tmp_path, synth_dir):
    """questions.jsonl: per epoch and target the fine-tuned and zero-shot score of each eval question, in eval
    order; their means are the transfer record's accuracies, from a measured and from a cached baseline alike."""
    for run in ("measured", "cached"):
        dm = _data()
        cb = CrossTaskPGF(cache_dir=str(tmp_path / "cache"))
        _trainer(tmp_path / run, [cb]).fit(RuleModule(_rule), datamodule=dm)
        assert cb.zero_shot_source == run.replace("cached", "cache")
        lines = [json.loads(x) for x in (tmp_path / run / "questions.jsonl").read_text().splitlines()]
        records = {(r["epoch"], r["target"]): r for r in _records(tmp_path / run)}
        assert [(q["epoch"], q["target"]) for q in lines] == list(records)
        for q in lines:
            r = records[(q["epoch"], q["target"])]
            assert q["idx"] == [s.idx for s in dm.eval_samples[q["target"]]]
            assert sum(q["score"]) / len(q["score"]) == pytest.approx(r["accuracy"])
            assert sum(q["zero_shot"]) / len(q["zero_shot"]) == pytest.approx(r["zero_shot_accuracy"])
            assert q["zero_shot"] == [float(_rule(s, None)) for s in dm.eval_samples[q["target"]]]
            assert (q["source_task"], q["seed"], q["upper"], q["eps"]) == ("Counting", r["seed"], 1.0, 0.0)


def test_second_run_reads_zero_shot_from_cache(tmp_path, synth_dir):
    first = CrossTaskPGF(cache_dir=str(tmp_path / "cache"))
    _trainer(tmp_path / "a", [first], max_epochs=1).fit(RuleModule(_rule), datamodule=_data())
    second, module = CrossTaskPGF(cache_dir=str(tmp_path / "cache")), RuleModule(_rule)
    _trainer(tmp_path / "b", [second], max_epochs=1).fit(module, datamodule=_data())
    assert second.zero_shot_source == "cache" and module.zero_shot_calls == 0
    assert second.zero_shot == first.zero_shot
    # different eval data (another split seed) is a different key: measured again
    third, module = CrossTaskPGF(cache_dir=str(tmp_path / "cache")), RuleModule(_rule)
    _trainer(tmp_path / "c", [third], max_epochs=1).fit(module, datamodule=_data(split_seed=1))
    assert third.zero_shot_source == "measured" and module.zero_shot_calls == 1


def test_ceiling_gives_undefined_pgf_not_inf(tmp_path, synth_dir):
    cb = CrossTaskPGF(cache_dir=str(tmp_path / "cache"))
    trainer = _trainer(tmp_path / "run", [cb], max_epochs=1)
    with pytest.warns(UserWarning, match="ceiling"):
        trainer.fit(RuleModule(lambda s, epoch: epoch is None or s.sub_task != "Jigsaw"), datamodule=_data())
    records = {r["target"]: r for r in _records(tmp_path / "run")}
    assert records["Jigsaw"]["pgf"] is None and records["Jigsaw"]["zero_shot_accuracy"] == 1.0
    assert records["Counting"]["pgf"] is None
    assert float(trainer.callback_metrics["transfer/n_undefined"]) == 3
    assert "transfer/Jigsaw/pgf" not in trainer.callback_metrics
    assert all(not math.isinf(float(v)) for v in trainer.callback_metrics.values())
    # with eps > 0 the same run is defined
    cb = CrossTaskPGF(eps=0.1, cache_dir=str(tmp_path / "cache"))
    trainer = _trainer(tmp_path / "eps", [cb], max_epochs=1)
    trainer.fit(RuleModule(lambda s, epoch: epoch is None or s.sub_task != "Jigsaw"), datamodule=_data())
    assert float(trainer.callback_metrics["transfer/Jigsaw/pgf"]) == pytest.approx(-1.0 / 0.1)


def test_existing_epochs_are_not_written_again_and_torn_line_is_cut(tmp_path):
    log = tmp_path / "transfer.jsonl"
    log.write_text(json.dumps({"epoch": 0, "target": "Counting"}) + "\n" + '{"epoch": 1, "tar')
    assert _read_written(log) == {(0, "Counting")}
    assert log.read_text().endswith("}\n")
    log.write_text("not json\n")
    with pytest.raises(ValueError, match="line 1"):
        _read_written(log)


def test_mismatched_scoring_mode_is_an_error(tmp_path, synth_dir):
    with pytest.raises(ValueError, match="scoring"):
        _trainer(tmp_path, [CrossTaskPGF(scoring="generate")], max_epochs=1).fit(RuleModule(_rule), datamodule=_data())


def test_mixture_runs_record_arm_and_target(tmp_path, synth_dir):
    spec = tmp_path / "random_Counting.json"
    spec.write_text(json.dumps({"target": "Counting", "arm": "random", "budget": 4, "seed": 0,
                                "components": [{"task": "Jigsaw", "weight": 1.0, "n": 4}]}))
    data = TransferDataModule(mixture=str(spec), targets=TARGETS, eval_fraction=0.25, max_eval_samples=6,
                              batch_size=2, eval_batch_size=4)
    _trainer(tmp_path / "run", [CrossTaskPGF(cache_dir=str(tmp_path / "cache"))], max_epochs=1).fit(
        RuleModule(_rule), datamodule=data
    )
    for r in _records(tmp_path / "run"):
        assert (r["source_task"], r["arm"], r["mixture_target"]) == ("mixture:random_Counting", "random", "Counting")


def test_fresh_fit_into_a_used_run_dir_starts_a_new_log(tmp_path, synth_dir):
    root = tmp_path / "run"
    _trainer(root, [CrossTaskPGF(cache_dir=str(tmp_path / "cache"))], max_epochs=2).fit(
        RuleModule(_rule), datamodule=_data()
    )
    # the same run dir, no checkpoint to resume: a new fit (here one that answers everything right)
    with pytest.warns(UserWarning, match="moved it to transfer.jsonl.replaced-"):
        _trainer(root, [CrossTaskPGF(cache_dir=str(tmp_path / "cache"))], max_epochs=1).fit(
            RuleModule(lambda s, epoch: epoch is not None or _rule(s, epoch)), datamodule=_data()
        )
    records = _records(root)
    assert [(r["epoch"], r["target"]) for r in records] == [(0, t) for t in TARGETS.split(",")]
    assert all(r["accuracy"] == 1.0 for r in records)  # this fit's numbers, not the earlier fit's
    (aside,) = root.glob("transfer.jsonl.replaced-*")
    assert len(aside.read_text().splitlines()) == 2 * 3
    assert json.loads((root / "fit_complete.json").read_text())["epochs"] == 1


def test_checkpoint_baseline_is_used_only_for_the_data_it_was_measured_on(tmp_path, synth_dir):
    from lightning.pytorch.callbacks import ModelCheckpoint

    cache = str(tmp_path / "cache")
    trainer = Trainer(default_root_dir=tmp_path / "run", max_epochs=1, accelerator="cpu", devices=1, logger=False,
                      enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                      callbacks=[CrossTaskPGF(cache_dir=cache), ModelCheckpoint(dirpath=tmp_path / "ckpt")])
    trainer.fit(RuleModule(_rule), datamodule=_data())
    (ckpt,) = (tmp_path / "ckpt").glob("*.ckpt")

    same = CrossTaskPGF(cache_dir=cache)
    _trainer(tmp_path / "v1", [same]).validate(RuleModule(_rule), datamodule=_data(), ckpt_path=ckpt)
    assert same.zero_shot_source == "checkpoint"

    # other eval rows (another split seed): the checkpoint's baseline does not apply; it is measured for these rows
    other, module = CrossTaskPGF(cache_dir=cache), RuleModule(_rule)
    with pytest.warns(UserWarning, match="measured on other eval data"):
        _trainer(tmp_path / "v2", [other]).validate(module, datamodule=_data(split_seed=1), ckpt_path=ckpt)
    assert other.zero_shot_source == "measured" and module.zero_shot_calls == 1


def _learns(s, epoch):
    """Zero-shot: every row wrong, except on Jigsaw; fine-tuned: every row right."""
    return epoch is not None or s.sub_task == "Jigsaw"


def test_per_task_ceilings_give_each_target_its_own_denominator(tmp_path, synth_dir):
    upper = {"CT": 0.9, "Jigsaw": 1.0, "Art_Style": 0.8}
    cb = CrossTaskPGF(upper=upper, eps=0.01, cache_dir=str(tmp_path / "cache"))
    _trainer(tmp_path / "run", [cb], max_epochs=1).fit(RuleModule(_learns), datamodule=_data())
    records = {r["target"]: r for r in _records(tmp_path / "run")}
    for target, u in (("Counting", 0.9), ("Jigsaw", 1.0), ("Art_Style", 0.8)):
        r = records[target]
        assert r["upper"] == u and r["eps"] == 0.01 and r["zero_shot_accuracy"] == (target == "Jigsaw")
        assert r["pgf"] == pytest.approx((r["accuracy"] - r["zero_shot_accuracy"]) / (u - r["zero_shot_accuracy"]
                                                                                     + 0.01))


def test_a_ceiling_at_or_below_zero_shot_accuracy_is_an_error_naming_the_task(tmp_path, synth_dir):
    from vtl.analysis.pgf import CeilingError

    cb = CrossTaskPGF(upper={"CT": 0.9, "Jigsaw": 0.2, "Art_Style": 1.0}, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(CeilingError, match="ceiling of Jigsaw is 0.2 but its zero-shot accuracy is 1;"):
        _trainer(tmp_path / "run", [cb], max_epochs=1).fit(RuleModule(_learns), datamodule=_data())
    with pytest.raises(CeilingError, match="no ceiling for target"):
        _trainer(tmp_path / "r2", [CrossTaskPGF(upper={"CT": 0.9})], max_epochs=1).fit(
            RuleModule(_learns), datamodule=_data())
    with pytest.raises(CeilingError, match="key 'Cnt'"):
        CrossTaskPGF(upper={"Cnt": 0.9})
    with pytest.raises(CeilingError, match=r"in \(0, 1\]"):
        CrossTaskPGF(upper=1.5)


def test_zero_shot_per_seed_is_measured_per_seed_and_logged(tmp_path, synth_dir, monkeypatch):
    calls = []
    for seed in (1, 2, 1):
        monkeypatch.setenv("PL_GLOBAL_SEED", str(seed))
        cb, module = CrossTaskPGF(cache_dir=str(tmp_path / "cache"), zero_shot_per_seed=True), RuleModule(_learns)
        _trainer(tmp_path / f"run{len(calls)}", [cb], max_epochs=1).fit(module, datamodule=_data())
        calls.append(cb.zero_shot_source)
        assert {r["zero_shot_seed"] for r in _records(tmp_path / f"run{len(calls) - 1}")} == {seed}
    assert calls == ["measured", "measured", "cache"]


@pytest.mark.parametrize(
    ("every_n", "eval_epochs", "logged"), [(2, "every", [1, 3]), (1, "last", [4]), (2, "last", [4])]
)
def test_eval_frequency_logs_complete_records_for_the_evaluated_epochs(
    tmp_path, synth_dir, every_n, eval_epochs, logged
):
    cb = CrossTaskPGF(cache_dir=str(tmp_path / "cache"), eval_epochs=eval_epochs)
    trainer = Trainer(default_root_dir=tmp_path / "run", max_epochs=5, accelerator="cpu", devices=1, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      num_sanity_val_steps=0, callbacks=[cb], check_val_every_n_epoch=every_n)
    trainer.fit(RuleModule(_rule), datamodule=_data())
    records = _records(tmp_path / "run")
    assert [(r["epoch"], r["target"]) for r in records] == [(e, t) for e in logged for t in TARGETS.split(",")]
    assert all(r["pgf"] == pytest.approx(pgf(r["accuracy"], r["zero_shot_accuracy"])) for r in records)
    assert (tmp_path / "run" / "fit_complete.json").is_file()
