"""Near-duplicate leak check: re-encoded, resized and marker-drawn copies of evaluation images are caught in
training data; unrelated photographs pass. In `vtl data leaks`, in `vtl fit` (the datamodule) and in the index."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from data_helpers import write_jsonl
from PIL import Image

from vtl.cli import main
from vtl.data.build.draw import draw_box, mark_points
from vtl.data.leaks import DEFAULT_THRESHOLD, LeakIndex, without_markers
from vtl.data.sources import LeakError
from vtl.transfer.datamodule import TransferDataModule


def _photos(n: int, side: int = 160) -> list[Image.Image]:
    """Distinct natural-image tiles from the photographs scikit-image ships (no download)."""
    import skimage.data

    out = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field"):
        a = np.asarray(getattr(skimage.data, name)())[..., :3]
        for y in range(0, a.shape[0] - side + 1, side):
            for x in range(0, a.shape[1] - side + 1, side):
                if a[y:y + side, x:x + side].std() > 8:
                    out.append(Image.fromarray(a[y:y + side, x:x + side]))
    assert len(out) >= n
    return out[:: len(out) // n][:n]


def _jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return Image.open(buf).convert("RGB")


EDITS = {
    "re-encoded": lambda im: _jpeg(im, 60),
    "resized": lambda im: im.resize((im.width * 3 // 2, im.height * 3 // 2), Image.BICUBIC),
    "halved": lambda im: im.resize((im.width // 2, im.height // 2), Image.BICUBIC),
    "marked": lambda im: mark_points(im, {"A": (40, 50), "B": (110, 100)}),
    "boxed": lambda im: draw_box(im, (30, 30, 100, 90)),
}


class Row:
    def __init__(self, idx: str, images: list[Image.Image]):
        self.idx, self.images = idx, images


@pytest.fixture(scope="module")
def world():
    """A BLINK-shaped eval set (its images already carry markers, as BLINK val's do) and training images: copies of
    five of its photos under each edit, and photos it does not hold."""
    photos = _photos(24)
    marked_eval = [mark_points(p, {"A": (80, 30), "B": (30, 120)}) for p in photos[:12]]
    evaluation = [Row(f"val_{i}", [im]) for i, im in enumerate(marked_eval)]
    copies = [Row(f"copy_{name}_{i}", [edit(photos[i])]) for name, edit in EDITS.items() for i in range(0, 10, 2)]
    unrelated = [Row(f"other_{i}", [p]) for i, p in enumerate(photos[12:])]
    return evaluation, copies, unrelated


def test_every_edited_copy_is_caught_and_no_unrelated_photo(world):
    evaluation, copies, unrelated = world
    found = LeakIndex(evaluation).near_duplicates(copies + unrelated)
    assert {f.train_idx for f in found} == {r.idx for r in copies}
    # each copy is matched to the photo it was made from, under the threshold
    assert all(f.eval_idx == f"val_{f.train_idx.rsplit('_', 1)[1]}" for f in found)
    assert all(f.distance <= DEFAULT_THRESHOLD for f in found)


def test_drawn_markers_are_removed_before_hashing(world):
    evaluation, _, _ = world
    marked = np.asarray(without_markers(evaluation[0].images[0]))
    red = (marked[..., 0] > 190) & (marked[..., 1] < 70) & (marked[..., 2] < 70)
    assert not red.any()


def _jsonl(path: Path, rows: list[Row], task: str = "Counting") -> Path:
    records = []
    for r in rows:
        name = f"{r.idx}.png"
        r.images[0].save(path.parent / name)
        records.append({"idx": r.idx, "sub_task": task, "question": "How many?", "choices": ["1", "2", "3", "4"],
                        "answer": "(B)", "image_1": name})
    return write_jsonl(path, records)


@pytest.fixture(scope="module")
def files(tmp_path_factory, world):
    evaluation, copies, unrelated = world
    d = tmp_path_factory.mktemp("leaks")
    (d / "val").mkdir()
    (d / "train").mkdir()
    (d / "clean").mkdir()
    return (_jsonl(d / "val" / "val.jsonl", evaluation), _jsonl(d / "train" / "train.jsonl", copies[:3] + unrelated),
            _jsonl(d / "clean" / "clean.jsonl", unrelated))


def test_vtl_data_leaks_lists_each_pair_and_exits_2(files, capsys):
    val, train, clean = files
    assert main(["data", "leaks", str(train), str(val)]) == 2
    out, err = capsys.readouterr()
    assert out.count("distance") == 3 and "train row 'copy_re-encoded_0' image_1 ~ eval row 'val_0'" in out
    assert err.strip().startswith("3 of 15 training images near-duplicate")
    assert main(["data", "leaks", str(clean), str(val)]) == 0


def test_fit_refuses_near_duplicates_unless_the_check_is_off(files):
    val, train, clean = files

    def setup(train_file, **kw):
        dm = TransferDataModule(source_task="CT", targets="CT", train_source=str(train_file), eval_source=str(val),
                                **kw)
        dm.setup("fit")
        return dm

    with pytest.raises(LeakError, match=r"3 training image\(s\) near-duplicate evaluation images.*copy_re-encoded_0"
                                        r".*--data.leak_threshold null"):
        setup(train)
    assert len(setup(clean).train_samples) == 12
    assert len(setup(train, leak_threshold=None).train_samples) == 15
