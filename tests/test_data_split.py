"""Train/eval split: seeded, disjoint by idx, independent of input order, sizes by fraction."""

from __future__ import annotations

import pytest

from vtl.data.sample import BlinkSample
from vtl.data.split import split_samples


def _samples(n: int) -> list[BlinkSample]:
    return [BlinkSample(f"val_Counting_{i}", "Counting", "q", "q", ["a", "b"], "(A)", []) for i in range(n)]


def _ids(rows) -> list[str]:
    return [s.idx for s in rows]


def test_split_is_disjoint_complete_and_sized_by_fraction():
    train, eval_ = split_samples(_samples(40), 0.25, seed=3)
    assert len(eval_) == 10 and len(train) == 30
    assert not set(_ids(train)) & set(_ids(eval_))
    assert sorted(_ids(train) + _ids(eval_)) == sorted(_ids(_samples(40)))


def test_split_depends_on_seed_not_on_input_order():
    rows = _samples(30)
    a = split_samples(rows, 0.3, seed=7)
    b = split_samples(list(reversed(rows)), 0.3, seed=7)
    assert (_ids(a[0]), _ids(a[1])) == (_ids(b[0]), _ids(b[1]))
    c = split_samples(rows, 0.3, seed=8)
    assert set(_ids(c[1])) != set(_ids(a[1]))


def test_split_extremes():
    rows = _samples(5)
    assert _ids(split_samples(rows, 0.0, 0)[1]) == [] and len(split_samples(rows, 0.0, 0)[0]) == 5
    assert _ids(split_samples(rows, 1.0, 0)[0]) == [] and len(split_samples(rows, 1.0, 0)[1]) == 5
    assert split_samples([], 0.5, 0) == ([], [])


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan"), "0.2"])
def test_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match=r"eval_fraction must be a number in \[0, 1\]"):
        split_samples(_samples(3), fraction, 0)


def test_split_rejects_duplicate_idx():
    rows = _samples(3) + _samples(1)
    with pytest.raises(ValueError, match="row 'val_Counting_0': field 'idx': duplicate idx"):
        split_samples(rows, 0.5, 0)
