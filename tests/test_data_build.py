"""`vtl data build`: each builder reads a tiny dataset written in its source's own layout and writes BLINK rows."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vtl.data.build.core import BuildError
from vtl.data.build.run import build_task
from vtl.data.loaders import load_source


def _img(path: Path, color, size=(48, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, tuple(color)).save(path)
    return path


def _rows(out: Path, task: str) -> list[dict]:
    return [json.loads(line) for line in (out / f"{task}.jsonl").read_text().splitlines()]


def _build_and_check(task, source, out, **kw):
    entry = build_task(task, source, out, **kw)
    samples = load_source(str(out / f"{task}.jsonl"), tasks=[task])[task]  # what `vtl data check` validates
    counts = Counter(s.answer_letter for s in samples)
    assert max(counts.values()) - min(counts.values()) <= 1, counts
    return entry, samples


def test_counting_tallyqa(tmp_path):
    src = tmp_path / "tallyqa"
    recs = []
    for i in range(12):
        _img(src / "VG_100K" / f"{i}.jpg", (i * 20, 10, 10))
        recs.append({"image": f"VG_100K/{i}.jpg", "question": f"How many cats? {i}", "answer": i % 6,
                     "question_id": i, "image_id": i, "data_source": "genome", "issimple": True})
    (src / "train.json").write_text(json.dumps(recs))
    entry, samples = _build_and_check("Counting", src, tmp_path / "out")
    truth = {r["question"]: r["answer"] for r in recs}
    for s in samples:
        assert s.choices[s.answer_index] == str(truth[s.question])
        assert [int(c) for c in s.choices] == list(range(int(s.choices[0]), int(s.choices[0]) + 4))
    assert sum(entry["letters"].values()) == len(samples)


def test_spatial_relation_vsr(tmp_path):
    src = tmp_path / "vsr"
    lines = []
    for i in range(8):
        _img(src / "images" / f"0000{i}.jpg", (10, i * 25, 10))
        lines.append(json.dumps({"image": f"0000{i}.jpg", "image_link": "", "caption": f"The cat is on the bed {i}.",
                                 "label": i % 2, "relation": "on", "subj": f"cat{i}", "obj": "bed"}))
    (src / "train.jsonl").write_text("\n".join(lines) + "\n")
    entry, samples = _build_and_check("Spatial_Relation", src, tmp_path / "out")
    assert len(samples) + entry["passed_over_for_balance"] == 8 and len(samples) >= 6
    for s in samples:
        i = int(s.question.split("cat")[1].split()[0])
        assert s.question == f"Is the cat{i} on the bed?" and s.choices == ["yes", "no"]
        assert s.answer == ("(A)" if i % 2 else "(B)")


def test_art_style_wikiart(tmp_path):
    src = tmp_path / "wikiart"
    palette = {"Impressionism": (200, 0, 0), "Cubism": (0, 0, 200), "Baroque": (0, 200, 0)}
    for style, color in palette.items():
        for k in range(3):
            _img(src / style / f"artist-{k}_title.jpg", color)
    _, samples = _build_and_check("Art_Style", src, tmp_path / "out", seed=3)
    for s in samples:  # each style has its own colour, so the right option is the one matching the reference
        ref, *opts = [np.asarray(im)[0, 0] for im in s.images]
        assert (opts[s.answer_index] == ref).all() and not (opts[1 - s.answer_index] == ref).all()


def test_jigsaw_any_folder(tmp_path):
    src = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(_img(src / f"{i}.png", (0, 0, 0)))
    _, samples = _build_and_check("Jigsaw", src, tmp_path / "out")
    for s in samples:
        holed, *opts = [np.asarray(im) for im in s.images]
        assert (holed[20:, 24:] == 255).all()
        right = opts[s.answer_index]
        originals = [np.asarray(Image.open(p)) for p in sorted(src.glob("*.png"))]
        assert any((o[20:, 24:] == right).all() and (o[:20] == holed[:20]).all() for o in originals)


def test_visual_similarity_nights(tmp_path):
    src = tmp_path / "nights"
    rows = []
    for i in range(6):
        ref = _img(src / "ref" / "000" / f"{i:03d}.png", (100, 100, 100))
        near = _img(src / "distort" / "000" / f"{i:03d}_near.png", (110, 100, 100))
        far = _img(src / "distort" / "000" / f"{i:03d}_far.png", (0, 250, 0))
        left, right = (near, far) if i % 2 else (far, near)
        rows.append({"id": i, "ref_path": str(ref.relative_to(src)), "left_path": str(left.relative_to(src)),
                     "right_path": str(right.relative_to(src)), "left_vote": 1.0 if i % 2 else 0.0,
                     "right_vote": 0.0 if i % 2 else 1.0, "prompt": "a cat", "split": "train", "is_imagenet": True})
    rows.append({**rows[0], "id": 99, "split": "test"})  # NIGHTS test split is never used
    with (src / "data.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    entry, samples = _build_and_check("Visual_Similarity", src, tmp_path / "out")
    assert len(samples) == 6  # the test-split row is left out
    for s in samples:  # the option the voters chose is the near copy
        assert tuple(np.asarray(s.images[1 + s.answer_index])[0, 0]) == (110, 100, 100)


def test_object_localization_coco(tmp_path):
    src = tmp_path / "coco"
    images, anns = [], []
    for i in range(6):
        _img(src / "train2017" / f"{i:012d}.jpg", (90, 90, 90), size=(80, 60))
        images.append({"id": i, "file_name": f"{i:012d}.jpg", "width": 80, "height": 60})
        anns.append({"id": 10 + i, "image_id": i, "category_id": 1, "bbox": [20, 15, 30, 25], "iscrowd": 0})
    (src / "annotations").mkdir()
    (src / "annotations" / "instances_train2017.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "dog"}]}))
    _, samples = _build_and_check("Object_Localization", src, tmp_path / "out")
    for s in samples:
        a = np.asarray(s.images[0]).astype(int)
        red = (a[..., 0] > 200) & (a[..., 1] < 60)
        # the true box [20, 15, 50, 40] is outlined in red along its whole bottom edge
        assert red[40, 22:48].all() and "dog" in s.question


def _tally(src: Path, n: int = 8):
    recs = [{"image": f"VG_100K/{i}.jpg", "question": f"How many? {i}", "answer": i % 4, "question_id": i}
            for i in range(n)]
    for i in range(n):
        _img(src / "VG_100K" / f"{i}.jpg", (i * 15, 0, 0))
    (src / "train.json").write_text(json.dumps(recs))
    return recs


def test_deterministic_resumable_split_manifest_preview(tmp_path):
    src = tmp_path / "tq"
    _tally(src, 16)
    a, b = tmp_path / "a", tmp_path / "b"
    build_task("Counting", src, a, seed=1, val_fraction=0.25, preview=3)
    build_task("Counting", src, b, seed=1, val_fraction=0.25)
    assert (a / "Counting.jsonl").read_text() == (b / "Counting.jsonl").read_text()
    manifest = json.loads((a / "build.json").read_text())["tasks"]["Counting"]
    assert manifest["rows"]["val"] == len(_rows(a, "Counting.val")) > 0
    assert manifest["seed"] == 1 and len(manifest["annotation_sha256"]) == 64
    assert (a / "preview_Counting.png").is_file()
    # a killed run leaves a torn line: the rerun cuts it and appends only what is missing, no duplicates
    text = (a / "Counting.jsonl").read_text()
    lines = text.splitlines(keepends=True)
    (a / "Counting.jsonl").write_text("".join(lines[:2]) + lines[2][:10])
    build_task("Counting", src, a, seed=1, val_fraction=0.25)
    assert sorted((a / "Counting.jsonl").read_text().splitlines()) == sorted(text.splitlines())
    # images are written once, by content, and every row points at one of them
    referenced = {r["image_1"] for r in _rows(a, "Counting") + _rows(a, "Counting.val")}
    assert {f"images_Counting/{p.name}" for p in (a / "images_Counting").glob("*.png")} == referenced


def test_max_rows_and_balance_report(tmp_path):
    src = tmp_path / "tq"
    _tally(src, 16)
    entry = build_task("Counting", src, tmp_path / "o", max_rows=8)
    assert entry["rows"]["train"] == 8 and entry["letters"] == {"A": 2, "B": 2, "C": 2, "D": 2}


@pytest.mark.parametrize("breakage, message", [
    ("no_annotation", "train.json is missing"),
    ("missing_image", "does not exist"),
    ("bad_answer", "integer answer"),
])
def test_bad_sources_name_the_file(tmp_path, breakage, message):
    src = tmp_path / "tq"
    recs = _tally(src, 4)
    if breakage == "no_annotation":
        (src / "train.json").unlink()
    elif breakage == "missing_image":
        (src / "VG_100K" / "2.jpg").unlink()
    else:
        recs[1]["answer"] = "many"
        (src / "train.json").write_text(json.dumps(recs))
    with pytest.raises(BuildError, match=message):
        build_task("Counting", src, tmp_path / "o")


def test_cli_exit_2_and_plan(tmp_path, capsys):
    from vtl.cli import main

    src = tmp_path / "tq"
    _tally(src, 8)
    assert main(["data", "build", "Counting", "--source", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
    assert "not a folder" in capsys.readouterr().err
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"Counting: {{source: {src}, max_rows: 4}}\n")
    assert main(["data", "build", str(plan), "--out", str(tmp_path / "o")]) == 0
    assert "letters A=1 B=1 C=1 D=1" in capsys.readouterr().out
    assert main(["data", "check", str(tmp_path / "o" / "Counting.jsonl"), "--tasks", "Counting"]) == 0


def _drawn(sample) -> list[dict[str, tuple[float, float]]]:
    """The label positions per image that the explanation records, e.g. [{"REF": (x, y)}, {"A": ..., ...}]."""
    out = []
    for part in sample.explanation.split("; "):
        out.append({})
        for chunk in part.split("), "):
            label, xy = chunk.split(" at (")
            x, y = xy.rstrip(")").split(", ")
            out[-1][label] = (float(x), float(y))
    return out


def _ring_at(im, xy) -> bool:
    a = np.asarray(im).astype(int)
    x, y = int(round(xy[0])), int(round(xy[1]))
    patch = a[max(0, y - 6): y + 7, max(0, x - 6): x + 7]
    return bool(((patch[..., 0] > 200) & (patch[..., 1] < 60) & (patch[..., 2] < 60)).any())


def test_relative_reflectance_iiw(tmp_path):
    src = tmp_path / "iiw"
    comparisons, points = [], []
    for i in range(6):
        a = np.full((60, 80, 3), 200, np.uint8)
        a[:, :40] = 40  # left half is the darker surface
        Image.fromarray(a).save(_img(src / "data" / f"{i}.png", (0, 0, 0)))
        darker = "12E"[i % 3]
        pts = [{"id": 1, "x": 0.25, "y": 0.5}, {"id": 2, "x": 0.75 if darker != "E" else 0.3, "y": 0.5}]
        if darker == "2":
            pts[0]["x"], pts[1]["x"] = 0.75, 0.25
        (src / "data" / f"{i}.json").write_text(json.dumps({"intrinsic_points": pts, "intrinsic_comparisons": [
            {"id": 7, "point1": 1, "point2": 2, "darker": darker, "darker_score": 0.9}]}))
    _, samples = _build_and_check("Relative_Reflectance", src, tmp_path / "out")
    assert {s.answer for s in samples} == {"(A)", "(B)", "(C)"}
    for s in samples:
        (drawn,) = _drawn(s)
        assert all(_ring_at(s.images[0], xy) for xy in drawn.values())
        dark = {label: xy[0] < 40 for label, xy in drawn.items()}
        expected = "(C)" if dark["A"] == dark["B"] else "(A)" if dark["A"] else "(B)"
        assert s.answer == expected


def test_visual_correspondence_hpatches(tmp_path):
    src = tmp_path / "hpatches"
    rng = np.random.default_rng(0)
    for seq in ("v_wall", "i_ajuntament"):
        base = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
        Image.fromarray(base).save(_img(src / seq / "1.ppm", (0, 0, 0)))
        for k in (2, 3):  # image k is image 1 shifted right by 4k pixels: H is a translation
            shifted = np.roll(base, 4 * k, axis=1)
            Image.fromarray(shifted).save(src / seq / f"{k}.ppm")
            np.savetxt(src / seq / f"H_1_{k}", [[1, 0, 4 * k], [0, 1, 0], [0, 0, 1]])
    _, samples = _build_and_check("Visual_Correspondence", src, tmp_path / "out")
    assert len(samples) == 4
    for s in samples:
        ref, options = _drawn(s)
        true = options["ABCD"[s.answer_index]]
        assert abs(true[0] - ref["REF"][0]) in (8, 12) and true[1] == ref["REF"][1]
        assert _ring_at(s.images[0], ref["REF"]) and all(_ring_at(s.images[1], xy) for xy in options.values())


def test_semantic_correspondence_spair(tmp_path):
    src = tmp_path / "SPair-71k"
    for name in ("a.jpg", "b.jpg"):
        _img(src / "JPEGImages" / "cat" / name, (80, 80, 80), size=(100, 80))
    src_kps = [[10, 10], [30, 20], [50, 40], [70, 60], [90, 70]]
    trg_kps = [[x + 2, y + 3] for x, y in src_kps]
    (src / "PairAnnotation" / "trn").mkdir(parents=True)
    (src / "PairAnnotation" / "trn" / "0-a-b:cat.json").write_text(json.dumps(
        {"category": "cat", "src_imname": "a.jpg", "trg_imname": "b.jpg", "src_kps": src_kps, "trg_kps": trg_kps}))
    _, samples = _build_and_check("Semantic_Correspondence", src, tmp_path / "out")
    assert len(samples) >= 4
    for s in samples:
        ref, options = _drawn(s)
        k = [list(map(float, p)) for p in src_kps].index(list(ref["REF"]))
        assert options["ABCD"[s.answer_index]] == tuple(map(float, trg_kps[k]))


def test_point_outside_image_is_an_error(tmp_path):
    src = tmp_path / "SPair-71k"
    for name in ("a.jpg", "b.jpg"):
        _img(src / "JPEGImages" / "cat" / name, (80, 80, 80), size=(100, 80))
    kps = [[10, 10], [30, 20], [50, 40], [170, 60]]
    (src / "PairAnnotation" / "trn").mkdir(parents=True)
    (src / "PairAnnotation" / "trn" / "p.json").write_text(json.dumps(
        {"category": "cat", "src_imname": "a.jpg", "trg_imname": "b.jpg", "src_kps": kps, "trg_kps": kps}))
    with pytest.raises(BuildError, match=r"p\.json: point \(170, 60\) lies outside the 100x80 image"):
        build_task("Semantic_Correspondence", src, tmp_path / "o")


def test_relative_depth_diode(tmp_path):
    src = tmp_path / "diode" / "val" / "indoors"
    for i in range(4):
        _img(src / f"{i:05d}.png", (120, 120, 120), size=(64, 48))
        depth = np.tile(np.linspace(1, 10, 64, dtype=np.float32), (48, 1))[..., None]  # farther to the right
        np.save(src / f"{i:05d}_depth.npy", depth)
        np.save(src / f"{i:05d}_depth_mask.npy", np.ones((48, 64), np.float32))
    _, samples = _build_and_check("Relative_Depth", tmp_path / "diode", tmp_path / "out")
    assert len(samples) == 4
    for s in samples:
        (drawn,) = _drawn(s)
        nearer = "A" if drawn["A"][0] < drawn["B"][0] else "B"
        assert s.answer == f"({nearer})" and all(_ring_at(s.images[0], xy) for xy in drawn.values())


def test_forensic_detection_real_and_fake(tmp_path):
    src = tmp_path / "forensic"
    for i in range(4):
        _img(src / "real" / f"{i}.jpg", (0, 0, 250))
        _img(src / "fake" / "sd" / f"{i}.png", (250, 250, 0))
    _, samples = _build_and_check("Forensic_Detection", src, tmp_path / "out")
    assert sorted(s.answer for s in samples) == ["(A)", "(B)", "(C)", "(D)"]
    for s in samples:
        blues = [i for i, im in enumerate(s.images) if np.asarray(im)[0, 0, 2] > 200 and np.asarray(im)[0, 0, 0] < 50]
        assert blues == [s.answer_index]


def test_rejected_questions_are_dropped_counted_and_letters_stay_balanced(tmp_path):
    from vtl.data.build import builder
    from vtl.data.build.core import generate

    src = tmp_path / "tq"
    _tally(src, 16)
    leaked = {np.asarray(Image.open(src / "VG_100K" / f"{i}.jpg"))[0, 0, 0] for i in (1, 5, 6)}
    built, passed, excluded = generate(builder("Counting"), src, seed=0, max_rows=None,
                                       reject=lambda q: np.asarray(q.images[0])[0, 0, 0] in leaked)
    assert 1 <= excluded <= 3 and len(built) + passed + excluded == 16
    assert not any(np.asarray(q.images[0])[0, 0, 0] in leaked for _, q in built)
    counts = Counter(q.answer for _, q in built)
    assert max(counts.values()) - min(counts.values()) <= 1


def test_exclude_eval_source(tmp_path):
    """--exclude drops the questions whose image re-encodes an eval image (needs vtl.data.leaks)."""
    from vtl.data.synth import write_suite

    suite = write_suite(tmp_path / "suite", n_per_task=4, seed=0, image_size=64)
    src = tmp_path / "tq"
    recs = _tally(src, 8)
    eval_image = load_source(str(suite), tasks=["Counting"])["Counting"][0].images[0]
    # a re-encoded, resized copy, on an item whose count (3) can take any answer letter
    eval_image.resize((96, 96)).save(src / recs[3]["image"], quality=80)
    entry = build_task("Counting", src, tmp_path / "o", exclude=str(suite))
    assert entry["excluded_near_duplicates"] >= 1


def _orbit_pose(theta_deg: float, radius: float = 0.6):
    """Object-to-camera (R, t) of a camera on a circle around the object's up axis (y), looking at it; and the
    camera's centre and right axis in object coordinates, as this test builds them."""
    th = np.radians(theta_deg)
    centre = radius * np.array([np.sin(th), 0.0, np.cos(th)])
    forward = -centre / np.linalg.norm(centre)
    down = np.array([0.0, -1.0, 0.0])
    right = np.cross(down, forward)
    rotation = np.stack([right, down, forward])  # rows: the camera's axes in object coordinates
    return rotation, -rotation @ centre, centre, right


def test_multi_view_reasoning_wild6d(tmp_path):
    import pickle

    src = tmp_path / "Wild6D" / "test_set"
    angles = [0, 8, 16, 24, 32, 40, 48, 56, 64, 72]  # the camera orbits one way around a mug, 8 degrees a frame
    frames = src / "mug" / "0001" / "1" / "images"
    annotations = []
    for k, theta in enumerate(angles):
        _img(frames / f"{k:04d}.jpg", (20 * k, 100, 200 - 20 * k), size=(64, 48))
        _img(frames / f"{k:04d}-mask.png", (255, 255, 255), size=(64, 48))  # beside the frames, never a question
        rotation, translation, _, _ = _orbit_pose(theta)
        annotations.append({"name": f"mug/0001/1/{k:04d}", "class_id": 6, "rotation": rotation,
                            "translation": translation, "size": np.array([0.1, 0.12, 0.1])})
    (src / "pkl_annotations" / "mug").mkdir(parents=True)
    with open(src / "pkl_annotations" / "mug" / "mug-0001-1.pkl", "wb") as fh:
        pickle.dump({"annotations": annotations}, fh)
    _, samples = _build_and_check("Multi-view_Reasoning", src.parent, tmp_path / "out")
    assert len(samples) >= 3
    for s in samples:
        shown = [int(round(np.asarray(im)[0, 0, 0] / 20)) for im in s.images]  # frame k is painted red 20k
        _, _, c0, right0 = _orbit_pose(angles[shown[0]])
        _, _, c1, _ = _orbit_pose(angles[shown[1]])
        truth = "right" if (c1 - c0) @ right0 > 0 else "left"
        assert s.choices[s.answer_index] == truth
        assert abs(angles[shown[1]] - angles[shown[0]]) >= 20
    assert {s.choices[s.answer_index] for s in samples} == {"left", "right"}  # pairs shown backwards too


def test_multi_view_reasoning_names_a_broken_pickle(tmp_path):
    src = tmp_path / "test_set"
    _img(src / "mug" / "0001" / "1" / "images" / "0000.jpg", (0, 0, 0))
    (src / "pkl_annotations" / "mug").mkdir(parents=True)
    (src / "pkl_annotations" / "mug" / "mug-0001-1.pkl").write_bytes(b"not a pickle")
    with pytest.raises(BuildError, match="mug-0001-1.pkl: expected a dict whose annotations"):
        build_task("Multi-view_Reasoning", src, tmp_path / "out")
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(BuildError, match="no pkl_annotations"):
        build_task("Multi-view_Reasoning", tmp_path / "elsewhere", tmp_path / "out2")
