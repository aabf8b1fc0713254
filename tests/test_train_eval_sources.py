"""Separate training and evaluation sources: every eval row used, overlap refused by idx and image bytes, one
zero-shot fingerprint per evaluation set whatever the training data."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from data_helpers import png_bytes, write_jsonl

from vtl.data.sources import LeakError
from vtl.tasks import TRANSFER_TASKS
from vtl.transfer.datamodule import TransferDataModule


def train_jsonl(path: Path, n: int = 6, task: str = "Counting", image: bytes | None = None, tag: str = "a") -> Path:
    """A user's rebuilt training data: one-image rows with PNG files next to the JSONL."""
    rows = []
    for i in range(n):
        name = f"{tag}_{task}_{i}.png"
        (path.parent / name).parent.mkdir(parents=True, exist_ok=True)
        (path.parent / name).write_bytes(image if (image is not None and i == n - 1) else png_bytes((i, 7, 99)))
        rows.append({"idx": f"train_{tag}_{task}_{i}", "sub_task": task, "question": f"How many? {i}",
                     "choices": ["1", "2", "3", "4"], "answer": "(B)", "image_1": name})
    return write_jsonl(path, rows)


def eval_subset(synth_dir: Path, out: Path, n: int = 3) -> Path:
    """The first n rows of every synthetic task, in the hub's parquet layout (the stand-in for BLINK val)."""
    for task in TRANSFER_TASKS:
        table = pq.read_table(next((Path(synth_dir) / task).glob("val-*.parquet")))
        (out / task).mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(0, n), out / task / "val-00000-of-00001.parquet")
    return out


@pytest.fixture(scope="module")
def blink_val(tmp_path_factory, synth_dir):
    return eval_subset(synth_dir, tmp_path_factory.mktemp("blink_val"))


def test_every_eval_row_of_every_target_and_every_training_row(tmp_path, blink_val):
    dm = TransferDataModule(source_task="CT", train_source=str(train_jsonl(tmp_path / "train.jsonl")),
                            eval_source=str(blink_val))
    dm.setup("fit")
    assert {t: len(rows) for t, rows in dm.eval_samples.items()} == dict.fromkeys(TRANSFER_TASKS, 3)
    assert [s.idx for s in dm.train_samples] == [f"train_a_Counting_{i}" for i in range(6)]


def test_fingerprint_covers_the_eval_rows_only(tmp_path, synth_dir, blink_val):
    def fingerprint(**kw):
        dm = TransferDataModule(targets="CT,RD", **kw)
        dm.setup("fit")
        return dm.fingerprint()

    a = fingerprint(source_task="CT", train_source=str(train_jsonl(tmp_path / "a" / "t.jsonl")),
                    eval_source=str(blink_val))
    b = fingerprint(source_task="RD", train_source={"RD": str(train_jsonl(tmp_path / "b" / "t.jsonl", task="RD",
                                                                           tag="b"))},
                    eval_source=str(blink_val))
    carved = fingerprint(source_task="CT", source=str(synth_dir), eval_fraction=0.25)
    assert a == b != carved
    assert set(a["eval_rows"]) == {"Counting", "Relative_Depth"}


def test_a_training_row_with_an_eval_image_is_refused_with_its_idx(tmp_path, blink_val):
    table = pq.read_table(blink_val / "Jigsaw" / "val-00000-of-00001.parquet")
    leaked = table.column("image_2")[1].as_py()["bytes"]  # an image of another task's eval row
    jsonl = train_jsonl(tmp_path / "train.jsonl", image=leaked)
    dm = TransferDataModule(source_task="CT", train_source=str(jsonl), eval_source=str(blink_val))
    with pytest.raises(LeakError, match=r"1 training row\(s\) overlap.*'train_a_Counting_5'.*'val_Jigsaw_2'.*"
                                        r"same bytes in image_1 / image_2"):
        dm.setup("fit")


def test_a_training_row_with_an_eval_idx_is_refused(tmp_path, blink_val):
    path = train_jsonl(tmp_path / "train.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["idx"] = "val_Counting_1"
    write_jsonl(path, rows)
    dm = TransferDataModule(source_task="CT", targets="CT", train_source=str(path), eval_source=str(blink_val))
    with pytest.raises(LeakError, match="'val_Counting_1'.*same idx"):
        dm.setup("fit")


def test_source_options_are_checked(tmp_path, blink_val):
    with pytest.raises(ValueError, match="--data.eval_source needs --data.train_source"):
        TransferDataModule(eval_source=str(blink_val))
    dm = TransferDataModule(source_task="CT", train_source={"RD": "x.jsonl"}, eval_source=str(blink_val))
    with pytest.raises(ValueError, match=r"--data.train_source: no source for task\(s\) Counting"):
        dm.setup("fit")
    assert TransferDataModule(train_source="t.jsonl").eval_source == "BLINK-Benchmark/BLINK"


@pytest.mark.slow
def test_fit_on_jsonl_train_source_scores_every_eval_row_each_epoch(tmp_path, tiny_model_dir, blink_val):
    from lightning.pytorch import Callback

    from vtl.lightning_cli import build_cli

    class CountScored(Callback):
        def __init__(self):
            self.seen: dict[int, list[str]] = {}

        def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
            if not trainer.sanity_checking:
                self.seen.setdefault(trainer.current_epoch, []).extend(p.idx for p in outputs)

    evaluation = blink_val
    root = tmp_path / "run"
    config = Path(__file__).resolve().parents[1] / "configs" / "transfer" / "tiny.yaml"
    train_jsonl(tmp_path / "train.jsonl")
    cli = build_cli(["--config", str(config), f"--trainer.default_root_dir={root}", "--trainer.max_epochs=2",
                     "--trainer.enable_progress_bar=false", f"--data.train_source={tmp_path / 'train.jsonl'}",
                     f"--data.eval_source={evaluation}", "--data.max_eval_samples=null", "--data.batch_size=3"],
                    run=False)
    counter = CountScored()
    cli.trainer.callbacks.append(counter)
    cli.trainer.fit(cli.model, cli.datamodule)
    every = sorted(f"val_{t}_{i}" for t in TRANSFER_TASKS for i in (1, 2, 3))
    assert {e: sorted(idx) for e, idx in counter.seen.items()} == {0: every, 1: every}
    recs = [json.loads(line) for line in (root / "transfer.jsonl").read_text().splitlines()]
    assert len(recs) == 2 * 13 and {r["n"] for r in recs} == {3}
    assert {(r["prompt_preset"], r["answer_rule"], r["upper"]) for r in recs} == {("vtl", None, 1.0)}


def test_carve_out_reports_shared_images_without_refusing(tmp_path):
    from data_helpers import row, write_task_parquet

    same = {"bytes": png_bytes((1, 2, 3)), "path": "same.png"}
    write_task_parquet(tmp_path, "Counting", [row("Counting", i, 1, 4, image_1=same) for i in range(4)])
    dm = TransferDataModule(source=str(tmp_path), source_task="CT", targets="CT", eval_fraction=0.5)
    with pytest.warns(UserWarning, match="2 training row.*share an image"):
        dm.setup("fit")
    assert len(dm.train_samples) == 2 and len(dm.eval_samples["Counting"]) == 2
