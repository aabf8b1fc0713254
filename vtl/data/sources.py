"""Training and evaluation sources of a transfer run: loading per task, the overlap check, the eval fingerprint.

The paper's protocol trains each source task on data rebuilt from BLINK's original datasets (one JSONL/parquet per
task if need be) and evaluates on the whole BLINK val split of every target. Training and evaluation rows must not
share an `idx` or an image (same stored bytes): rebuilding training data from BLINK's own source datasets can easily
bring val images into train, and the transfer numbers would then measure memory, not transfer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vtl.data.sample import BlinkSample
from vtl.data.validate import DataError, pixel_sha256
from vtl.tasks import UnknownTaskError, canonical

BLINK_HUB = "BLINK-Benchmark/BLINK"
_LISTED = 5  # overlapping rows named in the error before "... and N more"


def load_tasks(
    source: str | Mapping[str, str], tasks: list[str], split: str, *, skip_bad: bool = False, flag: str,
    allow_outside_paths: bool = False,
) -> dict[str, list[BlinkSample]]:
    """{task: rows} for `tasks`, from one source for all, or from a {task: source} mapping (`flag` names the option).

    Tasks sharing a source are read in one pass.
    """
    from vtl.data.loaders import load_source, resolve_source

    if isinstance(source, str):
        per_task = dict.fromkeys(tasks, source)
    else:
        per_task = {}
        for name, src in source.items():
            try:
                per_task[canonical(name)] = str(src)
            except UnknownTaskError as err:
                raise UnknownTaskError(f"{flag}: key {name!r}: {err}") from None
        missing = [t for t in tasks if t not in per_task]
        if missing:
            raise DataError(flag, None, None, f"no source for task(s) {', '.join(missing)}",
                            "map every training task to a JSONL/parquet file, directory or hub id")
    by_source: dict[str, list[str]] = {}
    for task in tasks:
        by_source.setdefault(per_task[task], []).append(task)
    out: dict[str, list[BlinkSample]] = {}
    for src, names in by_source.items():
        loaded = load_source(resolve_source(src), tasks=names, split=split, skip_bad=skip_bad,
                             allow_outside_paths=allow_outside_paths)
        for name in names:
            rows = loaded.get(name) or []
            if not rows:
                raise DataError(src, None, None, f"no rows for task {name} in split {split!r}", f"check {flag}")
            out[name] = rows
    return {t: out[t] for t in tasks}


def image_digests(sample: BlinkSample) -> tuple[str, ...]:
    """sha256 per image: of its stored bytes when the loader kept them, else of its pixels (none for a video)."""
    stored = getattr(sample, "image_sha256", ())
    if len(stored) == len(sample.images):
        return tuple(stored)
    return tuple(pixel_sha256(image) for image in sample.images)


@dataclass(frozen=True)
class Overlap:
    train: BlinkSample
    eval: BlinkSample
    reason: str  # "same idx" or "same bytes in image_1 / image_2"

    def __str__(self) -> str:
        return (f"train row {self.train.idx!r} ({self.train.origin}) and eval row {self.eval.idx!r} "
                f"({self.eval.origin}): {self.reason}")


def find_overlaps(train: Iterable[BlinkSample], evaluation: Iterable[BlinkSample]) -> list[Overlap]:
    """Every (train, eval) pair of rows sharing an idx or an image, in training-row order."""
    by_idx: dict[str, BlinkSample] = {}
    by_image: dict[str, tuple[BlinkSample, int]] = {}
    for row in evaluation:
        by_idx.setdefault(row.idx, row)
        for i, digest in enumerate(image_digests(row)):
            by_image.setdefault(digest, (row, i))
    found = []
    for row in train:
        if row.idx in by_idx:
            found.append(Overlap(row, by_idx[row.idx], "same idx"))
            continue
        for i, digest in enumerate(image_digests(row)):
            if digest in by_image:
                other, j = by_image[digest]
                found.append(Overlap(row, other, f"same bytes in image_{i + 1} / image_{j + 1}"))
                break
    return found


class LeakError(DataError):
    """Training and evaluation rows overlap (same idx or same image bytes)."""


def check_disjoint(train: Iterable[BlinkSample], evaluation: Iterable[BlinkSample], *, flags: str) -> None:
    """Raise LeakError naming the overlapping rows (the first few, and how many in all)."""
    overlaps = find_overlaps(train, evaluation)
    if not overlaps:
        return
    raise LeakError(flags, None, None, f"{len(overlaps)} training row(s) overlap the evaluation rows: "
                    f"{listed(overlaps)}", "remove them from the training source")


def listed(items: list) -> str:
    """The first few items, and how many more."""
    more = f"; ... and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
    return "; ".join(str(o) for o in items[:_LISTED]) + more


def eval_fingerprint(eval_samples: Mapping[str, list[BlinkSample]]) -> dict[str, str]:
    """{task: digest} of exactly the rows evaluated: idx, prompt, choices, answer and image bytes (a video row: its
    video's path), in order.

    Independent of where the rows were read from and of the training source, so every run of a grid with the same
    evaluation rows shares one zero-shot baseline.
    """
    out = {}
    for task, rows in eval_samples.items():
        h = hashlib.sha256()
        for s in rows:
            h.update("\x1f".join([s.idx, s.prompt, s.question, "\x1e".join(s.choices), s.answer,
                                  getattr(s, "video", ""), *image_digests(s)]).encode())
            h.update(b"\n")
        out[task] = h.hexdigest()[:16]
    return out
