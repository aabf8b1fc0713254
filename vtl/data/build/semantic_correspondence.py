"""Semantic_Correspondence from SPair-71k: `PairAnnotation/trn/{pair}.json` ({src_imname, trg_imname, category,
src_kps, trg_kps: [[x, y], ...] in matching order}) with images in `JPEGImages/{category}/`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vtl.data.build.core import BuildError, Item, candidates_question, check_point, need, open_image

TASK = "Semantic_Correspondence"
FORMAT = "SPair-71k PairAnnotation/trn/*.json (src_imname, trg_imname, category, src_kps, trg_kps); JPEGImages/"
QUESTION = ("Humans can find corresponding points for different objects in the same category. For instance, if "
            "there are images of two different cats, then the left ear tip of one cat corresponds to the left ear "
            "tip of the other cat, and the right front paw of one cat corresponds to the right front paw of the "
            "other cat. Given the following two images, a reference point is annotated on the first image, labeled "
            "with REF. You are given multiple red-circled points on the second image, choices of \"A, B, C, D\" are "
            "drawn beside each circle. Which point on the second image corresponds to the reference point?")
MIN_GAP = 0.05  # of the image side


def items(source: Path):
    folder = need(source / "PairAnnotation" / "trn", "SPair-71k's PairAnnotation/trn/ folder")
    for ann in sorted(folder.glob("*.json")):
        try:
            a = json.loads(ann.read_text())
            cat = a["category"]
            src_kps, trg_kps = np.asarray(a["src_kps"], float), np.asarray(a["trg_kps"], float)
            paths = (source / "JPEGImages" / cat / a["src_imname"], source / "JPEGImages" / cat / a["trg_imname"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise BuildError(f"{ann}: needs category, src/trg_imname and src/trg_kps ({exc!r})") from exc
        if src_kps.shape != trg_kps.shape or src_kps.ndim != 2 or len(src_kps) < 4:
            continue  # fewer than four shared keypoints: no three distractors
        for k in range(len(src_kps)):
            yield Item(f"{ann.stem}:{k}", (paths, src_kps, trg_kps, k, str(ann)), stratum=cat)


def make(item: Item, answer: int, rng):
    """REF at source keypoint k; the options are target keypoint k and three other target keypoints."""
    (src_path, trg_path), src_kps, trg_kps, k, where = item.data
    src, trg = open_image(src_path, where), open_image(trg_path, where)
    check_point(*src_kps[k], src, where)
    for xy in trg_kps:
        check_point(*xy, trg, where)
    gap = MIN_GAP * max(trg.size)  # a distractor on top of the match would be a second right answer
    others = [j for j in rng.permutation(len(trg_kps)) if np.linalg.norm(trg_kps[j] - trg_kps[k]) > gap][:3]
    if len(others) < 3:
        return None
    return candidates_question(QUESTION, src, tuple(src_kps[k]), trg, tuple(trg_kps[k]),
                               [tuple(trg_kps[j]) for j in others], answer)
