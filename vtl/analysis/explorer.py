"""report.html: one self-contained page to explore a transfer analysis, offline from file://.

The page is a small hand-written SVG view (explorer_assets/: one template, one stylesheet, one script) with the
study's numbers inlined as JSON. No CDN, no server, no plotting library: plotly's bundle alone is 3.5 MB, most of the
5 MB a full 13 x 3 x 4 grid with its per-epoch curves may take, and a page that draws ~500 rects and a few polylines
needs none of it. This module builds the numbers (`build_payload`), writes the page (`write_report`), and reads its
numbers back (`read_payload`) so the demo can add its planted-vs-recovered table to a page already written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from vtl import __version__
from vtl.analysis.cliques import wilcoxon_p
from vtl.analysis.io import MIXTURE_PREFIX, task_order
from vtl.analysis.matrix import PGFMatrices
from vtl.records import write_text_atomic
from vtl.tasks import get_task

REPORT_FILE = "report.html"
ASSETS = Path(__file__).with_name("explorer_assets")
_DATA = re.compile(r'(<script type="application/json" id="vtl-data">)(.*?)(</script>)', re.DOTALL)
# Keys of a run's config.yaml that differ between the runs of one grid (so they leave the grid's config hash alone).
_RUN_KEYS = ("seed_everything", "ckpt_path", "trainer.default_root_dir", "data.source_task", "data.mixture")


def test_name(confidence: float) -> str:
    return f"one-sided Wilcoxon signed-rank test across seeds, alpha {1 - confidence:.3g}"


def _grid(frame: pd.DataFrame, rows: list[str], cols: list[str]) -> list[list[Any]]:
    return [[frame.at[r, c] if r in frame.index and c in frame.columns else None for c in cols] for r in rows]


def block(m: PGFMatrices, chosen: pd.DataFrame, *, kind: str, family: str, confidence: float,
          result: Any = None, video: dict | None = None) -> dict:
    """One heatmap's numbers: per cell mu (mean over seeds), its spread and seed count, the accuracies behind it and
    the directed test; with a LabelResult (image targets) also the graph, scores and personas."""
    sources, targets = list(m.mean.index), list(m.mean.columns)
    seeds = m.per_seed.values()
    stack = np.stack([f.reindex(index=sources, columns=targets).to_numpy(float) for f in seeds])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice": a cell no seed measured
        lo, hi = np.nanmin(stack, axis=0), np.nanmax(stack, axis=0)
    rows = chosen[(chosen["label"] == m.label) & ~chosen["source_task"].astype(str).str.startswith(MIXTURE_PREFIX)]
    acc = rows.groupby(["source_task", "target"])[["accuracy", "zero_shot_accuracy"]].mean()
    acc_of = {k: (a, z) for k, a, z in zip(acc.index, acc["accuracy"], acc["zero_shot_accuracy"], strict=True)}
    alpha = 1 - confidence
    tests = getattr(result, "cell_tests", None)  # a powered test's flags replace the seed-level Wilcoxon's
    cells: dict[str, list[list[Any]]] = {k: [] for k in ("acc", "zs", "dacc", "p", "sig")}
    for i, s in enumerate(sources):
        for k in cells:
            cells[k].append([])
        for j, t in enumerate(targets):
            a, z = acc_of.get((s, t), (math.nan, math.nan))
            mean = m.mean.at[s, t]
            p = math.nan if tests is not None or math.isnan(mean) or mean == 0 else wilcoxon_p(
                stack[:, i, j], "positive" if mean > 0 else "negative")
            cells["acc"][i].append(float(a))
            cells["zs"][i].append(float(z))
            cells["dacc"][i].append(float(a - z))
            cells["p"][i].append(p)
            cells["sig"][i].append(None if math.isnan(p) else bool(p < alpha))
    out = {
        "label": m.label, "model": m.model, "family": family, "kind": kind, "seeds": list(m.seeds),
        "sources": sources, "targets": targets, "abbrev": {t: get_task(t).abbrev for t in {*sources, *targets}},
        "metric": {t: get_task(t).metric for t in targets}, "test": test_name(confidence),
        "mu": _grid(m.mean, sources, targets), "std": _grid(m.std, sources, targets),
        "lo": lo.tolist(), "hi": hi.tolist(),
        "n": _grid(m.count, sources, targets), **cells,
    }
    if tests is not None:
        out.update(test=result.test, p=_grid(tests.p_adjusted, sources, targets),
                   sig=_grid(tests.significant, sources, targets), ci_lo=_grid(tests.lo, sources, targets),
                   ci_hi=_grid(tests.hi, sources, targets))
    elif result is not None:
        out["test"] = result.test
    if result is not None:
        out.update(
            edges=[{"a": e.a, "b": e.b, "sign": e.sign, "weight": e.weight, "p": e.p_value,
                    "significant": e.significant} for e in result.edges.itertuples()],
            largest={s: (result.largest[s].tasks if result.largest[s] else []) for s in ("positive", "negative")},
            transferability=_scores(result.transferability), malleability=_scores(result.malleability),
            personas=result.personas, persona_p=result.persona_p_values,
        )
    elif video is not None:
        out.update(transferability=_scores(video["transferability"]), malleability=_scores(video["malleability"]),
                   personas=video["personas"])
    return out


def _scores(frame: pd.DataFrame) -> dict:
    return {task: {"pos": row.pos, "neg": row.neg} for task, row in frame.iterrows()}


def curves(frame: pd.DataFrame) -> dict:
    """label -> source -> target -> {"epochs", "mean", "seeds": {seed: values}}: PGF per evaluated epoch (rounded to
    5 decimals: the page draws them, summary.json and curves.csv keep them exact)."""
    part = frame[frame["epoch"].notna() & ~frame["source_task"].astype(str).str.startswith(MIXTURE_PREFIX)]
    out: dict = {}
    if part.empty:
        return out
    keys = ["label", "source_task", "target"]
    table = part.pivot_table(index=[*keys, "epoch"], columns="seed", values="pgf", aggfunc="last", sort=True)
    for (label, source, target), g in table.groupby(level=keys, sort=False):
        g = g.dropna(axis=1, how="all")
        epochs = g.index.get_level_values("epoch")
        out.setdefault(label, {}).setdefault(source, {})[target] = {
            "epochs": [int(e) if float(e).is_integer() else float(e) for e in epochs],
            "mean": [_round(v) for v in g.mean(axis=1)],
            "seeds": {str(s): [_round(v) for v in g[s]] for s in g.columns},
        }
    return out


def _round(value: float) -> float:
    return round(float(value), 5)


def provenance(frame: pd.DataFrame, inputs: list[str], options: dict) -> dict:
    """What the numbers come from, per label: vtl versions, the grid's config hash(es) (each run's config.yaml less
    the keys a grid varies), the eval-row digests per target, seeds, and when the runs finished."""
    labels: dict = {}
    for label, part in frame.groupby("label", sort=False):
        files = [Path(f) for f in dict.fromkeys(part["file"]) if isinstance(f, str)]
        run_dirs = [f.parent for f in files if f.name == "transfer.jsonl"]
        digests = {t: sorted({d for d in g["eval_rows"] if isinstance(d, str)})
                   for t, g in part.groupby("target", sort=False)}
        finished = sorted(filter(None, (_finished(d) for d in run_dirs)))
        labels[label] = {
            "runs": int(part.drop_duplicates(["source_task", "seed", "arm", "mixture_target"]).shape[0]),
            "seeds": sorted({str(s) for s in part["seed"]}, key=str),
            "vtl_versions": sorted({v for v in part["vtl_version"] if isinstance(v, str)}),
            "config_hashes": sorted(set(filter(None, (_config_hash(d) for d in run_dirs)))),
            "eval_rows": {t: digests[t] for t in task_order(digests)},
            "finished": [finished[0], finished[-1]] if finished else [],
            "files": len(files),
        }
    return {"vtl_version": __version__, "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "inputs": [str(i) for i in inputs], "options": options, "labels": labels}


def _finished(run_dir: Path) -> str | None:
    path = run_dir / "fit_complete.json"
    try:
        return json.loads(path.read_text()).get("finished_at") if path.is_file() else None
    except (OSError, ValueError, AttributeError):
        return None


def _config_hash(run_dir: Path) -> str | None:
    """12 hex digits of the run's config.yaml with the per-run keys (source task, seed, run dir, logger dirs)
    removed: one hash for every run of a grid made with one config."""
    path = run_dir / "config.yaml"
    try:
        config = yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(config, dict):
        return None
    for key in _RUN_KEYS:
        _drop(config, key.split("."))
    loggers = (config.get("trainer") or {}).get("logger") if isinstance(config.get("trainer"), dict) else None
    for logger in loggers if isinstance(loggers, list) else [loggers]:
        if isinstance(logger, dict):
            _drop(logger, ["init_args", "save_dir"])
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _drop(config: dict, path: list[str]) -> None:
    node = config
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and "init_args" in node and part in ("data", "model"):
            node = node["init_args"]
    if isinstance(node, dict):
        node.pop(path[-1], None)


def write_report(path: str | Path, payload: dict) -> Path:
    """The page, with the payload inlined (`</` escaped so no value can end the script element)."""
    path = Path(path)
    data = json.dumps(payload, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")
    page = (ASSETS / "template.html").read_text(encoding="utf-8")
    css = (ASSETS / "explorer.css").read_text(encoding="utf-8")
    js = (ASSETS / "explorer.js").read_text(encoding="utf-8")
    title = "vtl transfer explorer: " + ", ".join(payload.get("order", []))
    page = (page.replace("{{title}}", html.escape(title)).replace("/*{{css}}*/", css).replace("/*{{js}}*/", js)
            .replace("{{data}}", data))
    write_text_atomic(path, page)
    return path


def read_payload(path: str | Path) -> dict:
    """The numbers inlined in a report.html that `write_report` wrote."""
    found = _DATA.search(Path(path).read_text(encoding="utf-8"))
    if not found:
        raise ValueError(f"{path}: not a vtl report.html (no inlined data)")
    return json.loads(found.group(2).replace("<\\/", "</"))


def add_section(path: str | Path, name: str, value: Any) -> Path:
    """Rewrite a report.html with one more top-level section (e.g. the demo's planted-vs-recovered table)."""
    payload = read_payload(path)
    payload[name] = value
    return write_report(path, payload)


def build_payload(*, results: dict, video_mats: dict, video: dict, chosen: pd.DataFrame, frame: pd.DataFrame,
                  family: dict, label_order: list[str], trends: pd.DataFrame, trend_test: dict, inputs: list[str],
                  options: dict, notes: list[str]) -> dict:
    """Everything the page shows; NaN and numpy scalars stay as they are here (the caller makes it strict JSON)."""
    confidence = options["confidence"]
    blocks = [{"id": lbl, **block(results[lbl].matrices, chosen, kind="image", family=family[lbl],
                                  confidence=confidence, result=results[lbl])} for lbl in label_order if lbl in results]
    blocks += [{"id": f"{lbl} (video targets)", **block(m, chosen, kind="video", family=family[lbl],
                                                        confidence=confidence, video=video[lbl])}
               for lbl, m in video_mats.items()]
    trend = {}
    if not trends.empty:
        for fam, part in trends.groupby("family", sort=False):
            trend[fam] = {"rows": part.drop(columns="family").to_dict("index"), "test": trend_test.get(fam) or {}}
    return {"order": label_order, "blocks": blocks, "curves": curves(frame), "trend": trend,
            "provenance": provenance(frame, inputs, options), "notes": list(notes), "planted": None}
