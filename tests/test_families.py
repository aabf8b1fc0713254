"""Every supported model family on its tiny checkpoint: family detection, chat markers from the template, pixel
budgets, LoRA and 4-bit placement, exact likelihood scoring, and (slow) a 1-epoch fit whose adapter reloads in peft."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_scoring import _brute_force, _samples, sharpened

from vtl.errors import VtlError
from vtl.models.families import (
    FAMILIES,
    ChatTemplateError,
    UnsupportedFamilyError,
    chat_markers,
    family_named,
    family_of,
    family_of_type,
)
from vtl.models.loading import QuantizationOptions, load_model, load_processor
from vtl.models.lora import LoraOptions, apply_lora, prepare_quantized_model
from vtl.models.scoring import score_multiple_choice
from vtl.models.tiny import build_tokenizer, tiny_model_dir, write_tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")
NAMES = list(FAMILIES)


@pytest.fixture(scope="session", params=NAMES)
def family_dir(request, vtl_home) -> tuple[str, Path]:
    """Each family's tiny checkpoint, built once per session under the session's VTL_HOME."""
    return request.param, tiny_model_dir(request.param)


def _trainable(model) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]


def test_tiny_checkpoint_loads_through_auto_classes_as_its_family(family_dir):
    name, path = family_dir
    model, processor = load_model(str(path))
    assert family_of(model) is FAMILIES[name]
    markers = chat_markers(processor)
    assert markers.assistant_header.strip() and processor.tokenizer.decode([markers.end_of_turn_id]) == \
        markers.end_of_turn
    tower = model.get_submodule(FAMILIES[name].vision_tower)
    assert sum(p.numel() for p in tower.parameters()) > 0
    for projector in FAMILIES[name].projectors:
        model.get_submodule(projector)
    assert markers.assistant_header == "<|im_start|>assistant\n"  # all four tiny templates' generation prompt
    embedded, _ = load_model(f"vtl://tiny-{name}")
    assert type(embedded) is type(model)


def test_unsupported_family_errors_name_the_supported_ones(tmp_path):
    with pytest.raises(UnsupportedFamilyError, match="supported families: qwen2.5-vl .*llava-onevision"):
        family_of_type("llava")
    with pytest.raises(UnsupportedFamilyError, match="qwen3-vl"):
        family_named("gemma3")
    with pytest.raises(VtlError, match="tiny models exist for qwen2.5-vl, qwen3-vl, internvl, llava-onevision"):
        write_tiny_model(tmp_path / "x", family="llava")
    from transformers import LlavaConfig

    LlavaConfig().save_pretrained(tmp_path / "llava")
    with pytest.raises(VtlError, match="model_type 'llava'.*supported families"):
        load_model(str(tmp_path / "llava"))


def test_chat_markers_come_from_the_template_not_chatml():
    tokenizer = build_tokenizer({"image_token": "<image>", "turn_end": "<eot>", "header": "<hdr>"})
    tokenizer.chat_template = (
        "{% for m in messages %}<hdr>{{ m['role'] }}: {% for p in m['content'] %}{{ p['text'] }}{% endfor %}<eot>"
        "{% endfor %}{% if add_generation_prompt %}<hdr>assistant: {% endif %}"
    )
    markers = chat_markers(tokenizer)
    assert (markers.assistant_header, markers.end_of_turn) == ("<hdr>assistant: ", "<eot>")
    assert markers.end_of_turn_id == tokenizer.convert_tokens_to_ids("<eot>")
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}{% endfor %}"
    with pytest.raises(ChatTemplateError, match="generation prompt"):
        chat_markers(tokenizer)


def test_pixel_budget_maps_onto_each_processors_options(family_dir):
    name, path = family_dir
    processor = load_processor(str(path), min_pixels=64 * 64, max_pixels=112 * 112)
    image = processor.image_processor
    if name in ("qwen2.5-vl", "qwen3-vl"):
        assert (image.size.shortest_edge, image.size.longest_edge) == (64 * 64, 112 * 112)
    elif name == "internvl":  # 56 px tiles: 12544 px hold four, 4096 px need two
        assert (image.min_patches, image.max_patches) == (2, 4)
    else:
        assert image.image_grid_pinpoints == [[56, 112], [112, 56], [112, 112]]
        model, processor = load_model(str(path), max_pixels=56 * 112)
        assert model.config.image_grid_pinpoints == processor.image_processor.image_grid_pinpoints == [
            [56, 56], [56, 112], [112, 56]]
    with pytest.raises(VtlError, match="min_pixels"):
        load_processor(str(path), min_pixels=200, max_pixels=100)



def test_a_smaller_pixel_budget_gives_fewer_image_tokens_and_the_model_still_runs(family_dir):
    from PIL import Image

    from vtl.models.chat import ChatCollator, ChatExample

    _, path = family_dir
    example = ChatExample([Image.new("RGB", (112, 56), (200, 30, 30))], "What color?", "(A)")  # 2:1, two tiles
    lengths = {}
    for budget in (None, 56 * 56):
        model, processor = load_model(str(path), max_pixels=budget, min_pixels=None if budget is None else 56 * 56)
        batch = ChatCollator(processor)([example])
        labels = batch.pop("labels")
        with torch.no_grad():
            logits = model(**batch).logits
        assert logits.shape[:2] == labels.shape
        lengths[budget] = labels.shape[1]
    assert lengths[56 * 56] < lengths[None]


def test_lora_lands_on_the_vision_tower_only_when_asked(family_dir):
    name, path = family_dir
    family = FAMILIES[name]
    model, _ = load_model(str(path))
    prepare_quantized_model(model, gradient_checkpointing=False)
    names = _trainable(apply_lora(model, LoraOptions(r=2, alpha=4)))
    assert names and not any(family.is_vision(n) for n in names)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in names} == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    model, _ = load_model(str(path))
    prepare_quantized_model(model, gradient_checkpointing=False)
    both = _trainable(apply_lora(model, LoraOptions(r=2, alpha=4, target_modules="language+vision")))
    vision = [n for n in both if family.is_vision(n)]
    assert vision and all("lora_" in n for n in vision)
    assert any("language_model.layers" in n for n in both)
    # explicit names shared by both sides (InternVL's and SigLIP's towers have q_proj too) stay on the language side
    model, _ = load_model(str(path))
    explicit = _trainable(apply_lora(model, LoraOptions(r=2, alpha=4, target_modules=["q_proj", "v_proj"])))
    assert explicit and not any(family.is_vision(n) for n in explicit)


def test_full_finetuning_trains_the_vision_side_only_when_asked(family_dir):
    from vtl.models.trainable import unfreeze_for_full_finetuning

    name, path = family_dir
    family = FAMILIES[name]
    model, _ = load_model(str(path))
    for train_vision in (False, True):
        unfreeze_for_full_finetuning(model, train_vision=train_vision)
        vision = [p.requires_grad for n, p in model.named_parameters() if family.is_vision(n)]
        rest = [p.requires_grad for n, p in model.named_parameters() if not family.is_vision(n)]
        assert vision and all(rest) and all(v == train_vision for v in vision)


def test_4bit_leaves_the_vision_side_unquantized_when_asked(family_dir):
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb

    name, path = family_dir
    family = FAMILIES[name]
    for quantize_vision in (False, True):
        options = QuantizationOptions(compute_dtype="float32", quantize_vision=quantize_vision)
        model, _ = load_model(str(path), quantization=options)
        four_bit = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
        assert any("language_model.layers" in n for n in four_bit)
        assert any(family.is_vision(n) for n in four_bit) == quantize_vision, (name, quantize_vision)
        assert not any(n.endswith("lm_head") for n in four_bit)


@pytest.fixture(scope="module")
def sharp(family_dir):
    """The family's tiny model with weights re-drawn at std 0.1 (a wrong position or mask then shows)."""
    return sharpened(family_dir[1])


def test_likelihood_scoring_equals_brute_force(sharp):
    model, processor = sharp
    samples = _samples()
    preds = score_multiple_choice(model, processor, samples, batch_size=3)
    for pred, sample in zip(preds, samples, strict=True):
        reference = _brute_force(model, processor, sample)
        assert list(pred.option_logprobs) == sample.letters
        got = torch.tensor(list(pred.option_logprobs.values()))
        torch.testing.assert_close(got, torch.tensor(list(reference.values())), rtol=0, atol=1e-4)


def test_generate_stops_at_the_templates_end_of_turn(sharp):
    model, processor = sharp
    preds = score_multiple_choice(model, processor, _samples()[:2], mode="generate", max_new_tokens=4)
    assert all(p.generated_tokens is not None and 1 <= p.generated_tokens <= 4 for p in preds)


@pytest.mark.slow
def test_one_epoch_fit_writes_each_target_once_and_the_adapter_reloads_in_peft(family_dir, synth_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from vtl.lightning_cli import build_cli
    from vtl.tasks import TRANSFER_TASKS

    name, path = family_dir
    config = Path(__file__).resolve().parents[1] / "configs" / "transfer" / "tiny.yaml"
    root = tmp_path / name
    cli = build_cli([
        "fit", "--config", str(config), f"--model.model={path}", f"--trainer.default_root_dir={root}",
        "--trainer.max_epochs=1", "--trainer.enable_progress_bar=false", "--data.max_train_samples=4",
        "--data.max_eval_samples=1", "--data.batch_size=4",
    ])
    records = [json.loads(line) for line in (root / "transfer.jsonl").read_text().splitlines()]
    assert sorted((r["epoch"], r["target"]) for r in records) == sorted((0, t) for t in TRANSFER_TASKS)
    assert {r["model"] for r in records} == {str(path)}

    ids = torch.arange(20, 40)[None]
    base = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    with torch.no_grad():
        plain = base(input_ids=ids).logits
        tuned = PeftModel.from_pretrained(base, root / "adapter")(input_ids=ids).logits
        ours = cli.model.model.eval()(input_ids=ids).logits
    torch.testing.assert_close(tuned, ours, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(plain, tuned, atol=1e-5)


def test_vtl_model_tiny_writes_the_named_family(tmp_path, capsys):
    from vtl.cli import main

    out = tmp_path / "internvl"
    assert main(["model", "tiny", "--family", "internvl", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["model_type"] == "internvl"
    assert family_of(load_model(str(out))[0]).name == "internvl"
    assert main(["model", "tiny", "--family", "llava", "--out", str(tmp_path / "bad")]) == 2
    assert "qwen3-vl" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_no_family_fact_is_matched_outside_families():
    """Module names, ChatML markers, rope-index calls and Qwen's pixel options live in families.py (and the tiny
    checkpoints' templates), nowhere else in vtl."""
    root = Path(__file__).resolve().parents[1] / "vtl"
    allowed = {root / "models" / "families.py", root / "models" / "tiny.py"}
    for path in root.rglob("*.py"):
        if path in allowed:
            continue
        text = path.read_text()
        for needle in ('".visual.', "'.visual.", "im_start", "im_end", "get_rope_index", "shortest_edge"):
            assert needle not in text, f"{path.relative_to(root)} matches {needle!r}: ask vtl.models.families"


def test_family_configs_are_shipped():
    configs = Path(__file__).resolve().parents[1] / "configs"
    for name in ("qwen3_vl_2b_qlora", "qwen3_vl_4b_qlora", "qwen3_vl_8b_qlora", "qwen3_vl_32b_qlora",
                 "internvl3_8b_qlora", "llava_onevision_qwen2_7b_qlora"):
        assert (configs / "transfer" / f"{name}.yaml").is_file(), name
    assert (configs / "distill" / "qwen3_vl_4b_lora.yaml").is_file()


def test_collator_padding_side_holds_for_every_processor(family_dir):
    from PIL import Image

    from vtl.models.chat import ChatCollator, ChatExample

    _, path = family_dir
    processor = load_processor(str(path))
    examples = [ChatExample([Image.new("RGB", (64, 64))], "short", "(A)"),
                ChatExample([Image.new("RGB", (64, 64))], "a much longer prompt with many more words", "(B)")]
    for side, column in (("right", -1), ("left", 0)):
        mask = ChatCollator(processor, padding_side=side)(examples)["attention_mask"]
        assert mask[0, column] == 0 and mask[1, column] == 1, side


@pytest.mark.slow
def test_student_distills_on_tiny_qwen3_vl(tmp_path):
    """The T2T-VICL student on Qwen3-VL (the authors' newer student): one epoch, an export, one description."""
    from lightning.pytorch import Trainer, seed_everything

    from vtl.cli import main
    from vtl.vicl.distill.student import StudentDistiller
    from vtl.vicl.distill.student_data import BuildOptions, DistillDataModule

    data_dir = tmp_path / "data"
    dm = DistillDataModule(data_dir=str(data_dir), build=BuildOptions(pairs=["LightEnh→Shadow"], n_train=4, n_eval=1,
                                                                      image_size=32), batch_size=4, eval_batch_size=1)
    seed_everything(0)
    module = StudentDistiller(model="vtl://tiny-qwen3-vl", lora=LoraOptions(r=4, alpha=8, dropout=0.0), lr=0.01,
                              n_samples=1, max_new_tokens=4)
    trainer = Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path / "run"),
                      num_sanity_val_steps=0)
    trainer.fit(module, datamodule=dm)
    assert torch.isfinite(trainer.callback_metrics["val/loss"])
    export = tmp_path / "run" / "student"
    assert (export / "adapter_config.json").exists()
    out = tmp_path / "descriptions.jsonl"
    assert main(["vicl", "describe", "--student", str(export), "--tuples", str(data_dir), "--out", str(out),
                 "--base-model", str(tiny_model_dir("qwen3-vl")), "--max-new-tokens", "4", "--limit", "1"]) == 0
    assert len(out.read_text().splitlines()) == 1
