"""Spatial_Relation from VSR: JSONL records {image, caption, label, relation, subj, obj} (data/splits/*/train.jsonl
in the VSR repo) with the COCO images in `images/`."""

from __future__ import annotations

import json
from pathlib import Path

from vtl.data.build.core import BuildError, Item, Question, need, open_image

TASK = "Spatial_Relation"
FORMAT = "VSR train.jsonl: one {image, caption, label (1 true/0 false), relation, subj, obj} per line; images/"


def items(source: Path):
    ann = need(source / "train.jsonl", "VSR's train.jsonl (copy data/splits/random/train.jsonl or zeroshot/)")
    images = need(source / "images", "the folder of VSR's COCO images")
    for n, line in enumerate(ann.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{ann} line {n}"
        try:
            r = json.loads(line)
            rec = (images / r["image"], str(r["subj"]), str(r["relation"]), str(r["obj"]), int(r["label"]), where)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise BuildError(f"{where}: needs image, subj, relation, obj and label 0/1 ({exc!r})") from exc
        if rec[4] not in (0, 1):
            raise BuildError(f"{where}: label {rec[4]} is not 0 or 1")
        yield Item(f"{r['image']}|{r['caption']}", rec, stratum=rec[2])


def make(item: Item, answer: int, rng) -> Question | None:
    """BLINK asks the caption as a yes/no question with options in the order yes, no; the label fixes the letter."""
    path, subj, relation, obj, label, where = item.data
    if answer != (0 if label else 1):
        return None
    return Question(f"Is the {subj} {relation} the {obj}?", ["yes", "no"], [open_image(path, where)], answer)
