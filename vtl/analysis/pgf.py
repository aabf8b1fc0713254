"""The Perfection Gap Factor (arXiv 2511.18787) and the record written per (epoch, target)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from vtl.errors import VtlError
from vtl.tasks import UnknownTaskError, canonical

# Fields of one line of `transfer.jsonl`, written by the PGF callback and read by `vtl analyze`.
TRANSFER_RECORD_FIELDS = (
    "model",  # model name or path as given to the loader
    "source_task",  # BLINK spelling; "mixture:<name>" for a mixture run
    "seed",
    "epoch",
    "step",
    "target",  # BLINK spelling
    "accuracy",  # fine-tuned accuracy on the target's eval set
    "zero_shot_accuracy",  # same model with the adapter disabled
    "pgf",  # None when undefined (zero-shot accuracy at the ceiling and epsilon 0)
    "n",  # eval questions of the target
)
# Written after those: "upper" and "eps" (the target's ceiling U_j and epsilon), "prompt_preset" and "answer_rule"
# (the harness conventions of the numbers), "zero_shot_seed" (a per-seed baseline), "arm" and "mixture_target".


class CeilingError(VtlError, ValueError):
    """A PGF ceiling that is malformed, names an unknown task, or lies at or below a zero-shot accuracy."""


def resolve_ceilings(upper: float | Mapping[str, float], targets: Iterable[str] | None, *, flag: str
                     ) -> dict[str, float]:
    """{target: U_j} from one number or a task -> number mapping (task names canonical); values in (0, 1].

    With `targets` given, a mapping must name each of them; with None only the values and names are checked.
    """
    if isinstance(upper, Mapping):
        ceilings = {}
        for name, value in upper.items():
            try:
                ceilings[canonical(str(name))] = _ceiling_value(value, f"{flag}[{name}]")
            except UnknownTaskError as err:
                raise CeilingError(f"{flag}: key {name!r}: {err}") from None
        if targets is None:
            return ceilings
        targets = list(targets)
        missing = [t for t in targets if t not in ceilings]
        if missing:
            raise CeilingError(f"{flag}: no ceiling for target(s) {', '.join(missing)}; give every target a value "
                               "or one number for all")
        return {t: ceilings[t] for t in targets}
    value = _ceiling_value(upper, flag)
    return {} if targets is None else dict.fromkeys(targets, value)


def _ceiling_value(value, flag: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < float(value) <= 1.0:
        raise CeilingError(f"{flag}: a ceiling must be a number in (0, 1], got {value!r}")
    return float(value)


def check_ceilings(ceilings: Mapping[str, float], zero_shot: Mapping[str, float], *, flag: str) -> None:
    """Every ceiling must lie above its target's zero-shot accuracy (else PGF's sign would flip).

    The one exception is a perfect zero-shot score under U = 1: PGF is undefined there and recorded as missing.
    """
    for task, base in zero_shot.items():
        upper = ceilings.get(task)
        if upper is None or math.isnan(base) or (upper == 1.0 and base >= 1.0):
            continue
        if upper <= base:
            raise CeilingError(f"{flag}: the ceiling of {task} is {upper:g} but its zero-shot accuracy is "
                               f"{base:g}; a ceiling must lie above the zero-shot accuracy")


def pgf(acc_ft: float, acc_base: float, upper: float = 1.0, eps: float = 0.0) -> float | None:
    """mu = (acc_ft - acc_base) / (upper - acc_base + eps).

    At the ceiling (upper - acc_base + eps == 0) the gap is closed and PGF is undefined: returns None, never inf,
    so callers must say so instead of logging a silent infinity.
    """
    denom = upper - acc_base + eps
    if math.isclose(denom, 0.0, abs_tol=1e-12):
        return None
    return (acc_ft - acc_base) / denom
