"""Object_Localization from COCO- or LVIS-format instance boxes: `annotations/*.json` ({images, annotations,
categories}, bbox = [x, y, w, h]) with the images in the folder named by the json (`train2017/`)."""

from __future__ import annotations

import json
from pathlib import Path

from vtl.data.build.core import BuildError, Item, Question, open_image
from vtl.data.build.draw import draw_box, mark_points

TASK = "Object_Localization"
FORMAT = "COCO/LVIS instances json: images[{id, file_name|coco_url}], annotations[{image_id, bbox, category_id}]"
QUESTION = ("A bounding box is an annotated rectangle surrounding an object. The edges of bounding boxes should "
            "touch the outermost pixels of the object that is being labeled. Given the two bounding boxes on the "
            "image, labeled by A and B, which bounding box more accurately localizes and encloses the {name}?")
MIN_SIDE = 0.1  # of the image side: smaller objects give boxes too small to judge


def items(source: Path):
    anns = sorted((source / "annotations").glob("*.json"))
    if not anns:
        raise BuildError(f"{source}/annotations: no *.json; expected COCO/LVIS instance annotations")
    for ann in anns:
        data = json.loads(ann.read_text())
        try:
            names = {c["id"]: c["name"] for c in data["categories"]}
            images = {im["id"]: im for im in data["images"]}
        except (KeyError, TypeError) as exc:
            raise BuildError(f"{ann}: needs images and categories lists ({exc!r})") from exc
        folder = source / ann.stem.split("_")[-1]  # instances_train2017 -> train2017, lvis_v1_train -> train
        for n, a in enumerate(data.get("annotations", [])):
            where = f"{ann} annotation {n}"
            if a.get("iscrowd"):
                continue
            im = images.get(a.get("image_id"))
            if im is None or a.get("category_id") not in names:
                raise BuildError(f"{where}: image_id/category_id names no entry of images/categories")
            x, y, w, h = (float(v) for v in a["bbox"])
            if w < MIN_SIDE * im["width"] or h < MIN_SIDE * im["height"]:
                continue
            file = im.get("file_name") or "/".join(im["coco_url"].split("/")[-1:])
            yield Item(f"{ann.name}:{a.get('id', n)}", (folder / file, (x, y, x + w, y + h), names[a["category_id"]],
                                                        where), stratum=names[a["category_id"]])


def perturb(box, size, rng):
    """A box of the object that is clearly off (IoU about 0.3-0.5): shifted by a fraction of its size and rescaled."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    dx, dy = rng.choice([-1, 1], 2) * rng.uniform(0.3, 0.45, 2) * (w, h)
    s = rng.uniform(0.8, 1.2)
    cx, cy = (x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy
    W, H = size
    return (max(0, cx - s * w / 2), max(0, cy - s * h / 2), min(W - 1, cx + s * w / 2), min(H - 1, cy + s * h / 2))


def make(item: Item, answer: int, rng) -> Question:
    path, box, name, where = item.data
    im = open_image(path, where)
    if box[2] > im.width + 1 or box[3] > im.height + 1:
        raise BuildError(f"{where}: bbox {box} reaches outside the {im.width}x{im.height} image")
    boxes = [box, perturb(box, im.size, rng)]
    if answer == 1:
        boxes.reverse()
    for b in boxes:
        im = draw_box(im, b)
    im = mark_points(im, {label: (b[0] + 1, b[1] + 1) for label, b in zip("AB", boxes)})
    return Question(QUESTION.format(name=name), ["Box A", "Box B"], [im], answer)
