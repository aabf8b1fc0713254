"""Every YAML under configs/ parses: LightningCLI configs against the real class signatures (nothing instantiated,
nothing downloaded), fragments (e.g. a logger) on top of the tiny config, anything else as YAML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from vtl.lightning_cli import VtlCLI
from vtl.tasks import TRANSFER_TASKS

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
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
    if not isinstance(raw, dict) or not set(raw) & CLI_KEYS:
        return  # not a LightningCLI config: loading it as YAML is the check
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
