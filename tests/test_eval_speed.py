"""Evaluation speed-ups that must not change results: the vision-feature cache, length-sorted batches, merged LoRA."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from test_scoring import tiny  # noqa: F401 (the fixture)

from vtl.data.sample import BlinkSample
from vtl.models.loading import load_model
from vtl.models.scoring import score_multiple_choice
from vtl.models.vision_cache import VisionCacheRefused, VisionFeatureCache, refusal_reason

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def frozen(tiny):  # noqa: F811 (the imported fixture)
    """test_scoring's tiny model (weights re-drawn at std 0.1, so a wrong image feature moves log-probabilities
    visibly), frozen as evaluation and LoRA on the language model leave the vision tower."""
    model, processor = tiny
    model.requires_grad_(False)
    return model, processor


def _samples(n: int = 7) -> list[BlinkSample]:
    """Questions with 1-3 images of several sizes; question 5 repeats question 0's first image."""
    samples = []
    for i in range(n):
        n_images = 1 + i % 3
        images = [Image.new("RGB", (56 + 28 * ((i + j) % 3), 56 + 28 * (j % 2)), (40 * j, 30 * i, 90))
                  for j in range(n_images)]
        if i == 5:
            images[0] = samples[0].images[0]
        choices = [f"choice {c}" for c in range(2 + i % 3)]
        options = "\n".join(f"({'ABCD'[c]}) {text}" for c, text in enumerate(choices))
        question = f"Question {i} {'about the long image ' * (i % 4)}?"
        samples.append(BlinkSample(
            idx=f"val_Counting_{i}", sub_task="Counting", question=question,
            prompt=f"{question}\nSelect from the following choices.\n{options}", choices=choices, answer="(A)",
            images=images,
        ))
    return samples


def _logprobs(preds) -> torch.Tensor:
    return torch.tensor([v for p in preds for v in p.option_logprobs.values()], dtype=torch.float64)


def test_cached_features_give_the_same_option_logprobs(frozen):
    model, processor = frozen
    samples = _samples()
    reference = score_multiple_choice(model, processor, samples, batch_size=3)
    cache = VisionFeatureCache.for_model(model, "tiny", max_bytes=1 << 30)
    filling = score_multiple_choice(model, processor, samples, batch_size=3, vision_cache=cache)
    assert cache.stats.hits == 1 and cache.stats.entries == cache.stats.misses  # the repeated image hit already
    assert cache.stats.misses == sum(len(s.images) for s in samples) - 1
    reusing = score_multiple_choice(model, processor, samples, batch_size=2, vision_cache=cache)  # other batches
    assert cache.stats.misses == cache.stats.entries  # the second pass computed no feature
    for preds in (filling, reusing):
        assert [p.pred_letter for p in preds] == [p.pred_letter for p in reference]
        torch.testing.assert_close(_logprobs(preds), _logprobs(reference), rtol=0, atol=1e-5)


def test_a_batch_seen_before_is_recalled_without_collation_and_scores_the_same(frozen, monkeypatch):
    import dataclasses

    from vtl.models.chat import ChatCollator

    model, processor = frozen
    samples = [dataclasses.replace(s, image_sha256=tuple(f"{s.idx}/{j}" for j in range(len(s.images))))
               for s in _samples()]
    reference = score_multiple_choice(model, processor, samples, batch_size=3)
    cache = VisionFeatureCache.for_model(model, "tiny", max_bytes=1 << 30)
    score_multiple_choice(model, processor, samples, batch_size=3, vision_cache=cache)  # the first epoch
    collated = []
    original = ChatCollator.__call__
    monkeypatch.setattr(ChatCollator, "__call__", lambda self, ex: collated.append(len(ex)) or original(self, ex))
    again = score_multiple_choice(model, processor, samples, batch_size=3, vision_cache=cache)  # same batches
    assert collated == []  # every batch recalled: no image processing, no tokenisation, no pixel hashing
    torch.testing.assert_close(_logprobs(again), _logprobs(reference), rtol=0, atol=1e-5)
    other = score_multiple_choice(model, processor, samples, batch_size=2, vision_cache=cache)  # new batches
    assert len(collated) == 3  # 3 new batches collated (the lone last question was a batch before too)
    torch.testing.assert_close(_logprobs(other), _logprobs(reference), rtol=0, atol=1e-5)
    assert VisionFeatureCache.batch_key(_samples(2), "vtl") is None  # in-memory images: nothing identifies them


def test_cache_cap_keeps_the_first_entries_and_stays_exact(frozen):
    model, processor = frozen
    samples = _samples(4)
    cache = VisionFeatureCache.for_model(model, "tiny", max_bytes=1)  # nothing fits
    preds = score_multiple_choice(model, processor, samples, vision_cache=cache)
    assert cache.stats.entries == 0 and cache.stats.bytes == 0 and cache.stats.not_admitted == cache.stats.misses
    reference = score_multiple_choice(model, processor, samples)
    torch.testing.assert_close(_logprobs(preds), _logprobs(reference), rtol=0, atol=1e-5)


def test_cache_key_follows_pixels_and_model_key():
    cache = VisionFeatureCache("m", max_bytes=0)
    pixels = torch.zeros(16, 8)
    grid = torch.tensor([1, 4, 4])
    assert cache.key(pixels, grid) == cache.key(pixels.clone(), grid)
    assert cache.key(pixels, grid) != cache.key(pixels + 1e-3, grid)
    assert cache.key(pixels, grid) != VisionFeatureCache("other", 0).key(pixels, grid)


def test_cache_refused_when_the_vision_tower_trains_or_has_an_adapter(tiny_model_dir):
    from vtl.models.lora import LoraOptions, apply_lora

    model, _ = load_model(str(tiny_model_dir))
    model.requires_grad_(False)
    assert refusal_reason(model) is None
    visual = model.model.visual
    next(visual.parameters()).requires_grad_(True)  # full fine-tuning with train_vision
    with pytest.raises(VisionCacheRefused, match="vision tower trains"):
        VisionFeatureCache.for_model(model, "tiny", 1 << 20)
    for p in model.parameters():
        p.requires_grad_(False)
    assert refusal_reason(model) is None
    adapted = apply_lora(model, LoraOptions(target_modules="language+vision"))  # LoRA on vision and language
    for p in adapted.parameters():
        p.requires_grad_(False)  # even a frozen adapter on vision is refused: the zero-shot pass disables it
    with pytest.raises(VisionCacheRefused, match="adapter"):
        VisionFeatureCache.for_model(adapted, "tiny", 1 << 20)


def test_language_lora_keeps_the_cache(tiny_model_dir):
    from vtl.models.lora import LoraOptions, apply_lora

    model, _ = load_model(str(tiny_model_dir))
    assert refusal_reason(apply_lora(model, LoraOptions(target_modules="language"))) is None


def test_length_order_returns_predictions_in_the_given_order(frozen):
    model, processor = frozen
    samples = _samples()
    given = score_multiple_choice(model, processor, samples, batch_size=3)
    by_length = score_multiple_choice(model, processor, samples, batch_size=3, order="length")
    assert [p.idx for p in by_length] == [s.idx for s in samples]
    assert [p.pred_letter for p in by_length] == [p.pred_letter for p in given]
    torch.testing.assert_close(_logprobs(by_length), _logprobs(given), rtol=0, atol=1e-5)


def _lora(tiny_model_dir, dtype=torch.float32):
    from vtl.models.lora import LoraOptions, apply_lora

    model, processor = load_model(str(tiny_model_dir), dtype=dtype)
    model = apply_lora(model, LoraOptions(r=4, alpha=8, dropout=0.1, target_modules="language"))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # a trained-looking adapter: peft starts B at zero, where merging is trivially exact
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_((torch.randn(param.shape, generator=gen) * 0.5).to(param.dtype))
    return model, processor


def test_merged_adapter_scores_like_the_unmerged_one_and_restores_the_base(tiny_model_dir):
    from vtl.models.merged_eval import merge_refusal, merged_adapter

    model, processor = _lora(tiny_model_dir)
    samples = _samples(4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reference = score_multiple_choice(model, processor, samples)
    assert merge_refusal(model) is None
    with merged_adapter(model) as merged:
        assert merged
        preds = score_multiple_choice(model, processor, samples)
    torch.testing.assert_close(_logprobs(preds), _logprobs(reference), rtol=0, atol=1e-5)
    assert [p.pred_letter for p in preds] == [p.pred_letter for p in reference]
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # bit for bit, not unmerge's rounding
    with model.disable_adapter():
        assert merge_refusal(model) == "the adapter is disabled"


def test_merge_refused_for_low_precision_or_quantized_bases(tiny_model_dir):
    from vtl.models.merged_eval import merge_refusal, merged_adapter

    model, _ = _lora(tiny_model_dir, dtype=torch.bfloat16)
    assert "not full precision" in merge_refusal(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with merged_adapter(model) as merged:
        assert not merged
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model32, _ = _lora(tiny_model_dir)
    model32.get_base_model().hf_quantizer = object()  # what a bitsandbytes 4-bit load sets
    assert "quantized" in merge_refusal(model32)


def test_liger_without_cuda_is_a_clear_error():
    from vtl.models.liger import LigerUnavailableError
    from vtl.transfer.finetune import TransferFineTuner

    if torch.cuda.is_available():
        pytest.skip("CUDA is present: the no-CUDA error cannot show")
    with pytest.raises(LigerUnavailableError, match="--model.liger needs a CUDA device"):
        TransferFineTuner(liger=True)


@pytest.mark.slow
def test_adapter_exported_once_per_save_point(tmp_path, monkeypatch, tiny_model_dir, synth_dir):
    from pathlib import Path

    from vtl.lightning_cli import build_cli
    from vtl.transfer.finetune import TransferFineTuner

    exports = []
    original = TransferFineTuner.save_adapter
    monkeypatch.setattr(TransferFineTuner, "save_adapter",
                        lambda self, d: exports.append(self.global_step) or original(self, d))
    config = Path(__file__).resolve().parents[1] / "configs" / "transfer" / "tiny.yaml"
    root = tmp_path / "run"
    build_cli(["fit", "--config", str(config), f"--trainer.default_root_dir={root}", "--trainer.max_epochs=2",
               "--trainer.enable_progress_bar=false", "--data.max_train_samples=4", "--data.max_eval_samples=2",
               "--data.batch_size=4", "--data.targets=Counting,Jigsaw"])
    assert len(list((root / "checkpoints").glob("*.ckpt"))) == 2  # last.ckpt + the epoch checkpoint
    assert exports == [1, 2]  # one export per epoch's save point, not one per checkpoint file
    assert (root / "adapter" / "adapter_model.safetensors").is_file()
