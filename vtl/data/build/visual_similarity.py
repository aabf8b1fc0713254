"""Visual_Similarity from NIGHTS: `data.csv` (id, ref_path, left_path, right_path, left_vote, right_vote, prompt,
split, ...) with image paths relative to the NIGHTS folder (`ref/000/002.png`, `distort/000/002_0.png`)."""

from __future__ import annotations

import csv
from pathlib import Path

from vtl.data.build.core import BuildError, Item, Question, need, open_image

TASK = "Visual_Similarity"
FORMAT = "NIGHTS data.csv: id, ref_path, left_path, right_path, left_vote, right_vote, prompt, split"
QUESTION = ("Given three similar but different images, take the first image as reference. Can you tell which one "
            "of the latter two images is most similar to the first one?")
COLUMNS = ("id", "ref_path", "left_path", "right_path", "left_vote", "right_vote", "split")


def items(source: Path):
    ann = need(source / "data.csv", "NIGHTS' data.csv")
    with ann.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise BuildError(f"{ann}: missing column(s) {', '.join(missing)}; expected NIGHTS' data.csv")
        for n, r in enumerate(reader, start=2):
            where = f"{ann} row {n}"
            if r["split"] == "test":  # NIGHTS' test split is held out, as BLINK drew its questions from it
                continue
            try:
                left, right = float(r["left_vote"]), float(r["right_vote"])
            except ValueError as exc:
                raise BuildError(f"{where}: left_vote/right_vote must be numbers ({exc})") from exc
            if left == right:  # humans split evenly: no right answer
                continue
            paths = tuple(source / r[k] for k in ("ref_path", "left_path", "right_path"))
            yield Item(str(r["id"]), (paths, left > right, where), stratum=r.get("prompt", "")[:40])


def make(item: Item, answer: int, rng) -> Question:
    """The reference, then the distortion most voters chose and the other, the chosen one at `answer`."""
    (ref, left, right), left_wins, where = item.data
    better, worse = (left, right) if left_wins else (right, left)
    pair = [better, worse] if answer == 0 else [worse, better]
    return Question(QUESTION, ["The second image", "The third image"], [open_image(p, where) for p in (ref, *pair)], answer)
