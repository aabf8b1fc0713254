"""Chat collation: answer-only labels, image pad counts matching the grids, left padding for generation."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from vtl.data.sample import BlinkSample
from vtl.models.chat import ChatCollator, ChatExample, blink_example, prompt_text
from vtl.models.loading import load_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def _sample(n_images: int, answer: str = "(B)", idx: str = "val_Counting_1") -> BlinkSample:
    images = [Image.new("RGB", (64 + 16 * i, 64), (40 * i, 90, 200)) for i in range(n_images)]
    return BlinkSample(
        idx=idx,
        sub_task="Counting",
        question="How many circles are there?",
        prompt="How many circles are there?\nSelect from the following choices.\n(A) 2\n(B) 3\n(C) 4",
        choices=["2", "3", "4"],
        answer=answer,
        images=images,
    )


def _examples():
    return [
        blink_example(_sample(1, "(B)")),
        blink_example(_sample(3, "(A)")),
        ChatExample(images=[Image.new("RGB", (40, 90))] * 2, prompt="Before <image> after <image> now?", answer="(C)"),
    ]


def test_only_answer_tokens_carry_labels(tiny):
    _, processor = tiny
    examples = _examples()
    batch = ChatCollator(processor)(examples)
    tok = processor.tokenizer
    for row, ex in enumerate(examples):
        labelled = batch["labels"][row][batch["labels"][row] != -100]
        assert tok.decode(labelled) == ex.answer + "<|im_end|>"
        # the labelled tokens are exactly the tail of the real (unpadded) sequence
        ids = batch["input_ids"][row][batch["attention_mask"][row].bool()]
        assert torch.equal(ids[-len(labelled) :], labelled)
    assert ((batch["labels"] != -100) <= batch["attention_mask"].bool()).all()


def test_image_pad_counts_match_grids(tiny):
    _, processor = tiny
    examples = _examples()
    batch = ChatCollator(processor)(examples)
    merge = processor.image_processor.merge_size
    grids = batch["image_grid_thw"]
    assert len(grids) == sum(len(ex.images) for ex in examples)
    assert batch["pixel_values"].shape[0] == int(grids.prod(dim=1).sum())
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    start = 0
    for row, ex in enumerate(examples):
        expected = int(grids[start : start + len(ex.images)].prod(dim=1).sum()) // merge**2
        assert int((batch["input_ids"][row] == image_id).sum()) == expected
        start += len(ex.images)


def test_images_interleave_at_placeholders_or_lead(tiny):
    _, processor = tiny
    text = prompt_text(processor, ChatExample([Image.new("RGB", (8, 8))] * 2, "Before <image> after <image> now?"))
    assert "user\nBefore <|vision_start|><|image_pad|><|vision_end|> after <|vision_start|>" in text
    lead = prompt_text(processor, blink_example(_sample(2)))
    assert lead.count("<|vision_start|>") == 2
    assert lead.index("<|vision_end|>How many") < lead.index("Select")
    with pytest.raises(ValueError, match="placeholders"):
        prompt_text(processor, ChatExample([Image.new("RGB", (8, 8))], "a <image> b <image>"))


def test_left_padding_prompt_only_for_generation(tiny):
    model, processor = tiny
    examples = _examples()
    batch = ChatCollator(processor, train=False, padding_side="left")(examples)
    assert "labels" not in batch
    assert batch["attention_mask"][:, -1].all()  # every row ends at the generation prompt
    tok = processor.tokenizer
    for row in range(len(examples)):
        ids = batch["input_ids"][row][batch["attention_mask"][row].bool()]
        assert tok.decode(ids).endswith("<|im_start|>assistant\n")
    right = ChatCollator(processor, train=False)(examples)
    assert not right["attention_mask"][:, -1].all()
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert out.shape[0] == len(examples)


def test_training_needs_answers_and_hidden_answers_are_dropped(tiny):
    _, processor = tiny
    hidden = blink_example(_sample(1, "hidden", idx="test_Counting_1"))
    assert hidden.answer is None
    with pytest.raises(ValueError, match="no answer"):
        ChatCollator(processor)([hidden])
    assert "labels" not in ChatCollator(processor, train=False)([hidden])
    with pytest.raises(ValueError, match="padding_side"):
        ChatCollator(processor, padding_side="middle")


def test_templated_prompts_are_rendered_once_and_batches_unchanged(tiny):
    """The collator keeps each rendered prompt: a batch collated again (as every epoch does) is the same tensors,
    and the chat template is not rendered again."""
    _, processor = tiny
    collator = ChatCollator(processor, train=True)
    first = collator(_examples())
    assert len(collator._prompts) == 3
    again = collator(_examples())
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert [collator.prompt(ex) for ex in _examples()] == [prompt_text(processor, ex) for ex in _examples()]


def test_loss_from_the_kept_logits_equals_the_loss_over_every_position(tiny):
    """assistant_loss asks the model for logits only where a row predicts an answer token; the loss is that of the
    full logits."""
    import torch.nn.functional as F

    from vtl.models.training import assistant_loss

    model, processor = tiny
    batch = dict(ChatCollator(processor, train=True)(_examples()))
    with torch.no_grad():
        kept = assistant_loss(model, batch)
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        logits = model(**inputs, use_cache=False).logits[:, :-1]
        targets = batch["labels"][:, 1:]
        mask = targets != -100
        full = F.cross_entropy(logits[mask].float(), targets[mask])
    torch.testing.assert_close(kept, full, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("side", ["right", "left"])
def test_cached_rows_pad_into_the_processors_own_batch(tiny, side):
    """Rows of unequal length and image count, reused across batches in new orders: every batch equals the one the
    processor makes from scratch, and rows are processed once."""
    _, processor = tiny
    examples = _examples()
    keys = ["one", "three", "interleaved"]
    cached, plain = ChatCollator(processor, padding_side=side), ChatCollator(processor, padding_side=side)
    for order in ([0, 1, 2], [2, 0], [1, 2, 0], [1], [0, 2, 1]):
        got = cached([examples[i] for i in order], [keys[i] for i in order])
        want = plain([examples[i] for i in order])
        assert got.keys() == want.keys()
        for name in want:
            assert got[name].dtype == want[name].dtype and torch.equal(got[name], want[name]), (order, name)
    assert cached._rows_exact is True and set(cached._rows) == set(keys)


def test_rows_a_processor_batches_otherwise_are_not_reused(tiny, monkeypatch):
    """A processor whose batch is not its rows padded together (here: a batch of several rows gets one extra pad
    column) is used as it is; the collator notices on the first batch and stops assembling rows."""
    _, processor = tiny
    collator = ChatCollator(processor)
    processed = collator._processed

    def wider(examples):
        batch = processed(examples)
        if len(examples) == 1:
            return batch
        pad = processor.tokenizer.pad_token_id
        batch["input_ids"] = torch.nn.functional.pad(batch["input_ids"], (0, 1), value=pad)
        for name in ("attention_mask", "mm_token_type_ids"):
            if name in batch:
                batch[name] = torch.nn.functional.pad(batch[name], (0, 1), value=0)
        return batch

    monkeypatch.setattr(collator, "_processed", wider)
    examples = _examples()
    for _ in range(2):
        assert collator(examples, ["a", "b", "c"])["input_ids"].shape == wider(examples)["input_ids"].shape
    assert collator._rows_exact is False
