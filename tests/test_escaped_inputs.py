"""Bad inputs that used to escape as tracebacks or silence: each gets one line naming the file and what to change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from data_helpers import png_bytes, row, write_jsonl, write_task_parquet
from vicl_helpers import write_tuples

from vtl.data.loaders import load_source
from vtl.data.validate import DataError
from vtl.errors import VtlError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def jsonl_with_image(tmp_path: Path, image: str) -> Path:
    return write_jsonl(tmp_path / "data" / "rows.jsonl", [
        {"idx": "val_Counting_0", "sub_task": "Counting", "question": "how many?", "choices": ["1", "2"],
         "answer": "(A)", "image_1": image},
    ])


def test_image_path_outside_the_data_dir_is_refused_unless_allowed(tmp_path):
    (tmp_path / "outside.png").write_bytes(png_bytes())
    for image in ("../outside.png", str(tmp_path / "outside.png")):
        source = jsonl_with_image(tmp_path, image)
        with pytest.raises(DataError, match=r"rows\.jsonl.*image_1.*outside the data directory.*allow_outside_paths"):
            load_source(str(source), tasks=["Counting"])
        (sample,) = load_source(str(source), tasks=["Counting"], allow_outside_paths=True)["Counting"]
        assert sample.images[0].size == (8, 8)


def test_a_folder_that_is_no_blink_task_is_reported(tmp_path):
    write_task_parquet(tmp_path, "Counting", [row("Counting", 0, 1, 4)])
    write_task_parquet(tmp_path, "Countng", [row("Counting", 1, 1, 4)])
    with pytest.raises(DataError, match=r"Countng.*not a BLINK task.*did you mean 'Counting'"):
        load_source(str(tmp_path), tasks=["Counting"])


def test_model_dir_with_a_broken_config_json(tmp_path, tiny_model_dir):
    from vtl.models.loading import ModelLoadError, resolve_model_source

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    (model / "config.json").write_text('{"model_type": "qwen2_5_vl",')
    with pytest.raises(ModelLoadError, match=r"model/config\.json: not valid JSON .*restore it"):
        resolve_model_source(str(model))
    (model / "config.json").write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(ModelLoadError, match=r"config\.json: no 'model_type' field"):
        resolve_model_source(str(model))


def test_gpu_config_on_a_cpu_machine_is_one_line(tmp_path, capsys, monkeypatch):
    import torch

    from vtl.lightning_cli import run_lightning_cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = CONFIGS / "transfer" / "qwen2_5_vl_7b_qlora.yaml"
    rc = run_lightning_cli(["fit", "--config", str(config), f"--trainer.default_root_dir={tmp_path}"])
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line or "Traceback" in line]
    assert rc == 2 and len(errors) == 1
    assert "qwen2_5_vl_7b_qlora.yaml: trainer.accelerator=gpu but this machine has no CUDA GPU" in errors[0]


def test_malformed_infer_yaml_names_file_and_line(tmp_path):
    from vtl.vicl.infer import InferConfig

    bad = tmp_path / "infer.yaml"
    bad.write_text("tuples: pairs.jsonl\ngenerator: {backend: classical\nk: 2\n")
    with pytest.raises(VtlError, match=r"infer\.yaml: .*line 2, column 12"):
        InferConfig.from_yaml(bad)


FAILING_GENERATOR = '''
from vtl.vicl.generation.base import Failure, Generator

class Refuses(Generator):
    name = "refuses"

    def generate(self, instruction_text, images, k):
        return [Failure("refused", "no") for _ in range(k)]
'''


def test_infer_exits_non_zero_when_nothing_succeeded(tmp_path, monkeypatch, capsys):
    from vtl.cli import main

    tuples = write_tuples(tmp_path / "pairs", [("t0", "low_light_enhancement", "denoising")])
    (tmp_path / "failgen.py").write_text(FAILING_GENERATOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = tmp_path / "infer.yaml"
    config.write_text(yaml.safe_dump({"tuples": str(tuples), "arms": ["baseline"], "out": str(tmp_path / "run"),
                                      "k": 2, "generator": {"class_path": "failgen.Refuses"}}))
    assert main(["vicl", "infer", "--config", str(config), "--no-progress"]) == 1
    assert "none of the 1 queries produced a usable candidate" in capsys.readouterr().err
    assert not (tmp_path / "run" / ".vtl.lock").exists()  # the run dir's lock is released


def test_infer_refuses_a_run_dir_held_by_a_live_process(tmp_path):
    import os
    import socket
    import time

    from vtl.locks import LOCK_FILE, RunDirLockedError
    from vtl.vicl.infer import InferConfig, run_infer

    tuples = write_tuples(tmp_path / "pairs", [("t0", "low_light_enhancement", "denoising")])
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(),
                                             "started": time.time(), "what": "vtl vicl infer"}))
    with pytest.raises(RunDirLockedError, match=r"run is in use by vtl vicl infer"):
        run_infer(InferConfig(tuples=str(tuples), arms=["baseline"], out=str(out), k=1), progress=False)
