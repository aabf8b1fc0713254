"""CrossTaskPGF: every validation epoch, accuracy on every target task and its Perfection Gap Factor.

Before training the callback measures (or reads from a disk cache) the zero-shot accuracy of the same model with the
adapter disabled on every target; each validation epoch it turns the fine-tuned accuracies into PGF
(vtl.analysis.pgf), logs them through whatever loggers the trainer has, and appends one line per (epoch, target) to
`<run dir>/transfer.jsonl`. It needs a module exposing `score`, `zero_shot_context`, `cache_identity`, `scoring`,
`model_name` (TransferFineTuner) and a data module exposing `target_names`, `eval_samples`, `fingerprint`,
`source_name` (TransferDataModule).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Literal

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torchmetrics.aggregation import MeanMetric

from vtl import __version__
from vtl.analysis.pgf import TRANSFER_RECORD_FIELDS, check_ceilings, pgf, resolve_ceilings
from vtl.analysis.powered import QUESTIONS_FILE
from vtl.faults import fault_point
from vtl.records import (
    JsonlAppender,
    RecordError,
    numbered_records,
    read_jsonl,
    repair_tail,
    rewrite_jsonl,
    write_fit_complete,
    write_json_atomic,
)
from vtl.tasks import get_task
from vtl.transfer.run_complete import unmark_fit_complete

TRANSFER_LOG = "transfer.jsonl"


class CrossTaskPGF(Callback):
    def __init__(
        self,
        upper: float | dict[str, float] = 1.0,
        eps: float = 0.0,
        cache_dir: str | None = None,
        scoring: Literal["likelihood", "generate"] | None = "likelihood",
        zero_shot_per_seed: bool = False,
        eval_epochs: Literal["every", "last"] = "every",
    ):
        """
        Args:
            upper: U_j, the accuracy ceiling of the PGF denominator: one number for every target, or a mapping
                target -> ceiling (e.g. human accuracy) naming every target. Each must lie above the target's
                zero-shot accuracy.
            eps: epsilon added to the PGF denominator.
            cache_dir: where zero-shot accuracies are cached; default $VTL_HOME/zero_shot.
            scoring: the scoring mode the numbers are measured with; must match the module's (null: the module's).
            zero_shot_per_seed: measure (and cache) the zero-shot baseline once per seed instead of once for all
                seeds; the transfer log then names the baseline's seed (`zero_shot_seed`).
            eval_epochs: "every": every validation the trainer runs (every epoch, or every n with
                --trainer.check_val_every_n_epoch); "last": the final epoch only (needs --trainer.max_epochs). The
                transfer log holds every evaluated epoch in full either way.
        """
        resolve_ceilings(upper, None, flag="CrossTaskPGF upper")  # values and task names, before any training
        if eps < 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        self.upper = upper
        self.zero_shot_per_seed = zero_shot_per_seed
        self._ceilings: dict[str, float] = {}
        self.eps = eps
        self.cache_dir = cache_dir
        self.scoring = scoring
        self.eval_epochs = eval_epochs
        self.zero_shot: dict[str, float] = {}
        self._metrics: dict[str, MeanMetric] = {}
        self._targets: list[str] = []
        self._written: set[tuple[int, str]] = set()
        self.zero_shot_source: str | None = None  # "measured", "cache" or "checkpoint": how the baseline was obtained
        self._key: dict[str, Any] | None = None  # the cache key of `zero_shot` (JSON types), kept in checkpoints
        self._restored_key: dict[str, Any] | None = None  # the key a checkpoint brought, until checked against ours
        self._resume_epoch: int | None = None  # the epoch of a restored checkpoint, until later rows are dropped
        # Per question {target: {idx: score}}: the zero-shot model's (kept with `zero_shot`) and this validation's;
        # written to questions.jsonl so `vtl analyze --test crossed` can test each cell on the questions too.
        self.zero_shot_scores: dict[str, dict[str, float]] = {}
        self._scores: dict[str, dict[str, float]] = {}

    # ---- setup ---------------------------------------------------------------------------------------------------
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        dm = trainer.datamodule
        for attr in ("target_names", "eval_samples", "fingerprint", "source_name"):
            if not hasattr(dm, attr):
                raise TypeError(f"CrossTaskPGF needs a TransferDataModule-like data module (no {attr!r} on {dm!r})")
        for attr in ("score", "zero_shot_context", "cache_identity", "scoring"):
            if not hasattr(pl_module, attr):
                raise TypeError(f"CrossTaskPGF needs a TransferFineTuner-like module (no {attr!r})")
        if self.scoring is not None and self.scoring != pl_module.scoring:
            raise ValueError(
                f"CrossTaskPGF scoring={self.scoring!r} but --model.scoring={pl_module.scoring!r}; set them the same"
            )
        self._targets = list(dm.target_names)
        self._weights = {t: question_weights(dm.eval_samples[t]) for t in self._targets} if dm.eval_samples else {}
        self._ceilings = resolve_ceilings(self.upper, self._targets, flag="CrossTaskPGF upper")
        # float64: 8/12 must equal the zero-shot 8/12 exactly, or PGF shows float32 noise instead of 0.
        self._metrics = {t: MeanMetric(nan_strategy="error").set_dtype(torch.float64) for t in self._targets}
        if trainer.is_global_zero and stage == "fit":
            self._written = _read_written(self.log_path(trainer))
        if stage == "fit" and self.eval_epochs == "last":
            _validate_last_epoch_only(trainer)

    @staticmethod
    def log_path(trainer: Trainer) -> Path:
        return Path(trainer.default_root_dir) / TRANSFER_LOG

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._drop_discarded(trainer)
        self._ensure_zero_shot(trainer, pl_module)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """A fit in progress is not complete; a fresh fit (no checkpoint restored) into a run dir that holds an
        earlier fit's transfer log moves that log aside, so the run's log describes this fit only (its epochs would
        otherwise be skipped as already written). Runs after checkpoint restore, so `trainer.ckpt_path` is final."""
        if not trainer.is_global_zero:
            return
        self._drop_discarded(trainer)  # some strategies restore the checkpoint only after on_fit_start
        root = Path(trainer.default_root_dir)
        unmark_fit_complete(trainer)
        path = self.log_path(trainer)
        if trainer.ckpt_path is None and self._written and path.is_file():
            stamp = time.strftime("%Y%m%d-%H%M%S")
            aside = path.with_name(f"{TRANSFER_LOG}.replaced-{stamp}")
            path.rename(aside)
            questions = path.with_name(QUESTIONS_FILE)
            if questions.is_file():
                questions.rename(path.with_name(f"{QUESTIONS_FILE}.replaced-{stamp}"))
            self._written = set()
            rank_zero_warn(
                f"{root} held the transfer log of an earlier fit and this fit starts from scratch: moved it to "
                f"{aside.name}. To continue that fit instead, pass --ckpt_path last; to keep runs apart, set "
                "--trainer.default_root_dir"
            )

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self._ensure_zero_shot(trainer, pl_module)

    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._ensure_zero_shot(trainer, pl_module)

    # ---- zero-shot baseline --------------------------------------------------------------------------------------
    def cache_key(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
        return {
            **pl_module.cache_identity(),
            "scoring": pl_module.scoring,
            "data": trainer.datamodule.fingerprint(),
            "targets": self._targets,
            **({"seed": _seed()} if self.zero_shot_per_seed else {}),
        }

    def _cache_file(self, key: dict[str, Any]) -> Path:
        from vtl.home import vtl_home

        root = Path(self.cache_dir) if self.cache_dir else vtl_home() / "zero_shot"
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]
        return root / f"{digest}.json"

    def _ensure_zero_shot(self, trainer: Trainer, pl_module: LightningModule) -> None:
        key = self.cache_key(trainer, pl_module)
        plain_key = json.loads(json.dumps(key, default=str))
        if self._restored_key is not None and self._restored_key != plain_key:
            # A checkpoint's baseline holds only for the data and settings it was measured with (e.g. not for a
            # `vtl validate` of that checkpoint with other --data.max_eval_samples).
            rank_zero_warn("the checkpoint's zero-shot accuracies were measured on other eval data or settings; "
                           "taking them from the cache or measuring them again")
            self.zero_shot, self.zero_shot_source, self.zero_shot_scores = {}, None, {}
        self._restored_key = None
        if self.zero_shot and set(self._targets) <= set(self.zero_shot):
            self.zero_shot_source = self.zero_shot_source or "checkpoint"
            check_ceilings(self._ceilings, self.zero_shot, flag="CrossTaskPGF upper")
            return  # measured before, or restored from a checkpoint
        self._key = plain_key
        file = self._cache_file(key)
        cached = None
        if trainer.is_global_zero and file.is_file():
            try:
                data = json.loads(file.read_text())
                # a cache written before per-question scores were kept is measured again, once
                if data.get("key") == json.loads(json.dumps(key, default=str)) and "scores" in data:
                    cached = {"accuracy": data["accuracy"], "scores": data["scores"]}
            except (json.JSONDecodeError, KeyError):
                rank_zero_warn(f"zero-shot cache {file} is unreadable; measuring again")
        cached = trainer.strategy.broadcast(cached, src=0)
        if cached is not None:
            rank_zero_info(f"vtl: zero-shot accuracy read from cache {file}")
            self.zero_shot = {t: float(cached["accuracy"][t]) for t in self._targets}
            self.zero_shot_scores = {t: cached["scores"].get(t, {}) for t in self._targets}
            self.zero_shot_source = "cache"
            check_ceilings(self._ceilings, self.zero_shot, flag="CrossTaskPGF upper")
            return
        rank_zero_info(f"vtl: measuring zero-shot accuracy on {len(self._targets)} targets (adapter disabled)")
        start = time.perf_counter()
        rank, world = trainer.global_rank, trainer.world_size
        counts = torch.zeros(len(self._targets), 2, dtype=torch.float64, device=pl_module.device)
        scores: dict[str, dict[str, float]] = {t: {} for t in self._targets}
        with pl_module.zero_shot_context():
            for i, target in enumerate(self._targets):
                shard = trainer.datamodule.eval_samples[target][rank::world]
                if shard:
                    preds = pl_module.score(shard)
                    scores[target] = {p.idx: float(p.score) for p in preds}
                    weights = self._weights_of(target, preds)
                    counts[i, 0] = sum(w * p.score for w, p in zip(weights, preds, strict=True))
                    counts[i, 1] = sum(weights)
                fault_point("zero_shot")
        counts = trainer.strategy.reduce(counts, reduce_op="sum")
        self.zero_shot = {t: float(counts[i, 0] / counts[i, 1]) for i, t in enumerate(self._targets)}
        self.zero_shot_scores = _gather_scores(trainer, scores)
        self.zero_shot_source = "measured"
        if trainer.is_global_zero:
            record = {"key": key, "accuracy": self.zero_shot, "scores": self.zero_shot_scores,
                      "seconds": round(time.perf_counter() - start, 3)}
            write_json_atomic(file, record)
        check_ceilings(self._ceilings, self.zero_shot, flag="CrossTaskPGF upper")
        at_ceiling = [t for t, a in self.zero_shot.items() if pgf(a, a, self._ceilings[t], self.eps) is None]
        if at_ceiling:
            rank_zero_warn(
                f"zero-shot accuracy is at the ceiling U=1 on {', '.join(at_ceiling)}: PGF is undefined "
                "there (logged as missing, counted in transfer/n_undefined); set a CrossTaskPGF eps > 0 to define it"
            )

    def _weights_of(self, target: str, predictions) -> list[float]:
        weights = self._weights.get(target)
        return [1.0] * len(predictions) if weights is None else [weights[p.idx] for p in predictions]

    # ---- per-epoch accuracy --------------------------------------------------------------------------------------
    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        for metric in self._metrics.values():
            metric.reset()
            metric.to(pl_module.device)
        self._scores = {t: {} for t in self._targets}

    def on_validation_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.sanity_checking or not outputs:
            return
        target = self._targets[dataloader_idx]
        scores = torch.tensor([p.score for p in outputs], dtype=torch.float64, device=pl_module.device)
        weights = torch.tensor(self._weights_of(target, outputs), dtype=torch.float64, device=pl_module.device)
        self._metrics[target].update(scores, weights)
        self._scores.setdefault(target, {}).update((p.idx, float(p.score)) for p in outputs)
        fault_point("val_batch")

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.on_validation_epoch_start(trainer, pl_module)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.on_validation_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._epoch_end(trainer, pl_module, prefix="test", write=False)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._epoch_end(trainer, pl_module, prefix="val", write=trainer.state.fn == "fit")

    def _epoch_end(self, trainer: Trainer, pl_module: LightningModule, *, prefix: str, write: bool) -> None:
        accuracy = {t: float(m.compute()) for t, m in self._metrics.items()}  # compute() syncs across ranks
        records = []
        for target in self._targets:
            acc, base = accuracy[target], self.zero_shot[target]
            mu = pgf(acc, base, self._ceilings[target], self.eps)
            records.append(self._record(trainer, pl_module, target, acc, base, mu))
        values = epoch_values(records, prefix)
        undefined = [r["target"] for r in records if r["pgf"] is None]
        if undefined:
            rank_zero_warn(f"PGF undefined (zero-shot accuracy at the ceiling) for: {', '.join(undefined)}")
        for name, value in values.items():
            # Already synced by torchmetrics (no sync_dist); float64 so loggers show 8/12, not its float32 rounding.
            pl_module.log(name, torch.tensor(value, dtype=torch.float64), on_epoch=True, sync_dist=False,
                          add_dataloader_idx=False, batch_size=1)
        if write:
            questions = _gather_scores(trainer, self._scores)  # every rank takes part in the gather
            if trainer.is_global_zero:
                self._append(trainer, records, self._question_lines(trainer, records, questions))

    def _record(self, trainer, pl_module, target, acc, base, mu) -> dict[str, Any]:
        dm = trainer.datamodule
        record = {
            "model": pl_module.model_name,
            "source_task": dm.source_name,
            "seed": _seed(),
            "epoch": trainer.current_epoch,
            "step": trainer.global_step,
            "target": target,
            "accuracy": acc,
            "zero_shot_accuracy": base,
            "pgf": mu,
            "n": len(dm.eval_samples[target]),
        }
        assert tuple(record) == TRANSFER_RECORD_FIELDS
        record["metric"] = get_task(target).metric  # accuracy, or MRA for numerical video targets
        record["upper"] = self._ceilings[target]
        record["eps"] = self.eps
        record["prompt_preset"] = getattr(pl_module, "prompt_preset", "vtl")  # the harness the numbers line up with
        record["answer_rule"] = getattr(pl_module, "answer_rule", None) if pl_module.scoring == "generate" else None
        # Provenance for the report: the digest of the rows this target was scored on, and the code that scored them.
        record["eval_rows"] = ((self._key or {}).get("data") or {}).get("eval_rows", {}).get(target)
        record["vtl_version"] = __version__
        if self.zero_shot_per_seed:
            record["zero_shot_seed"] = record["seed"]
        spec = getattr(dm, "mixture_spec", None)
        if spec is not None:
            record["arm"] = spec.arm
            record["mixture_target"] = spec.target
        return record

    def _question_lines(self, trainer: Trainer, records: list[dict[str, Any]],
                        scores: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
        """One questions.jsonl line per target: every eval question's fine-tuned and zero-shot score, in the
        target's eval order (zero_shot null where the baseline's per-question scores are unknown, e.g. restored
        from a checkpoint written before they were kept)."""
        lines = []
        for r in records:
            target = r["target"]
            ids = [s.idx for s in trainer.datamodule.eval_samples[target]]
            mine, base = scores.get(target, {}), self.zero_shot_scores.get(target, {})
            if not all(i in mine for i in ids):
                continue  # a validation that scored part of the target (limit_val_batches): no paired record
            lines.append({
                "source_task": r["source_task"], "seed": r["seed"], "epoch": r["epoch"], "target": target,
                "idx": ids, "score": [mine[i] for i in ids],
                "zero_shot": [base[i] for i in ids] if all(i in base for i in ids) else None,
                "upper": r["upper"], "eps": r["eps"],
                **({"arm": r["arm"], "mixture_target": r["mixture_target"]} if "arm" in r else {}),
            })
        return lines

    def _append(self, trainer: Trainer, records: list[dict[str, Any]], questions: list[dict[str, Any]]) -> None:
        fresh = [r for r in records if (r["epoch"], r["target"]) not in self._written]
        if not fresh:
            return
        keys = {(r["epoch"], r["target"]) for r in fresh}
        with JsonlAppender(self.log_path(trainer).with_name(QUESTIONS_FILE)) as sink:
            sink.extend(q for q in questions if (q["epoch"], q["target"]) in keys)  # first: a crash between the
            # two leaves a questions line whose transfer row the resumed fit writes again (the reader keeps the last)
        fault_point("questions_appended")
        with JsonlAppender(self.log_path(trainer)) as sink:
            sink.extend(fresh)  # one write per epoch: a crash leaves whole epochs or a torn last line
        self._written.update((r["epoch"], r["target"]) for r in fresh)
        fault_point("rows_appended")

    # ---- end of fit, state ---------------------------------------------------------------------------------------
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero or trainer.interrupted:
            return
        self._drop_discarded(trainer)  # a rerun of a finished fit restores its checkpoint and trains nothing
        fault_point("fit_end")
        # From the records on disk, not from this process's memory: a resumed run that trained nothing (the
        # checkpoint was the last epoch's) writes the same summary as the run that measured those numbers.
        log = self.log_path(trainer)
        rows = read_jsonl(log) if log.is_file() else []
        last = [r for r in rows if r["epoch"] == max(r["epoch"] for r in rows)] if rows else []
        summary = {
            "epochs": last[0]["epoch"] + 1 if last else trainer.current_epoch,
            "global_step": last[0]["step"] if last else trainer.global_step,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "metrics": epoch_values(last, "val"),
        }
        write_fit_complete(trainer.default_root_dir, summary)

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        if self._resume_epoch is None:  # checkpoints older than the callback's own `written_through`
            self._resume_epoch = int(checkpoint.get("epoch", -1))

    def _drop_discarded(self, trainer: Trainer) -> None:
        """After a checkpoint is restored, rows of epochs after the last one it had written belong to an attempt
        that never reached its checkpoint (the resumed fit evaluates those epochs again; a checkpoint taken mid-epoch
        or before the epoch's validation has not written that epoch): drop them, atomically, before anything is
        appended."""
        if self._resume_epoch is None or not trainer.is_global_zero:
            return
        epoch, self._resume_epoch = self._resume_epoch, None
        path = self.log_path(trainer)
        dropped = rewrite_jsonl(path, lambda r: int(r.get("epoch", -1)) <= epoch)
        if path.with_name(QUESTIONS_FILE).is_file():
            rewrite_jsonl(path.with_name(QUESTIONS_FILE), lambda r: int(r.get("epoch", -1)) <= epoch)
        if dropped:
            rank_zero_info(f"vtl: dropped {dropped} rows of epochs after the checkpoint's last written epoch {epoch} "
                           f"from {path}")
        self._written = {(e, t) for e, t in self._written if e <= epoch}

    def state_dict(self) -> dict[str, Any]:
        return {"zero_shot": dict(self.zero_shot), "zero_shot_scores": self.zero_shot_scores, "upper": self.upper,
                "eps": self.eps, "key": self._key,
                "written_through": max((epoch for epoch, _ in self._written), default=-1)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.zero_shot = dict(state_dict.get("zero_shot", {}))
        self.zero_shot_scores = dict(state_dict.get("zero_shot_scores", {}))
        self._key = self._restored_key = state_dict.get("key")  # None in checkpoints written before the key was kept
        if "written_through" in state_dict:  # the last epoch whose rows were on disk when the checkpoint was taken
            self._resume_epoch = int(state_dict["written_through"])


def _gather_scores(trainer: Trainer, local: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """{target: {idx: score}} merged over the ranks (each scored its shard); the local dict on one process."""
    if trainer.world_size == 1 or not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return local
    parts: list[Any] = [None] * trainer.world_size
    torch.distributed.all_gather_object(parts, local)
    return {t: {i: v for part in parts for i, v in (part or {}).get(t, {}).items()} for t in local}


def question_weights(samples) -> dict[str, float] | None:
    """Weights that make a target's score the mean over its question types (VSI-Bench averages
    object_rel_direction's easy, medium and hard parts); None (all 1) when the target has one type."""
    types = [getattr(s, "question_type", None) for s in samples]
    if len(set(types)) <= 1:
        return None
    counts = {t: types.count(t) for t in set(types)}
    return {s.idx: 1.0 / counts[t] for s, t in zip(samples, types, strict=True)}
def epoch_values(records: list[dict[str, Any]], prefix: str) -> dict[str, float]:
    """What one epoch's records log: accuracy and PGF per target, mean positive PGF and the sign counts."""
    values: dict[str, float] = {}
    positive, negative, undefined = [], 0, 0
    for r in records:
        values[f"{prefix}/{r['target']}/acc"] = r["accuracy"]
        mu = r["pgf"]
        if mu is None:
            undefined += 1
            continue
        values[f"transfer/{r['target']}/pgf"] = mu
        if mu > 0:
            positive.append(mu)
        elif mu < 0:
            negative += 1
    values["transfer/mean_positive_pgf"] = sum(positive) / len(positive) if positive else 0.0
    values["transfer/n_positive"] = float(len(positive))
    values["transfer/n_negative"] = float(negative)
    values["transfer/n_undefined"] = float(undefined)
    return values


def _validate_last_epoch_only(trainer: Trainer) -> None:
    """Lightning validates after epoch e when (e + 1) % check_val_every_n_epoch == 0: n = max_epochs leaves the last."""
    if trainer.max_epochs is None or trainer.max_epochs < 1:
        raise ValueError("CrossTaskPGF eval_epochs='last' needs --trainer.max_epochs (the last epoch must be known)")
    trainer.check_val_every_n_epoch = trainer.max_epochs
    from lightning.pytorch.callbacks import ModelCheckpoint

    for cb in trainer.callbacks:
        if isinstance(cb, ModelCheckpoint) and cb._save_on_train_epoch_end is None:
            rank_zero_warn("CrossTaskPGF eval_epochs='last': a ModelCheckpoint without save_on_train_epoch_end: true "
                           "saves only when validation runs (the last epoch); set it to keep a checkpoint per epoch")


def _seed() -> int | None:
    value = os.environ.get("PL_GLOBAL_SEED")
    return int(value) if value not in (None, "") else None


def _read_written(path: Path) -> set[tuple[int, str]]:
    """(epoch, target) pairs already in the log; a torn last line (a crash mid-write) is cut off."""
    if not path.is_file():
        return set()
    repair_tail(path)
    done = set()
    for n, rec in numbered_records(path):
        try:
            done.add((int(rec["epoch"]), str(rec["target"])))
        except (KeyError, TypeError, ValueError) as err:
            raise RecordError(f"{path}: line {n} is not a transfer record ({err}); move the file aside") from err
    return done
