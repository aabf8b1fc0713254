"""TransferDataModule: source training rows disjoint from evaluation, one loader per target, mixture specs."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from vtl.data.sample import BlinkSample
from vtl.tasks import TRANSFER_TASKS
from vtl.transfer.datamodule import MixtureSpec, TransferDataModule


def test_source_task_trains_and_every_target_evaluates(synth_dir):
    dm = TransferDataModule(source_task="CT", targets="all", eval_fraction=0.25, max_eval_samples=5, batch_size=3)
    dm.setup("fit")
    assert dm.source_task == "Counting" and dm.source_name == "Counting"
    assert dm.target_names == list(TRANSFER_TASKS)
    assert {s.sub_task for s in dm.train_samples} == {"Counting"}
    assert not {s.idx for s in dm.train_samples} & {s.idx for s in dm.eval_samples["Counting"]}
    assert len(dm.train_samples) == 36  # 48 synthetic rows, a quarter held out
    loaders = dm.val_dataloader()
    assert len(loaders) == 13
    for name, loader in zip(dm.target_names, loaders, strict=True):
        rows = [s for batch in loader for s in batch]
        assert len(rows) == 5 and {s.sub_task for s in rows} == {name}
        assert all(isinstance(s, BlinkSample) for s in rows)
    batch = next(iter(dm.train_dataloader()))
    assert isinstance(batch, list) and len(batch) == 3


def test_same_split_seed_same_rows_other_seed_other_rows(synth_dir):
    def eval_idx(seed):
        dm = TransferDataModule(source_task="Jigsaw", targets="Jigsaw", split_seed=seed)
        dm.setup("fit")
        return [s.idx for s in dm.eval_samples["Jigsaw"]]

    assert eval_idx(0) == eval_idx(0) != eval_idx(1)


def _spec(tmp_path, **over):
    spec = {"target": "Counting", "arm": "pgf", "budget": 30, "seed": 3,
            "components": [{"task": "Jigsaw", "weight": 0.6, "n": 18}, {"task": "RD", "weight": 0.4, "n": 12}]}
    spec.update(over)
    path = tmp_path / "pgf_Counting.json"
    path.write_text(json.dumps(spec))
    return path


def test_mixture_draws_n_rows_per_component_from_train_splits(tmp_path, synth_dir):
    path = _spec(tmp_path)
    dm = TransferDataModule(mixture=str(path), targets="Counting,Jigsaw", eval_fraction=0.25)
    dm.setup("fit")
    assert dm.source_name == "mixture:pgf_Counting" and dm.mixture_spec.arm == "pgf"
    assert Counter(s.sub_task for s in dm.train_samples) == {"Jigsaw": 18, "Relative_Depth": 12}
    assert len({s.idx for s in dm.train_samples}) == 30  # no repeats when the pool is large enough
    assert not {s.idx for s in dm.train_samples} & {s.idx for s in dm.eval_samples["Jigsaw"]}
    again = TransferDataModule(mixture=str(path), targets="Counting", eval_fraction=0.25)
    again.setup("fit")
    assert sorted(s.idx for s in again.train_samples) == sorted(s.idx for s in dm.train_samples)
    other = TransferDataModule(mixture=str(_spec(tmp_path, seed=4)), targets="Counting", eval_fraction=0.25)
    other.setup("fit")
    assert sorted(s.idx for s in other.train_samples) != sorted(s.idx for s in dm.train_samples)


def test_mixture_asking_more_than_the_pool_repeats_with_a_warning(tmp_path, synth_dir):
    path = _spec(tmp_path, components=[{"task": "Jigsaw", "weight": 1.0, "n": 50}])
    dm = TransferDataModule(mixture=str(path), targets="Counting", eval_fraction=0.25)
    with pytest.warns(UserWarning, match="repeated"):
        dm.setup("fit")
    assert len(dm.train_samples) == 50 and len({s.idx for s in dm.train_samples}) == 36


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"arm": "best"}, "field 'arm'"),
        ({"components": [{"task": "Jigsw", "n": 3}]}, r"components\[0\]: field 'task'"),
        ({"components": [{"task": "Jigsaw", "n": -1}]}, r"components\[0\]: field 'n'"),
        ({"components": [{"task": "Jigsaw"}]}, r"components\[0\]: missing field 'n'"),
        ({"components": [{"task": "Jigsaw", "n": 3, "weight": "high"}]}, r"components\[0\]: field 'weight'"),
        ({"components": ["Jigsaw"]}, r"components\[0\]: expected an object"),
        ({"components": {"Jigsaw": 3}}, r"field 'components' must be a list"),
    ],
)
def test_bad_mixture_spec_names_file_and_field(tmp_path, change, message):
    path = _spec(tmp_path, **change)
    with pytest.raises(ValueError, match=message) as info:
        MixtureSpec.load(path)
    assert str(path) in str(info.value)


def test_bad_arguments_name_the_flag():
    with pytest.raises(ValueError, match="--data.eval_fraction"):
        TransferDataModule(eval_fraction=1.0)
    with pytest.raises(ValueError, match="--data.targets"):
        TransferDataModule(targets="Counting,Nope")
    for empty in ("", []):
        with pytest.raises(ValueError, match="--data.targets=.* names no task"):
            TransferDataModule(targets=empty)
    with pytest.raises(FileNotFoundError, match="--data.mixture"):
        TransferDataModule(mixture="/no/such/mixture.json")
