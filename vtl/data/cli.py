"""`vtl data synth` writes the synthetic suite; `vtl data check` validates a source and prints its counts;
`vtl data build` writes a training set from a task's source dataset."""

from __future__ import annotations

import sys
from pathlib import Path

from jsonargparse.typing import NonNegativeInt, PositiveInt

from vtl.errors import VtlError, make_output_dir


def synth(*, out: Path, n_per_task: PositiveInt = 48, seed: int = 0, image_size: PositiveInt = 64,
          video: bool = False) -> int:
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

    make_output_dir(out, "--out")
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


def build(
    task: str, *, source: Path | None = None, out: Path = Path("data/train"), seed: int = 0,
    max_rows: PositiveInt | None = None, val_fraction: float = 0.0, preview: NonNegativeInt = 0,
    exclude: str | None = None,
) -> int:
    """Build a BLINK-format training set for TASK from its source dataset, read in that dataset's own layout.

    Writes {out}/{Task}.jsonl (and {Task}.val.jsonl with --val_fraction), images once under {out}/images_{Task}/,
    and {out}/build.json. Rerunning appends only the rows not yet written. See docs/data_build.md for each source.

    Args:
        task: Task name or abbreviation (Counting, CT, ...), or a YAML plan `Task: {source: PATH, max_rows: N, ...}`
            building several tasks (the flags give the defaults).
        source: Folder of the unpacked source dataset.
        out: Output folder.
        seed: Random seed; same seed and source, same rows.
        max_rows: Most questions for the task (after letter balancing).
        val_fraction: Share held out as {Task}.val.jsonl, stratified by the source's label and the answer letter.
        preview: Write {out}/preview_{Task}.png showing this many built questions.
        exclude: An evaluation source (e.g. BLINK-Benchmark/BLINK): drop and count questions with an image that
            near-duplicates one of its val images.
    """
    import yaml

    from vtl.data.build.run import build_task
    from vtl.tasks import canonical

    jobs = {}
    plan = task if task.endswith((".yaml", ".yml")) else None
    if plan is not None:
        try:
            jobs = yaml.safe_load(Path(plan).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise VtlError(f"{plan}: {exc}") from exc
        if not isinstance(jobs, dict) or not all(isinstance(v, dict) and "source" in v for v in jobs.values()):
            raise VtlError(f"{plan}: expected a mapping task -> {{source: PATH, max_rows: N, ...}}")
    else:
        if source is None:
            raise VtlError("vtl data build TASK needs --source PATH (the unpacked source dataset)")
        jobs[task] = {"source": source}
    defaults = {"seed": seed, "max_rows": max_rows, "val_fraction": val_fraction, "preview": preview,
                "exclude": exclude}
    for name, job in jobs.items():
        unknown = set(job) - set(defaults) - {"source", "out"}
        if unknown:
            raise VtlError(f"{plan}: {name}: unknown key(s) {', '.join(sorted(unknown))}; use source, out, "
                           f"{', '.join(defaults)}")
        job = {**defaults, **job}
        job_out = Path(job.pop("out", out))
        entry = build_task(name, Path(job.pop("source")), job_out, **job)
        letters = " ".join(f"{k}={v}" for k, v in entry["letters"].items())
        print(f"{canonical(name)}: {entry['rows']['train']} train + {entry['rows']['val']} val rows, letters {letters}, "
              f"{entry['passed_over_for_balance']} passed over for balance, "
              f"{entry['excluded_near_duplicates']} excluded as near-duplicates -> {job_out}")
    return 0


def leaks(train_source: str, eval_source: str, *, split: str = "val", threshold: int | None = None) -> int:
    """Find training images that near-duplicate an eval image (perceptual hash); exit 2 when any is found.

    Args:
        train_source: Training rows: JSONL/parquet file or directory (all splits' rows of the 13 tasks it has).
        eval_source: Evaluation source (hub id, parquet directory, file or vtl://synth); its `split` rows are indexed.
        split: Split of the evaluation source to index.
        threshold: Largest Hamming distance (bits of 64) counted as a near-duplicate; default vtl.data.leaks's.
    """
    from vtl.data.leaks import DEFAULT_THRESHOLD, LeakIndex
    from vtl.data.loaders import load_source, resolve_source

    index = LeakIndex.from_source(eval_source, split=split)
    found = 0
    for rows in load_source(resolve_source(train_source), split="train").values():
        for row in rows:
            for n, image in enumerate(row.images, 1):
                for m in index.matches(image, threshold):
                    found += 1
                    print(f"distance {m.distance}: train row {row.idx!r} image_{n} ~ eval row {m.eval_idx!r} "
                          f"{m.image_field}")
    limit = DEFAULT_THRESHOLD if threshold is None else threshold
    print(f"{found} near-duplicate pair(s) within {limit} bits", file=sys.stderr if found else sys.stdout)
    return 2 if found else 0
