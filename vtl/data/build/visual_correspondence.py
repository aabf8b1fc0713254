"""Visual_Correspondence from HPatches: `{sequence}/1.ppm ... 6.ppm` with `H_1_k`, the 3x3 homography taking
image 1's pixels to image k's (`i_*` sequences change lighting, `v_*` viewpoint)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vtl.data.build.core import BuildError, Item, candidates_question, open_image

TASK = "Visual_Correspondence"
FORMAT = "HPatches sequences: {seq}/1.ppm..6.ppm and H_1_2..H_1_6 (3x3 homography, whitespace-separated)"
QUESTION = ("A point is circled on the first image, labeled with REF. We change the camera position or lighting "
            "and shoot the second image. You are given multiple red-circled points on the second image, choices "
            "of \"A, B, C, D\" are drawn beside each circle. Which point on the second image corresponds to the "
            "point in the first image?")
MARGIN, MIN_GAP = 0.1, 0.15  # of the image side: points away from the border, distractors away from the match


def items(source: Path):
    seqs = sorted(d for d in source.iterdir() if d.is_dir() and (d / "1.ppm").exists())
    if not seqs:
        raise BuildError(f"{source}: no HPatches sequence folders ({{seq}}/1.ppm, H_1_2, ...)")
    for seq in seqs:
        for k in range(2, 7):
            h_file = seq / f"H_1_{k}"
            if not (seq / f"{k}.ppm").exists():
                continue
            try:
                H = np.loadtxt(h_file).reshape(3, 3)
            except (OSError, ValueError) as exc:
                raise BuildError(f"{h_file}: expected a 3x3 homography ({exc})") from exc
            yield Item(f"{seq.name}/{k}", (seq / "1.ppm", seq / f"{k}.ppm", H), stratum=seq.name[:2])


def make(item: Item, answer: int, rng):
    src_path, dst_path, H = item.data
    src, dst = open_image(src_path, str(src_path)), open_image(dst_path, str(dst_path))
    lo = MARGIN * np.array(dst.size)
    for _ in range(50):  # a point of image 1 whose match lands well inside image k
        p = rng.uniform(MARGIN, 1 - MARGIN, 2) * src.size
        q = H @ np.array([*p, 1.0])
        q = q[:2] / q[2]
        if (q > lo).all() and (q < np.array(dst.size) - lo).all():
            break
    else:
        return None
    distractors = []
    while len(distractors) < 3:
        d = rng.uniform(MARGIN, 1 - MARGIN, 2) * dst.size
        if all(np.linalg.norm(d - o) > MIN_GAP * max(dst.size) for o in [q, *distractors]):
            distractors.append(d)
    return candidates_question(QUESTION, src, tuple(p), dst, tuple(q), [tuple(d) for d in distractors], answer)
