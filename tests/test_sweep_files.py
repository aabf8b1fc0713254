"""Every sweep file parses: each value of each parameter through the `vtl fit` parser, and its metric is logged."""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import pytest

from vtl.home import CONFIGS_DIR
from vtl.tasks import REGISTRY, canonical
from vtl.transfer import sweep as sw

SWEEP_FILES = sorted(sw.SWEEPS_DIR.glob("*.yaml"))
# Keys the code logs (DESIGN.md / STYLE.md): the cross-task PGF callback's and the training loss.
LOGGED_KEY = re.compile(
    r"^(train/loss|val/(?P<v>[\w-]+)/acc|transfer/(?P<t>[\w-]+)/pgf"
    r"|transfer/(mean_positive_pgf|n_positive|n_negative|n_undefined))$"
)


def test_the_three_sweeps_exist():
    assert {p.stem for p in SWEEP_FILES} >= {"transfer_grid", "pgf_selection", "demo_tiny"}


@pytest.fixture(scope="module")
def fit_parser():
    """The parser `vtl fit` uses (vtl.lightning_cli.build_cli), built once; nothing is instantiated."""
    from vtl import lightning_cli

    class ParseOnly(lightning_cli.VtlCLI):
        def before_instantiate_classes(self) -> None:
            pass

        def instantiate_classes(self) -> None:
            pass

    original, argv = lightning_cli.VtlCLI, sys.argv
    lightning_cli.VtlCLI, sys.argv = ParseOnly, ["vtl"]  # no pytest arguments for LightningCLI to see
    try:
        cli = lightning_cli.build_cli(["--config", str(sw.PACKAGE_DIR / "configs/transfer/tiny.yaml")], run=False)
    finally:
        lightning_cli.VtlCLI, sys.argv = original, argv
    return cli.parser


def _probe_runs(sweep: sw.SweepFile) -> list[dict]:
    """Parameter sets covering every value of every parameter (the others at their first value)."""
    first = {k: v[0] for k, v in sweep.parameters.items()}
    probes = [first]
    for key, values in sweep.parameters.items():
        probes += [{**first, key: value} for value in values[1:]]
    return probes


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_every_parameter_value_parses_with_the_fit_cli(path, fit_parser):
    sweep = sw.load_sweep(path)
    command = sweep.command
    assert command[:3] == ["${env}", "vtl", "fit"] and command[-1] == "${args}", "a W&B agent must run `vtl fit`"
    for params in _probe_runs(sweep):
        run = sw.SweepRun(index=1, name="probe", params=params, run_dir=Path("runs/probe"))
        argv = sw.build_command(sweep, run)[2:]  # drop `vtl fit`: the parser is the fit subcommand's
        try:
            config = fit_parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"{path.name}: `vtl fit` cannot parse {params}")
        for key, value in params.items():
            node = config
            for part in key.split("."):
                node = node.get("init_args", node)[part] if part not in node else node[part]
            assert str(node) == str(value), f"{path.name}: {key} parsed as {node!r}, not {value!r}"
        # what the parser cannot see: task names and mixture files must name real tasks
        task = params.get("data.source_task")
        if task is not None:
            assert canonical(task) == task, f"{path.name}: write task names as BLINK spells them: {task}"
        mixture = params.get("data.mixture")
        if mixture is not None:
            target, arm = re.fullmatch(r"mixtures/(.+)_(direct|random|pgf)\.json", mixture).groups()
            assert canonical(target) == target


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_metric_is_a_logged_key(path):
    from vtl.transfer import cross_task

    sweep = sw.load_sweep(path)
    name = sweep.metric["name"]
    match = LOGGED_KEY.match(name)
    assert match, f"{path.name}: metric.name {name!r} is not a key vtl logs"
    task = match.group("v") or match.group("t")
    if task:
        assert task in REGISTRY
    else:  # a fixed key: it is spelled out where the callback logs it
        source = inspect.getsource(cross_task)
        assert f'"{name}"' in source or name == "train/loss"
    assert sweep.metric.get("goal") in ("maximize", "minimize")


def test_transfer_grid_covers_tasks_sizes_and_seeds():
    from vtl.tasks import TRANSFER_TASKS

    sweep = sw.load_sweep(sw.SWEEPS_DIR / "transfer_grid.yaml")
    assert sweep.parameters["data.source_task"] == list(TRANSFER_TASKS)
    assert sorted(sweep.parameters["model.model"]) == [
        "Qwen/Qwen2.5-VL-32B-Instruct", "Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct"
    ]
    assert len(sweep.parameters["seed_everything"]) == 4
    assert sweep.size == 156
    demo = sw.load_sweep(sw.SWEEPS_DIR / "demo_tiny.yaml")
    assert demo.parameters["data.source_task"] == list(TRANSFER_TASKS) and demo.size == 13
    selection = sw.load_sweep(sw.SWEEPS_DIR / "pgf_selection.yaml")
    assert selection.size == 13 * 3 * 3


@pytest.mark.parametrize("fragment", sorted((CONFIGS_DIR / "logger").glob("*.yaml")), ids=lambda p: p.stem)
def test_logger_fragments_parse_over_a_fit_config(fragment, fit_parser):
    tiny = str(sw.PACKAGE_DIR / "configs/transfer/tiny.yaml")
    try:
        config = fit_parser.parse_args(["--config", tiny, "--config", str(fragment)])
    except SystemExit:
        pytest.fail(f"{fragment}: does not parse on top of configs/transfer/tiny.yaml")
    loggers = [lg.class_path for lg in config.trainer.logger]
    assert "vtl.transfer.wandb_logging.WandbLogger" in loggers
    assert config.trainer.callbacks, "a fragment must not drop the base config's callbacks"
