"""`vtl vicl score`: PSNR, SSIM and VIEScore for images that already exist, and the authors' logs as vtl results.

Images are matched to tuples by id in the file name, which covers the layouts in use: vtl's own
`<id>__<arm>.png`, any `<id>.<ext>`, the T2T-VICL authors' Gemini outputs `<A_file>_<B_file>_<combo_id>.<ext>` and
their Seedream outputs `<combo_id>.png` and their single-task outputs `<file>_<sample_id>.<ext>` (their per-pair
folders `<A>__<B>/` and per-task folders are searched recursively). Nothing is generated. With
`save_as_ground_truth_format` an image whose format differs from its ground truth's is first encoded in the ground
truth's format (JPEG at Pillow's default quality for a .jpg ground truth), as the authors' code does before it
measures PSNR.

Records go to OUT/results.jsonl in `vtl vicl infer`'s format (one per tuple and arm, status "ok" or "missing"),
so `vtl vicl report OUT` compares arms scored here. Run once per arm (e.g. the fixed-prompt images as
--arm baseline, the described ones as --arm ours). A rerun skips (tuple, arm) pairs already recorded.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from jsonargparse.typing import PositiveInt
from PIL import Image

from vtl.errors import VtlError
from vtl.records import JsonlAppender, iter_jsonl
from vtl.vicl.scoring.judge import JudgeBackend
from vtl.vicl.scoring.results import RESULTS_FILE, item_key

log = logging.getLogger("vtl.vicl")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
JPEG_SUFFIXES = (".jpg", ".jpeg")


class ScoreError(VtlError, ValueError):
    pass


@dataclass
class SingleItem:
    """A single-task row of `single.jsonl` (the authors' eval_dataset_1.json): an input and its ground truth."""

    id: str
    task_a: str
    task_b: str
    pair: str
    b_in: Path
    b_out: Path

    def path(self, key: str) -> Path:
        if key not in ("b_in", "b_out"):
            raise KeyError(key)
        return getattr(self, key)


def load_items(tuples: str | Path, split: str | None, pairs: list[str] | None) -> list:
    """Tuples of a tuples.jsonl (or its directory), or the single-task rows of a `single.jsonl` file."""
    from vtl.vicl.lowlevel.pairs import load_tuples
    from vtl.vicl.lowlevel.tasks import pair_label, parse_pair

    path = Path(tuples)
    if path.name != "single.jsonl":
        return load_tuples(path, split=split, pairs=pairs)
    from vtl.vicl.authors.release import load_single

    wanted = {pair_label(*parse_pair(p)) for p in pairs} if pairs else None
    items = []
    for row in load_single(path):
        pair = pair_label(row["task"], row["task"])
        if (split and row.get("split") != split) or (wanted and pair not in wanted):
            continue
        items.append(SingleItem(row["id"], row["task"], row["task"], pair, Path(row["input"]), Path(row["output"])))
    return items


def _paths(t) -> dict[str, str]:
    out = {}
    for key in ("a_in", "a_out", "b_in", "b_out"):
        try:
            out[key] = str(t.path(key))
        except KeyError:
            continue
    return out


def _id_keys(stem: str, arm: str) -> list[str]:
    """The ids a file stem may be named for: the stem, the part after its last "_", or `<id>` of `<id>__<arm>`."""
    keys = [stem, stem.rsplit("_", 1)[-1]]
    head, sep, tail = stem.partition("__")
    if sep and tail == arm:
        keys.append(head)
    return keys


def find_images(root: str | Path, ids: set[str], arm: str = "ours") -> dict[str, Path]:
    """tuple id -> the one image under `root` (recursively) named for it; two files for one id is an error."""
    root = Path(root)
    if not root.is_dir():
        raise ScoreError(f"--images {root} is not a directory")
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        for key in dict.fromkeys(_id_keys(path.stem, arm)):
            if key not in ids:
                continue
            if key in found and found[key] != path:
                raise ScoreError(f"two images under {root} are named for tuple {key}: {found[key]} and {path}; "
                                 "point --images at one run's folder")
            found[key] = path
    return found


def load_as_ground_truth_format(path: Path, ground_truth: Path) -> tuple[np.ndarray, str | None]:
    """The image at `path` as uint8 RGB, re-encoded in the ground truth's format when the two differ;
    (pixels, the format it was re-encoded to or None)."""
    with Image.open(path) as im:
        rgb = im.convert("RGB")
    src, dst = path.suffix.lower(), ground_truth.suffix.lower()
    same = src == dst or (src in JPEG_SUFFIXES and dst in JPEG_SUFFIXES)
    if same:
        return np.asarray(rgb), None
    fmt = Image.registered_extensions().get(dst)
    if fmt is None:
        raise ScoreError(f"cannot encode {path} as the ground truth's format {dst!r} ({ground_truth})")
    buf = io.BytesIO()
    rgb.save(buf, format=fmt)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB")), fmt


def _load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def score_record(t, arm: str, image_path: Path | None, generator: str, scorer, save_as_gt: bool) -> dict[str, Any]:
    """The results.jsonl record of one (tuple, arm) for an existing image (None: no image found)."""
    from vtl.vicl.lowlevel.metrics import psnr, ssim

    record: dict[str, Any] = {
        "key": item_key(t.id, arm), "tuple_id": t.id, "arm": arm, "pair": t.pair, "task_a": t.task_a,
        "task_b": t.task_b, "generator": generator, "k": None, "description": None, "source": "score",
        "psnr": None, "ssim": None, "viescore": None, "output": None,
        "images": _paths(t),
    }
    if image_path is None:
        record.update(status="missing", failures=[{"i": 0, "kind": "missing", "detail": "no image for this id"}])
        return record
    gt_path = Path(t.b_out)
    candidate, reencoded = (load_as_ground_truth_format(image_path, gt_path) if save_as_gt
                            else (_load_rgb(image_path), None))
    gt = _load_rgb(gt_path)
    record.update(status="ok", output=str(image_path), saved_as=reencoded,
                  psnr=psnr(candidate, gt), ssim=ssim(candidate, gt))
    if scorer is not None:
        if isinstance(t, SingleItem):  # no example: the paper variant judges B_in -> output alone
            images = [_load_rgb(t.b_in)] * 3
        else:
            images = [_load_rgb(Path(t.path(k))) for k in ("a_in", "a_out", "b_in")]
        record["viescore"] = scorer.score_tuple(t.task_a, t.task_b, images, candidate).to_dict()
    return record


def score(
    *,
    tuples: str,
    out: str,
    images: str | None = None,
    authors_logs: str | None = None,
    arm: Literal["baseline", "ours", "teacher"] = "ours",
    generator: str = "given-images",
    split: Literal["train", "eval"] | None = "eval",
    pairs: list[str] | None = None,
    save_as_ground_truth_format: bool = False,
    judge: JudgeBackend | None = None,
    judge_max_attempts: PositiveInt = 3,
    viescore: Literal["paper", "authors-code"] = "paper",
    judge_prompts: dict[str, str] | None = None,
) -> int:
    """Score images that already exist (or import the authors' evaluation logs) as vtl results, no generation.

    Args:
        tuples: A tuples.jsonl (or its directory), e.g. from `vtl vicl import`, or its single.jsonl (single-task
            rows, the authors' `<task>/<file>_<sample_id>.<ext>` outputs); ids name the images.
        out: Run directory; records are appended to OUT/results.jsonl (`vtl vicl report OUT` reads it).
        images: Directory of images named by tuple id (vtl's, or the authors' output folder with its
            `<A>__<B>/` subfolders and file-name patterns). Give this or `authors_logs`.
        authors_logs: An authors' run folder holding `<A>__<B>/evaluation_log.jsonl`; its rows become records
            as they are (their PSNR/SSIM/VIEScore, variant authors-code). Give this or `images`.
        arm: The arm these images are: "baseline" (fixed prompt), "ours" (described) or "teacher".
        generator: Name recorded as each record's generator (e.g. "gemini-2.5-flash-image", "seedream-4.0").
        split: Only tuples of this split (null: all).
        pairs: Only these ordered pairs ("Deblur→Dehaze"); null: all in the file.
        save_as_ground_truth_format: Encode each image in its ground truth's format (JPEG for .jpg) before
            measuring, as the authors' code saves Gemini candidates.
        judge: The VIEScore judge: class_path (a subclass of vtl.vicl.scoring.judge.JudgeBackend) and init_args, e.g.
            vtl.vicl.scoring.judge.GeminiJudge with model and temperature; null: no VIEScore.
        judge_max_attempts: Judge calls per prompt before an item's VIEScore counts as failed.
        viescore: VIEScore variant: "paper" (min/min/sqrt(SC*PQ)) or "authors-code" ((SC+PQ)/2, failure = 0).
        judge_prompts: Replacement judge prompts, each a file or inline text: {sc, pq} for paper, {judge} for
            authors-code.

    Returns:
        0 on success.
    """
    from vtl.vicl.scoring.viescore import make_scorer

    if (images is None) == (authors_logs is None):
        raise ScoreError("give exactly one of --images (a directory of images) or --authors_logs (their run folder)")
    out = Path(out)
    results = out / RESULTS_FILE
    done = {r.get("key") for r in iter_jsonl(results)} if results.is_file() else set()
    chosen = [t for t in load_items(tuples, split, pairs) if item_key(t.id, arm) not in done]
    if judge is not None and viescore == "authors-code" and any(isinstance(t, SingleItem) for t in chosen):
        raise ScoreError("single-task rows have no example for the authors-code judge: use --viescore paper")
    if authors_logs is not None:
        n = _import_logs(Path(authors_logs), {t.id: t for t in chosen}, results, arm, generator)
        print(f"imported {n} rows of {authors_logs} as arm {arm} into {results}; next: vtl vicl report {out}")
        return 0
    found = find_images(images, {t.id for t in chosen}, arm)
    scorer = make_scorer(judge, judge_max_attempts, viescore, judge_prompts)
    n_ok = 0
    with JsonlAppender(results) as sink:
        for t in chosen:
            record = score_record(t, arm, found.get(t.id), generator, scorer, save_as_ground_truth_format)
            n_ok += record["status"] == "ok"
            sink.append(record)
    print(f"scored {n_ok} of {len(chosen)} tuples (arm {arm}; {len(chosen) - n_ok} without an image) into {results}; "
          f"next: vtl vicl report {out}")
    return 0


def _import_logs(run: Path, tuples: dict[str, Any], results: Path, arm: str, generator: str) -> int:
    """Append the authors' evaluation-log rows of the tuples in `tuples` as vtl records; rows imported."""
    from vtl.vicl.authors.release import read_evaluation_logs

    rows: dict[str, dict[str, Any]] = {}
    for log_path, row in read_evaluation_logs(run):
        rid = row.get("combo_id", row.get("sample_id"))
        if not isinstance(rid, str):
            raise ScoreError(f"{log_path}: a row has no combo_id/sample_id: {sorted(row)}")
        if rid in tuples:
            rows[rid] = {**row, "_log": str(log_path)}  # a resumed log may hold an id twice: the last row wins
    with JsonlAppender(results) as sink:
        for rid, row in rows.items():
            t = tuples[rid]
            value = row.get("viescore")
            vs = None if value is None else {
                "ok": bool(value), "variant": "authors-code", "score": float(value), "O_mean": float(value) or None,
                "judge": "authors-log", "error": None if value else "0 in the authors' log (failed judgement)",
            }
            ok = row.get("psnr") is not None
            sink.append({
                "key": item_key(rid, arm), "tuple_id": rid, "arm": arm, "pair": t.pair, "task_a": t.task_a,
                "task_b": t.task_b, "generator": generator, "k": None, "description": None,
                "source": f"authors-log:{row['_log']}", "status": "ok" if ok else "failed",
                "psnr": row.get("psnr"), "ssim": row.get("ssim"), "viescore": vs, "output": row.get("final_image"),
            })
    missing = len(tuples) - len(rows)
    if missing:
        log.warning("%d of %d tuples have no row in %s", missing, len(tuples), run)
    return len(rows)


score.keeps_specs = True  # `vtl` hands the judge over as a class_path spec; it is built only when there is work
