"""Counting from TallyQA: `train.json` (a JSON list of {image, question, answer, question_id, ...}); image paths
are relative to the source folder (`VG_100K/2.jpg`, `train2014/COCO_train2014_....jpg`)."""

from __future__ import annotations

import json
from pathlib import Path

from vtl.data.build.core import BuildError, Item, Question, need, open_image

TASK = "Counting"
FORMAT = "TallyQA train.json: list of {image, question, answer (int), question_id}; images under the source folder"


def items(source: Path):
    ann = need(source / "train.json", "TallyQA's train.json (a JSON list of question records)")
    try:
        records = json.loads(ann.read_text())
    except json.JSONDecodeError as exc:
        raise BuildError(f"{ann}: not JSON ({exc})") from exc
    for n, r in enumerate(records):
        where = f"{ann} record {n}"
        try:
            answer = int(r["answer"])
            qid, question, image = r.get("question_id", n), str(r["question"]), str(r["image"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BuildError(f"{where}: needs image, question and an integer answer ({exc!r})") from exc
        if answer < 0:
            raise BuildError(f"{where}: answer {answer} is negative")
        yield Item(str(qid), (source / image, question, answer, where), stratum=str(min(answer, 4)))


def make(item: Item, answer: int, rng) -> Question | None:
    """Four consecutive counts with the true one at position `answer` (BLINK lists counts in increasing order)."""
    path, question, count, where = item.data
    start = count - answer
    if start < 0:
        return None
    return Question(question, [str(start + k) for k in range(4)], [open_image(path, where)], answer)
