"""The distillation data module: (A_in, A_out, B_in) + teacher text pairs, joined from tuples and a corpus by tuple id.

Train examples come from the (filtered) teacher corpus over train tuples, validation examples from a teacher corpus
over eval tuples. Batches are lists of `ChatExample`; the student module collates them where its processor lives.

With `build` set and the files absent, the data is made on demand (tuples via `vtl.vicl.lowlevel.pairs`, descriptions by
the offline analytic teacher) under `data_dir`, or under $VTL_HOME when `data_dir` is null, so every tiny run
shares one copy.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from vtl.checkpointing import EpochShuffle, ResumableOrder, global_seed, own_generator


@dataclass
class BuildOptions:
    """What to build when the tuples or corpora are missing (offline: synthetic tuples + analytic teacher)."""

    pairs: list[str] | None = None
    """Ordered pairs ('Deblur→Dehaze', ...); null = the 21 reported scenarios."""
    n_train: int = 16
    """Train tuples per pair."""
    n_eval: int = 4
    """Eval tuples per pair."""
    image_size: int = 64
    """Square image side in pixels."""
    seed: int = 0
    """Seed of the clean images, operators and wording."""


@dataclass(frozen=True)
class DistillRecord:
    """One training or validation example before images are loaded."""

    tuple_id: str
    pair: str
    text: str
    images: tuple[Path, Path, Path]  # A_in, A_out, B_in; never B_out


class DistillDataset(Dataset):
    def __init__(self, records: list[DistillRecord], prompt: str):
        self.records = records
        self.prompt = prompt

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int):
        from PIL import Image

        from vtl.models.chat import ChatExample

        record = self.records[index]
        images = []
        for path in record.images:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
        return ChatExample(images=images, prompt=self.prompt, answer=record.text)


def join_records(tuples_path: str | Path, corpus_path: str | Path, split: str | None,
                 pairs: list[str] | None = None, limit: int | None = None) -> list[DistillRecord]:
    """Corpus lines joined with their tuples (by tuple_id); lines for unknown or other-split tuples are errors/skips."""
    from vtl.records import numbered_records
    from vtl.vicl.lowlevel.pairs import load_tuples

    tuples = {t.id: t for t in load_tuples(tuples_path, pairs=pairs)}
    corpus_path = Path(corpus_path)
    if not corpus_path.exists():
        raise FileNotFoundError(f"corpus {corpus_path} does not exist: write it with `vtl vicl corpus` "
                                f"(and `vtl vicl filter`), or set build: in the data config")
    records: list[DistillRecord] = []
    for number, row in numbered_records(corpus_path):
        tid, text = row.get("tuple_id"), row.get("text")
        if not isinstance(tid, str) or not isinstance(text, str) or not text.strip():
            raise ValueError(f"{corpus_path}: line {number} needs string fields 'tuple_id' and 'text'")
        t = tuples.get(tid)
        if t is None:
            if pairs:
                continue
            raise ValueError(f"{corpus_path}: line {number}: tuple_id {tid!r} is not in {tuples_path}; "
                             f"point data.tuples at the tuples this corpus was written for")
        if split is not None and t.split != split:
            continue
        records.append(DistillRecord(tid, t.pair, text.strip(), (t.a_in, t.a_out, t.b_in)))
        if limit is not None and len(records) >= limit:
            break
    return records


def build_offline_data(data_dir: Path, options: BuildOptions) -> None:
    """Synthetic tuples + analytic-teacher corpora for train and eval under data_dir (resumable, then marked done)."""
    from vtl.vicl.lowlevel.pairs import write_tuples
    from vtl.vicl.teaching.corpus import build_corpus
    from vtl.vicl.teaching.teachers import AnalyticTeacher

    if (data_dir / ".complete").exists():
        return
    write_tuples(data_dir, pairs=options.pairs, n_train=options.n_train, n_eval=options.n_eval, seed=options.seed,
                 image_size=options.image_size)
    teacher = AnalyticTeacher(seed=options.seed)
    build_corpus(data_dir, data_dir / "corpus.jsonl", teacher, split="train")
    build_corpus(data_dir, data_dir / "corpus_eval.jsonl", teacher, split="eval")
    (data_dir / ".complete").write_text("ok\n")


def default_data_dir(options: BuildOptions) -> Path:
    from vtl.home import vtl_home

    key = hashlib.sha1(json.dumps(asdict(options), sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:10]
    return vtl_home() / f"vicl-distill-{key}"


class DistillDataModule(ResumableOrder, LightningDataModule):
    def __init__(
        self,
        tuples: str | None = None,
        train_corpus: str | None = None,
        val_corpus: str | None = None,
        data_dir: str | None = None,
        build: BuildOptions | None = None,
        pairs: list[str] | None = None,
        batch_size: int = 4,
        eval_batch_size: int = 4,
        max_train: int | None = None,
        max_val: int | None = None,
        num_workers: int = 0,
        prompt: str | None = None,
    ):
        """
        Args:
            tuples: tuples.jsonl (or its directory) from `vtl vicl pairs`; null = data_dir/tuples.jsonl.
            train_corpus: teacher descriptions of train tuples (filtered); null = data_dir/corpus.jsonl.
            val_corpus: teacher descriptions of eval tuples; null = data_dir/corpus_eval.jsonl.
            data_dir: where built data lives; null with build set = a shared folder under $VTL_HOME.
            build: make missing data offline (synthetic tuples, analytic teacher); null = never build.
            pairs: only these ordered pairs ('Deblur→Dehaze', ...); null = every pair in the corpus.
            batch_size: training examples per step.
            eval_batch_size: validation examples per step.
            max_train: cap on training examples (after the join); null = all.
            max_val: cap on validation examples; null = all.
            num_workers: DataLoader workers.
            prompt: the student prompt as a file or inline text; null = vtl's STUDENT_PROMPT. The export records it
                and `vtl vicl describe` uses it.
        """
        super().__init__()
        if data_dir is None and build is None and (tuples is None or train_corpus is None):
            raise ValueError("set data.tuples and data.train_corpus, or data.data_dir, or data.build")
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError(f"data.batch_size and data.eval_batch_size must be >= 1, got {batch_size}, "
                             f"{eval_batch_size}")
        self.save_hyperparameters()
        self.batch_size = batch_size
        self.build = build
        self.data_dir = Path(data_dir) if data_dir else (default_data_dir(build) if build else None)
        self.tuples_path = Path(tuples) if tuples else self.data_dir / "tuples.jsonl"
        self.train_corpus = Path(train_corpus) if train_corpus else self.data_dir / "corpus.jsonl"
        self.val_corpus = Path(val_corpus) if val_corpus else (self.data_dir / "corpus_eval.jsonl"
                                                               if self.data_dir else None)
        self.train_records: list[DistillRecord] = []
        self.val_records: list[DistillRecord] = []
        from vtl.vicl.teaching.prompt_source import PromptSource
        from vtl.vicl.teaching.prompts import STUDENT_PROMPT, STUDENT_PROMPT_VERSION

        self.prompt_source = PromptSource.resolve(prompt, STUDENT_PROMPT, STUDENT_PROMPT_VERSION, "data.prompt")
        self.prompt = self.prompt_source.text

    def prepare_data(self) -> None:
        if self.build is not None and self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            build_offline_data(self.data_dir, self.build)

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if not self.train_records:
            self.train_records = join_records(self.tuples_path, self.train_corpus, "train", hp.pairs, hp.max_train)
            if not self.train_records:
                raise ValueError(f"no training examples: {self.train_corpus} has no lines for train tuples of "
                                 f"{self.tuples_path}" + (f" in pairs {hp.pairs}" if hp.pairs else ""))
        if self.val_corpus is not None and self.val_corpus.exists() and not self.val_records:
            self.val_records = join_records(self.tuples_path, self.val_corpus, "eval", hp.pairs, hp.max_val)

    def train_dataloader(self) -> DataLoader:
        # The order of epoch e comes from (seed, e) and a mid-epoch checkpoint's epoch continues where it stopped
        # (vtl.checkpointing); under DDP, Lightning's DistributedSampler shuffles from (seed, e) the same way.
        distributed = self.trainer is not None and self.trainer.world_size > 1
        shuffle = None if distributed else EpochShuffle(len(self.train_records), global_seed())
        return DataLoader(DistillDataset(self.train_records, self.prompt), batch_size=self.hparams.batch_size,
                          shuffle=distributed, sampler=None if shuffle is None else self.resume_sampler(shuffle),
                          generator=shuffle.generator if shuffle is not None else own_generator(),
                          collate_fn=list, num_workers=self.hparams.num_workers)

    def val_dataloader(self) -> DataLoader | list:
        if not self.val_records:
            return []
        return DataLoader(DistillDataset(self.val_records, self.prompt), batch_size=self.hparams.eval_batch_size,
                          shuffle=False, collate_fn=list, num_workers=self.hparams.num_workers)
