"""Relative_Reflectance from Intrinsic Images in the Wild (IIW): `data/{photo}.png` beside `data/{photo}.json`
holding `intrinsic_points` ({id, x, y} in 0..1 of the width/height) and `intrinsic_comparisons` ({point1, point2,
darker: "1", "2" or "E", darker_score})."""

from __future__ import annotations

import json
from pathlib import Path

from vtl.data.build.core import BuildError, Item, Question, check_point, open_image, where_drawn
from vtl.data.build.draw import mark_points

TASK = "Relative_Reflectance"
FORMAT = "IIW data/{photo}.png + data/{photo}.json (intrinsic_points, intrinsic_comparisons with darker 1/2/E)"
QUESTION = ("Two points are circled on the image, labeled by A and B beside each circle. Which point has darker "
            "surface color, or the colors is about the same?")
CHOICES = ["A is darker", "B is darker", "About the same"]
MIN_SCORE = 0.5  # IIW's darker_score is the annotators' confidence; weaker judgements are left out


def items(source: Path):
    folder = source / "data" if (source / "data").is_dir() else source
    anns = sorted(folder.glob("*.json"))
    if not anns:
        raise BuildError(f"{folder}: no IIW {{photo}}.json annotation files")
    for ann in anns:
        try:
            data = json.loads(ann.read_text())
            points = {p["id"]: (float(p["x"]), float(p["y"])) for p in data["intrinsic_points"]}
            comparisons = data["intrinsic_comparisons"]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise BuildError(f"{ann}: needs intrinsic_points [{{id, x, y}}] and intrinsic_comparisons ({exc!r})") from exc
        for n, c in enumerate(comparisons):
            where = f"{ann} comparison {n}"
            if c.get("darker") not in ("1", "2", "E"):
                raise BuildError(f"{where}: darker {c.get('darker')!r} is not '1', '2' or 'E'")
            if float(c.get("darker_score") or 0) < MIN_SCORE:
                continue
            if c["point1"] not in points or c["point2"] not in points:
                raise BuildError(f"{where}: point1/point2 name no entry of intrinsic_points")
            yield Item(f"{ann.stem}:{c.get('id', n)}", (ann.with_suffix(".png"), points[c["point1"]],
                                                        points[c["point2"]], c["darker"], where), stratum=c["darker"])


def make(item: Item, answer: int, rng) -> Question | None:
    """Equal reflectance is option C; otherwise the darker point is labelled A or B as `answer` asks."""
    path, p1, p2, darker, where = item.data
    if (darker == "E") != (answer == 2):
        return None
    im = open_image(path, where)
    xy1, xy2 = ((x * im.width, y * im.height) for x, y in (p1, p2))
    for xy in (xy1, xy2):
        check_point(*xy, im, where)
    first_darker = darker in ("1", "E")
    a, b = (xy1, xy2) if (answer == 0) == first_darker else (xy2, xy1)
    points = {"A": a, "B": b}
    return Question(QUESTION, CHOICES, [mark_points(im, points)], answer, where_drawn(points))
