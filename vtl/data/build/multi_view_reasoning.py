"""Multi-view_Reasoning from Wild6D's posed test videos: two frames of one video, did the camera move left or right?

Wild6D's test set (github.com/OasisYang/Wild6D) holds RGB frames at `{category}/{video}/{seq}/images/{k}.jpg` (the
`-mask.png` and `-depth.png` files beside them are not used) and, per sequence, the object's pose in every frame in
`pkl_annotations/{category}/{category}-{video}-{seq}.pkl`: a pickled dict whose `annotations[k]` has `rotation`
(3×3) and `translation` (3), mapping object to camera coordinates (X_cam = R X_obj + t) for frame k. The source is
that test_set folder (or the Wild6D folder above it). The pickles are read with Python's pickle, as the authors'
evaluation code reads them: build only from a copy of the dataset you trust.

A question pairs frames i < j whose views of the object are MIN_ANGLE to MAX_ANGLE degrees apart around it and whose
camera moved mostly sideways: the camera centre (−Rᵀt in object coordinates) moved along the first frame's right
axis (the first row of R) means "right", against it "left", as BLINK words it ("clockwise (left) or
counter-clockwise (right) around the object"). Played backwards (frame j first) the same pair has the other answer,
so both letters come from every pair.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from vtl.data.build.core import BuildError, Item, Question, need, open_image

TASK = "Multi-view_Reasoning"
FORMAT = ("Wild6D test_set: {category}/{video}/{seq}/images/{k}.jpg and pkl_annotations/{category}/"
          "{category}-{video}-{seq}.pkl (annotations[k]: rotation, translation)")
QUESTION = ("The images are frames from a video. The video is shooting a static scene. The camera is either moving "
            "clockwise (left) or counter-clockwise (right) around the object. The first image is from the beginning "
            "of the video and the second image is from the end. Is the camera moving left or right when shooting "
            "the video?")
CHOICES = ["left", "right"]
MIN_ANGLE, MAX_ANGLE = 20.0, 90.0  # degrees between the two views of the object: clearly moved, still overlapping
MIN_SIDEWAYS = 0.5  # of the camera's displacement that lies along the first frame's right axis


def _root(source: Path) -> Path:
    for root in (source, source / "test_set"):
        if (root / "pkl_annotations").is_dir():
            return root
    raise BuildError(f"{source}: no pkl_annotations/ folder (in it or in test_set/); expected Wild6D's test set")


def _poses(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rotation, translation) of every frame of one sequence's annotation pickle."""
    try:
        with open(path, "rb") as fh:
            frames = pickle.load(fh)["annotations"]  # noqa: S301 (the dataset's own format)
        return [(np.asarray(f["rotation"], float).reshape(3, 3), np.asarray(f["translation"], float).reshape(3))
                for f in frames]
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise BuildError(f"{path}: expected a dict whose annotations[k] hold rotation (3x3) and translation (3) "
                         f"({exc!r})") from exc


def _frames(images: Path) -> dict[int, Path]:
    """Frame number -> RGB frame (`0007.jpg` is frame 7; masks and depth maps are left out)."""
    out = {}
    for p in images.glob("*.jpg"):
        if p.stem.isdigit():
            out[int(p.stem)] = p
    return out


def camera(rotation: np.ndarray, translation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The camera's centre and right axis in object coordinates."""
    return -rotation.T @ translation, rotation[0]


def motion(first: tuple[np.ndarray, np.ndarray], last: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """(degrees between the two views of the object, the signed share of the camera's move along the first frame's
    right axis: + right, − left) from two frames' poses."""
    c0, right = camera(*first)
    c1, _ = camera(*last)
    cos = float(c0 @ c1 / max(np.linalg.norm(c0) * np.linalg.norm(c1), 1e-12))
    moved = c1 - c0
    return float(np.degrees(np.arccos(np.clip(cos, -1, 1)))), float(moved @ right) / max(np.linalg.norm(moved), 1e-12)


def _next_pair(poses: list, frames: list[int], i: int) -> int | None:
    """The first frame after frames[i] that makes a question with it, before the views drift MAX_ANGLE apart."""
    for j in range(i + 1, len(frames)):
        angle, sideways = motion(poses[frames[i]], poses[frames[j]])
        if angle > MAX_ANGLE:
            return None
        if angle >= MIN_ANGLE and abs(sideways) >= MIN_SIDEWAYS:
            return j
    return None


def items(source: Path):
    root = _root(source)
    for ann in sorted((root / "pkl_annotations").glob("*/*.pkl")):
        category = ann.parent.name
        parts = ann.stem.split("-")
        if len(parts) < 3 or parts[0] != category:
            raise BuildError(f"{ann}: expected the name {category}-VIDEO-SEQ.pkl")
        video, seq = "-".join(parts[1:-1]), parts[-1]
        images = need(root / category / video / seq / "images", f"the frames of {ann.name}")
        frames, poses = _frames(images), _poses(ann)
        usable = sorted(k for k in frames if k < len(poses))
        i = 0
        while i < len(usable):  # a chain of pairs along the video: each pair starts where the last one ended
            j = _next_pair(poses, usable, i)
            if j is None:
                i += 1
                continue
            a, b = usable[i], usable[j]
            angle, sideways = motion(poses[a], poses[b])
            yield Item(f"{category}/{video}/{seq}:{a}-{b}", (frames[a], frames[b], angle, sideways, str(ann)),
                       stratum=category)
            i = j


def make(item: Item, answer: int, rng) -> Question:
    """The frames in video order when that order's direction is option `answer`, else played backwards."""
    first, last, angle, sideways, where = item.data
    truth = 1 if sideways > 0 else 0
    ims = [open_image(first, where), open_image(last, where)]
    if truth != answer:
        ims.reverse()
    shown = (first, last) if truth == answer else (last, first)
    return Question(QUESTION, list(CHOICES), ims, answer,
                    f"{shown[0].name} then {shown[1].name}: the camera moves {CHOICES[answer]} by {angle:.0f} "
                    "degrees around the object")
