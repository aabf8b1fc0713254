"""`vtl sweep --set` and `vtl demo --set` check the override keys up front: a typo exits 2 with the closest valid
keys on the console, before any fit starts (dry run included); valid keys, deeper keys and prefixes pass."""

from __future__ import annotations

import pytest

from vtl.cli import main
from vtl.transfer import sweep as sw


@pytest.fixture(scope="module")
def demo_tiny():
    return sw.load_sweep(sw.find_sweep_file("demo_tiny"))


@pytest.mark.parametrize(("key", "suggests"), [
    ("model.lrr", "model.lr"), ("model.init_args.lrr", "model.min_lr_ratio"), ("data.source_tsk", "data.source_task"),
    ("trainer.max_epoch_s", "trainer.max_epochs"), ("seed_everyting", "seed_everything"),
])
def test_a_mistyped_key_is_refused_with_the_closest_one(demo_tiny, key, suggests):
    with pytest.raises(sw.SweepFileError, match=rf"^--set {key}: .*did you mean {suggests}\b"):
        sw.check_overrides(demo_tiny, [key])


def test_valid_keys_pass(demo_tiny):
    sw.check_overrides(demo_tiny, ["model.lr", "model.init_args.lr", "model.lora.r", "model.class_path",
                                   "data.source_task", "trainer.max_epochs", "trainer.callbacks+", "seed_everything"])


def test_another_program_is_not_checked(demo_tiny):
    import dataclasses

    sw.check_overrides(dataclasses.replace(demo_tiny, command=["python", "train.py", "${args}"]), ["lrr"])


def test_dry_run_and_demo_exit_2_on_the_console(tmp_path, capsys):
    assert main(["sweep", "demo_tiny", "--dry-run", "--set", "data.source_tsk=Counting"]) == 2
    assert "did you mean data.source_task" in capsys.readouterr().err
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo"), "--set", "model.lrr=3"]) == 2
    assert "did you mean model.lr" in capsys.readouterr().err
    assert not any((tmp_path / "demo").glob("*/sweep.log"))  # no fit started
