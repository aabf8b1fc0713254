"""Synthetic suite: BLINK's form per task, deterministic per seed, balanced letters, answers readable from pixels."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from vtl.data.loaders import load_source
from vtl.data.synth import COLORS, MARK, task_rows, write_suite
from vtl.data.validate import format_prompt
from vtl.tasks import REGISTRY, TRANSFER_TASKS


@pytest.fixture(scope="module")
def small_suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    write_suite(out, n_per_task=12, seed=5, image_size=48)
    return out


def test_suite_has_blink_form_for_all_13_tasks(small_suite):
    data = load_source(str(small_suite), split="val")  # validates every row against the registry
    assert list(data) == list(TRANSFER_TASKS)
    for task, samples in data.items():
        spec = REGISTRY[task]
        assert len(samples) == 12
        for i, s in enumerate(samples, start=1):
            assert s.idx == f"val_{task}_{i}"
            assert len(s.images) == spec.n_images and len(s.choices) == spec.n_choices
            assert all(im.size == (48, 48) for im in s.images)
            assert s.prompt == format_prompt(s.question, s.choices)
            assert re.fullmatch(r"\([A-D]\)", s.answer)


def test_answer_letters_are_balanced(small_suite):
    data = load_source(str(small_suite))
    for task, samples in data.items():
        counts = Counter(s.answer_letter for s in samples)
        assert set(counts) == set(REGISTRY[task].letters), task
        assert max(counts.values()) - min(counts.values()) == 0, (task, counts)  # 12 divides into 2, 3 or 4


def test_same_seed_same_bytes_other_seed_other_rows(tmp_path):
    a = write_suite(tmp_path / "a", n_per_task=4, seed=1, image_size=32)
    b = write_suite(tmp_path / "b", n_per_task=4, seed=1, image_size=32)
    c = write_suite(tmp_path / "c", n_per_task=4, seed=2, image_size=32)
    for task in TRANSFER_TASKS:
        name = f"{task}/val-00000-of-00001.parquet"
        assert (a / name).read_bytes() == (b / name).read_bytes(), task
        assert (a / name).read_bytes() != (c / name).read_bytes(), task


def test_rows_within_a_task_differ():
    for task in TRANSFER_TASKS:
        images = [r["image_1"]["bytes"] for r in task_rows(task, 6, seed=0, image_size=32)]
        assert len(set(images)) == 6, task


@pytest.mark.parametrize(("kwargs", "words"), [({"n_per_task": 0}, "--n-per-task"), ({"image_size": 16}, "32 px")])
def test_write_suite_rejects_bad_sizes(tmp_path, kwargs, words):
    with pytest.raises(ValueError, match=words):
        write_suite(tmp_path, **kwargs)


def _pixels(row, k=1) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(row[f"image_{k}"]["bytes"])).convert("RGB")).astype(int)


def _centroid(a: np.ndarray, color) -> np.ndarray:
    ys, xs = np.nonzero((a == np.array(color)).all(-1))
    assert len(xs), color
    return np.array([xs.mean(), ys.mean()])


def test_multi_view_answer_follows_the_pixel_shift():
    """Camera moving left => the scene moves right between frame 1 and frame 2 (and vice versa)."""
    for r in task_rows("Multi-view_Reasoning", 8, seed=0, image_size=64):
        f1, f2 = _pixels(r, 1), _pixels(r, 2)
        errs = {d: np.abs(f2[:, max(d, 0) : 64 + min(d, 0)] - f1[:, max(-d, 0) : 64 - max(d, 0)]).mean()
                for d in range(-30, 31) if d}
        best = min(errs, key=errs.get)
        assert r["answer"] == ("(A)" if best > 0 else "(B)"), (r["explanation"], best)


def test_relative_depth_nearer_point_is_lower_on_the_ground():
    for r in task_rows("Relative_Depth", 8, seed=0, image_size=64):
        a = _pixels(r)
        ya, yb = _centroid(a, MARK["A"])[1], _centroid(a, MARK["B"])[1]
        assert r["answer"] == ("(A)" if ya > yb else "(B)")


def test_spatial_relation_answer_matches_drawn_positions():
    for r in task_rows("Spatial_Relation", 12, seed=0, image_size=64):
        c1, k1, rel, c2 = re.match(r"Is the (\w+) (\w+) (.+) the (\w+) \w+\?", r["question"]).groups()
        a = _pixels(r)
        p1, p2 = _centroid(a, COLORS[c1]), _centroid(a, COLORS[c2])
        holds = {"to the left of": p1[0] < p2[0], "to the right of": p1[0] > p2[0],
                 "above": p1[1] < p2[1], "below": p1[1] > p2[1]}[rel]
        assert r["answer"] == ("(A)" if holds else "(B)"), r["question"]

