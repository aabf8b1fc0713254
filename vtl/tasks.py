"""The BLINK perception tasks of the transfer study: names, abbreviations and per-task facts.

Images per question and number of choices follow BLINK's val split; perceptual level and granularity group the tasks
as the task-transfer paper (arXiv 2511.18787) does where it says so (low level: Relative_Depth, Relative_Reflectance,
Visual_Correspondence; image level: Art_Style, Counting, Forensic_Detection; pixel level: Functional_Correspondence,
Relative_Depth); the remaining assignments are ours, made from what each question asks the model to look at.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from vtl.errors import VtlError

Level = Literal["low", "mid", "high"]
Granularity = Literal["pixel", "patch", "crop", "image", "video"]
Metric = Literal["accuracy", "mra"]
Modality = Literal["image", "video"]


@dataclass(frozen=True)
class Task:
    name: str  # as BLINK spells it (hub config name)
    abbrev: str
    n_images: int  # images per question
    n_choices: int  # lettered options per question
    val_size: int  # rows in BLINK val
    level: Level
    granularity: Granularity
    metric: Metric = "accuracy"  # per-task score in [0, 1]: exact-match accuracy or Mean Relative Accuracy
    modality: Modality = "image"
    question_types: tuple[str, ...] = ()  # VSI-Bench `question_type` values of the family (its own name if empty)

    @property
    def numerical(self) -> bool:
        return self.metric == "mra"

    @property
    def letters(self) -> tuple[str, ...]:
        return tuple("ABCDEFGH"[: self.n_choices])


_ALL = (
    Task("Art_Style", "AS", 3, 2, 117, "high", "image"),
    Task("Counting", "CT", 1, 4, 120, "mid", "image"),
    Task("Forensic_Detection", "FD", 4, 4, 132, "high", "image"),
    Task("Functional_Correspondence", "FC", 2, 4, 130, "mid", "pixel"),
    Task("IQ_Test", "IQ", 1, 4, 150, "high", "image"),
    Task("Jigsaw", "JG", 3, 2, 150, "mid", "patch"),
    Task("Multi-view_Reasoning", "MV", 2, 2, 133, "low", "image"),
    Task("Object_Localization", "OL", 1, 2, 122, "mid", "crop"),
    Task("Relative_Depth", "RD", 1, 2, 124, "low", "pixel"),
    Task("Relative_Reflectance", "RR", 1, 3, 134, "low", "pixel"),
    Task("Semantic_Correspondence", "SC", 2, 4, 139, "mid", "pixel"),
    Task("Spatial_Relation", "SR", 1, 2, 143, "high", "image"),
    Task("Visual_Correspondence", "VC", 2, 4, 172, "low", "pixel"),
    Task("Visual_Similarity", "VS", 3, 2, 135, "high", "image"),
)

# VSI-Bench (hub `nyu-visionx/VSI-Bench`, split `test`): 8 task families of spatial questions about a video.
# n_choices is the most options a family's questions have; numerical families have none and are scored by MRA.


def _vsi(name: str, abbrev: str, n_choices: int, level: Level, *question_types: str) -> Task:
    metric: Metric = "accuracy" if n_choices else "mra"
    return Task(name, abbrev, 0, n_choices, 0, level, "video", metric, "video", question_types)


_VIDEO = (
    _vsi("object_rel_direction", "RDir", 4, "high",
         "object_rel_direction_easy", "object_rel_direction_medium", "object_rel_direction_hard"),
    _vsi("object_rel_distance", "RDist", 4, "mid"),
    _vsi("route_planning", "Route", 4, "high"),
    _vsi("obj_appearance_order", "ApOrd", 4, "mid"),
    _vsi("object_abs_distance", "AbsD", 0, "low"),
    _vsi("object_counting", "OCnt", 0, "mid"),
    _vsi("object_size_estimation", "OSize", 0, "low"),
    _vsi("room_size_estimation", "RSize", 0, "low"),
)

REGISTRY: dict[str, Task] = {t.name: t for t in _ALL + _VIDEO}
# The 13 tasks of the transfer study: BLINK without IQ_Test, in BLINK's (alphabetical) order.
TRANSFER_TASKS: tuple[str, ...] = tuple(t.name for t in _ALL if t.name != "IQ_Test")
# The 8 VSI-Bench families, in the benchmark's order (multiple choice, then numerical).
VIDEO_TASKS: tuple[str, ...] = tuple(t.name for t in _VIDEO)
# question_type (e.g. object_rel_direction_hard) -> family
QUESTION_TYPE_FAMILY: dict[str, str] = {q: t.name for t in _VIDEO for q in (t.question_types or (t.name,))}

_LOOKUP: dict[str, Task] = {}
for _t in _ALL + _VIDEO:
    for _key in (_t.name, _t.abbrev, _t.name.replace("-", "_"), _t.name.replace("_", " ")):
        _LOOKUP[_key.lower()] = _t


class UnknownTaskError(VtlError, ValueError):
    pass


def get_task(name: str) -> Task:
    """Look a task up by full name or abbreviation, case-insensitively (`counting`, `CT`, `multi-view_reasoning`)."""
    task = _LOOKUP.get(str(name).strip().lower())
    if task is None:
        valid = ", ".join(f"{t.name} ({t.abbrev})" for t in _ALL + _VIDEO)
        raise UnknownTaskError(f"unknown task {name!r}; valid tasks: {valid}")
    return task


def canonical(name: str) -> str:
    """The BLINK spelling of a task name or abbreviation."""
    return get_task(name).name


def resolve_tasks(names: str | Iterable[str] | None) -> list[str]:
    """Canonical names for a list (or comma-separated string) of tasks; None or "all" gives the 13 transfer tasks,
    "vsi" the 8 VSI-Bench families (so "all,vsi" is every image and video target)."""
    if names is None:
        return list(TRANSFER_TASKS)
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    groups = {"all": TRANSFER_TASKS, "vsi": VIDEO_TASKS, "vsi-bench": VIDEO_TASKS}
    out: list[str] = []
    for n in names:
        for c in groups.get(str(n).strip().lower()) or [canonical(n)]:
            if c not in out:
                out.append(c)
    return out


def abbrev(name: str) -> str:
    return get_task(name).abbrev
