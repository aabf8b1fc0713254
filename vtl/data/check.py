"""`vtl data check`: run row validation over a whole source and collect every error instead of stopping at the
first, with answer-letter counts per task. It sits above both the loaders (which read the rows) and the row rules.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from vtl.data.loaders import read_rows
from vtl.data.validate import DataError, check_unique, row_problems
from vtl.tasks import get_task


@dataclass
class CheckReport:
    """What `check_source` found: answer-letter counts per task and every error."""

    counts: dict[str, Counter] = field(default_factory=dict)
    errors: list[DataError] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # tasks a partial directory does not hold (not checked)

    @property
    def ok(self) -> bool:
        return not self.errors

    def table(self) -> str:
        """Rows per task and per answer letter, as a fixed-width text table."""
        letters = sorted({k for c in self.counts.values() for k in c}, key=lambda x: (x == "hidden", x))
        head = f"{'task':<27}{'rows':>6}" + "".join(f"{x:>8}" for x in letters)
        lines = [head, "-" * len(head)]
        for task, c in self.counts.items():
            valid = set(get_task(task).letters) | {"hidden"}  # "-": not a letter of this task
            cells = "".join(f"{c.get(x, 0) if x in valid else '-':>8}" for x in letters)
            lines.append(f"{task:<27}{sum(c.values()):>6}" + cells)
        total = Counter()
        for c in self.counts.values():
            total.update(c)
        lines.append(f"{'total':<27}{sum(total.values()):>6}" + "".join(f"{total.get(x, 0):>8}" for x in letters))
        return "\n".join(lines)


def check_source(source: str, tasks=None, split: str = "val") -> CheckReport:
    """Validate every row of a source; collect all errors (source-level and row-level, every bad field of a row)
    rather than the first.

    A directory given without `tasks` may hold only some tasks: those present are checked and the others listed in
    `missing`. Tasks named in `tasks` but absent are errors, each reported.
    """
    report = CheckReport()
    try:
        groups, report.errors = read_rows(source, tasks, split, missing=report.missing)
    except DataError as err:
        report.errors.append(err)
        return report
    if tasks is not None:
        report.errors.extend(DataError(str(source), None, None, f"no {split!r} data for task {name}",
                                       "add it or leave it out of --tasks") for name in report.missing)
        report.missing = []
    for task_name, rows in groups.items():
        counts = report.counts.setdefault(task_name, Counter())
        seen: set[str] = set()
        for raw in rows:
            sample, problems = row_problems(raw.row, raw.task, raw.origin, raw.position, split, raw.base_dir)
            if sample is not None:
                try:
                    check_unique(sample, seen)
                except DataError as err:
                    problems.append(err)
            report.errors.extend(problems)
            if not problems:
                counts[sample.answer_letter or "hidden"] += 1
    return report
