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


def leaks(train_source: str, eval_source: str, *, train_split: str = "train", split: str = "val",
          threshold: NonNegativeInt | None = None, tasks: str | None = None) -> int:
    """Find training images that near-duplicate an evaluation image (perceptual hash); exit 2 when any is found.

    Each pair is printed with its Hamming distance and both rows. The check is robust to re-encoding, resizing and
    BLINK's drawn markers (docs/data_build.md has the measured hit and false-positive rates).

    Args:
        train_source: Training rows: a `vtl data build` folder, a JSONL/parquet file or directory, or a hub id.
        eval_source: Evaluation rows: BLINK-format source (hub id, parquet directory, file, vtl://synth).
        train_split: Split read from train_source directories and hub ids (files have none).
        split: Split of the evaluation source to index.
        threshold: Largest Hamming distance (of 256 bits) counted as a near-duplicate; default vtl's measured one.
        tasks: Comma-separated tasks to check (default: every task both sources hold).
    """
    from vtl.data.leaks import DEFAULT_THRESHOLD, HASH_SIZE, LeakIndex, source_rows

    limit = DEFAULT_THRESHOLD if threshold is None else threshold
    wanted = [t.strip() for t in tasks.split(",")] if tasks else None
    evaluation = source_rows(eval_source, split, wanted)
    train = source_rows(train_source, train_split, wanted)
    if not evaluation or not train:
        raise VtlError(f"{eval_source if not evaluation else train_source}: no rows to check"
                       f"{' for --tasks ' + tasks if tasks else ''}")
    found = LeakIndex(evaluation).near_duplicates(train, limit)
    for pair in found:
        print(pair)
    summary = (f"{len(found)} of {sum(len(r.images) for r in train)} training images near-duplicate one of "
               f"{sum(len(r.images) for r in evaluation)} evaluation images (within {limit} of {HASH_SIZE ** 2} bits)")
    print(summary, file=sys.stderr if found else sys.stdout)
    return 2 if found else 0
