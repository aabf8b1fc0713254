"""Multiple-choice scoring: shared-prefill likelihood equals brute force, generate-and-parse, accuracy summaries."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from PIL import Image

from vtl.data.sample import BlinkSample
from vtl.models.chat import ChatCollator, blink_example
from vtl.models.loading import load_model
from vtl.models.scoring import Prediction, accuracy_summary, option_answer, score_multiple_choice

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def sharpened(path):
    """A tiny model with weights re-drawn at std 0.1: at the default 0.02 init attention is nearly uniform and a
    wrong position or mask would shift log-likelihoods by only ~1e-4; here it shifts them by 0.1-1."""
    model, processor = load_model(str(path))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim == 2:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.1)
    return model, processor


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return sharpened(tiny_model_dir)


def _samples() -> list[BlinkSample]:
    """Mixed tasks, image counts, image sizes and option counts, so batches need padding on both axes."""
    spec = [
        ("Counting", 1, 4, "(C)"),
        ("Art_Style", 3, 2, "(A)"),
        ("Relative_Reflectance", 1, 3, "(B)"),
        ("Visual_Correspondence", 2, 4, "(D)"),
        ("Jigsaw", 3, 2, "(B)"),
    ]
    samples = []
    for i, (task, n_images, n_choices, answer) in enumerate(spec):
        choices = [f"choice {c}" for c in range(n_choices)]
        options = "\n".join(f"({'ABCD'[c]}) {text}" for c, text in enumerate(choices))
        question = f"Question {i} about the {'long ' * (3 * i)}image?"
        samples.append(
            BlinkSample(
                idx=f"val_{task}_{i}",
                sub_task=task,
                question=question,
                prompt=f"{question}\nSelect from the following choices.\n{options}",
                choices=choices,
                answer=answer,
                images=[Image.new("RGB", (56 + 28 * ((i + j) % 3), 56), (50 * j, 30 * i, 90)) for j in range(n_images)],
            )
        )
    return samples


def _brute_force(model, processor, sample: BlinkSample) -> dict[str, float]:
    """Sum of log p over the labelled answer tokens of the full sequence, one option at a time, unbatched."""
    scores = {}
    for letter in sample.letters:
        ex = blink_example(sample)
        batch = ChatCollator(processor)([dataclasses.replace(ex, answer=option_answer(letter))])
        labels = batch.pop("labels")
        with torch.no_grad():
            logprobs = model(**batch).logits.float().log_softmax(-1)  # [1, s, vocab]
        target = labels[0, 1:]
        keep = target != -100
        scores[letter] = float(logprobs[0, :-1][keep].gather(1, target[keep][:, None]).sum())
    return scores


def test_likelihood_equals_brute_force_per_option_loglik(tiny):
    model, processor = tiny
    samples = _samples()
    preds = score_multiple_choice(model, processor, samples, batch_size=3)
    assert [p.idx for p in preds] == [s.idx for s in samples]
    for pred, sample in zip(preds, samples, strict=True):
        reference = _brute_force(model, processor, sample)
        assert list(pred.option_logprobs) == sample.letters
        got = torch.tensor(list(pred.option_logprobs.values()))
        torch.testing.assert_close(got, torch.tensor(list(reference.values())), rtol=0, atol=1e-4)
        assert pred.pred_letter == max(reference, key=reference.get)
        assert pred.parsed and pred.correct == (pred.pred_letter == sample.answer_letter)


def test_batch_size_does_not_change_scores(tiny):
    model, processor = tiny
    one = score_multiple_choice(model, processor, _samples(), batch_size=1)
    many = score_multiple_choice(model, processor, _samples(), batch_size=5)
    for a, b in zip(one, many, strict=True):
        torch.testing.assert_close(
            torch.tensor(list(a.option_logprobs.values())),
            torch.tensor(list(b.option_logprobs.values())),
            rtol=1e-4,
            atol=1e-4,
        )


def test_scoring_keeps_mode_and_requires_grad(tiny):
    model, processor = tiny
    model.train()
    model.lm_head.weight.requires_grad_(False)
    try:
        score_multiple_choice(model, processor, _samples()[:2])
        score_multiple_choice(model, processor, _samples()[:2], mode="generate", max_new_tokens=2)
        assert model.training
        assert not model.lm_head.weight.requires_grad
        assert model.model.language_model.layers[0].mlp.up_proj.weight.requires_grad
        assert model.lm_head.weight.grad is None
    finally:
        model.lm_head.weight.requires_grad_(True)
        model.eval()


def test_generate_mode_parses_blink_style(tiny):
    model, processor = tiny
    samples = _samples()
    preds = score_multiple_choice(model, processor, samples, mode="generate", max_new_tokens=4, batch_size=2)
    assert len(preds) == len(samples)
    for p, s in zip(preds, samples, strict=True):
        assert isinstance(p.output_text, str) and p.option_logprobs is None
        assert 1 <= p.generated_tokens <= 4
        assert p.parsed == (p.pred_letter is not None)
        assert p.correct == (p.pred_letter == s.answer_letter)


def test_accuracy_summary_per_task_macro_micro():
    def pred(task, correct, parsed=True):
        return Prediction(
            idx=f"{task}_{correct}",
            task=task,
            pred_letter="A" if parsed else None,
            answer_letter="A" if correct else "B",
            correct=correct and parsed,
            parsed=parsed,
        )

    preds = [
        pred("Counting", True),
        pred("Counting", False),
        pred("Counting", False, parsed=False),
        pred("Jigsaw", True),
    ]
    summary = accuracy_summary(preds)
    assert summary["per_task"]["Counting"] == {"accuracy": 1 / 3, "n": 3, "n_correct": 1, "n_unparsed": 1}
    assert summary["per_task"]["Jigsaw"]["accuracy"] == 1.0
    assert summary["macro_accuracy"] == pytest.approx((1 / 3 + 1) / 2)
    assert summary["micro_accuracy"] == pytest.approx(2 / 4)
    assert (summary["n"], summary["n_correct"], summary["n_unparsed"]) == (4, 2, 1)
    hidden = Prediction("test_x", "Counting", "A", None, False, True)
    with pytest.raises(ValueError, match="hidden answer"):
        accuracy_summary([hidden])


def test_bad_arguments(tiny):
    model, processor = tiny
    with pytest.raises(ValueError, match="mode"):
        score_multiple_choice(model, processor, _samples(), mode="vote")
    empty = _samples()[0]
    empty.choices = []
    with pytest.raises(ValueError, match="choices"):
        score_multiple_choice(model, processor, [empty])


def test_generate_mode_reads_only_new_tokens_and_counts_unparsed(tiny, monkeypatch):
    """With generation fixed to known replies, predictions follow BLINK's rule on the reply alone."""
    model, processor = tiny
    samples = _samples()[:3]  # answers (C), (A), (B)
    replies = ["The answer is (C)", "B", "(A) or (B)"]
    tok = processor.tokenizer

    def fake_generate(input_ids, **kwargs):
        rows = []
        for prompt, reply in zip(input_ids, replies, strict=True):
            new = tok.encode(reply + "<|im_end|>", add_special_tokens=False)
            rows.append(torch.cat([prompt, torch.tensor(new + [0] * (8 - len(new)))]))
        return torch.stack(rows)

    monkeypatch.setattr(model, "generate", fake_generate)
    preds = score_multiple_choice(model, processor, samples, mode="generate", batch_size=3)
    assert [p.pred_letter for p in preds] == ["C", "B", None]
    assert [p.correct for p in preds] == [True, False, False]
    assert [p.output_text for p in preds] == replies
    assert [p.generated_tokens for p in preds] == [len(tok.encode(r + "<|im_end|>")) for r in replies]
    assert accuracy_summary(preds)["n_unparsed"] == 1
