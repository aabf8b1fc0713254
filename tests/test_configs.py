"""Every YAML shipped in the package parses against the code that reads it, nothing instantiated or downloaded:
LightningCLI configs against the real class signatures, fragments (e.g. a logger) on top of the tiny config,
`vtl vicl infer` configs against the command and their backends' constructors (class_path + init_args); the sweep
files' parameters are parsed with the fit CLI in test_sweep_files.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from vtl.home import CONFIGS_DIR, SWEEPS_DIR
from vtl.lightning_cli import VtlCLI
from vtl.tasks import TRANSFER_TASKS

CONFIGS = CONFIGS_DIR
TINY = CONFIGS / "transfer" / "tiny.yaml"
ALL_YAML = sorted(p for p in CONFIGS.rglob("*") if p.suffix in (".yaml", ".yml"))
CLI_KEYS = {"model", "data", "trainer", "seed_everything", "optimizer", "lr_scheduler", "ckpt_path"}
TASKS = "|".join(re.escape(t) for t in TRANSFER_TASKS)
LOG_KEY = re.compile(
    rf"^(train/loss|val/({TASKS})/acc|transfer/({TASKS})/pgf|transfer/(mean_positive_pgf|n_positive|n_negative|n_undefined))$"
)


class ParseOnly(VtlCLI):
    def instantiate_classes(self) -> None:  # parse and validate against signatures only
        pass


def _parse(*files: Path):
    args = [a for f in files for a in ("--config", str(f))]
    from lightning.pytorch import LightningDataModule, LightningModule

    cli = ParseOnly(LightningModule, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                    args=args, run=False, save_config_callback=None)
    return cli.config


def _monitors(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "monitor" and v is not None:
                yield v
            yield from _monitors(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _monitors(v)


def test_there_are_transfer_configs():
    names = {p.name for p in ALL_YAML}
    assert {"tiny.yaml", "qwen2_5_vl_3b_qlora.yaml", "qwen2_5_vl_7b_qlora.yaml", "qwen2_5_vl_32b_qlora.yaml"} <= names


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_parses(path):
    raw = yaml.safe_load(path.read_text())
    if path.parent.name == "vicl":
        _check_infer_config(path)
        return
    assert isinstance(raw, dict) and set(raw) & CLI_KEYS, f"{path}: neither a `vtl fit` nor a `vtl vicl` config"
    config = _parse(path) if "model" in raw else _parse(TINY, path)
    assert config.model.class_path and config.data.class_path
    if path.parent.name == "transfer":
        assert path.read_text().startswith("# vtl "), "first line must be the command that runs it"
        for monitor in _monitors(raw):
            assert LOG_KEY.match(monitor), f"monitor {monitor!r} is not a key vtl logs"


def test_qlora_configs_say_what_the_study_needs():
    for size in ("3b", "7b", "32b"):
        config = _parse(CONFIGS / "transfer" / f"qwen2_5_vl_{size}_qlora.yaml")
        args = config.model.init_args
        assert args.model == f"Qwen/Qwen2.5-VL-{size.upper()}-Instruct"
        assert args.quantization.quant_type == "nf4" and args.quantization.bits == 4
        assert (args.lora.r, args.lora.alpha) == (8, 16)
        assert args.gradient_checkpointing and config.trainer.precision == "bf16-mixed"


def _check_infer_config(path: Path) -> None:
    from vtl.components import check
    from vtl.vicl.generation.base import Generator
    from vtl.vicl.infer import InferConfig
    from vtl.vicl.scoring.judge import JudgeBackend

    config = InferConfig.from_yaml(path)  # the command's own parser: unknown keys and wrong types fail here
    check(config.generator, Generator, "generator")  # init_args against the constructor's signature
    if config.judge is not None:
        check(config.judge, JudgeBackend, "judge")


def test_configs_and_sweeps_ship_in_the_package():
    assert ALL_YAML and all(CONFIGS_DIR in p.parents for p in ALL_YAML)
    assert {p.stem for p in SWEEPS_DIR.glob("*.yaml")} >= {"demo_tiny", "transfer_grid", "pgf_selection"}


def test_a_bad_backend_argument_is_refused(tmp_path):
    from vtl.errors import VtlError

    bad = tmp_path / "infer.yaml"
    text = (CONFIGS_DIR / "vicl" / "infer_qwen_judge.yaml").read_text().replace("max_new_tokens:", "max_new_token:")
    bad.write_text(text)
    with pytest.raises(VtlError, match="max_new_token"):
        _check_infer_config(bad)
