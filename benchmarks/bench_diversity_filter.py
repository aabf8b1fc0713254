"""Diversity filter at the paper's scale: 52,000 descriptions (26 ordered pairs × 2,000) on this machine's CPUs.

    .venv/bin/python benchmarks/bench_diversity_filter.py [--sample 2000] [--per-pair 1000] [--embed-all] [--threads 2]

Prints:
1. embedding throughput of all-MiniLM-L6-v2 on real analytic-teacher descriptions (--sample of them, >= 2,000 by
   default), for the old path (float32, 128 texts a batch), the default batch and bfloat16 (the `auto` default on
   CPUs with native bf16; elsewhere only with --bf16), measured in
   the same run on interleaved slices of the sample so that load from other
   processes hits every path alike; each path's agreement with float32 (cosine per description) and whether the
   filter keeps the same descriptions (overlap of the kept sets, next to float32 under another k-means seed as the
   scale of "same"). Throughput is extrapolated to 52,000 — or measured on all of them with --embed-all;
2. the filter proper (near-duplicate pass, MiniBatchKMeans per pair, representatives, before/after report) on
   52,000 precomputed 384-d embeddings: wall time and peak traced memory;
3. the same per-pair work done the naive way (dense n×n similarity matrix + exact Lloyd KMeans), measured in the
   same run on a few pairs, as the reference the ratios are printed against;
4. end to end at 52,000 (embedding + filter) for the default path and for the old float32 path, and their ratio.
Step 1 also prints the limit of float32 embedding on this machine: the sample's real token count through the encoder's
Linear layers as bare GEMMs (a lower bound: attention, norms and GELU left out), measured in the same run, and the
ratio of the embedding's time to it.
Without --embed-all the embeddings of step 2 are synthetic (clustered unit vectors with near-duplicates), which
costs the filter the same work; with --embed-all they are the real ones.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_PAIRS, PER_PAIR_IN, DIM = 26, 2000, 384
OLD_BATCH = 128  # the embedding batch size before EMBED_BATCH


def analytic_texts(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """(pair, description) from the analytic teacher: measured changes of a small image pool, recombined."""
    from vtl.vicl.lowlevel.degrade import make_pair
    from vtl.vicl.lowlevel.images import clean_image
    from vtl.vicl.lowlevel.tasks import LOW_LEVEL_TASKS, REPORTED_SCENARIOS, pair_label
    from vtl.vicl.teaching.analytic import describe_change_pair, measure_change

    pool = {}
    for task in LOW_LEVEL_TASKS:
        pool[task] = []
        for i in range(4):
            clean = clean_image("train", f"bench-{task}-{i}", seed=seed, size=96)
            p = make_pair(task, clean.pixels, i, clean.depth)
            pool[task].append(measure_change(p.input, p.output))
    extra = [(a, b) for a in LOW_LEVEL_TASKS for b in LOW_LEVEL_TASKS if a != b and (a, b) not in REPORTED_SCENARIOS]
    pairs = list(REPORTED_SCENARIOS) + random.Random(seed).sample(extra, N_PAIRS - len(REPORTED_SCENARIOS))
    rng = random.Random(seed)
    out = []
    for k in range(n):
        a, b = pairs[k % N_PAIRS]
        text = describe_change_pair(rng.choice(pool[a]), rng.choice(pool[b]), seed=rng.randrange(1 << 30))
        out.append((pair_label(a, b), text))
    return out


def synthetic_embeddings(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """[52,000, 384] unit vectors: per pair 150 topics with spread, 10% near-duplicates; and the pair index."""
    rng = np.random.default_rng(seed)
    blocks, pair_of = [], []
    for p in range(N_PAIRS):
        topics = rng.normal(size=(150, DIM)).astype(np.float32)
        members = rng.integers(0, 150, PER_PAIR_IN)
        x = topics[members] + 0.6 * rng.normal(size=(PER_PAIR_IN, DIM)).astype(np.float32)
        dup = rng.random(PER_PAIR_IN) < 0.1
        x[dup] = x[rng.integers(0, PER_PAIR_IN, dup.sum())] + 0.01 * rng.normal(size=(dup.sum(), DIM))
        blocks.append(x / np.linalg.norm(x, axis=1, keepdims=True))
        pair_of.append(np.full(PER_PAIR_IN, p))
    return np.concatenate(blocks).astype(np.float32), np.concatenate(pair_of)


def run_filter(embeddings: np.ndarray, pair_of: np.ndarray, per_pair: int, pairs: list[int]) -> int:
    from vtl.vicl.teaching.diversity import mean_pairwise_cosine, near_duplicate_count, select_diverse

    kept = 0
    for p in pairs:
        unit = embeddings[pair_of == p]
        chosen = select_diverse(unit, per_pair, dup_threshold=0.95, seed=0)
        mean_pairwise_cosine(unit), mean_pairwise_cosine(unit[chosen])  # the report's measures
        near_duplicate_count(unit, 0.95), near_duplicate_count(unit[chosen], 0.95)
        kept += len(chosen)
    return kept


def run_naive(embeddings: np.ndarray, pair_of: np.ndarray, per_pair: int, pairs: list[int]) -> int:
    """Reference: dense similarity matrix for duplicates and statistics, exact Lloyd KMeans."""
    from sklearn.cluster import KMeans

    kept = 0
    for p in pairs:
        unit = embeddings[pair_of == p]
        sims = unit @ unit.T  # [n, n]
        upper = np.triu(sims >= 0.95, k=1)
        keep = ~upper.any(axis=0)
        points = unit[keep]
        labels = KMeans(n_clusters=per_pair, n_init=1, max_iter=50, random_state=0).fit_predict(points)
        kept += len(np.unique(labels))
        float(sims[np.triu_indices(len(unit), 1)].mean())
    return kept


def measured(fn, *args):
    tracemalloc.start()
    t0 = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, seconds, peak


def compare_precisions(sample: list[str], paths: dict[str, tuple[str, int]], slices: int = 4) -> dict[str, dict]:
    """Embed `sample` with each path (label -> (precision, batch size)), slice by slice in turn (so a burst of foreign
    load lands on all of them); returns per label: wall and CPU seconds, vectors [n, 384]."""
    from vtl.vicl.teaching.diversity import embed_texts, load_sentence_model

    for precision, batch in paths.values():
        load_sentence_model(precision=precision)  # load outside the timing
        embed_texts(sample[:8], precision=precision, batch_size=batch)  # first-call warm-up (allocator, kernels)
    out = {label: {"wall": 0.0, "cpu": 0.0, "parts": []} for label in paths}
    bounds = np.linspace(0, len(sample), slices + 1).astype(int)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        for label, (precision, batch) in paths.items():
            t0, c0 = time.perf_counter(), time.process_time()
            out[label]["parts"].append(embed_texts(sample[lo:hi], precision=precision, batch_size=batch))
            out[label]["wall"] += time.perf_counter() - t0
            out[label]["cpu"] += time.process_time() - c0
    for r in out.values():
        r["vectors"] = np.concatenate(r.pop("parts"))
    return out


def selection_vs_float32(ref: np.ndarray, other: np.ndarray, n_keep: int, seed: int = 0) -> tuple[float, float, int]:
    """How the filter run on `other` compares with the float32 run (seed 0): share of the same descriptions kept,
    mean pairwise cosine of its kept set measured in float32 space, near-duplicate decisions that differ."""
    from vtl.vicl.teaching.diversity import mean_pairwise_cosine, near_duplicate_mask, select_diverse

    kept_ref, kept = select_diverse(ref, n_keep, seed=0), select_diverse(other, n_keep, seed=seed)
    overlap = len(set(kept_ref.tolist()) & set(kept.tolist())) / max(len(kept_ref), 1)
    flips = int((near_duplicate_mask(ref, 0.95) != near_duplicate_mask(other, 0.95)).sum())
    return overlap, mean_pairwise_cosine(ref[kept]), flips


def gemm_floor(sample: list[str], repeat: int = 3) -> tuple[int, float, float]:
    """The float32 floor of embedding `sample`: its tokens (as the model truncates them, no padding) through the
    encoder's Linear layers as bare GEMMs (torch.nn.functional.linear on [4096 tokens, d] blocks, random weights of
    the model's shapes), best of `repeat`. Attention, layer norms and GELU are left out, so this is a lower bound.
    Returns (tokens, seconds for all of them, GFLOP/s)."""
    import torch

    from vtl.vicl.teaching.diversity import load_sentence_model

    model = load_sentence_model(precision="float32")
    lengths = model.tokenizer(sample, truncation=True, max_length=model.max_seq_length)["input_ids"]
    tokens = sum(map(len, lengths))
    config = model[0].auto_model.config
    h, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    shapes = [(h, h)] * 4 + [(h, inner), (inner, h)]  # q, k, v, attention output; the MLP's two
    weights = [torch.randn(out, inp) for inp, out in shapes]
    block = 4096
    inputs = {inp: torch.randn(block, inp) for inp, _ in shapes}
    with torch.inference_mode():
        for w in weights:  # warm-up
            torch.nn.functional.linear(inputs[w.shape[1]], w)
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            for w in weights:
                torch.nn.functional.linear(inputs[w.shape[1]], w)
            best = min(best, time.perf_counter() - t0)
    per_token = best * layers / block
    flops_per_token = 2 * layers * sum(inp * out for inp, out in shapes)
    return tokens, per_token * tokens, flops_per_token / per_token / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-pair", type=int, default=1000, help="kept per pair (2,000 in; default 1,000 so the "
                                                                   "clustering runs)")
    parser.add_argument("--sample", type=int, default=2000, help="descriptions embedded to measure throughput")
    parser.add_argument("--bf16", action="store_true", help="also time bfloat16 where the CPU lacks native bf16")
    parser.add_argument("--embed-all", action="store_true", help="embed all 52,000 for real (slow on CPU)")
    parser.add_argument("--reference-pairs", type=int, default=2, help="pairs the naive reference runs on")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()

    import torch

    from vtl.vicl.teaching.diversity import (
        DEFAULT_PRECISION,
        EMBED_BATCH,
        embed_texts,
        near_duplicate_count,
        resolve_precision,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    total = N_PAIRS * PER_PAIR_IN
    default = resolve_precision(DEFAULT_PRECISION)
    print(f"machine: {torch.get_num_threads()} torch threads; corpus: {N_PAIRS} pairs × {PER_PAIR_IN:,} = {total:,}; "
          f"--precision {DEFAULT_PRECISION} resolves to {default} here")

    texts = analytic_texts(max(total if args.embed_all else 0, args.sample))
    sample = [t for _, t in texts[: args.sample]]
    old = f"float32 batch {OLD_BATCH}"
    paths = {old: ("float32", OLD_BATCH), f"float32 batch {EMBED_BATCH}": ("float32", EMBED_BATCH),
             f"{default} batch {EMBED_BATCH}": (default, EMBED_BATCH)}
    if args.bf16 or default == "bfloat16":  # emulated bf16 is ~5x slower than float32 on CPUs without it
        paths[f"bfloat16 batch {EMBED_BATCH}"] = ("bfloat16", EMBED_BATCH)
    load0 = os.getloadavg()[0]
    runs = compare_precisions(sample, paths)
    ref = runs[old]["vectors"]
    n_keep = len(sample) // 4  # below the sample's near-duplicate-free count, so the clustering decides
    seed_overlap, seed_cos, _ = selection_vs_float32(ref, ref, n_keep, seed=1)
    _, ref_cos, _ = selection_vs_float32(ref, ref, n_keep)
    words = np.mean([len(t.split()) for t in sample])
    print(f"1. embedding {len(sample):,} real analytic descriptions (mean {words:.0f} words), paths interleaved in 4 "
          f"slices; load average {load0:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"   filter on the sample, {n_keep:,} kept: float32 (seed 0) kept set has mean cosine {ref_cos:.4f}; "
          f"float32 with k-means seed 1 keeps {seed_overlap:.1%} of the same descriptions, mean cosine {seed_cos:.4f}")
    rates = {}
    default_label = f"{default} batch {EMBED_BATCH}"
    for label, r in runs.items():
        rates[label] = len(sample) / r["wall"]
        cos = (r["vectors"] * ref).sum(axis=1)
        tag = " (old path)" if label == old else (" (default)" if label == default_label else "")
        rate, ms = rates[label], 1000 * r["cpu"] / len(sample)
        overlap, kept_cos, flips = selection_vs_float32(ref, r["vectors"], n_keep)
        print(f"   {label + tag:<30} {rate:6.1f} desc/s wall, {ms:5.1f} CPU-ms/desc, 52,000 in "
              f"{total / rate / 60:5.1f} min ({rate / rates[old]:.2f}× old) | cosine to old mean "
              f"{cos.mean():.5f} min {cos.min():.5f} | near-dups {near_duplicate_count(r['vectors'], 0.95)}, "
              f"{flips} decisions differ | kept: {overlap:.1%} same, mean cosine {kept_cos:.4f}")

    tokens, floor_s, gflops = gemm_floor(sample)
    measured_s = runs[default_label]["wall"]
    floor_total = floor_s * total / len(sample)
    print(f"   limit: the sample's {tokens:,} tokens ({tokens / len(sample):.0f} a description, no padding) through "
          f"the encoder's Linear layers as bare float32 GEMMs: {floor_s:.1f} s ({gflops:.0f} GFLOP/s); default "
          f"embedding / GEMM floor = {measured_s / floor_s:.2f}; 52,000 at the floor alone: {floor_total / 60:.1f} min"
          f" ({'within' if floor_total <= 300 else 'above'} the 5-minute target)")

    if args.embed_all:
        from vtl.vicl.lowlevel.tasks import parse_pair

        t0 = time.perf_counter()
        embeddings = embed_texts([t for _, t in texts], cache_dir=Path("runs/bench_embeddings"))
        print(f"   embedded all {total:,} ({default}) in {(time.perf_counter() - t0) / 60:.1f} min (cached under "
              f"runs/bench_embeddings)")
        names = sorted({p for p, _ in texts}, key=lambda p: parse_pair(p))
        pair_of = np.array([names.index(p) for p, _ in texts])
    else:
        embeddings, pair_of = synthetic_embeddings()
    print(f"   embeddings held: {embeddings.nbytes / 2**20:.0f} MiB ({embeddings.shape[0]:,} × {embeddings.shape[1]})")

    kept, seconds, peak = measured(run_filter, embeddings, pair_of, args.per_pair, list(range(N_PAIRS)))
    print(f"2. filter ({args.per_pair:,} per pair): {kept:,} kept of {total:,} in {seconds:.1f} s, "
          f"peak traced memory {peak:.0f} MiB")

    ref_pairs = list(range(args.reference_pairs))
    _, ours_s, ours_mb = measured(run_filter, embeddings, pair_of, args.per_pair, ref_pairs)
    _, naive_s, naive_mb = measured(run_naive, embeddings, pair_of, args.per_pair, ref_pairs)
    print(f"3. reference on {len(ref_pairs)} pairs: ours {ours_s:.1f} s / {ours_mb:.0f} MiB, naive (dense n×n + "
          f"exact KMeans) {naive_s:.1f} s / {naive_mb:.0f} MiB -> {naive_s / ours_s:.1f}× faster, "
          f"{naive_mb / max(ours_mb, 1e-6):.1f}× less memory")
    new_s, old_s = total / rates[default_label] + seconds, total / rates[old] + seconds
    extrapolated = "" if args.embed_all else f" (embedding extrapolated from the {len(sample):,}-description sample)"
    print(f"4. end to end at 52,000 (embedding + filter){extrapolated}: {new_s / 60:.1f} min with {default_label} "
          f"(default) vs {old_s / 60:.1f} min with {old} (old path) -> {old_s / new_s:.2f}× faster")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    main()
