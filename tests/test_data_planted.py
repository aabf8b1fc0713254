"""The planted-transfer world: BLINK's form, deterministic per seed, answers read off the pixels, nuisances balanced."""

from __future__ import annotations

import io
import json
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from vtl.data.loaders import load_source
from vtl.data.planted import (
    _DISC,
    _DOT,
    _QUADRANT,
    CUES,
    PLANTED_FILE,
    RULES,
    PlantedWorld,
    neutral_samples,
    planted_world,
    task_cues,
    task_rows,
    write_planted_suite,
)
from vtl.data.split import split_samples
from vtl.tasks import REGISTRY, TRANSFER_TASKS

SIZE = 48


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return write_planted_suite(tmp_path_factory.mktemp("planted"), n_per_task=16, seed=3, image_size=SIZE)


def _pixels(struct) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(struct["bytes"])).convert("RGB"), dtype=float)


def read_cue(cue: str, a: np.ndarray) -> str:
    """Read one cue's value off an image with plain pixel statistics (what the rule says to look at)."""
    s = a.shape[0]
    r, g, b = (np.median(a[..., k]) for k in range(3))
    light = float(np.median(a.mean(axis=2)))
    if cue == "tint":
        return "warm" if r > b else "cool"
    if cue == "cast":
        return "green" if np.median(a[..., 1] - (a[..., 0] + a[..., 2]) / 2) > 0 else "magenta"
    if cue == "light":
        return "dark" if light < 75 else "bright" if light > 117 else "medium"
    if cue == "bar":
        strips = {"top": a[:3], "bottom": a[-3:], "left": a[:, :3], "right": a[:, -3:]}
        return min(strips, key=lambda k: strips[k].mean())
    if cue == "disc":
        centre = a[s // 2, s // 2]  # the objects keep their colours: the light cue darkens the background only
        return min(_DISC, key=lambda k: np.abs(centre - np.array(_DISC[k])).sum())
    h = s // 2
    quarters = {name: a[qy * h:(qy + 1) * h, qx * h:(qx + 1) * h] for name, (qx, qy) in _QUADRANT.items()}
    if cue == "noise":  # the patch with the most pixel-to-pixel variation
        return max(quarters, key=lambda k: np.abs(np.diff(quarters[k], axis=1)).mean())
    if cue == "square":  # the quarter with the most bright grey pixels (the square; a dot has a few)
        def white(q):
            return int(((q.min(axis=2) == q.max(axis=2)) & (q.min(axis=2) >= 110)).sum())
        return max(quarters, key=lambda k: white(quarters[k]))
    raise KeyError(cue)


def test_suite_has_blink_form_and_planted_json(suite):
    data = load_source(str(suite))
    assert list(data) == list(TRANSFER_TASKS)
    for task, samples in data.items():
        spec = REGISTRY[task]
        assert len(samples) == 16
        for s in samples:
            assert len(s.images) == spec.n_images and len(s.choices) == spec.n_choices
            assert s.question == RULES[task].question
    world = PlantedWorld.load(suite)
    assert world.largest_group == ["Art_Style", "Multi-view_Reasoning", "Object_Localization", "Spatial_Relation"]
    assert world.antagonists == [["Relative_Depth", "Relative_Reflectance"]]
    assert set(world.unrelated) | {t for g in world.groups.values() for t in g} | {"Relative_Depth",
                                                                                   "Relative_Reflectance"} == \
        set(TRANSFER_TASKS)
    assert json.loads((suite / PLANTED_FILE).read_text())["seed"] == 3


def test_same_seed_same_bytes_other_seed_other_rows(tmp_path):
    for task in ("Art_Style", "Counting", "Relative_Reflectance"):
        a = task_rows(task, 8, 1, 32, 0.5, 0)
        b = task_rows(task, 8, 1, 32, 0.5, 0)
        c = task_rows(task, 8, 2, 32, 0.5, 0)
        assert a == b
        assert [r["image_1"]["bytes"] for r in a] != [r["image_1"]["bytes"] for r in c]


@pytest.mark.parametrize("task", [t for t in TRANSFER_TASKS if RULES[t].cue != "dots"])
def test_answers_follow_from_the_pixels(suite, task):
    rule = RULES[task]
    data = load_source(str(suite), tasks=[task])[task]
    for s in data:
        for image in s.images:
            value = read_cue(rule.cue, np.asarray(image.convert("RGB"), dtype=float))
            assert "ABCD"[rule.values.index(value)] == s.answer_letter, (s.idx, rule.cue, value, s.explanation)


def test_dots_are_counted_in_the_explanation_and_drawn(suite):
    from scipy import ndimage

    for s in load_source(str(suite), tasks=["Counting"])["Counting"]:
        a = np.asarray(s.images[0].convert("RGB"), dtype=float)
        cyan = np.abs(a - np.array(_DOT)).sum(axis=2) < 40
        _, n_blobs = ndimage.label(cyan)
        assert n_blobs == int(s.choices[s.answer_index]), (s.idx, n_blobs)  # one dot per corner, none touching


def test_nuisance_cues_and_answers_are_balanced_in_each_part():
    n, fraction = 48, 0.5
    for task in TRANSFER_TASKS:
        rule = RULES[task]
        rows = task_cues(task, n, 0, fraction, 0)

        items = [SimpleNamespace(idx=f"val_{task}_{i + 1}", origin="") for i in range(n)]
        train, evaluation = split_samples(items, fraction, 0)
        for part in (train, evaluation):
            chosen = [rows[int(item.idx.rsplit("_", 1)[1]) - 1] for item in part]
            answers = Counter(a for a, _ in chosen)
            assert max(answers.values()) - min(answers.values()) <= 1, (task, answers)
            for answer in answers:
                for cue, values in CUES.items():
                    if cue == rule.cue:
                        continue
                    counts = Counter(c[cue] for a, c in chosen if a == answer)
                    assert max(counts.values()) - min(counts.get(v, 0) for v in values) <= 1, (task, cue, counts)


def test_neutral_task_reads_a_cue_no_task_reads():
    samples = neutral_samples(8, 0, 32)
    assert Counter(s.answer_letter for s in samples) == Counter("AABBCCDD")
    assert all(r.cue != "line" for r in RULES.values())


def test_restricted_world_keeps_what_a_subset_can_show():
    w = planted_world(0.5, 0).restricted(["Art_Style", "Spatial_Relation", "Jigsaw", "Relative_Depth",
                                          "Relative_Reflectance", "Counting"])
    assert w.groups == {"tint": ["Art_Style", "Spatial_Relation"]}
    assert w.negative_edges() == {frozenset(("Relative_Depth", "Relative_Reflectance"))}
    assert w.positive_edges() == {frozenset(("Art_Style", "Spatial_Relation"))}
    assert w.unrelated == ["Counting"]
