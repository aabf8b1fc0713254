"""VSI-Bench sources: the hub dataset, a local directory in its layout, or JSONL; rows become `VideoSample`s.

Layout (hub `nyu-visionx/VSI-Bench`, split `test`): a table of rows `id, dataset, scene_name, question_type,
question, options, ground_truth` (parquet or JSON/JSONL) and videos at `{dataset}/{scene_name}.mp4` under a videos
root, either unpacked or inside `{dataset}.zip` (read in place, never extracted). Every bad row is reported with
its file, row and field; a missing or undecodable video is found by `check_videos` (decoding every clip is slow, so
the loader only checks that the file exists).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Literal

from vtl.data.video import FrameRule, VideoError, VideoSample, decode_frames, family_of
from vtl.errors import VtlError
from vtl.tasks import get_task

VSI_HUB_ID = "nyu-visionx/VSI-Bench"
PromptPreset = Literal["lmms-eval"]
_REQUIRED = ("question_type", "question", "ground_truth")
_TABLES = ("*.parquet", "*.jsonl", "*.json")


class VideoDataError(VtlError, ValueError):
    pass


def video_prompt(question: str, options: list[str], preset: PromptPreset = "lmms-eval") -> str:
    """The question as lmms-eval's VSI-Bench task poses it (numerical or multiple choice)."""
    head = f"These are frames of a video.\n{question}\n"
    if not options:
        return head + "Please answer the question using a single word or phrase."
    closing = "Answer with the option's letter from the given choices directly."
    return head + "Options:\n" + "\n".join(options) + "\n" + closing


def _answer(row: dict[str, Any], numerical: bool, where: str) -> str:
    truth = str(row["ground_truth"]).strip()
    if numerical:
        try:
            float(truth)
        except ValueError:
            raise VideoDataError(f"{where}: field 'ground_truth' = {truth!r} is not a number; numerical question types "
                                 f"need a numeric ground truth") from None
        return truth
    letter = truth.strip("()").rstrip(".")[:1].upper()
    options = list(row.get("options") or [])
    if not options:
        raise VideoDataError(f"{where}: field 'options' is empty; multiple-choice question type "
                             f"{row['question_type']!r} needs its options")
    if letter not in "ABCDEFGH"[: len(options)]:
        raise VideoDataError(f"{where}: field 'ground_truth' = {truth!r} is not one of the option letters "
                             f"{'ABCDEFGH'[: len(options)]}")
    return f"({letter})"


def _video_path(row: dict[str, Any], videos_root: Path) -> str:
    if row.get("video"):
        return str((videos_root / row["video"]) if not Path(row["video"]).is_absolute() else row["video"])
    member = f"{row['dataset']}/{row['scene_name']}.mp4"
    if (videos_root / member).is_file():
        return str(videos_root / member)
    archive = videos_root / f"{row['dataset']}.zip"
    if archive.is_file():
        with zipfile.ZipFile(archive) as zf:
            names = set(zf.namelist())
        for name in (member, f"{row['scene_name']}.mp4"):
            if name in names:
                return f"{archive}::{name}"
    return str(videos_root / member)


def to_video_sample(
    row: dict[str, Any], videos_root: Path, where: str, rule: FrameRule | None = None, number_rule: str = "lmms-eval"
) -> VideoSample:
    for key in _REQUIRED:
        if row.get(key) in (None, ""):
            raise VideoDataError(f"{where}: field {key!r} is missing; VSI-Bench rows need {', '.join(_REQUIRED)}")
    if not row.get("video") and not (row.get("dataset") and row.get("scene_name")):
        raise VideoDataError(f"{where}: no video: give 'dataset' and 'scene_name' (or a 'video' path)")
    try:
        task = family_of(str(row["question_type"]))
    except VtlError as exc:
        raise VideoDataError(f"{where}: field 'question_type': {exc}") from None
    numerical = get_task(task).numerical
    options = [str(o) for o in (row.get("options") or [])]
    video = _video_path(row, videos_root)
    if not Path(video.split("::", 1)[0]).is_file():
        raise VideoDataError(f"{where}: video {video!r} does not exist; check the videos root or the row's "
                             f"dataset/scene_name")
    return VideoSample(
        idx=f"vsi_{row.get('id', where)}", task=task, question_type=str(row["question_type"]),
        question=str(row["question"]), options=[] if numerical else options,
        answer=_answer(row, numerical, where), video=video, origin=where,
        prompt=video_prompt(str(row["question"]), [] if numerical else options), rule=rule or FrameRule(),
        number_rule=number_rule,
    )


def _rows(file: Path) -> list[dict[str, Any]]:
    if file.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(file).to_pylist()
    text = file.read_text()
    if file.suffix == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise VideoDataError(f"{file}:{n}: not valid JSON ({exc.msg})") from None
        return rows
    data = json.loads(text)
    return data if isinstance(data, list) else data.get("rows", [])


def load_vsibench(
    source: str, tasks: list[str] | None = None, *, videos_root: str | None = None, split: str = "test",
    skip_bad: bool = False, rule: FrameRule | None = None, number_rule: str = "lmms-eval",
) -> dict[str, list[VideoSample]]:
    """VideoSamples per family from a directory, a table file, `vtl://synth-video` or the hub id."""
    if source == "vtl://synth-video":
        from vtl.data.synth_video import synth_video_dir

        source = str(synth_video_dir())
    path = Path(source).expanduser()
    if path.is_dir():
        files = [f for pattern in _TABLES for f in sorted(path.glob(pattern))]
        files = [f for f in files if f.stem.startswith(split)] or files
        root = Path(videos_root) if videos_root else path
    elif path.is_file():
        files, root = [path], Path(videos_root) if videos_root else path.parent
    elif source == VSI_HUB_ID or source.count("/") == 1 and not source.startswith((".", "/", "~")):
        files, root = _hub_files(source, split), None
        root = Path(videos_root) if videos_root else files[0].parent
    else:
        raise VideoDataError(f"video source {source!r}: no such file or directory; give a VSI-Bench-layout directory, "
                             f"a .parquet/.jsonl file, vtl://synth-video or {VSI_HUB_ID}")
    if not files:
        raise VideoDataError(f"{path}: no *.parquet/*.jsonl/*.json table of VSI-Bench rows")
    wanted = None if tasks is None else set(tasks)
    out: dict[str, list[VideoSample]] = {}
    problems: list[str] = []
    for file in files:
        for n, row in enumerate(_rows(file), start=1):
            where = f"{file}:row {n}"
            try:
                sample = to_video_sample(row, root, where, rule, number_rule)
            except VideoDataError as exc:
                if not skip_bad:
                    raise
                problems.append(str(exc))
                continue
            if wanted is None or sample.task in wanted:
                out.setdefault(sample.task, []).append(sample)
    if wanted:
        missing = sorted(wanted - set(out))
        if missing:
            raise VideoDataError(f"{source}: no rows for target(s) {', '.join(missing)}")
    return out


def _hub_files(hub_id: str, split: str) -> list[Path]:
    """Fetch the table and video archives of the hub dataset (only because the user named it)."""
    from huggingface_hub import snapshot_download

    root = Path(snapshot_download(hub_id, repo_type="dataset"))
    return sorted(root.glob(f"**/{split}*.parquet")) or sorted(root.glob("**/*.parquet"))


def check_videos(samples: list[VideoSample], rule: FrameRule | None = None) -> list[str]:
    """Decode every clip once; the problems found (missing or undecodable video), each naming its row."""
    problems = []
    for s in samples:
        try:
            decode_frames(s.video, rule or FrameRule(num_frames=1), where=s.origin)
        except VideoError as exc:
            problems.append(str(exc))
    return problems
