"""Length-aware batching: samplers that order indices only, prompt lengths that follow the processor's token counts."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from vtl.data.sample import BlinkSample
from vtl.models.chat import ChatCollator, blink_example
from vtl.models.lengths import area_lengths, length_order, padding_fraction, prompt_lengths
from vtl.transfer.samplers import LengthGroupedSampler, LengthSortedSampler, ShardedLengthSortedSampler


def _sample(i: int, sizes: list[tuple[int, int]], words: int) -> BlinkSample:
    prompt = " ".join(["word"] * words) + "\n(A) yes\n(B) no"
    return BlinkSample(idx=f"val_Counting_{i}", sub_task="Counting", question="q", prompt=prompt,
                       choices=["yes", "no"], answer="(A)", images=[Image.new("RGB", s) for s in sizes])


def test_prompt_lengths_match_the_processor_token_counts(tiny_model_dir):
    from vtl.models.loading import load_model

    _, processor = load_model(str(tiny_model_dir))
    samples = [_sample(0, [(56, 56)], 3), _sample(1, [(112, 84), (56, 56)], 1), _sample(2, [(90, 60)] * 3, 12)]
    tokens = ChatCollator(processor, train=False)([blink_example(s) for s in samples])["attention_mask"].sum(1)
    assert prompt_lengths(processor, samples) == tokens.tolist()


def test_length_sorted_sampler_orders_indices_longest_first():
    lengths = [5, 9, 1, 9, 3]
    assert list(LengthSortedSampler(lengths)) == [1, 3, 0, 4, 2] == length_order(lengths)
    assert padding_fraction(lengths, length_order(lengths), 2) < padding_fraction(lengths, range(5), 2)


@pytest.mark.parametrize("world", [2, 3])
def test_sharded_sampler_counts_every_question_once(world):
    lengths = [7, 3, 9, 1, 4, 4, 8]
    shards = [list(ShardedLengthSortedSampler(lengths, num_replicas=world, rank=r)) for r in range(world)]
    assert sorted(i for shard in shards for i in shard) == list(range(len(lengths)))
    for shard in shards:
        assert [lengths[i] for i in shard] == sorted((lengths[i] for i in shard), reverse=True)


def test_length_grouped_sampler_is_a_seeded_permutation_per_epoch_with_less_padding():
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(50, 900, (200,), generator=gen).tolist()
    sampler = LengthGroupedSampler(lengths, batch_size=4, seed=3, groups_per_chunk=8)
    epoch0 = list(sampler)
    assert sorted(epoch0) == list(range(200)) and list(sampler) == epoch0
    sampler.set_epoch(1)
    assert list(sampler) != epoch0
    shuffled = torch.randperm(200, generator=gen).tolist()
    assert padding_fraction(lengths, epoch0, 4) < 0.5 * padding_fraction(lengths, shuffled, 4)
    assert max(lengths[i] for i in epoch0[:4]) == max(lengths)  # the longest full batch comes first


def test_eval_loader_sorts_batches_without_moving_the_samples(synth_dir):
    from vtl.transfer.datamodule import TransferDataModule

    def data(order):
        dm = TransferDataModule(source_task="Counting", targets="Counting,Jigsaw", eval_fraction=0.5,
                                eval_batch_size=2, eval_order=order)
        dm.setup("fit")
        return dm

    sorted_dm, plain_dm = data("length"), data("dataset")
    assert sorted_dm.fingerprint() == plain_dm.fingerprint()
    for target, loader in zip(sorted_dm.target_names, sorted_dm.val_dataloader(), strict=True):
        rows = [s for batch in loader for s in batch]
        assert sorted(s.idx for s in rows) == sorted(s.idx for s in sorted_dm.eval_samples[target])
        lengths = area_lengths(rows)
        assert lengths == sorted(lengths, reverse=True)
