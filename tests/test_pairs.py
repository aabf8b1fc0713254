"""`vtl vicl pairs`: tuple files, loading, train/eval disjointness, resume, real paired folders."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from vtl.cli import main
from vtl.records import read_jsonl
from vtl.vicl.lowlevel.pairs import IMAGE_KEYS, load_real_pairs, load_tuples, write_tuples

PAIRS = ["Deblur→Dehaze", "Inpaint→Style"]


@pytest.fixture(scope="module")
def tuples_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("pairs")
    write_tuples(out, pairs=PAIRS, n_train=4, n_eval=3, seed=0, image_size=32)
    return out


def test_tuple_lines_and_images(tuples_dir):
    rows = read_jsonl(tuples_dir / "tuples.jsonl")
    assert len(rows) == 2 * (4 + 3)
    assert len({r["id"] for r in rows}) == len(rows)
    first = rows[0]
    assert {"id", "task_a", "task_b", "pair", "split", *IMAGE_KEYS, "seed"} <= set(first)
    assert (first["task_a"], first["task_b"], first["pair"]) == ("deblurring", "dehazing", "Deblur→Dehaze")
    for row in rows:
        for key in IMAGE_KEYS:
            assert not row[key].startswith("/")  # relative to the jsonl
            assert (tuples_dir / row[key]).is_file()
    t = load_tuples(tuples_dir / "tuples.jsonl")[0]
    images = t.load()
    assert list(images) == list(IMAGE_KEYS)
    assert all(v.shape == (32, 32, 3) and v.dtype == np.uint8 for v in images.values())
    assert len(t.student_images()) == 3 and len(t.teacher_images()) == 4


def test_load_tuples_filters_by_split_and_pair(tuples_dir):
    assert len(load_tuples(tuples_dir, split="eval")) == 6
    only = load_tuples(tuples_dir, split="train", pairs=["inpainting->style_transfer"])
    assert len(only) == 4 and {t.pair for t in only} == {"Inpaint→Style"}
    with pytest.raises(ValueError, match="split must be one of"):
        load_tuples(tuples_dir, split="test")


def test_train_and_eval_use_disjoint_clean_images(tuples_dir):
    rows = read_jsonl(tuples_dir / "tuples.jsonl")

    def digests(split):
        found = set()
        for r in rows:
            if r["split"] == split:
                # restoration outputs are the clean images themselves; style transfer's input is
                for key in ("a_out", "b_out") if r["task_b"] != "style_transfer" else ("a_out", "b_in"):
                    found.add(hashlib.sha1((tuples_dir / r[key]).read_bytes()).hexdigest())
        return found

    assert not digests("train") & digests("eval")
    train_clean = {r[k] for r in rows if r["split"] == "train" for k in ("clean_a", "clean_b")}
    eval_clean = {r[k] for r in rows if r["split"] == "eval" for k in ("clean_a", "clean_b")}
    assert not train_clean & eval_clean
    assert all(r["clean_a"] != r["clean_b"] for r in rows)  # A and B come from different images


def test_rerun_resumes_without_duplicates_and_refuses_other_settings(tmp_path):
    write_tuples(tmp_path, pairs=PAIRS[:1], n_train=2, n_eval=1, image_size=32)
    path = tmp_path / "tuples.jsonl"
    lines = path.read_text().splitlines()
    # simulate a kill: the last tuple's line is cut off mid-write
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:25])
    write_tuples(tmp_path, pairs=PAIRS[:1], n_train=2, n_eval=1, image_size=32)
    again = path.read_text().splitlines()
    assert again == lines
    with pytest.raises(ValueError, match="n_train differ"):
        write_tuples(tmp_path, pairs=PAIRS[:1], n_train=3, n_eval=1, image_size=32)


def test_cli_writes_tuples_and_reports_bad_pairs(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["vicl", "pairs", "--out", str(out), "--pairs", "Denoise→LightEnh", "--n-train", "1", "--n-eval", "1",
                 "--image-size", "32"]) == 0
    assert len(load_tuples(out)) == 2
    assert main(["vicl", "pairs", "--out", str(tmp_path / "u"), "--pairs", "Denoise→Sharpen"]) == 2
    assert "unknown low-level task 'Sharpen'" in capsys.readouterr().err


def _write_real(root, task, names, size=(40, 30)):
    for sub, value in (("input", 60), ("gt", 200)):
        folder = root / task / sub
        folder.mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(names):
            Image.fromarray(np.full((size[1], size[0], 3), value + i, np.uint8)).save(folder / f"{name}.png")


def test_real_paired_folders_replace_the_operator(tmp_path):
    real = tmp_path / "real"
    _write_real(real, "Dehaze", [f"img{i}" for i in range(5)])
    found = load_real_pairs(real)
    assert list(found) == ["dehazing"] and len(found["dehazing"]) == 5
    out = tmp_path / "tuples"
    write_tuples(out, pairs=["Deblur→Dehaze"], n_train=3, n_eval=2, image_size=32, real_root=real)
    rows = read_jsonl(out / "tuples.jsonl")
    assert all(r["clean_b"].startswith("real:dehazing/") for r in rows)
    assert all(r["clean_a"].startswith(("scene:", "skimage:")) for r in rows)  # deblurring stays synthetic
    train_names = {r["clean_b"] for r in rows if r["split"] == "train"}
    eval_names = {r["clean_b"] for r in rows if r["split"] == "eval"}
    assert not train_names & eval_names
    b_in = np.asarray(Image.open(out / rows[0]["b_in"]))
    assert b_in.shape == (32, 32, 3) and 60 <= b_in[0, 0, 0] < 70


def test_real_folder_errors_name_the_folder(tmp_path):
    (tmp_path / "Sharpen" / "input").mkdir(parents=True)
    with pytest.raises(ValueError, match="Sharpen: folder name is not a low-level task"):
        load_real_pairs(tmp_path)
    bad = tmp_path / "other"
    (bad / "denoising" / "input").mkdir(parents=True)
    with pytest.raises(ValueError, match="denoising: needs an input folder .* and an output folder"):
        load_real_pairs(bad)


def test_bad_tuple_line_is_named(tmp_path):
    path = tmp_path / "tuples.jsonl"
    path.write_text(json.dumps({"id": "x", "task_a": "deblurring", "split": "train"}) + "\n")
    with pytest.raises(ValueError, match=r"line 1 \(id x\) lacks field"):
        load_tuples(path)
