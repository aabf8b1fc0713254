"""The transfer data module: train on one source task (or a mixture of tasks), evaluate on every target task.

Training and evaluation data come from separate sources (`train_source`, one for all tasks or one per task, and
`eval_source`, by default every row of BLINK val), or are both carved out of one `source` by a seeded, idx-disjoint
split. Separate sources must not share an idx or an image (same bytes) between training and evaluation rows; a
carved-out split is disjoint by idx, and rows of the one source that share an image are reported.

Batches are lists of `BlinkSample`; the LightningModule owns the processor and collates training batches itself, so
this module needs no model state. Validation has one dataloader per target task, in `target_names` order.
"""

from __future__ import annotations

import json
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from vtl.checkpointing import EpochShuffle, ResumableOrder, global_seed, own_generator
from vtl.data.leaks import DEFAULT_THRESHOLD
from vtl.data.sample import BlinkSample
from vtl.data.sources import BLINK_HUB
from vtl.data.video import FrameRule
from vtl.errors import VtlError
from vtl.home import SYNTH_SUITE
from vtl.models.numeric import NumberRule
from vtl.tasks import UnknownTaskError, canonical, get_task, resolve_tasks

VSI_HUB_ID = "nyu-visionx/VSI-Bench"

Arm = Literal["direct", "random", "pgf"]


@dataclass(frozen=True)
class MixtureComponent:
    task: str
    weight: float
    n: int


@dataclass(frozen=True)
class MixtureSpec:
    """A training-data mixture for one target task (written by `vtl select`)."""

    name: str
    target: str
    arm: Arm
    budget: int
    seed: int
    components: tuple[MixtureComponent, ...]

    @classmethod
    def load(cls, path: str | Path) -> MixtureSpec:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"mixture spec {path} does not exist (--data.mixture)")
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err}); write a mixture spec as `vtl select` does") from err

        def need(obj: dict, key: str, where: str):
            if key not in obj:
                raise ValueError(f"{path}: {where}: missing field {key!r}")
            return obj[key]

        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a JSON object with target, arm and components (as `vtl select` writes)")
        arm = need(raw, "arm", "top level")
        if arm not in ("direct", "random", "pgf"):
            raise ValueError(f"{path}: field 'arm' is {arm!r}; use one of direct, random, pgf")
        components = []
        listed = need(raw, "components", "top level")
        if not isinstance(listed, list):
            raise ValueError(f"{path}: field 'components' must be a list of {{task, weight, n}} objects")
        for i, comp in enumerate(listed):
            where = f"components[{i}]"
            if not isinstance(comp, dict):
                raise ValueError(f"{path}: {where}: expected an object {{task, weight, n}}, got {comp!r}")
            n = need(comp, "n", where)
            if not isinstance(n, int) or n < 0:
                raise ValueError(f"{path}: {where}: field 'n' must be a non-negative integer, got {n!r}")
            try:
                task = canonical(need(comp, "task", where))
            except ValueError as err:
                raise ValueError(f"{path}: {where}: field 'task': {err}") from err
            weight = comp.get("weight", 1.0)
            if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
                raise ValueError(f"{path}: {where}: field 'weight' must be a non-negative number, got {weight!r}")
            components.append(MixtureComponent(task, float(weight), n))
        if not any(c.n for c in components):
            raise ValueError(f"{path}: field 'components' holds no rows (every n is 0)")
        try:
            target = canonical(need(raw, "target", "top level"))
        except ValueError as err:
            raise ValueError(f"{path}: field 'target': {err}") from err
        return cls(
            name=str(raw.get("name") or path.stem),
            target=target,
            arm=arm,
            budget=int(raw.get("budget", sum(c.n for c in components))),
            seed=int(raw.get("seed", 0)),
            components=tuple(components),
        )


class TransferDataModule(ResumableOrder, LightningDataModule):
    def __init__(
        self,
        source: str = SYNTH_SUITE,
        source_task: str | None = "Counting",
        train_source: str | dict[str, str] | None = None,
        eval_source: str | None = None,
        train_split: str = "train",
        targets: str | list[str] = "all",
        split: str = "val",
        eval_fraction: float = 0.5,
        split_seed: int = 0,
        batch_size: int = 4,
        eval_batch_size: int = 8,
        skip_bad: bool = False,
        max_train_samples: int | None = None,
        max_eval_samples: int | None = None,
        mixture: str | None = None,
        num_workers: int = 0,
        video_source: str | None = None,
        videos_root: str | None = None,
        frames: FrameRule | None = None,
        number_rule: NumberRule = "lmms-eval",
        eval_order: Literal["dataset", "length"] = "length",
        train_order: Literal["shuffle", "length_grouped"] = "shuffle",
        allow_outside_paths: bool = False,
        leak_threshold: int | None = DEFAULT_THRESHOLD,
    ):
        """
        Args:
            source: BLINK-format source both training and evaluation rows are carved out of (when train_source is
                null): hub id, local parquet dir, JSONL/parquet file, or "vtl://synth".
            source_task: task to fine-tune on (name or abbreviation); ignored when `mixture` is given.
            train_source: training data of its own: one BLINK-format source for every task, or a mapping
                task -> source (each source task from its own JSONL/parquet); every row is used.
            eval_source: evaluation data when train_source is set: every row of every target, split `split`
                (default: the hub's BLINK-Benchmark/BLINK, i.e. the whole BLINK val split).
            train_split: split read from train_source directories and hub ids (JSONL/parquet files have none).
            targets: evaluation tasks: "all" (the 13 transfer tasks), a comma-separated string or a list.
            split: split of `source` (carve-out) or of `eval_source` to read.
            eval_fraction: carve-out only: share of each task's rows held out for evaluation.
            split_seed: seed of the train/eval split.
            batch_size: training batch size (questions).
            eval_batch_size: questions per validation batch.
            skip_bad: skip malformed rows (reported) instead of failing.
            max_train_samples: cap on training rows (first rows of the seeded split).
            max_eval_samples: cap on evaluation rows per target.
            mixture: path to a JSON mixture spec (`vtl select`): train on `n` rows of each component's train split.
            num_workers: DataLoader workers.
            video_source: VSI-Bench source for video targets (`targets` naming VSI-Bench families, or "vsi"): a
                directory in the hub's layout, a .parquet/.jsonl table, "vtl://synth-video" or "nyu-visionx/VSI-Bench".
                Every row of each video target is evaluated (VSI-Bench has only a test split).
            videos_root: where `{dataset}/{scene_name}.mp4` (or `{dataset}.zip`) live; default: beside the table.
            frames: frame rule of video questions (count or fps, index rule, per-frame pixel budget; default 8
                uniformly spaced frames); part of the zero-shot cache key.
            number_rule: how numerical answers are parsed and scored: "lmms-eval" (lmms-eval's extract_number),
                "vsibench" (float of the first token, the original code), both with the references' exact MRA, or
                "vtl" (forgiving parsing, MRA with threshold slack).
            eval_order: validation batches in dataset order, or longest prompt first within each target (less
                padding; the sample lists and their fingerprint stay as they are).
            train_order: training batches shuffled, or shuffled and grouped by prompt length (less padding).
            allow_outside_paths: read JSONL/parquet image paths that lead outside the data file's directory
                (`../x.png`, absolute paths); refused by default.
            leak_threshold: with train_source: refuse a fit whose training images near-duplicate an evaluation
                image (a perceptual hash within this many of 256 bits: re-encoded, resized or marked copies; see
                docs/data_build.md); null turns the check off (byte-identical images are refused regardless).
        """
        super().__init__()
        if eval_source is not None and train_source is None:
            raise ValueError("--data.eval_source needs --data.train_source (without it both are carved out of "
                             "--data.source)")
        if train_source is None and not 0.0 < eval_fraction < 1.0:
            raise ValueError(f"--data.eval_fraction must be in (0, 1), got {eval_fraction}")
        for flag, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if value < 1:
                raise ValueError(f"--data.{flag} must be >= 1, got {value}")
        self.mixture_spec = MixtureSpec.load(mixture) if mixture else None
        if self.mixture_spec is None:
            if source_task is None:
                raise ValueError("set --data.source_task (or --data.mixture for a mixture run)")
            self.source_task: str | None = _task_flag("source_task", canonical, source_task)
        else:
            self.source_task = None
        self.target_names: list[str] = _task_flag("targets", resolve_tasks, targets)
        if not self.target_names:
            raise ValueError(f"--data.targets={targets!r} names no task; give all or task names, e.g. Counting,Jigsaw")
        self.source = source
        self.train_source = train_source
        self.eval_source = eval_source if eval_source is not None or train_source is None else BLINK_HUB
        self.train_split = train_split
        self.split = split
        self.eval_fraction = eval_fraction
        self.split_seed = split_seed
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.skip_bad = skip_bad
        self.max_train_samples = max_train_samples
        self.max_eval_samples = max_eval_samples
        self.mixture = mixture
        self.num_workers = num_workers
        self.video_targets = [t for t in self.target_names if get_task(t).modality == "video"]
        if self.video_targets and not video_source:
            raise VtlError(f"--data.targets names video targets ({', '.join(self.video_targets)}); set "
                           f"--data.video_source (a VSI-Bench directory or file, vtl://synth-video or {VSI_HUB_ID})")
        self.video_source = video_source
        self.videos_root = videos_root
        self.frames = frames or FrameRule()
        self.number_rule = number_rule
        self.eval_order = eval_order
        self.train_order = train_order
        self.allow_outside_paths = allow_outside_paths
        self.leak_threshold = leak_threshold
        self.train_samples: list[BlinkSample] = []
        self.eval_samples: dict[str, list[BlinkSample]] = {}

    @property
    def source_name(self) -> str:
        """The `source_task` field of transfer records: a task name, or "mixture:<name>"."""
        return self.source_task if self.mixture_spec is None else f"mixture:{self.mixture_spec.name}"

    @property
    def train_tasks(self) -> list[str]:
        if self.mixture_spec is None:
            return [self.source_task]
        return [c.task for c in self.mixture_spec.components if c.n > 0]

    def setup(self, stage: str | None = None) -> None:
        if self.eval_samples:
            return
        from vtl.data.sources import check_disjoint, find_overlaps

        carved = self.train_source is None
        train_splits = self._carve_out() if carved else self._separate_sources()
        if self.mixture_spec is None:
            train = train_splits[self.source_task]
        else:
            train = mixture_rows(self.mixture_spec, train_splits)
        self.train_samples = train[: self.max_train_samples] if self.max_train_samples else train
        if not self.train_samples:
            raise ValueError(f"{self.source}: no training rows for {self.source_name}; lower --data.eval_fraction")
        evaluation = [s for rows in self.eval_samples.values() for s in rows]
        if not carved:
            flags = "--data.train_source / --data.eval_source"
            check_disjoint(self.train_samples, evaluation, flags=flags)
            if self.leak_threshold is not None:
                from vtl.data.leaks import check_no_near_duplicates

                check_no_near_duplicates(self.train_samples, evaluation, self.leak_threshold, flags=flags)
            return
        # One source split by idx: rows sharing an image are the source's own make-up, so they are reported only.
        shared = find_overlaps(self.train_samples, evaluation)
        if shared:
            warnings.warn(f"{self.source}: {len(shared)} training row(s) share an image with evaluation rows "
                          f"(first: {shared[0]}); to keep them apart, give --data.train_source and "
                          "--data.eval_source", stacklevel=2)

    def _separate_sources(self) -> dict[str, list[BlinkSample]]:
        """Every row of each target from eval_source; every row of each training task from train_source."""
        from vtl.data.sources import load_tasks

        image_targets = [t for t in self.target_names if t not in self.video_targets]
        evaluation = load_tasks(self.eval_source, image_targets, self.split, skip_bad=self.skip_bad,
                                flag="--data.eval_source", allow_outside_paths=self.allow_outside_paths
                                ) if image_targets else {}
        evaluation.update(self._video_rows())
        for task in self.target_names:
            rows = evaluation[task]
            self.eval_samples[task] = rows[: self.max_eval_samples] if self.max_eval_samples else rows
        return load_tasks(self.train_source, self.train_tasks, self.train_split, skip_bad=self.skip_bad,
                          flag="--data.train_source", allow_outside_paths=self.allow_outside_paths)

    def _carve_out(self) -> dict[str, list[BlinkSample]]:
        """Train and eval rows of each task from one source, by a seeded split disjoint by idx."""
        from vtl.data.loaders import load_source, resolve_source
        from vtl.data.split import split_samples

        image_targets = [t for t in self.target_names if t not in self.video_targets]
        tasks = list(dict.fromkeys([*self.train_tasks, *image_targets]))
        by_task = load_source(resolve_source(self.source), tasks=tasks, split=self.split, skip_bad=self.skip_bad,
                              allow_outside_paths=self.allow_outside_paths)
        splits = {}
        for task in tasks:
            rows = by_task.get(task) or []
            if not rows:
                raise ValueError(f"{self.source}: no rows for task {task!r} in split {self.split!r} (--data.source)")
            splits[task] = split_samples(rows, self.eval_fraction, self.split_seed)
        splits.update({t: ([], rows) for t, rows in self._video_rows().items()})  # eval-only: every row
        for task in self.target_names:
            rows = splits[task][1]
            self.eval_samples[task] = rows[: self.max_eval_samples] if self.max_eval_samples else rows
            if not self.eval_samples[task]:
                raise ValueError(f"{self.source}: task {task!r} has no eval rows; raise --data.eval_fraction")
        return {t: s[0] for t, s in splits.items()}

    def _video_rows(self) -> dict[str, list]:
        """Every row of each video target (VSI-Bench has only a test split)."""
        if not self.video_targets:
            return {}
        from vtl.data.vsibench import load_vsibench

        return load_vsibench(self.video_source, self.video_targets, videos_root=self.videos_root,
                             skip_bad=self.skip_bad, rule=self.frames, number_rule=self.number_rule)

    def run_identity(self) -> dict:
        """What makes two fits one experiment on the data side (`vtl fit` refuses a run dir made with others): where
        training and evaluation rows come from, the source task or mixture, the split and the targets. Sizes, batch
        sizes and orders are left out (a rerun may change them)."""
        keys = ("source", "source_task", "train_source", "eval_source", "train_split", "split", "eval_fraction",
                "split_seed", "mixture", "video_source")
        return {**{key: getattr(self, key) for key in keys}, "targets": list(self.target_names)}

    def fingerprint(self) -> dict:
        """What identifies the evaluation data: a digest of exactly the rows each target evaluates (idx, text,
        answer, image bytes), whatever source they were read from and whatever the training data; for video
        targets also the frame rule and number parsing."""
        from vtl.data.sources import eval_fingerprint

        video = {"frames": self.frames.key, "number_rule": self.number_rule}
        return {"eval_rows": eval_fingerprint(self.eval_samples), **(video if self.video_targets else {})}

    def train_dataloader(self) -> DataLoader:
        if self.train_order == "length_grouped":
            from vtl.transfer.samplers import LengthGroupedSampler

            if self.trainer is not None and self.trainer.world_size > 1:
                warnings.warn("--data.train_order=length_grouped groups one process's batches; under DDP Lightning's "
                              "sampler wrapper reshuffles them", stacklevel=2)
            # ordered from seed + epoch like EpochShuffle, so a resumed fit sees the same batches
            sampler = self.resume_sampler(LengthGroupedSampler(self._prompt_lengths(self.train_samples),
                                                               self.batch_size, seed=global_seed()))
            return DataLoader(
                self.train_samples, batch_size=self.batch_size, sampler=sampler, collate_fn=list,
                num_workers=self.num_workers, drop_last=False, generator=own_generator(),
            )
        trainer = self.trainer
        distributed = trainer is not None and trainer.world_size > 1
        # One process: the order of epoch e is a function of (seed, e) alone, so a resumed fit sees the same batches
        # as an uninterrupted one. Under DDP Lightning swaps in its DistributedSampler, which shuffles the same way.
        # A mid-epoch checkpoint's epoch continues where it stopped (`resume_sampler`; one process only).
        shuffle = None if distributed else EpochShuffle(len(self.train_samples), global_seed())
        return DataLoader(
            self.train_samples,
            batch_size=self.batch_size,
            shuffle=distributed,
            sampler=None if shuffle is None else self.resume_sampler(shuffle),
            generator=shuffle.generator if shuffle is not None else own_generator(),
            collate_fn=list,
            num_workers=self.num_workers,
            drop_last=False,
        )

    def val_dataloader(self) -> list[DataLoader]:
        return [self._eval_loader(self.eval_samples[t]) for t in self.target_names]

    def test_dataloader(self) -> list[DataLoader]:
        return self.val_dataloader()

    def _prompt_lengths(self, rows: list[BlinkSample]) -> list[int]:
        """Prompt tokens per row, from the LightningModule's processor when it has one (`prompt_lengths`)."""
        from vtl.models.lengths import area_lengths

        module = self.trainer.lightning_module if self.trainer is not None else None
        if module is not None and getattr(module, "processor", None) is not None and hasattr(module, "prompt_lengths"):
            return module.prompt_lengths(rows)
        return area_lengths(rows)

    def _eval_loader(self, rows: list[BlinkSample]) -> DataLoader:
        sampler = None
        trainer = self.trainer
        distributed = trainer is not None and trainer.world_size > 1
        if self.eval_order == "length":
            from vtl.transfer.samplers import LengthSortedSampler, ShardedLengthSortedSampler

            lengths = self._prompt_lengths(rows)
            sampler = (
                ShardedLengthSortedSampler(lengths, num_replicas=trainer.world_size, rank=trainer.global_rank)
                if distributed else LengthSortedSampler(lengths)
            )
        elif distributed:
            # Each question counted exactly once across ranks (the default sampler pads with repeats).
            from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

            sampler = UnrepeatedDistributedSampler(
                rows, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=False
            )
        return DataLoader(
            rows, batch_size=self.eval_batch_size, shuffle=False, sampler=sampler, collate_fn=list,
            num_workers=self.num_workers, generator=own_generator(),
        )


def _task_flag(flag: str, resolve, value):
    try:
        return resolve(value)
    except UnknownTaskError as err:
        raise UnknownTaskError(f"--data.{flag}: {err}") from None


def mixture_rows(spec: MixtureSpec, train_splits: dict[str, list[BlinkSample]]) -> list[BlinkSample]:
    """`n` rows from each component's train split, drawn with the spec's seed.

    A component asking for more rows than its train split holds takes every row, then draws the rest again
    (with a warning), so the budget is honoured.
    """
    rng = random.Random(spec.seed)
    out: list[BlinkSample] = []
    for comp in spec.components:
        pool = sorted(train_splits[comp.task], key=lambda s: s.idx)
        if comp.n == 0:
            continue
        if not pool:
            raise ValueError(f"mixture {spec.name}: task {comp.task} has no training rows")
        picked: list[BlinkSample] = []
        while len(picked) + len(pool) <= comp.n:
            picked.extend(pool)
        if comp.n > len(pool):
            warnings.warn(
                f"mixture {spec.name}: {comp.task} asks for {comp.n} rows but its train split has {len(pool)}; "
                "rows are repeated",
                stacklevel=2,
            )
        picked.extend(rng.sample(pool, comp.n - len(picked)))
        out.extend(picked)
    rng.shuffle(out)
    return out
