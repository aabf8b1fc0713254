"""`vtl vicl report RUN_DIR`: per task pair, baseline -> ours for PSNR, SSIM and VIEScore, with the paper's tiers.

Comparisons are paired: a metric's means use only the tuples where both arms have it (PSNR/SSIM: both arms produced
an image; VIEScore: the judge answered for both). Tier per pair: "top" when at least 2 of the 3 metrics improve;
"second" when VIEScore improves while PSNR or SSIM gets worse; otherwise "none". Without judged items VIEScore is
"n/a": the pair can still reach "top" through PSNR and SSIM but never "second", and the report says so.
VIEScore per item is the number its variant reports (`vtl.vicl.scoring.viescore`); with `vie_average="all"` the VIEScore
means are over every logged row of each arm instead (the T2T-VICL authors' averaging; authors-code failures count 0).
Writes RUN_DIR/report.md, RUN_DIR/summary.json and RUN_DIR/examples.png. Analysis code: no torch.

Several runs (one per generator, e.g. Gemini and Seedream) are combined by `combined_tier`: the paper's rule puts a
pair in the top tier when at least 2 of 3 metrics improve for every generator, and in the second tier when VIEScore
improves for every generator while PSNR or SSIM drops for some; `tier_rule="single-run"` keeps each run's own tier.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Literal

from jsonargparse.typing import NonNegativeInt

from vtl.errors import VtlError

log = logging.getLogger("vtl.vicl")

METRICS = ("psnr", "ssim", "viescore")


def _vie(record: dict[str, Any], key: str = "score") -> float | None:
    """A judged item's VIEScore (its variant's number for "score"; older records without one: O), else None."""
    vs = record.get("viescore")
    if not (isinstance(vs, dict) and vs.get("ok")):
        return None
    if key == "score":
        return vs.get("score", vs.get("O"))
    return vs.get(key)


def _mean(values: list[float | None]) -> float | None:
    """Mean of the values that are present (a record may lack a sub-score, e.g. SC in an imported log)."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def latest_records(records: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(tuple_id, arm) -> its last record (a retried "error" item is superseded by its rerun)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for i, r in enumerate(records):
        for field in ("tuple_id", "arm", "pair", "status"):
            if field not in r:
                raise ValueError(f"results line {i + 1}: missing field {field!r}")
        out[(r["tuple_id"], r["arm"])] = r
    return out


def tier(deltas: dict[str, float | None]) -> str:
    """"top" (>= 2 of 3 metrics better), "second" (VIEScore better, PSNR or SSIM worse) or "none"."""
    better = {m: d is not None and d > 0 for m, d in deltas.items()}
    worse = {m: d is not None and d < 0 for m, d in deltas.items()}
    if sum(better.values()) >= 2:
        return "top"
    if better.get("viescore") and (worse.get("psnr") or worse.get("ssim")):
        return "second"
    return "none"


def compare(latest: dict[tuple[str, str], dict[str, Any]], arm: str = "ours",
            vie_average: str = "paired") -> dict[str, dict[str, Any]]:
    """Per pair: paired means of baseline and `arm` (VIEScore: paired, or over all logged rows), deltas, tier."""
    from vtl.vicl.lowlevel.tasks import SECOND_TIER, TOP_TIER, parse_pair
    from vtl.vicl.scoring.viescore import mean_viescore

    if vie_average not in ("paired", "all"):
        raise ValueError(f"vie_average must be 'paired' or 'all', got {vie_average!r}")

    pairs: dict[str, dict[str, Any]] = {}
    by_pair: dict[str, set[str]] = {}
    for (tid, _), r in latest.items():
        by_pair.setdefault(r["pair"], set()).add(tid)
    for pair in sorted(by_pair):
        tids = sorted(by_pair[pair])
        base = {t: latest.get((t, "baseline")) for t in tids}
        ours = {t: latest.get((t, arm)) for t in tids}
        both_ok = [t for t in tids if base[t] and ours[t] and base[t]["status"] == ours[t]["status"] == "ok"]
        both_judged = [t for t in both_ok if _vie(base[t]) is not None and _vie(ours[t]) is not None]
        row: dict[str, Any] = {"n_tuples": len(tids), "n_paired": len(both_ok), "n_judged": len(both_judged)}
        for name, recs in (("baseline", base), ("ours", ours)):
            present = [r for r in recs.values() if r]
            row[name] = {
                "psnr": _mean([recs[t]["psnr"] for t in both_ok]),
                "ssim": _mean([recs[t]["ssim"] for t in both_ok]),
                "viescore": (_mean([_vie(recs[t]) for t in both_judged]) if vie_average == "paired"
                             else mean_viescore(r.get("viescore") for r in present)[0]),
                "viescore_mean": _mean([_vie(recs[t], "O_mean") for t in both_judged]),
                "SC": _mean([_vie(recs[t], "SC") for t in both_judged]),
                "PQ": _mean([_vie(recs[t], "PQ") for t in both_judged]),
                "n_records": len(present),
                "n_generation_failed": sum(r["status"] != "ok" for r in present),
                "n_judge_failed": sum(
                    1 for r in present if isinstance(r.get("viescore"), dict) and not r["viescore"].get("ok")
                ),
                "operators": sorted({(r.get("best_info") or {}).get("operator") for r in present} - {None}),
            }
        deltas = {
            m: None if row["baseline"][m] is None or row["ours"][m] is None else row["ours"][m] - row["baseline"][m]
            for m in METRICS
        }
        row["delta"] = deltas
        row["tier"] = tier(deltas)
        try:
            key = parse_pair(pair)
            row["paper_tier"] = "top" if key in TOP_TIER else "second" if key in SECOND_TIER else "-"
        except ValueError:
            row["paper_tier"] = "-"
        pairs[pair] = row
    return pairs


def _tiers(pairs: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {t: sum(p["tier"] == t for p in pairs.values()) for t in ("top", "second", "none")}


TierRule = Literal["both-generators", "single-run"]
TIER_RULES = ("both-generators", "single-run")


def combined_tier(deltas_by_run: dict[str, dict[str, float | None]]) -> str:
    """The paper's tier over several generators' (ours - baseline) deltas.

    "top": at least 2 of PSNR/SSIM/VIEScore improve for every generator; "second": otherwise, VIEScore improves for
    every generator while PSNR or SSIM drops for at least one; else "none".
    """
    runs = list(deltas_by_run.values())
    if not runs:
        return "none"

    def better(d: dict[str, float | None], m: str) -> bool:
        return d.get(m) is not None and d[m] > 0

    def worse(d: dict[str, float | None], m: str) -> bool:
        return d.get(m) is not None and d[m] < 0

    if all(sum(better(d, m) for m in METRICS) >= 2 for d in runs):
        return "top"
    if all(better(d, "viescore") for d in runs) and any(worse(d, "psnr") or worse(d, "ssim") for d in runs):
        return "second"
    return "none"


def combine_runs(summaries: dict[str, dict[str, Any]], tier_rule: str = "both-generators") -> dict[str, Any]:
    """Tiers per pair over several runs' summaries (label -> `summarize` output), by `tier_rule`.

    "both-generators": `combined_tier` over the runs holding the pair; a pair missing from a run is "none".
    "single-run": each run's own tier, counted per run.
    """
    if tier_rule not in TIER_RULES:
        raise ValueError(f"tier_rule must be one of {list(TIER_RULES)}, got {tier_rule!r}")
    labels = list(summaries)
    pairs: dict[str, dict[str, Any]] = {}
    for pair in sorted(set().union(*(s["pairs"] for s in summaries.values()))):
        present = {label: summaries[label]["pairs"][pair] for label in labels if pair in summaries[label]["pairs"]}
        row: dict[str, Any] = {
            "runs": {label: {"tier": r["tier"], "delta": r["delta"],
                             "baseline": {m: r["baseline"][m] for m in METRICS},
                             "ours": {m: r["ours"][m] for m in METRICS}} for label, r in present.items()},
            "missing_runs": [label for label in labels if label not in present],
            "paper_tier": next(iter(present.values())).get("paper_tier", "-"),
        }
        if tier_rule == "both-generators":
            row["tier"] = "none" if row["missing_runs"] else combined_tier({k: r["delta"] for k, r in present.items()})
        else:
            row["tier"] = {label: r["tier"] for label, r in present.items()}
        pairs[pair] = row
    if tier_rule == "both-generators":
        counts: dict[str, Any] = {t: sum(p["tier"] == t for p in pairs.values()) for t in ("top", "second", "none")}
    else:
        counts = {label: summaries[label]["tiers"] for label in labels}
    return {"runs": labels, "tier_rule": tier_rule, "tiers": counts, "pairs": pairs}


def combined_markdown(combined: dict[str, Any]) -> str:
    labels = combined["runs"]
    lines = [f"# T2T-VICL tiers over {len(labels)} runs ({', '.join(labels)}), rule: {combined['tier_rule']}", ""]
    if combined["tier_rule"] == "both-generators":
        t = combined["tiers"]
        lines += [f"Tiers: top {t['top']}, second {t['second']}, none {t['none']} (top: ≥ 2 of 3 metrics better "
                  "for every run; second: VIEScore better for every run while PSNR or SSIM worse for some).", ""]
    header = "| pair | " + " | ".join(f"{label} ΔPSNR / ΔSSIM / ΔVIE | {label} tier" for label in labels)
    lines += [header + " | tier | paper tier |", "|---" * (3 + 2 * len(labels)) + "|"]
    for pair, row in combined["pairs"].items():
        cells = []
        for label in labels:
            r = row["runs"].get(label)
            if r is None:
                cells += ["missing", "-"]
                continue
            d = r["delta"]
            cells += [f"{_fmt(d['psnr'])} / {_fmt(d['ssim'], 3)} / {_fmt(d['viescore'])}", r["tier"]]
        overall = row["tier"] if isinstance(row["tier"], str) else "per run"
        lines.append(f"| {pair} | " + " | ".join(cells) + f" | {overall} | {row['paper_tier']} |")
    return "\n".join(lines) + "\n"


def summarize(records: list[dict[str, Any]], vie_average: str = "paired") -> dict[str, Any]:
    """Baseline -> ours per pair (and baseline -> teacher when that arm ran), plus run-wide totals."""
    latest = latest_records(records)
    pairs = compare(latest, "ours", vie_average)
    judged = [r for r in latest.values() if isinstance(r.get("viescore"), dict)]
    summary = {
        "n_records": len(latest),
        "arms": sorted({arm for _, arm in latest}),
        "generators": sorted({r.get("generator", "?") for r in latest.values()}),
        "judges": sorted({r["viescore"].get("judge", "?") for r in judged}),
        "viescore_variants": sorted({r["viescore"].get("variant", "paper") for r in judged}),
        "vie_average": vie_average,
        "prompt_versions": sorted({r["prompt_version"] for r in latest.values() if r.get("prompt_version")}),
        "n_judged": sum(1 for r in judged if r["viescore"].get("ok")),
        "n_judge_failed": sum(1 for r in judged if not r["viescore"].get("ok")),
        "n_generation_failed": sum(r["status"] != "ok" for r in latest.values()),
        "tiers": _tiers(pairs),
        "pairs": pairs,
    }
    summary["descriptions"] = {
        arm: {"distinct": len({r.get("description") for (_, a), r in latest.items() if a == arm}),
              "tuples": sum(1 for _, a in latest if a == arm)}
        for arm in summary["arms"] if arm != "baseline"
    }
    if "teacher" in summary["arms"]:
        teacher = compare(latest, "teacher", vie_average)
        summary["teacher"] = {"tiers": _tiers(teacher), "pairs": teacher}
    return summary


def _fmt(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _arrow(row: dict[str, Any], metric: str, digits: int) -> str:
    b, o = row["baseline"][metric], row["ours"][metric]
    if b is None or o is None:
        return "n/a"
    d = o - b
    return f"{_fmt(b, digits)} → {_fmt(o, digits)} ({'+' if d >= 0 else ''}{_fmt(d, digits)})"


def markdown(summary: dict[str, Any], run_dir: Path) -> str:
    lines = [f"# T2T-VICL: baseline (fixed instruction) → ours (instruction + description): `{run_dir}`", ""]
    gens = ", ".join(summary["generators"])
    lines.append(f"Generator: {gens}. Records: {summary['n_records']}; queries without any usable candidate: "
                 f"{summary['n_generation_failed']}.")
    for arm, d in summary.get("descriptions", {}).items():
        plural = "" if d["distinct"] == 1 else "s"
        lines.append(f"Descriptions in arm {arm}: {d['distinct']} distinct text{plural} over {d['tuples']} tuples.")
    if summary["judges"]:
        lines.append(f"VIEScore judge: {', '.join(summary['judges'])}; judged {summary['n_judged']}, "
                     f"failed (malformed after retries, or API errors) {summary['n_judge_failed']}.")
        lines.append(f"VIEScore variant: {', '.join(summary.get('viescore_variants') or ['paper'])}; means "
                     + ("over tuples judged for both arms." if summary.get("vie_average", "paired") == "paired"
                        else "over every logged row of each arm (authors-code failures count 0)."))
    if summary.get("prompt_versions"):
        lines.append(f"Prompt versions: {', '.join(summary['prompt_versions'])}.")
    else:
        lines.append("VIEScore: no judge configured (`judge: {backend: none}`), so VIEScore is n/a.")
    if summary["judges"] and summary["n_judged"] == 0:
        lines.append("**No judge answer could be parsed, so every VIEScore is n/a and no pair can be second tier.** "
                     "This is expected for the tiny random offline model: it exercises the judge path only.")
    if any("classical" in g for g in summary["generators"]):
        lines.append("The classical generator is an offline scikit-image baseline; with it, these numbers show the "
                     "pipeline working, not what Gemini image generation achieves.")
    if any("tiny" in j for j in summary["judges"]):
        lines.append("The judge is the tiny random Qwen2.5-VL: its scores carry no meaning about image quality.")
    tiers = summary["tiers"]
    lines += ["", f"Tiers: top {tiers['top']}, second {tiers['second']}, none {tiers['none']} "
              "(top: ≥ 2 of 3 metrics better; second: VIEScore better while PSNR or SSIM worse). "
              "Means are over tuples where both arms have the metric (n paired / n judged).", ""]
    lines += _table(summary["pairs"])
    if "teacher" in summary:
        t = summary["teacher"]["tiers"]
        lines += ["", "## Upper bound: the teacher's descriptions of the same eval tuples", "",
                  "The teacher saw B_out when it wrote them, so this arm shows how far a description can steer the "
                  "generator; the student's arm above is what the method delivers.", "",
                  f"Tiers: top {t['top']}, second {t['second']}, none {t['none']}.", ""]
        lines += _table(summary["teacher"]["pairs"])
    lines += ["", "![examples](examples.png)", ""]
    return "\n".join(lines)


def _table(pairs: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| pair | n | n paired | PSNR | SSIM | VIEScore O | (SC+PQ)/2 | n judged | tier | paper tier | "
             "operators base / ours |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for pair, row in pairs.items():
        ops = f"{', '.join(row['baseline']['operators']) or '-'} / {', '.join(row['ours']['operators']) or '-'}"
        lines.append(
            f"| {pair} | {row['n_tuples']} | {row['n_paired']} | {_arrow(row, 'psnr', 2)} | {_arrow(row, 'ssim', 3)} "
            f"| {_arrow(row, 'viescore', 2)} | {_arrow(row, 'viescore_mean', 2)} | {row['n_judged']} | "
            f"{row['tier']} | {row['paper_tier']} | {ops} |"
        )
    return lines


def _pick_examples(records: list[dict[str, Any]], n: int) -> list[tuple[dict, dict]]:
    """Up to n (baseline, ours) record pairs with images, one per task pair first."""
    latest = latest_records(records)
    chosen, seen_pairs = [], set()
    candidates = sorted({tid for tid, _ in latest})
    for allow_repeat in (False, True):
        for tid in candidates:
            base, ours = latest.get((tid, "baseline")), latest.get((tid, "ours"))
            if not (base and ours and base.get("output") and ours.get("output") and base.get("images")):
                continue
            if (base, ours) in chosen or (not allow_repeat and base["pair"] in seen_pairs):
                continue
            chosen.append((base, ours))
            seen_pairs.add(base["pair"])
            if len(chosen) == n:
                return chosen
    return chosen


def example_figure(records: list[dict[str, Any]], run_dir: Path, path: Path, n: int = 4) -> Path | None:
    """PNG grid: one row per example query: A_in, A_out, B_in, baseline, ours, (teacher,) B_out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    examples = _pick_examples(records, n)
    if not examples:
        log.warning("no example with images for both arms; %s not written", path)
        return None
    latest = latest_records(records)
    teacher = {tid: r for (tid, arm), r in latest.items() if arm == "teacher" and r.get("output")}
    cols = ["A_in", "A_out", "B_in", "baseline", "ours", *(["teacher"] if teacher else []), "B_out"]
    fig, axes = plt.subplots(len(examples), len(cols), figsize=(2 * len(cols), 2.2 * len(examples)), squeeze=False)
    for r, (base, ours) in enumerate(examples):
        imgs = base["images"]
        by_col = {"A_in": (imgs["a_in"], None), "A_out": (imgs["a_out"], None), "B_in": (imgs["b_in"], None),
                  "baseline": (run_dir / base["output"], base), "ours": (run_dir / ours["output"], ours),
                  "B_out": (imgs["b_out"], None)}
        t_rec = teacher.get(base["tuple_id"])
        if teacher:
            by_col["teacher"] = (run_dir / t_rec["output"], t_rec) if t_rec else ("", None)
        for c, title in enumerate(cols):
            file, rec = by_col[title]
            ax = axes[r][c]
            ax.axis("off")
            if file and Path(file).is_file():
                with Image.open(file) as im:
                    ax.imshow(im.convert("RGB"))
            label = title if rec is None else f"{title}\n{_fmt(rec['psnr'])} dB / {_fmt(rec['ssim'], 3)}"
            ax.set_title(label, fontsize=8)
        axes[r][0].text(-0.1, 0.5, base["pair"], transform=axes[r][0].transAxes, rotation=90, va="center",
                        ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(run_dir: str | Path, *, n_examples: int = 4, print_table: bool = True,
                 vie_average: str = "paired") -> dict[str, Any]:
    """Read RUN_DIR/results.jsonl, write report.md, summary.json and examples.png there; the summary."""
    from vtl.vicl.scoring.results import RESULTS_FILE, read_results

    run_dir = Path(run_dir)
    results = run_dir / RESULTS_FILE
    if not results.is_file():
        raise FileNotFoundError(f"{results} does not exist: RUN_DIR must be a `vtl vicl infer` output directory")
    records = read_results(results)
    if not records:
        raise ValueError(f"{results} holds no records yet: run `vtl vicl infer` first")
    try:
        summary = summarize(records, vie_average)
    except ValueError as exc:
        raise ValueError(f"{results}: {exc}") from None
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    text = markdown(summary, run_dir)
    (run_dir / "report.md").write_text(text)
    figure = example_figure(records, run_dir, run_dir / "examples.png", n_examples)
    summary["files"] = {"report": str(run_dir / "report.md"), "summary": str(run_dir / "summary.json"),
                        "examples": str(figure) if figure else None}
    if print_table:
        print(text)
        print(f"wrote {run_dir / 'report.md'}, {run_dir / 'summary.json'}" + (f", {figure}" if figure else ""))
    return summary


def _label_and_dir(spec: str) -> tuple[str, Path]:
    label, sep, path = spec.partition("=")
    return (label, Path(path)) if sep and label and not Path(spec).exists() else (Path(spec).name, Path(spec))


def report(
    run_dirs: list[str],
    *,
    out: str | None = None,
    tier_rule: TierRule = "both-generators",
    vie_average: Literal["paired", "all"] = "paired",
    examples: NonNegativeInt = 4,
) -> int:
    """Per-pair baseline -> ours tables and tiers for one run, or tiers across several generators' runs.

    Args:
        run_dirs: `vtl vicl infer` / `vtl vicl score` run directories, optionally as LABEL=DIR (e.g.
            gemini=runs/gemini seedream=runs/seedream); each gets its own report.md and summary.json.
        out: With several runs: the directory for tiers.md and tiers.json (required then).
        tier_rule: "both-generators": the paper's rule over all runs (a pair is top tier when at least 2 of 3
            metrics improve for every run); "single-run": each run's own tiers.
        vie_average: "paired": VIEScore means over tuples judged for both arms; "all": over every logged row of
            each arm (the authors' averaging; authors-code failures count 0).
        examples: Example queries in each run's examples.png.

    Returns:
        0 on success.
    """
    if not run_dirs:
        raise VtlError("give at least one run directory")
    specs = [_label_and_dir(r) for r in run_dirs]
    labels = [label for label, _ in specs]
    if len(set(labels)) != len(labels):
        raise VtlError(f"run labels {labels} repeat: name them as LABEL=DIR")
    if len(specs) > 1 and out is None:
        raise VtlError("several runs need --out, the directory for tiers.md and tiers.json")
    try:
        summaries = {label: write_report(path, n_examples=examples, print_table=len(specs) == 1,
                                         vie_average=vie_average) for label, path in specs}
    except (ValueError, FileNotFoundError) as exc:
        raise VtlError(str(exc)) from exc
    if len(specs) == 1:
        return 0
    combined = combine_runs(summaries, tier_rule)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tiers.json").write_text(json.dumps(combined, indent=2, ensure_ascii=False) + "\n")
    text = combined_markdown(combined)
    (out / "tiers.md").write_text(text)
    print(text)
    print(f"wrote {out / 'tiers.md'}, {out / 'tiers.json'}")
    return 0
