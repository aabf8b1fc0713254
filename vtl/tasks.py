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
Granularity = Literal["pixel", "patch", "crop", "image"]


@dataclass(frozen=True)
class Task:
    name: str  # as BLINK spells it (hub config name)
    abbrev: str
    n_images: int  # images per question
    n_choices: int  # lettered options per question
    val_size: int  # rows in BLINK val
    level: Level
    granularity: Granularity

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

REGISTRY: dict[str, Task] = {t.name: t for t in _ALL}
# The 13 tasks of the transfer study: BLINK without IQ_Test, in BLINK's (alphabetical) order.
TRANSFER_TASKS: tuple[str, ...] = tuple(t.name for t in _ALL if t.name != "IQ_Test")

_LOOKUP: dict[str, Task] = {}
for _t in _ALL:
    for _key in (_t.name, _t.abbrev, _t.name.replace("-", "_"), _t.name.replace("_", " ")):
        _LOOKUP[_key.lower()] = _t


class UnknownTaskError(VtlError, ValueError):
    pass


def get_task(name: str) -> Task:
    """Look a task up by full name or abbreviation, case-insensitively (`counting`, `CT`, `multi-view_reasoning`)."""
    task = _LOOKUP.get(str(name).strip().lower())
    if task is None:
        valid = ", ".join(f"{t.name} ({t.abbrev})" for t in _ALL)
        raise UnknownTaskError(f"unknown task {name!r}; valid tasks: {valid}")
    return task


def canonical(name: str) -> str:
    """The BLINK spelling of a task name or abbreviation."""
    return get_task(name).name


def resolve_tasks(names: str | Iterable[str] | None) -> list[str]:
    """Canonical names for a list (or comma-separated string) of tasks; None or "all" gives the 13 transfer tasks."""
    if names is None:
        return list(TRANSFER_TASKS)
    if isinstance(names, str):
        if names.strip().lower() == "all":
            return list(TRANSFER_TASKS)
        names = [n for n in names.split(",") if n.strip()]
    out: list[str] = []
    for n in names:
        c = canonical(n)
        if c not in out:
            out.append(c)
    return out


def abbrev(name: str) -> str:
    return get_task(name).abbrev
