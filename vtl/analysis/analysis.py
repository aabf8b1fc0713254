"""The whole transfer analysis in one call: inputs -> summary.json, report.md, PNGs and a terminal table."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vtl.analysis import cliques as cq
from vtl.analysis import explorer
from vtl.analysis.curves import compare_arms, transfer_curves
from vtl.analysis.families import compare_families, family_of_name, group_labels
from vtl.analysis.groups import GROUPINGS, group_means, scale_trends
from vtl.analysis.io import (
    AnalysisInputError,
    load_inputs,
    note,
    order_labels,
    recompute_pgf,
    select_epoch,
    task_order,
)
from vtl.analysis.matrix import PGFMatrices, pgf_matrices
from vtl.analysis.metrics import malleability, transferability
from vtl.analysis.personas import DEFAULT_TOP_K, PERSONAS, persona_rankings, personas
from vtl.analysis.powered import (
    CORRECTION,
    DEFAULT_REPLICATES,
    POWERED_TESTS,
    QUESTIONS_FILE,
    CellTests,
    bootstrap_cells,
    crossed_cells,
    directed_p,
    load_questions,
)
from vtl.analysis.report import render_report, terminal_table
from vtl.analysis.stats import persona_p_values, scale_trend_test
from vtl.analysis.video import render_video_section, split_video, video_summary

TESTS = ("wilcoxon", *POWERED_TESTS)
TEST_WORDS = {
    "wilcoxon": "one-sided Wilcoxon signed-rank test across seeds (the paper's), alpha {alpha:.3g}, no correction",
    "crossed": "crossed seeds x questions random-effects t-test (Satterthwaite df), two-sided, "
               f"{CORRECTION}, alpha {{alpha:.3g}}",
    "bootstrap": "hierarchical bootstrap over seeds and questions ({b} replicates), two-sided, "
                 f"{CORRECTION}, alpha {{alpha:.3g}}",
}


@dataclass
class LabelResult:
    """Everything computed for one label (a model: one scale of one family)."""

    label: str
    matrices: PGFMatrices
    transferability: pd.DataFrame
    malleability: pd.DataFrame
    edges: pd.DataFrame
    graphs: dict  # sign -> nx.Graph
    largest: dict  # sign -> Clique | None
    largest_significant: dict  # sign -> Clique | None; None for every sign when significance is untestable
    maximal: dict  # sign -> list[Clique]
    rankings: dict
    personas: dict
    groups: dict  # "level"/"granularity" -> DataFrame
    significance_tested: bool
    persona_p_values: dict = field(default_factory=dict)  # persona -> {task: p across seeds, or None}
    files: dict = field(default_factory=dict)
    test: str = ""  # the test behind the edge flags, in words
    cell_tests: CellTests | None = None  # the bootstrap's intervals and p-values per cell (--test bootstrap)

    @property
    def tiny(self) -> bool:
        return "tiny" in self.matrices.model.lower() or "tiny" in self.label.lower()


def analyze_matrices(m: PGFMatrices, *, include_diagonal: bool = False, confidence: float = 0.9,
                     top_k: int = DEFAULT_TOP_K, notes: list[str] | None = None,
                     cell_tests: CellTests | None = None) -> LabelResult:
    """Transferability, malleability, cliques with significance, personas and groups for one label.

    Edge significance: the seed-level one-sided Wilcoxon, or with `cell_tests` the bootstrap's adjusted p-values."""
    notes = [] if notes is None else notes
    t = transferability(m.mean, include_diagonal)
    mal = malleability(m.mean, include_diagonal)
    directed = None if cell_tests is None else directed_p(cell_tests, m.mean)
    edges = cq.edge_table(m.mean, m.per_seed, confidence, directed)
    name = "wilcoxon" if cell_tests is None else cell_tests.method
    test = TEST_WORDS[name].format(alpha=1 - confidence, b=cell_tests.replicates if cell_tests else 0)
    tested = len(m.seeds) >= 2 or cell_tests is not None
    if not tested:
        note(notes, f"[{m.label}] only one seed ({m.seeds[0]}): the Wilcoxon test across seeds needs at least two, "
                    "so edge significance and significant-only cliques are left out")
    elif edges["significant"].isna().any():
        note(notes, f"[{m.label}] {int(edges['significant'].isna().sum())} edge(s) have fewer than two seeds in a "
                    "direction; their significance is left out")
    order = list(m.mean.index)
    graphs = {s: cq.transfer_graph(m.mean, s) for s in cq.SIGNS}
    largest = {s: cq.largest_clique(graphs[s], order, edges) for s in cq.SIGNS}
    maximal = {s: cq.maximal_cliques(graphs[s], order, edges) for s in cq.SIGNS}
    largest_sig = {s: (cq.largest_clique(cq.significant_subgraph(graphs[s], edges, s), order, edges) if tested
                       else None) for s in cq.SIGNS}
    ranks = persona_rankings(t, mal)
    groups = {by: group_means(t, mal, by) for by in GROUPINGS}
    chosen = personas(ranks, top_k)
    return LabelResult(m.label, m, t, mal, edges, graphs, largest, largest_sig, maximal, ranks, chosen, groups,
                       tested, persona_p_values(m, chosen, include_diagonal), test=test, cell_tests=cell_tests)


def analyze(inputs: list[str], out_dir, *, epoch: str = "last", include_diagonal: bool = False,
            confidence: float | None = None, print_table: bool = True, top_k: int = DEFAULT_TOP_K,
            make_plots: bool = True,
            upper: float | dict[str, float] | None = None, eps: float | None = None, html: bool = True,
            test: str = "wilcoxon", replicates: int = DEFAULT_REPLICATES, bootstrap_seed: int = 0) -> dict:
    """Analyse transfer runs or released CSVs; write summary.json, report.md, report.html and PNGs to out_dir; return
    the summary.

    inputs: run directories, transfer.jsonl files or released-format CSVs, each optionally `LABEL=PATH`.
    epoch: "last" or "best" (best accuracy on the run's own source task).
    upper, eps: when either is given, PGF is recomputed from the logged accuracies with ceiling(s) U_j (one number
    or {task: U_j}, default 1) and epsilon (default 0); rows holding PGF only keep it.
    The summary (and summary.json) maps each label (labels grouped by model family, smallest scale first within a
    family) to its results: family, largest_positive_clique, largest_negative_clique, transferability / malleability
    ({task: {"pos", "neg", "p", "n", "N"}}), personas (with p-values across seeds), personas_across_scales (within
    its family), scale_trend_test (within its family), personas_across_families, families (the comparison across
    families), mean_positive_transferability, pgf_matrix / pgf_std / pgf_per_seed, edges, maximal_cliques,
    selection, left_out...
    Scores are computed on the seed-mean matrix; NaN becomes null.
    test: what flags an edge: "wilcoxon" (the paper's, over seeds), or "crossed" / "bootstrap" (vtl.analysis.powered:
    seeds and questions, from each run's questions.jsonl; a label without them falls back to the Wilcoxon, with a
    note). confidence: the test's level (default 0.9 for the Wilcoxon as in the paper, 0.95 for the others).
    """
    if test not in TESTS:
        raise AnalysisInputError(f"--test {test}: choose one of {', '.join(TESTS)}")
    if confidence is None:
        confidence = 0.95 if test in POWERED_TESTS else 0.9
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, no permission
        raise AnalysisInputError(f"{out}: cannot create the output directory ({exc}); give a directory") from None
    notes: list[str] = []
    loaded = load_inputs(inputs, notes)
    if upper is not None or eps is not None:
        loaded.frame = recompute_pgf(loaded.frame, 1.0 if upper is None else upper, eps or 0.0, notes)
    chosen = select_epoch(loaded.frame, epoch, notes)
    models = loaded.frame.drop_duplicates("label").set_index("label")["model"]
    family = {lbl: family_of_name(lbl, models.get(lbl, "")) for lbl in loaded.label_order}
    groups = {f: order_labels(labels) for f, labels in group_labels(loaded.label_order, family).items()}
    label_order = [lbl for labels in groups.values() for lbl in labels]
    mats, video_mats = split_video(pgf_matrices(chosen, label_order, notes))
    video = {label: video_summary(m, top_k) for label, m in video_mats.items()}
    tests = {label: _cell_tests(test, chosen, m, confidence, replicates, bootstrap_seed, notes)
             for label, m in mats.items()}
    results = {label: analyze_matrices(m, include_diagonal=include_diagonal, confidence=confidence, top_k=top_k,
                                       notes=notes, cell_tests=tests[label]) for label, m in mats.items()}
    structure = {lbl: {
        "personas": r.personas, "transferability": r.transferability, "malleability": r.malleability,
        "largest_positive_clique": r.largest["positive"].tasks if r.largest["positive"] else [],
        "largest_negative_clique": r.largest["negative"].tasks if r.largest["negative"] else [],
    } for lbl, r in results.items()}
    per_family_trends = [scale_trends({lbl: structure[lbl] for lbl in labels if lbl in results}).assign(family=f)
                         for f, labels in groups.items() if any(lbl in results for lbl in labels)]
    trends = pd.concat(per_family_trends) if per_family_trends else pd.DataFrame()
    families = compare_families(groups, structure)
    none = {p: [] for p in PERSONAS}
    across = {f: families["per_family"].get(f, {}).get("personas", none) for f in groups}
    trend_test = {f: scale_trend_test({lbl: results[lbl].matrices for lbl in labels if lbl in results},
                                      include_diagonal) for f, labels in groups.items()}
    curves = transfer_curves(loaded.frame)
    arms = compare_arms(chosen)
    mixture_only = [lbl for lbl in label_order if lbl not in results]
    for lbl in mixture_only:
        note(notes, f"[{lbl}] has only mixture (selection) runs: no transfer matrix for it")
    if make_plots:
        _write_plots(results, curves, out)
        from vtl.analysis import plots

        for lbl, block in video.items():
            block["files"] = {"heatmap": plots.pgf_heatmap(
                block["pgf_matrix"], out / f"heatmap_video_{_slug(lbl)}.png",
                f"PGF {lbl}: image sources × video targets").name}
    if not curves.empty:  # the numbers behind the curve plots, for other tools
        curves.to_csv(out / "curves.csv", index=False)
    options = {"epoch": epoch, "include_diagonal": include_diagonal, "confidence": confidence, "top_k": top_k,
               "upper": upper, "eps": eps, "test": test,
               **({"replicates": replicates, "bootstrap_seed": bootstrap_seed} if test == "bootstrap" else {})}
    summary = {lbl: _label_summary(results.get(lbl), lbl, family[lbl], across[family[lbl]], families, arms, notes,
                                   options, trends, trend_test[family[lbl]]) for lbl in label_order}
    for lbl, block in video.items():
        summary[lbl]["video"] = {
            **block, "transferability": _scores_dict(block["transferability"]),
            "malleability": _scores_dict(block["malleability"]), "pgf_matrix": _matrix_dict(block["pgf_matrix"]),
        }
    summary = _jsonable(summary)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    report = render_report(results, across=across, trends=trends, curves=curves, arms=arms, notes=notes,
                           inputs=inputs, options=options, label_order=label_order, families=families,
                           trend_test=trend_test)
    for lbl, block in video.items():
        report += "\n" + "\n".join(render_video_section(lbl, block))
    (out / "report.md").write_text(report)
    if html:
        payload = explorer.build_payload(
            results=results, video_mats=video_mats, video=video, chosen=chosen, frame=loaded.frame, family=family,
            label_order=label_order, trends=trends, trend_test=trend_test, inputs=inputs, options=options,
            notes=notes)
        explorer.write_report(out / explorer.REPORT_FILE, _jsonable(payload))
    if print_table:
        print(terminal_table(results, across, out, plots=make_plots, n_left_out=len(notes), families=families))
        for lbl, block in video.items():
            print(f"video targets [{lbl}]: " + "; ".join(f"{p} {', '.join(ts) or '-'}"
                                                        for p, ts in block["personas"].items()))
        if html:
            print(f"explore it in a browser: {(out / explorer.REPORT_FILE).resolve().as_uri()}")
    return summary


def _cell_tests(test: str, chosen: pd.DataFrame, m: PGFMatrices, confidence: float, replicates: int, seed: int,
                notes: list[str]) -> CellTests | None:
    if test not in POWERED_TESTS:
        return None
    questions = load_questions(chosen, m.label, notes)
    if questions is None:
        note(notes, f"[{m.label}] no per-question records ({QUESTIONS_FILE}): its edges are flagged by the "
                    f"seed-level Wilcoxon instead of the {test} test")
        return None
    sources, targets = list(m.mean.index), list(m.mean.columns)
    if test == "crossed":
        return crossed_cells(questions, sources, targets, confidence=confidence)
    return bootstrap_cells(questions, sources, targets, confidence=confidence, replicates=replicates, seed=seed)


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "label"


def _write_plots(results: dict[str, LabelResult], curves: pd.DataFrame, out: Path) -> None:
    from vtl.analysis import plots  # matplotlib only when plotting

    for label, r in results.items():
        slug = _slug(label)
        r.files["heatmap"] = plots.pgf_heatmap(r.matrices.mean, out / f"heatmap_{slug}.png",
                                               f"PGF {label} (mean over {len(r.matrices.seeds)} seed(s))").name
        highlight = {s: (r.largest[s].tasks if r.largest[s] else []) for s in cq.SIGNS}
        r.files["graph"] = plots.transfer_graph_plot(r.graphs["positive"], r.graphs["negative"], highlight,
                                                     out / f"graph_{slug}.png", f"Transfer graph {label}").name
        part = curves[curves["label"] == label]
        if not part.empty:
            order = task_order(set(part["source_task"]) | set(part["target"]))
            r.files["curves"] = plots.curves_plot(part, out / f"curves_{slug}.png",
                                                  f"Transfer curves {label}", order).name


def _clique_dict(c: cq.Clique) -> dict:
    return {"tasks": c.tasks, "strength": c.strength, "significant": c.significant}


def _scores_dict(frame: pd.DataFrame) -> dict:
    return {task: {"pos": row.pos, "neg": row.neg, "p": int(row.p), "n": int(row.n), "N": int(row.N)}
            for task, row in frame.iterrows()}


def _matrix_dict(frame: pd.DataFrame) -> dict:
    return {s: {t: frame.at[s, t] for t in frame.columns} for s in frame.index}


def _label_summary(r: LabelResult | None, label: str, family: str, across: dict, families: dict, arms: pd.DataFrame,
                   notes: list[str], options: dict, trends: pd.DataFrame, trend_test: dict) -> dict:
    mine = [n for n in notes if not n.startswith("[") or n.startswith(f"[{label}]")]
    selection: dict = {}
    for row in arms[arms["label"] == label].itertuples():
        selection.setdefault(row.target, {})[row.arm] = {"accuracy": row.accuracy, "pgf": row.pgf,
                                                         "n_seeds": int(row.n_seeds)}
    if r is None:
        return {"family": family, "selection": selection, "left_out": mine, "options": options}
    m = r.matrices
    largest = {s: (r.largest[s].tasks if r.largest[s] else []) for s in cq.SIGNS}
    sig = {s: (r.largest_significant[s].tasks if r.largest_significant[s] else []) if r.significance_tested
           else None for s in cq.SIGNS}
    return {
        "model": m.model,
        "family": family,
        "tiny_model": r.tiny,
        "seeds": m.seeds,
        "sources": list(m.mean.index),
        "targets": list(m.mean.columns),
        "options": options,
        "largest_positive_clique": largest["positive"],
        "largest_negative_clique": largest["negative"],
        "largest_significant_positive_clique": sig["positive"],
        "largest_significant_negative_clique": sig["negative"],
        "maximal_cliques": {s: [_clique_dict(c) for c in r.maximal[s]] for s in cq.SIGNS},
        "test": r.test,
        "edges": [{"tasks": [e.a, e.b], "sign": e.sign, "weight": e.weight, "p_value": e.p_value,
                   "significant": e.significant, "test": "wilcoxon" if r.cell_tests is None else r.cell_tests.method}
                  for e in r.edges.itertuples()],
        **({"cell_tests": _cell_tests_dict(r.cell_tests)} if r.cell_tests else {}),
        "transferability": _scores_dict(r.transferability),
        "malleability": _scores_dict(r.malleability),
        "mean_positive_transferability": r.transferability["pos"].mean(),
        "mean_negative_transferability": r.transferability["neg"].mean(),
        "mean_positive_malleability": r.malleability["pos"].mean(),
        "mean_negative_malleability": r.malleability["neg"].mean(),
        "personas": r.personas,
        "persona_p_values": r.persona_p_values,
        "persona_rankings": {p: [[t, v] for t, v in ranked] for p, ranked in r.rankings.items()},
        "personas_across_scales": across,
        "personas_across_families": families["personas_across_families"],
        "families": families,
        "groups": {by: {g: row for g, row in frame.to_dict("index").items()} for by, frame in r.groups.items()},
        "scale_trend": trends.loc[label].to_dict() if label in trends.index else {},
        "scale_trend_test": trend_test,
        "pgf_matrix": _matrix_dict(m.mean),
        "pgf_std": _matrix_dict(m.std),
        "pgf_per_seed": {seed: _matrix_dict(frame) for seed, frame in m.per_seed.items()},
        "selection": selection,
        "files": dict(r.files),
        "left_out": mine,
    }


def _cell_tests_dict(c: CellTests) -> dict:
    """Per cell: the bootstrap interval, raw and adjusted p-values and the flag (source -> target -> value)."""
    return {"ci_low": _matrix_dict(c.lo), "ci_high": _matrix_dict(c.hi), "p": _matrix_dict(c.p),
            "p_adjusted": _matrix_dict(c.p_adjusted), "significant": _matrix_dict(c.significant),
            "replicates": c.replicates, "alpha": c.alpha}


def _jsonable(obj):
    """NaN -> null and numpy scalars -> Python, so summary.json is strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(float(obj)) else float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
