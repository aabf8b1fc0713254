"""report.md (the tables a reader of the task-transfer paper expects) and the short terminal table."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from vtl.analysis.personas import PERSONAS
from vtl.tasks import abbrev, get_task

TINY_NOTE = ("These inputs come from a tiny offline model (random weights, or briefly warmed up for the planted "
             "demo): they show the pipeline and the method at work on synthetic data, not findings about a real "
             "model family.")
_PERSONA_TEXT = {
    "donor": "Donor: fine-tuning on it helps other tasks most (highest Δ⁺)",
    "pirate": "Pirate: fine-tuning on it hurts other tasks most (most negative Δ⁻)",
    "sponge": "Sponge: gains most from fine-tuning on other tasks (highest Θ⁺)",
    "sieve": "Sieve: loses most from fine-tuning on other tasks (most negative Θ⁻)",
}


def _fmt(v, digits: int = 3, signed: bool = True) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _names(tasks) -> str:
    return ", ".join(f"{t} ({abbrev(t)})" for t in tasks) if tasks else "none"


def _pnn(row) -> str:
    return "" if row is None else f"{int(row.p)}/{int(row.n)}/{int(row.N)}"


def _clique_line(c, tested: bool) -> str:
    if c is None:
        return "none (no pair of tasks transfers the same way in both directions)"
    if not tested:
        held = "significance not tested (one seed)"
    elif c.significant is None:
        held = "significance untested for some edge"
    else:
        held = "holds with significant edges only" if c.significant else "does not hold with significant edges only"
    return f"{_names(c.tasks)}: {len(c.tasks)} tasks, mean edge abs(PGF) {c.strength:.3f}; {held}"


def _in_words(r) -> str:
    m = r.matrices.mean
    off = [m.at[s, t] for s in m.index for t in m.columns if s != t and not pd.isna(m.at[s, t])]
    pos = sum(v > 0 for v in off)
    words = [f"In words: {pos} of {len(off)} off-diagonal transfers are positive "
             f"(mean PGF {_fmt(sum(off) / len(off)) if off else 'n/a'})."]
    lead = {p: r.personas[p][0] if r.personas[p] else None for p in PERSONAS}
    if lead["donor"]:
        words.append(f"Fine-tuning on {lead['donor']} helps the other tasks most (Δ⁺ "
                     f"{_fmt(r.transferability.at[lead['donor'], 'pos'])}).")
    if lead["pirate"]:
        words.append(f"Fine-tuning on {lead['pirate']} hurts them most (Δ⁻ "
                     f"{_fmt(r.transferability.at[lead['pirate'], 'neg'])}).")
    if lead["sponge"]:
        words.append(f"{lead['sponge']} gains most from training on other tasks (Θ⁺ "
                     f"{_fmt(r.malleability.at[lead['sponge'], 'pos'])}).")
    if lead["sieve"]:
        words.append(f"{lead['sieve']} loses most (Θ⁻ {_fmt(r.malleability.at[lead['sieve'], 'neg'])}).")
    for sign in ("positive", "negative"):
        c = r.largest[sign]
        if c is not None:
            names = ", ".join(abbrev(t) for t in c.tasks)
            words.append(f"The largest {sign} clique has {len(c.tasks)} tasks ({names}).")
    return " ".join(words)


def _label_section(r, options: dict) -> list[str]:
    m = r.matrices
    alpha = 1 - options["confidence"]
    diag = "included" if options["include_diagonal"] else "excluded"
    out = [f"## {r.label}", ""]
    out.append(f"Model `{m.model}`; {len(m.seeds)} seed(s) ({', '.join(m.seeds)}); {len(m.mean.index)} source and "
               f"{len(m.mean.columns)} target tasks; diagonal {diag} from transferability and malleability.")
    if r.tiny:
        out += ["", f"> {TINY_NOTE}"]
    out += ["", _in_words(r), ""]
    if "heatmap" in r.files:
        out += [f"![PGF heatmap {r.label}]({r.files['heatmap']})", ""]
    out += ["### PGF matrix (mean over seeds; rows: fine-tuned source, columns: target)", ""]
    rows = [[abbrev(s)] + [_fmt(m.mean.at[s, t], 2) for t in m.mean.columns] for s in m.mean.index]
    out += [_table(["src \\ tgt", *[abbrev(t) for t in m.mean.columns]], rows), ""]
    stds = m.std.to_numpy().ravel()
    stds = stds[~pd.isna(stds)]
    if len(stds):
        out += [f"Standard deviation over seeds: mean {stds.mean():.3f}, largest {stds.max():.3f} per cell.", ""]
    out += ["### Transferability (per source) and malleability (per target)", ""]
    rows = []
    for task in list(dict.fromkeys([*r.transferability.index, *r.malleability.index])):
        t = r.transferability.loc[task] if task in r.transferability.index else None
        mm = r.malleability.loc[task] if task in r.malleability.index else None
        rows.append([f"{task} ({abbrev(task)})",
                     _fmt(t.pos) if t is not None else "n/a", _fmt(t.neg) if t is not None else "n/a",
                     _pnn(t),
                     _fmt(mm.pos) if mm is not None else "n/a", _fmt(mm.neg) if mm is not None else "n/a",
                     _pnn(mm)])
    out += [_table(["task", "Δ⁺", "Δ⁻", "p/n/N", "Θ⁺", "Θ⁻", "p/n/N"], rows), ""]
    out.append(f"Mean positive transferability {_fmt(r.transferability['pos'].mean())}, mean negative "
               f"{_fmt(r.transferability['neg'].mean())}; mean positive malleability "
               f"{_fmt(r.malleability['pos'].mean())}, mean negative {_fmt(r.malleability['neg'].mean())}.")
    out += ["", "### Cliques", ""]
    tested = r.significance_tested
    for sign in ("positive", "negative"):
        out.append(f"- Largest {sign} clique: {_clique_line(r.largest[sign], tested)}.")
        if tested:
            sig = r.largest_significant[sign]
            out.append(f"- Largest {sign} clique counting only edges significant at confidence "
                       f"{options['confidence']:g} (α = {alpha:.2g}): {_names(sig.tasks) if sig else 'none'}.")
    out.append("")
    out.append("Edges join two tasks whose mean PGF has the same sign in both directions; an edge is significant when "
               f"both directions pass the test: {r.test}.")
    out.append("")
    for sign in ("positive", "negative"):
        cl = r.maximal[sign]
        out.append(f"All maximal {sign} cliques ({len(cl)}):")
        out.append("")
        if cl:
            rows = [[", ".join(abbrev(t) for t in c.tasks), len(c.tasks), f"{c.strength:.3f}",
                     "n/a" if c.significant is None else ("yes" if c.significant else "no")] for c in cl]
            out += [_table(["tasks", "size", "mean abs(PGF)", "all edges significant"], rows), ""]
        else:
            out += ["none", ""]
    sig_edges = r.edges[r.edges["significant"] == True]  # noqa: E712
    out.append(f"{len(r.edges)} edges, {len(sig_edges)} significant.")
    out += ["", "### Personas", ""]
    for persona, text in _PERSONA_TEXT.items():
        ranked = r.rankings[persona][:5]
        ranking = ", ".join(f"{abbrev(t)} {_fmt(v)}" for t, v in ranked)
        pvals = r.persona_p_values.get(persona, {})
        sig = "; ".join(f"{abbrev(t)} p = {_p(pvals.get(t))}" for t in r.personas[persona])
        out.append(f"- {text}: **{_names(r.personas[persona])}**" + (f" ({sig})" if sig else "")
                   + f". Ranking: {ranking}.")
    out += ["", "p: one-sided Wilcoxon signed-rank test across seeds of the task's score minus the mean score of the "
            "other tasks (n/a with fewer than two seeds)."]
    out += ["", "### By perceptual level and granularity", ""]
    for by, frame in r.groups.items():
        rows = [[g, _fmt(row.transferability_pos), _fmt(row.transferability_neg), _fmt(row.malleability_pos),
                 _fmt(row.malleability_neg), row.n_sources, row.n_targets] for g, row in zip(
                    frame.index, frame.itertuples(), strict=True)]
        out += [_table([by, "mean Δ⁺", "mean Δ⁻", "mean Θ⁺", "mean Θ⁻", "sources", "targets"], rows), ""]
    if "graph" in r.files:
        out += [f"![Transfer graph {r.label}]({r.files['graph']})", ""]
    if "curves" in r.files:
        out += ["### Transfer curves", "", f"![Transfer curves {r.label}]({r.files['curves']})", ""]
    return out


def _scales_section(trends: pd.DataFrame, across: dict, family: str | None, trend_test: dict) -> list[str]:
    """The trend table across one family's scales, in words, and the personas held at every scale."""
    out = [f"## Across model scales{f': {family}' if family else ''}", ""]
    rows = [[row.Index, _fmt(row.mean_positive_transferability), _fmt(row.mean_negative_transferability),
             _fmt(row.mean_positive_malleability), _fmt(row.mean_negative_malleability),
             row.largest_positive_clique_size, row.largest_negative_clique_size] for row in trends.itertuples()]
    out += [_table(["scale", "mean Δ⁺", "mean Δ⁻", "mean Θ⁺", "mean Θ⁻", "largest + clique",
                    "largest − clique"], rows), ""]
    out += [_trend_words(trends), ""]
    out += _trend_test_lines(trend_test)
    out.append("Tasks that keep a persona at every scale given:")
    out.append("")
    out += [f"- {p}: {_names(across[p])}" for p in PERSONAS] + [""]
    return out


def _families_section(families: dict) -> list[str]:
    """Structure compared across model families, as across scales: mean transfer, cliques and personas that hold."""
    per = families["per_family"]
    out = ["## Across model families", ""]
    out.append("Per family: means over its scales; a clique task or persona counts when it holds at every scale of "
               "the family.")
    out.append("")
    rows = [[f, ", ".join(v["labels"]), _fmt(v["mean_positive_transferability"]),
             _fmt(v["mean_negative_transferability"]), _fmt(v["mean_positive_malleability"]),
             _fmt(v["mean_negative_malleability"]), ", ".join(abbrev(t) for t in v["positive_clique"]) or "none",
             ", ".join(abbrev(t) for t in v["negative_clique"]) or "none"] for f, v in per.items()]
    out += [_table(["family", "scales", "mean Δ⁺", "mean Δ⁻", "mean Θ⁺", "mean Θ⁻", "+ clique", "− clique"], rows),
            ""]
    for p in PERSONAS:
        held = "; ".join(f"{f} {', '.join(abbrev(t) for t in v['personas'][p]) or '-'}" for f, v in per.items())
        out.append(f"- {p}: in every family: **{_names(families['personas_across_families'][p])}** ({held}).")
    out.append(f"- Largest positive clique, tasks shared by every family: "
               f"{_names(families['positive_clique_across_families'])}.")
    out.append(f"- Largest negative clique, tasks shared by every family: "
               f"{_names(families['negative_clique_across_families'])}.")
    return [*out, ""]


def _trend_words(trends: pd.DataFrame) -> str:
    parts = []
    for col, name in (("mean_positive_transferability", "mean Δ⁺"), ("mean_negative_transferability", "mean Δ⁻"),
                      ("largest_positive_clique_size", "the largest positive clique")):
        values = trends[col].tolist()
        steps = [b - a for a, b in zip(values, values[1:], strict=False)]
        shape = ("rises" if all(s > 0 for s in steps) else "falls" if all(s < 0 for s in steps)
                 else "does not change monotonically")
        chain = " → ".join(f"{lbl} {v:+.3f}" if isinstance(v, float) else f"{lbl} {v}"
                           for lbl, v in zip(trends.index, values, strict=True))
        parts.append(f"{name[0].upper() + name[1:]} {shape} with scale ({chain}).")
    return " ".join(parts)


def _p(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"


def _trend_test_lines(test: dict) -> list[str]:
    if not test:
        return []
    names = {"mean_positive_transferability": "mean Δ⁺", "mean_negative_transferability": "mean Δ⁻",
             "mean_positive_malleability": "mean Θ⁺", "mean_negative_malleability": "mean Θ⁻"}
    rows = [[names[k], _fmt(v["smaller_scale_mean"]), _fmt(v["larger_scale_mean"]),
             f"{v['n_seeds'][0]} / {v['n_seeds'][1]}", _p(v["p_value"])] for k, v in test["scores"].items()]
    return [f"Is the score larger at {test['larger']} than at {test['smaller']}? One-sided Mann-Whitney U test over "
            "the per-seed means (n/a with fewer than two seeds a side):", "",
            _table(["score", f"{test['smaller']} (mean of seeds)", f"{test['larger']} (mean of seeds)", "seeds",
                    "p"], rows), ""]


def render_report(results: dict, *, across: dict, trends: pd.DataFrame, curves: pd.DataFrame, arms: pd.DataFrame,
                  notes: list[str], inputs: list[str], options: dict, label_order: list[str], families: dict,
                  trend_test: dict | None = None) -> str:
    """`across`: family -> personas held at every scale of it; `trends`: one row per label with its family;
    `families`: `vtl.analysis.families.compare_families`; `trend_test`: family -> its scale-trend test."""
    out = ["# Task-transfer analysis", ""]
    out.append("Inputs: " + ", ".join(f"`{i}`" for i in inputs) + ".")
    out.append(f"Epoch per run: {options['epoch']}; diagonal "
               f"{'included' if options['include_diagonal'] else 'excluded'}; confidence {options['confidence']:g}; "
               f"personas: top {options['top_k']} with the persona's sign.")
    if options.get("upper") is not None or options.get("eps") is not None:
        out.append(f"PGF recomputed from the logged accuracies with ceiling U_j = {_ceiling_text(options.get('upper'))}"
                   f" and ε = {options.get('eps') or 0:g}.")
    out.append("")
    if any(r.tiny for r in results.values()):
        out += [f"> **{TINY_NOTE}**", ""]
    if notes:
        out += ["## Left out", "", "The analysis went as far as the data allows; it left out:", ""]
        out += [f"- {n}" for n in notes] + [""]
    per_family = families["per_family"]
    for family, info in per_family.items():
        if len(info["labels"]) > 1:
            part = trends[trends["family"] == family]
            out += _scales_section(part, across[family], family if len(per_family) > 1 else None,
                                   (trend_test or {}).get(family) or {})
    if len(per_family) > 1:
        out += _families_section(families)
    for label in label_order:
        if label in results:
            out += _label_section(results[label], options)
    if not arms.empty:
        out += ["## PGF-guided data selection: arms per target", "",
                "Accuracy and PGF on the mixture's own target, mean over seeds.", ""]
        rows = [[r.label, r.target, r.arm, _fmt(r.accuracy, signed=False), _fmt(r.pgf), r.n_seeds]
                for r in arms.itertuples()]
        out += [_table(["label", "target", "arm", "accuracy", "PGF", "seeds"], rows), ""]
    tasks = list(dict.fromkeys(t for r in results.values() for t in [*r.matrices.mean.index,
                                                                     *r.matrices.mean.columns]))
    out += ["## Abbreviations and definitions", ""]
    out.append(", ".join(f"{abbrev(t)} = {t} ({get_task(t).level} level, {get_task(t).granularity})" for t in tasks)
               + ".")
    out += ["", "PGF μ(i→j) = (Acc(M_i, T_j) − Acc(M, T_j)) / (U_j − Acc(M, T_j) + ε), U_j = 1 and ε = 0 unless "
            "stated above. Δ⁺(i) = ((1 − e^(−p/N)) / p) · "
            "Σ μ(i→j)[μ>0] over targets j (p positive entries of N); Δ⁻ likewise over negative entries; Θ± the same "
            "down a column (over sources).", ""]
    return "\n".join(out)


def _ceiling_text(upper) -> str:
    if isinstance(upper, dict):
        return ", ".join(f"{t} {v:g}" for t, v in upper.items())
    return f"{1.0 if upper is None else upper:g}"


def terminal_table(results: dict, across: dict, out_dir: Path, *, plots: bool = True, n_left_out: int = 0,
                   families: dict | None = None) -> str:
    """PGF matrix per label with two-letter abbreviations, then personas; what `vtl analyze` prints."""
    lines = []
    for label, r in results.items():
        m = r.matrices.mean
        lines.append(f"PGF {label} (rows: fine-tuned source, columns: target; mean over {len(r.matrices.seeds)} "
                     f"seed(s)){'  [tiny offline model: synthetic data only]' if r.tiny else ''}")
        lines.append("      " + "".join(f"{abbrev(t):>6}" for t in m.columns))
        for s in m.index:
            lines.append(f"  {abbrev(s):<4}" + "".join(
                f"{'   n/a' if math.isnan(m.at[s, t]) else format(m.at[s, t], '+6.2f')}" for t in m.columns))
        lines.append("  personas: " + "; ".join(
            f"{p} {', '.join(abbrev(t) for t in r.personas[p]) or '-'}" for p in PERSONAS))
        lines.append("")
    per_family = (families or {}).get("per_family", {})
    for family, info in per_family.items():
        if len(info["labels"]) > 1:
            name = f" of {family}" if len(per_family) > 1 else ""
            lines.append(f"personas at every scale{name}: " + "; ".join(
                f"{p} {', '.join(abbrev(t) for t in across[family][p]) or '-'}" for p in PERSONAS))
    if len(per_family) > 1:
        lines.append("personas in every family: " + "; ".join(
            f"{p} {', '.join(abbrev(t) for t in families['personas_across_families'][p]) or '-'}" for p in PERSONAS))
    if n_left_out:
        lines.append(f"{n_left_out} item(s) left out of the analysis: see 'Left out' in report.md")
    lines.append(f"wrote {Path(out_dir) / 'summary.json'}, {Path(out_dir) / 'report.md'}"
                 + (f" and PNGs in {out_dir}" if plots else ""))
    return "\n".join(lines)
