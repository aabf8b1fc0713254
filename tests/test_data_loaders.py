"""Loaders: hub-layout parquet with struct images, JSONL with relative paths, vtl://synth, hub-id dispatch."""

from __future__ import annotations

import pytest
from data_helpers import png_bytes, row, write_jsonl, write_task_parquet
from PIL import Image

from vtl.data.loaders import load_source
from vtl.data.validate import DataError
from vtl.tasks import REGISTRY, TRANSFER_TASKS


def test_parquet_dir_in_hub_layout(tmp_path):
    write_task_parquet(tmp_path, "Counting", [row("Counting", i, 1, 4, answer="(C)") for i in range(3)])
    write_task_parquet(tmp_path, "Jigsaw", [row("Jigsaw", i, 3) for i in range(2)])
    data = load_source(str(tmp_path), tasks=["jg", "CT"])
    assert list(data) == ["Jigsaw", "Counting"]  # the order asked for
    ct = data["Counting"]
    assert [s.idx for s in ct] == ["val_Counting_0", "val_Counting_1", "val_Counting_2"]
    assert ct[0].answer == "(C)" and ct[0].answer_index == 2 and ct[0].sub_task == "Counting"
    assert ct[0].origin.endswith("Counting/val-00000-of-00001.parquet")
    assert len(data["Jigsaw"][0].images) == 3
    img = ct[1].images[0]
    assert isinstance(img, Image.Image) and img.size == (8, 8) and img.convert("RGB").getpixel((0, 0)) == (40, 1, 0)
    # an empty prompt is rebuilt in BLINK's format from question and choices
    assert ct[0].prompt == "question 0?\nSelect from the following choices.\n(A) option 0\n(B) option 1\n" \
        "(C) option 2\n(D) option 3"


def test_parquet_dir_defaults_to_all_transfer_tasks_and_names_missing_ones(tmp_path):
    write_task_parquet(tmp_path, "Counting", [row("Counting", 0, 1, 4)])
    with pytest.raises(DataError, match=r"Art_Style.*val-00000-of-00001.parquet.*--tasks"):
        load_source(str(tmp_path))


def test_parquet_converter_layout_and_test_split(tmp_path):
    """`{Task}/{split}/0000.parquet` (the hub's converted layout) also loads; 'hidden' answers pass on test."""
    path = write_task_parquet(tmp_path, "Relative_Depth", [row("Relative_Depth", 0, 1, answer="hidden")], "test")
    (tmp_path / "Relative_Depth" / "test").mkdir()
    path.rename(tmp_path / "Relative_Depth" / "test" / "0000.parquet")
    data = load_source(str(tmp_path), tasks="RD", split="test")
    assert data["Relative_Depth"][0].answer == "hidden"
    with pytest.raises(DataError, match="'answer'"):
        load_source(str(tmp_path / "Relative_Depth" / "test" / "0000.parquet"), tasks="RD", split="val")


def test_jsonl_with_relative_image_paths(tmp_path):
    (tmp_path / "imgs").mkdir()
    for k in range(3):
        (tmp_path / "imgs" / f"{k}.png").write_bytes(png_bytes((k, 0, 0)))
    rows = [
        {"idx": "a1", "sub_task": "Jigsaw", "question": "q", "choices": ["x", "y"], "answer": "(B)",
         "image_1": "imgs/0.png", "image_2": "imgs/1.png", "image_3": "imgs/2.png"},
        {"idx": "c1", "sub_task": "counting", "question": "how many?", "choices": ["1", "2", "3", "4"],
         "answer": "D", "images": ["imgs/2.png"]},
        {"idx": "iq", "sub_task": "IQ_Test", "question": "q", "choices": ["1", "2", "3", "4"], "answer": "(A)",
         "image_1": "imgs/0.png"},
    ]
    path = write_jsonl(tmp_path / "sub" / ".." / "train.jsonl", rows)
    data = load_source(str(path))
    # tasks=None: the transfer tasks present, in BLINK's order; IQ_Test is not a transfer task
    assert list(data) == ["Counting", "Jigsaw"]
    assert data["Counting"][0].answer == "(D)"  # a bare letter is read as BLINK's "(D)"
    assert data["Jigsaw"][0].images[2].getpixel((0, 0)) == (2, 0, 0)
    assert list(load_source(str(path), tasks=["IQ"])) == ["IQ_Test"]
    with pytest.raises(DataError, match="no rows for task.*Art_Style"):
        load_source(str(path), tasks=["AS", "CT"])


def test_embedded_synth_source(synth_dir):
    data = load_source("vtl://synth", tasks=["OL", "VC"])
    assert list(data) == ["Object_Localization", "Visual_Correspondence"]
    assert all(len(v) == 48 for v in data.values())
    assert data["Object_Localization"][0].origin.startswith(str(synth_dir))


def test_hub_id_goes_to_datasets_one_config_per_task(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(path, name, split):
        calls.append((path, name, split))
        n = REGISTRY[name].n_images
        images = {f"image_{k}": [Image.new("RGB", (4, 4), (k, 2, 3)) if k <= n else None] for k in range(1, 5)}
        if name == "Spatial_Relation":
            images["image_1"] = [{"bytes": b"corrupt", "path": "sr.jpg"}]
        return datasets.Dataset.from_dict(
            {"idx": [f"{split}_{name}_1"], "sub_task": [name], "question": ["q"], "prompt": ["q\n(A) a\n(B) b"],
             "choices": [["a", "b"]], "answer": ["(B)"], "explanation": [""], **images},
            features=features,
        )

    features = datasets.Features(
        {"idx": datasets.Value("string"), "sub_task": datasets.Value("string"), "question": datasets.Value("string"),
         "prompt": datasets.Value("string"), "choices": datasets.List(datasets.Value("string")),
         "answer": datasets.Value("string"), "explanation": datasets.Value("string"),
         **{f"image_{k}": datasets.Image() for k in range(1, 5)}}
    )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    hub = "BLINK-Benchmark/BLINK"
    data = load_source(hub, tasks=["RD", "CT"], split="val")
    assert calls == [(hub, "Relative_Depth", "val"), (hub, "Counting", "val")]
    rd = data["Relative_Depth"][0]
    assert rd.answer_index == 1 and rd.origin == "BLINK-Benchmark/BLINK:Relative_Depth/val"
    assert rd.images[0].convert("RGB").getpixel((0, 0)) == (1, 2, 3)
    # a corrupt hub image is a row-level error like any other
    with pytest.raises(DataError, match=r"BLINK:Spatial_Relation/val: row 'val_Spatial_Relation_1': field 'image_1'"):
        load_source(hub, tasks=["SR"])

    calls.clear()
    assert list(load_source(hub, skip_bad=True)) == list(TRANSFER_TASKS)
    assert [c[1] for c in calls] == list(TRANSFER_TASKS)


def test_hub_failure_is_a_data_error_naming_the_source(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match=r"someone/blink:Counting/val: could not load from the hub.*no network"):
        load_source("someone/blink", tasks="CT")


@pytest.mark.parametrize("source", ["./missing_dir", "/no/such/dir", "data/train.jsonl", "not a hub id"])
def test_missing_paths_never_fall_through_to_the_hub(monkeypatch, source):
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("must not reach the hub"))
    with pytest.raises(DataError, match="no such file or directory"):
        load_source(source, tasks="CT")


def test_single_parquet_file_with_sub_task_per_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from data_helpers import HUB_SCHEMA

    rows = [row("Spatial_Relation", 0, 1), row("Multi-view_Reasoning", 1, 2, sub_task="MV"), row("Counting", 2, 1, 4)]
    path = tmp_path / "mixed.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=HUB_SCHEMA), path)
    data = load_source(str(path), tasks=["SR", "MV"])
    assert {k: [s.idx for s in v] for k, v in data.items()} == {
        "Spatial_Relation": ["val_Spatial_Relation_0"], "Multi-view_Reasoning": ["val_Multi-view_Reasoning_1"]}
    assert data["Multi-view_Reasoning"][0].sub_task == "Multi-view_Reasoning"  # canonical spelling
