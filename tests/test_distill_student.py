"""Student distillation: configs parse, a tiny fit lowers validation loss, the export describes eval tuples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vtl.cli import main
from vtl.vicl.distill.student_data import BuildOptions, DistillDataModule, join_records

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs" / "distill").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_distill_configs_parse(config, capsys):
    from vtl.lightning_cli import build_cli

    with pytest.raises(SystemExit) as info:
        build_cli(["fit", "--config", str(config), "--print_config"])
    assert info.value.code == 0
    printed = capsys.readouterr().out
    assert "vtl.vicl.distill.student.StudentDistiller" in printed
    assert "monitor: val/loss" in printed or "val_corpus: null" in printed  # a config without validation data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill_data")
    dm = DistillDataModule(data_dir=str(root), build=BuildOptions(pairs=["LightEnh→Shadow"], n_train=8, n_eval=2,
                                                                  image_size=32), batch_size=4, eval_batch_size=2)
    dm.prepare_data()
    dm.setup("fit")
    return dm, root


def test_datamodule_joins_corpus_and_never_shows_b_out(data):
    dm, root = data
    assert len(dm.train_records) == 8 and len(dm.val_records) == 2
    record = dm.train_records[0]
    assert [p.name for p in record.images] == ["a_in.png", "a_out.png", "b_in.png"]
    example = next(iter(dm.train_dataloader()))[0]
    assert len(example.images) == 3 and example.answer in {r.text for r in dm.train_records}
    bad = root / "bad.jsonl"
    bad.write_text(json.dumps({"tuple_id": "nope", "text": "x"}) + "\n")
    with pytest.raises(ValueError, match="tuple_id 'nope' is not in"):
        join_records(root / "tuples.jsonl", bad, "train")


@pytest.mark.slow
def test_tiny_fit_lowers_validation_loss_and_describe_resumes(data, tiny_model_dir, tmp_path):
    from lightning.pytorch import Trainer, seed_everything

    from vtl.models.lora import LoraOptions
    from vtl.vicl.distill.student import StudentDistiller

    dm, root = data
    seed_everything(0)
    module = StudentDistiller(model=str(tiny_model_dir), lora=LoraOptions(r=16, alpha=32, dropout=0.0), lr=0.01,
                              n_samples=1, max_new_tokens=8)
    trainer = Trainer(accelerator="cpu", max_epochs=2, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path),
                      num_sanity_val_steps=0)
    before = trainer.validate(module, datamodule=dm, verbose=False)[0]["val/loss"]
    trainer.fit(module, datamodule=dm)
    after = trainer.callback_metrics["val/loss"].item()
    print(f"val/loss {before:.3f} -> {after:.3f}")
    assert after < before - 0.2, (before, after)
    samples = [json.loads(x) for x in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert samples and {"generated", "teacher", "epoch"} <= set(samples[-1])

    export = tmp_path / "student"
    assert (export / "student.json").exists() and (export / "adapter_config.json").exists()
    out = tmp_path / "descriptions.jsonl"
    args = ["vicl", "describe", "--student", str(export), "--tuples", str(root), "--out", str(out),
            "--base-model", str(tiny_model_dir), "--max-new-tokens", "6"]
    assert main([*args, "--limit", "1"]) == 0
    assert main(args) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["tuple_id"] for r in rows] == ["LightEnh-Shadow-eval-00000", "LightEnh-Shadow-eval-00001"]
    assert all(r["source"] == "student" and r["split"] == "eval" and "text" in r for r in rows)


def test_describe_refuses_to_append_to_another_producers_file(tmp_path):
    from vtl.vicl.distill.describe import Student, _described_before
    from vtl.vicl.teaching.prompts import STUDENT_PROMPT_VERSION

    student = Student(model=None, processor=None, base_model="base", path=tmp_path / "student", max_new_tokens=8)
    out = tmp_path / "descriptions.jsonl"
    mine = {"tuple_id": "t0", "source": "student", "student": str((tmp_path / "student").resolve()),
            "prompt_version": STUDENT_PROMPT_VERSION, "text": "x"}
    out.write_text(json.dumps(mine) + "\n")
    assert _described_before(out, student) == {"t0"}
    teacher = {"tuple_id": "t1", "source": "teacher", "model": "analytic-v1", "prompt_version": "analytic-v1"}
    out.write_text(json.dumps(mine) + "\n" + json.dumps(teacher) + "\n")
    with pytest.raises(ValueError, match=r"descriptions.jsonl: line 2 was written by 'teacher' 'analytic-v1'"):
        _described_before(out, student)


def test_qwen3_vl_4b_config_is_the_authors_recipe(capsys):
    """lr 5e-7 cosine, 3 % warmup, wd 0.01, effective batch 32, 3 epochs, 12,544-401,408 pixels, LM + merger."""
    import yaml

    from vtl.lightning_cli import build_cli

    root = Path(__file__).resolve().parents[1] / "configs"
    for extra in ([], ["--config", str(root / "strategy" / "deepspeed_zero3.yaml")]):
        with pytest.raises(SystemExit):
            build_cli(["fit", "--config", str(root / "distill" / "qwen3_vl_4b_full.yaml"), *extra, "--print_config"])
        config = yaml.safe_load(capsys.readouterr().out)
        model, data, trainer = (config[k] for k in ("model", "data", "trainer"))
        args = model["init_args"]
        assert args["model"] == "Qwen/Qwen3-VL-4B-Instruct" and args["lora"] is None and args["train_merger"]
        assert (args["lr"], args["weight_decay"], args["warmup_ratio"], args["min_lr_ratio"]) == (5e-7, 0.01, 0.03, 0)
        assert (args["min_pixels"], args["max_pixels"]) == (12544, 401408)
        batch = data["init_args"]["batch_size"] * trainer["accumulate_grad_batches"] * trainer["devices"]
        assert batch == 32 and trainer["max_epochs"] == 3
        assert trainer["strategy"]["class_path"].endswith(("DecoderFSDPStrategy", "DeepSpeedStrategy"))


def test_full_finetune_trains_merger_only_when_asked():
    from functools import partial

    from vtl.models.families import family_named
    from vtl.models.trainable import trains_in_full_finetuning

    trains = partial(trains_in_full_finetuning, family=family_named("qwen3-vl"))
    assert trains("model.language_model.layers.0.mlp.up_proj.weight", train_merger=False)
    assert trains("lm_head.weight", train_merger=True)
    assert not trains("model.visual.blocks.0.attn.qkv.weight", train_merger=True)
    assert not trains("model.visual.merger.mlp.0.weight", train_merger=False)
    assert trains("model.visual.merger.mlp.0.weight", train_merger=True)
    assert trains("model.visual.deepstack_merger_list.1.linear_fc1.weight", train_merger=True)


def test_train_merger_on_the_tiny_student(tiny_model_dir):
    from vtl.vicl.distill.student import StudentDistiller

    module = StudentDistiller(model=str(tiny_model_dir), lora=None, train_merger=True)
    module.configure_model()
    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    assert any(".merger." in n for n in trainable)
    assert not any(".visual." in n and ".merger." not in n for n in trainable)
    with pytest.raises(ValueError, match="train_merger applies to full fine-tuning"):
        StudentDistiller(model=str(tiny_model_dir), train_merger=True)


def test_describe_decoding_options():
    from vtl.vicl.distill.describe import Decoding

    assert Decoding().generate_options() == {}
    authors = Decoding(temperature=0.1, top_p=0.001, repetition_penalty=1.05, max_new_tokens=512)
    assert authors.generate_options() == {"repetition_penalty": 1.05, "do_sample": True, "temperature": 0.1,
                                          "top_p": 0.001}
    with pytest.raises(ValueError, match="top_p"):
        Decoding(temperature=0.5, top_p=0.0)
