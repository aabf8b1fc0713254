"""Samplers for length-aware batching: evaluation sorted by prompt length, training grouped by length.

Both order indices only; the sample lists (and so the data fingerprint keying the zero-shot cache) never move.
A DataLoader with `batch_size=b` over a sorted index order gives batches of similar length: the batch sampler that
results is "consecutive chunks of the sorted order". They are Samplers, not batch samplers, so Lightning's DDP
handling of `sampler=` applies: the sharded evaluation sampler is an `UnrepeatedDistributedSampler` (every question
counted once across ranks), and Lightning shards the training sampler with its usual wrapper.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import Sampler

from vtl.models.lengths import length_order


class LengthSortedSampler(Sampler[int]):
    """Every index, longest prompt first: evaluation batches of similar length (one process)."""

    def __init__(self, lengths: Sequence[int]):
        self.lengths = list(lengths)

    def __iter__(self) -> Iterator[int]:
        return iter(length_order(self.lengths))

    def __len__(self) -> int:
        return len(self.lengths)


class ShardedLengthSortedSampler(UnrepeatedDistributedSampler):
    """This rank's unrepeated shard of the evaluation set (as `UnrepeatedDistributedSampler` deals it), sorted
    longest prompt first."""

    def __init__(self, lengths: Sequence[int], *, num_replicas: int, rank: int):
        self.lengths = list(lengths)
        super().__init__(self.lengths, num_replicas=num_replicas, rank=rank, shuffle=False)

    def __iter__(self) -> Iterator[int]:
        shard = list(super().__iter__())
        return iter(shard[i] for i in length_order([self.lengths[j] for j in shard]))


class LengthGroupedSampler(Sampler[int]):
    """A shuffled training order in which each run of `batch_size` indices has similar lengths.

    Each epoch draws a permutation from `seed + epoch` (never the global RNG, so a resumed fit sees the same order),
    cuts it into groups of `batch_size * groups_per_chunk`, and sorts each group longest first; the batches stay
    random in content across groups while padding within a batch shrinks. The longest full batch of the epoch comes
    first, so an out-of-memory shows at once.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0, groups_per_chunk: int = 16):
        if batch_size < 1 or groups_per_chunk < 1:
            raise ValueError(f"batch_size ({batch_size}) and groups_per_chunk ({groups_per_chunk}) must be >= 1")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.groups_per_chunk = groups_per_chunk
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        chunk = self.batch_size * self.groups_per_chunk
        grouped: list[int] = []
        for start in range(0, len(order), chunk):
            part = order[start : start + chunk]
            grouped.extend(part[i] for i in length_order([self.lengths[j] for j in part]))
        batches = [grouped[i : i + self.batch_size] for i in range(0, len(grouped), self.batch_size)]
        full = [b for b in range(len(batches)) if len(batches[b]) == self.batch_size]  # a partial batch stays last
        if full:
            longest = max(full, key=lambda b: max(self.lengths[i] for i in batches[b]))
            batches.insert(0, batches.pop(longest))
        return iter(i for batch in batches for i in batch)

    def __len__(self) -> int:
        return len(self.lengths)
