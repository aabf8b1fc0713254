"""`vtl demo` on the planted-transfer world: the grid, the analysis, and the planted structure next to what was found.

The world (vtl.data.planted) says beforehand which tasks help each other (groups that read one visual cue the same
way), which hurt each other (an antagonist pair reading one cue with the letters swapped) and which do nothing to the
rest. The demo fine-tunes the warmed-up tiny model on each source task for each seed, analyses the runs and counts
how much of that structure the analysis recovers: the largest positive clique, the positive and negative edges,
donors and sponges. `planted_vs_recovered.json` in the analysis directory holds the counts.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
import threading
import time
from pathlib import Path

from vtl.analysis.explorer import REPORT_FILE, add_section
from vtl.data.planted import PLANTED_FILE, PlantedWorld, train_rows_per_task
from vtl.errors import VtlError
from vtl.transfer import fork_server
from vtl.transfer import sweep as sw
from vtl.transfer.demo_runs import (
    PLANTED_CONFIDENCE,
    PLANTED_SWEEP,
    PLANTED_TEST,
    analyze_runs,
    demo_sweep,
    elapsed,
    finish,
    report_run,
    run_grid,
)
from vtl.transfer.demo_selection import (
    SELECTION_DIR,
    SELECTION_TARGETS,
    selection_lines,
    selection_results,
    selection_sweep,
    selection_targets,
    write_mixtures,
)

COMPARISON_FILE = "planted_vs_recovered.json"
# Each mixture half the rows fine-tuning on one task has (120): fits of half the steps keep the demo near its
# budget, and a cue shared with the donors is learned from far fewer rows than that.
SELECTION_BUDGET = train_rows_per_task() // 2
NOTE = (
    "Note: a tiny model on a synthetic world built to contain this structure; finding it shows the method and the "
    "code work, not how Qwen2.5-VL transfers. Run sweeps/transfer_grid.yaml for the real study."
)


def run_planted(*, out: str, sources: str | None, max_epochs: int | None, sets: list[str], verbose: bool,
                jobs: int) -> int:
    """`vtl demo` without --quick (see `vtl.transfer.demo.demo` for the parameters)."""
    started = time.monotonic()
    root = Path(out)
    if jobs < 1:
        raise VtlError(f"--jobs {jobs}: give at least 1")
    sweep = demo_sweep(sources, max_epochs, sets, PLANTED_SWEEP)
    if max_epochs is not None:  # the config scores the targets after its last epoch only
        sweep = sw.restrict(sweep, {"trainer.check_val_every_n_epoch": [max_epochs]})
    tasks = list(sweep.parameters["data.source_task"])
    seeds = list(sweep.parameters["seed_everything"])
    print(f"vtl demo: the planted-transfer world: {len(tasks)} source task(s) x {len(seeds)} seed(s) = "
          f"{sweep.size} fine-tuning runs of the tiny model, then the transfer analysis")
    if len(tasks) < 13:
        print(f"  a subset of the 13 sources ({', '.join(tasks)}): what is planted among them can be recovered")
    print(f"[1/5] planted world and warmed-up tiny model {elapsed(started)}")
    fork_server.start_early()  # its imports run on the second core while the builds use one
    suite = _build_planted()
    world = PlantedWorld.load(suite)
    print_planted(world, suite / PLANTED_FILE)
    if len(tasks) < len(world.rules):
        print_planted(world.restricted(tasks), None)

    print(f"[2/5] transfer grid: {sw.find_sweep_file(PLANTED_SWEEP)} -> {root}/<run>, {jobs} at a time "
          f"{elapsed(started)}")
    runs = sw.expand_grid(sweep, root)
    complete, result = run_grid(lambda: run_parallel(sweep, runs, jobs=jobs, quiet=not verbose), runs)
    if result is None:
        return complete

    analysis = root / "analysis"
    print(f"[3/5] transfer analysis of {len(complete)} run(s), the {PLANTED_TEST} seeds x questions test at alpha "
          f"{1 - PLANTED_CONFIDENCE:.2g} -> "
          f"{analysis} {elapsed(started)}")
    summary = analyze_runs(complete, analysis, PLANTED_CONFIDENCE, PLANTED_TEST)
    if summary is None:
        return 1
    label = next(iter(summary.values()))  # the runs share one model: one label
    selection = run_selection(world, label, sweep, root, jobs=jobs, verbose=verbose, started=started)
    if isinstance(selection, int):  # interrupted: finished fits are kept, a rerun resumes
        return selection
    print(f"\n[5/5] planted vs recovered {elapsed(started)}")
    comparison = compare(world, label)
    for line in comparison_lines(comparison):
        print(line)
    diagonal = diagonal_pgf(label)
    for line in diagonal_lines(diagonal):
        print(line)
    for line in selection_lines(selection, SELECTION_BUDGET):
        print(line)
    planted = {**comparison, "diagonal_pgf": diagonal, "selection": selection}
    (analysis / COMPARISON_FILE).write_text(json.dumps(planted, indent=1) + "\n")
    page = add_section(analysis / REPORT_FILE, "planted", planted)
    print()
    print(f"  report: {analysis / 'report.md'}")
    print(f"explorer: {page.resolve().as_uri()}  (open it in a browser, or: vtl report open {analysis})")
    print(f" summary: {analysis / 'summary.json'}  (planted vs recovered: {analysis / COMPARISON_FILE})")
    return finish(started, result, NOTE)


def run_selection(world: PlantedWorld, label: dict, grid: sw.SweepFile, root: Path, *, jobs: int, verbose: bool,
                  started: float) -> dict | int:
    """[4/5]: the pgf and random mixtures of each selection target fine-tuned with the grid's seeds (OUT/selection);
    {} when no selection target has its planted donors among the sources run; the exit status when interrupted."""
    targets = selection_targets(world, label.get("sources", []))
    out = root / SELECTION_DIR
    if not targets:
        print(f"[4/5] PGF-guided selection: skipped (it needs the donors of {' or '.join(SELECTION_TARGETS)} among "
              f"the sources) {elapsed(started)}")
        return {}
    mixtures = write_mixtures(label, targets, out, SELECTION_BUDGET)
    if not mixtures:
        return {}
    targets = list(mixtures)
    sweep = selection_sweep(grid, mixtures, targets)
    runs = sw.expand_grid(sweep, out)
    print(f"[4/5] PGF-guided selection for {', '.join(targets)}: `vtl select` mixtures -> {out / 'mixtures'}, "
          f"{len(runs)} fits {elapsed(started)}")
    complete, result = run_grid(lambda: run_parallel(sweep, runs, jobs=jobs, quiet=not verbose), runs)
    if result is None and complete != 1:  # 1: no selection fit finished, which the table then shows
        return complete
    return selection_results([r for r in runs if r.complete], mixtures)


def _build_planted() -> Path:
    from vtl.data.planted import planted_suite_dir
    from vtl.models.tiny import neutral_tiny_model_dir, tiny_model_dir

    steps = (("tiny model", tiny_model_dir), ("tiny model after the neutral warm-up", neutral_tiny_model_dir),
             ("planted suite", planted_suite_dir))
    path = None
    for what, build in steps:
        t0 = time.monotonic()
        path = build()
        print(f"  {what}: {path} ({time.monotonic() - t0:.1f}s)")
    return path


def print_planted(world: PlantedWorld, path: Path | None) -> None:
    """The groups, antagonists and unrelated tasks; path None: the part of the world a subset of sources can show."""
    print(f"  planted structure ({path}):" if path else "  planted among the sources run:")
    for cue, tasks in world.groups.items():
        values = world.rules[tasks[0]]["values"]
        print(f"    group {cue!r} (positive clique): {', '.join(tasks)}  ({values[0]} -> (A), {values[1]} -> (B))")
    for a, b in world.antagonists:
        cue = world.rules[a]["cue"]
        print(f"    antagonists on {cue!r} (negative edge): {a} ({world.rules[a]['values'][0]} -> (A)) vs "
              f"{b} ({world.rules[b]['values'][0]} -> (A))")
    print(f"    unrelated (own cue each, no transfer): {', '.join(world.unrelated) or '-'}")


# ---------------------------------------------------------------------------------------------------- grid


def run_parallel(sweep: sw.SweepFile, runs: list[sw.SweepRun], *, jobs: int, quiet: bool = True) -> sw.SweepResult:
    """The sweep runner on `jobs` interleaved shares of the grid at once (each fit is its own process, so the
    shares run side by side); one-thread fits when more than one runs, so they do not fight over the cores."""
    jobs = max(1, min(jobs, len(runs)))
    if runs:  # the whole grid, once, before the shares start (for `vtl sweep status`)
        sw.write_grid(sweep, runs, runs[0].run_dir.parent)
    if jobs == 1:
        return sw.run_sweep(sweep, runs, quiet=quiet, on_done=report_run)
    pending = sum(not r.complete for r in runs)
    print(f"sweep {sweep.name}: {len(runs)} runs, {len(runs) - pending} complete, {pending} to run")
    lock = threading.Lock()
    share_size = re.compile(r"^\[(\d+)/\d+\]")

    def say(line: str) -> None:
        if line.startswith(f"sweep {sweep.name}:"):
            return  # each share's own header and footer; the totals are printed below
        with lock:  # "[run/share size]" -> "[run/grid size]"
            print(share_size.sub(lambda m: f"[{m.group(1)}/{len(runs)}]", line), flush=True)

    shares = [runs[i::jobs] for i in range(jobs)]
    results: list[sw.SweepResult | None] = [None] * jobs

    def work(i: int) -> None:
        results[i] = sw.run_sweep(sweep, shares[i], quiet=quiet, say=say, on_done=report_run)

    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    t0 = time.monotonic()
    try:
        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    merged = sw.SweepResult()
    for part in results:
        if part is None:  # a share's thread died; its runs stay pending for the next call
            continue
        for name in ("launched", "skipped", "failed", "not_started"):
            getattr(merged, name).extend(getattr(part, name))
    print(f"sweep {sweep.name}: {len(merged.launched) - len(merged.failed)} ran, {len(merged.skipped)} already "
          f"complete, {len(merged.failed)} failed in {sw.clock(time.monotonic() - t0)}")
    for name, rc in merged.failed:
        print(f"  failed: {name} (exit {rc})")
    return merged


# ---------------------------------------------------------------------------------------------------- comparison


def _edge_sets(label: dict) -> tuple[dict, dict]:
    """(positive, negative): {frozenset(a, b): edge} from a summary label's edge list."""
    edges: dict[str, dict] = {"positive": {}, "negative": {}}
    for e in label.get("edges", []):
        edges[e["sign"]][frozenset(e["tasks"])] = e
    return edges["positive"], edges["negative"]


def _score(planted: set, found: set) -> dict:
    return {"planted": len(planted), "recovered": len(planted & found), "extra": len(found - planted)}


def compare(full: PlantedWorld, label: dict) -> dict:
    """How much of the planted structure one analysed label recovers (a summary.json label as `analyze` returns).

    Edges are those of the analysis (signs of the seed-mean PGF, both directions) among the label's sources;
    `significant` counts those whose Wilcoxon test passed as well. Donors and sponges are planted where a task sits in
    a group (it helps, and is helped by, the other members): donors among the sources, sponges among all targets."""
    sources = [t for t in label.get("sources", []) if t in full.rules] or list(full.rules)
    world = full.restricted(sources)
    positive, negative = _edge_sets(label)
    planted_pos, planted_neg = world.positive_edges(), world.negative_edges()
    in_groups = {t for g in world.groups.values() for t in g}
    targets_in_groups = {t for g in full.groups.values() for t in g}
    clique = list(label.get("largest_positive_clique") or [])
    size = max((len(g) for g in world.groups.values()), default=0)
    tied = [g for g in world.groups.values() if len(g) == size]  # planted groups of the largest size
    largest = next((g for g in tied if set(g) == set(clique)), tied[0] if tied else [])
    personas = label.get("personas", {})

    def pairs(edges) -> list[list[str]]:
        return sorted(sorted(p) for p in edges)  # a stable order: sets of pairs iterate in hash order

    def significant(found: dict, planted: set) -> int:
        return sum(1 for p in planted if p in found and found[p].get("significant"))

    def edges(found: dict, planted: set) -> dict:
        flagged = {p for p, e in found.items() if e.get("significant")}
        return {**_score(planted, set(found)), "significant": significant(found, planted),
                "significant_extra": pairs(flagged - planted), "test": label.get("test"),
                "precision": len(flagged & planted) / len(flagged) if flagged else None,
                "recall": len(flagged & planted) / len(planted) if planted else None,
                "missed": pairs(planted - set(found)), "extra_edges": pairs(set(found) - planted),
                "planted_edges": pairs(planted)}

    out = {
        "groups": significant_groups(world, positive),
        "largest_positive_clique": {
            "planted": largest, "recovered": clique, "matches": sorted(set(clique)) == sorted(largest),
            "agree": len(set(clique) & set(largest)),
        },
        "positive_edges": edges(positive, planted_pos),
        "negative_edges": edges(negative, planted_neg),
        "donors": {"recovered": personas.get("donor", []),
                   "agree": sum(t in in_groups for t in personas.get("donor", []))},
        "sponges": {"recovered": personas.get("sponge", []),
                    "agree": sum(t in targets_in_groups for t in personas.get("sponge", []))},
        "planted_in_groups": sorted(in_groups),
    }
    n_planted = len(planted_pos) + len(planted_neg)
    n_found = out["positive_edges"]["recovered"] + out["negative_edges"]["recovered"]
    out["planted_edges_recovered"] = n_found / n_planted if n_planted else None
    return out


def significant_groups(world: PlantedWorld, positive: dict) -> dict:
    """cue -> the planted group and the maximal clique of significant positive edges that covers most of it (fewest
    extra tasks on a tie); `exact` when that clique is the group, no task more or less."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_edges_from(tuple(p) for p, e in positive.items() if e.get("significant"))
    cliques = [set(c) for c in nx.find_cliques(graph)]
    out = {}
    for cue, group in world.groups.items():
        best = max(cliques, key=lambda c: (len(c & set(group)), -len(c - set(group))), default=set())
        out[cue] = {"planted": list(group), "recovered": sorted(best), "exact": best == set(group),
                    "agree": len(best & set(group)), "extra": sorted(best - set(group))}
    return out


# The planted-vs-recovered table: claim | planted | recovered | score, each cell wrapped in its column (80 columns).
TABLE_WIDTHS = (17, 22, 23, 13)


def table_rows(*rows: tuple[str, str, str, str]) -> list[str]:
    """Fixed-width rows (two-space indent, one space between columns); a long cell wraps within its column."""
    lines = []
    for row in rows:
        cells = [textwrap.wrap(text, width, break_on_hyphens=False) or [""]
                 for text, width in zip(row, TABLE_WIDTHS, strict=True)]
        for k in range(max(map(len, cells))):
            parts = [(cell[k] if k < len(cell) else "").ljust(width)
                     for cell, width in zip(cells, TABLE_WIDTHS, strict=True)]
            lines.append(("  " + " ".join(parts)).rstrip())
    return lines


def comparison_lines(c: dict) -> list[str]:
    """The comparison as a table that reads in an 80-column terminal, columns aligned and long lists wrapped."""
    from vtl.tasks import abbrev

    clique = c["largest_positive_clique"]
    named: set[str] = set()

    def short(tasks) -> list[str]:  # BLINK's abbreviations keep the columns narrow; the legend below names them
        named.update(tasks)
        return [abbrev(t) for t in tasks]

    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    joined = lambda pairs: ", ".join("-".join(short(p)) for p in pairs)  # noqa: E731
    rows = [("claim", "planted", "recovered", "agreement"),
            ("largest positive clique", ", ".join(short(clique["planted"])) or "-",
             ", ".join(short(clique["recovered"])) or "-",
             f"{clique['agree']}/{len(clique['planted'])} agree" + (", exact" if clique["matches"] else ""))]
    for cue, g in c.get("groups", {}).items():
        score = "exact" if g["exact"] else f"{g['agree']}/{len(g['planted'])} agree, {len(g['extra'])} extra"
        rows.append((f"group {cue!r} (significant clique)", ", ".join(short(g["planted"])),
                     ", ".join(short(g["recovered"])) or "-", score))
    for name, key in (("positive edges", "positive_edges"), ("negative edges", "negative_edges")):
        e = c[key]
        found = f"{e['recovered']}/{e['planted']} found, {e['significant']} significant"
        if e["missed"]:
            found += f"; missed: {joined(e['missed'])}"
        if e["extra"]:
            found += f"; {e['extra']} not planted: {joined(e['extra_edges'])}"
        score = ""
        if e.get("precision") is not None or e.get("recall") is not None:
            score = f"significant: precision {fmt(e['precision'])}, recall {fmt(e['recall'])}"
            found += f"; significant but not planted: {joined(e.get('significant_extra', [])) or 'none'}"
        rows.append((name, joined(e.get("planted_edges", [])) or str(e["planted"]), found, score))
    for name, key in (("donors (top Δ+)", "donors"), ("sponges (top Θ+)", "sponges")):
        found = c[key]["recovered"]
        rows.append((name, "members of a planted group", ", ".join(short(found)) or "-",
                     f"{c[key]['agree']}/{len(found)} in a group"))
    lines = table_rows(*rows)
    if c["planted_edges_recovered"] is not None:
        lines.append(f"  planted edges recovered: {c['planted_edges_recovered']:.0%}")
    legend = ", ".join(f"{abbrev(t)}={t}" for t in sorted(named, key=abbrev))
    return lines + textwrap.wrap(legend, 78, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False)


# ---------------------------------------------------------------------------------------------------- diagonal

DIAGONAL_GOAL = 0.8  # every source should learn its own task at least this well, in every seed


def diagonal_pgf(label: dict) -> dict:
    """Each source's PGF on its own task, per seed (a summary.json label's `pgf_per_seed`), with min and median over
    all (source, seed) cells: whether every task learned its own rule, without which "no transfer" is vacuous."""
    import statistics

    per_seed = label.get("pgf_per_seed") or {}
    sources = [t for t in label.get("sources", []) if any(t in m for m in per_seed.values())]
    values = {t: {str(s): m[t].get(t) for s, m in per_seed.items() if t in m} for t in sources}
    cells = [v for row in values.values() for v in row.values() if v is not None]
    return {
        "per_seed": values,
        "min": min(cells) if cells else None,
        "median": statistics.median(cells) if cells else None,
        "goal": DIAGONAL_GOAL,
        "below_goal": [t for t, row in values.items() if any(v is None or v < DIAGONAL_GOAL for v in row.values())],
    }


def diagonal_lines(d: dict) -> list[str]:
    """The diagonal as a table that fits 80 columns: one row per source, one column per seed, then min and median."""
    rows = d["per_seed"]
    if not rows:
        return []
    seeds = sorted({s for row in rows.values() for s in row}, key=lambda s: (len(s), s))

    def cell(v) -> str:
        return f"{v:+6.2f}" if v is not None else f"{'-':>6}"

    lines = ["", f"  diagonal PGF (each source on its own task; goal >= {d['goal']:.1f} in every seed)",
             f"    {'source':28}" + "".join(f"{'seed ' + s:>8}" for s in seeds)]
    for task, row in rows.items():
        lines.append(f"    {task:28}" + "".join(f"{cell(row.get(s)):>8}" for s in seeds))
    below = d["below_goal"]
    summary = f"min {d['min']:+.2f}, median {d['median']:+.2f}; " + (
        f"{len(below)} below {d['goal']:.1f} in some seed: {', '.join(below)}" if below else "all reach the goal")
    return lines + textwrap.wrap(summary, 78, initial_indent="    ", subsequent_indent="      ")
