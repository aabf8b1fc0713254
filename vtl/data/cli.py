"""`vtl data synth` writes the synthetic suite; `vtl data check` validates a source and prints its counts."""

from __future__ import annotations

import sys
from pathlib import Path

from vtl.errors import VtlError


def synth(*, out: Path, n_per_task: int = 48, seed: int = 0, image_size: int = 64, video: bool = False) -> int:
    """Write a synthetic suite: the 13 BLINK-format tasks (parquet, split val), or VSI-Bench clips with --video.

    With --video: test.parquet in VSI-Bench's columns and one mp4 per question, every task family.

    Args:
        out: Output directory ({out}/{Task}/val-00000-of-00001.parquet; with --video {out}/test.parquet, synth/*.mp4).
        n_per_task: Rows per task (per VSI-Bench question type with --video).
        seed: Random seed; same seed, same rows.
        image_size: Image (or video frame) side in pixels, at least 32.
        video: Write the synthetic video suite instead of the image suite.
    """
    from vtl.data.synth import write_suite
    from vtl.tasks import TRANSFER_TASKS

    if video:
        from vtl.data.synth_video import FAMILIES, write_video_suite

        path = write_video_suite(out, n_per_task=n_per_task, seed=seed, size=image_size)
        print(f"wrote {len(FAMILIES)} video question types x {n_per_task} clips ({image_size}px, seed {seed}) "
              f"to {path}")
        return 0

    try:
        path = write_suite(out, n_per_task=n_per_task, seed=seed, image_size=image_size)
    except ValueError as exc:
        raise VtlError(str(exc)) from exc
    print(f"wrote {len(TRANSFER_TASKS)} tasks x {n_per_task} rows ({image_size}px, seed {seed}) to {path}")
    return 0


def check(source: str, *, tasks: list[str] | None = None, split: str = "val") -> int:
    """Validate a BLINK-format source; exit 2 with row-level errors if bad.

    Args:
        source: Hub id (owner/name), parquet directory, .jsonl/.parquet file or vtl://synth.
        tasks: Task names or abbreviations (comma- or space-separated), or all; default: the 13.
        split: Split to read: val or test.
    """
    from vtl.data.check import check_source

    joined = None if tasks is None else ",".join(tasks)  # resolve_tasks reads commas and "all"
    try:
        report = check_source(source, tasks=joined, split=split)
    except ValueError as exc:  # an unknown --tasks name
        raise VtlError(str(exc)) from exc
    if report.counts:
        print(report.table())
    if report.missing:
        print(f"not in {source} (not checked): {', '.join(report.missing)}")
    if report.ok:
        print(f"ok: {source} ({split})")
        return 0
    print(f"{len(report.errors)} error(s) in {source}:", file=sys.stderr)
    for err in report.errors:
        print(f"  {err}", file=sys.stderr)
    return 2
