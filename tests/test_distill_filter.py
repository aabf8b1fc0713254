"""Diversity filter: N kept per pair, one representative per cluster, near-duplicates dropped, report written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vtl.cli import main
from vtl.vicl.teaching.diversity import (
    embed_texts,
    filter_corpus,
    mean_pairwise_cosine,
    near_duplicate_mask,
    select_diverse,
)


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_mean_pairwise_cosine_matches_brute_force():
    unit = _unit(np.random.default_rng(0).normal(size=(50, 16)))
    sims = unit @ unit.T
    brute = (sims.sum() - np.trace(sims)) / (50 * 49)
    assert mean_pairwise_cosine(unit) == pytest.approx(brute, abs=1e-6)


def test_near_duplicates_are_dropped_across_blocks(monkeypatch):
    import vtl.vicl.teaching.diversity as div

    monkeypatch.setattr(div, "BLOCK", 7)  # force several blocks
    rng = np.random.default_rng(1)
    base = _unit(rng.normal(size=(20, 32)))
    dups = _unit(base[[2, 5, 5, 17]] + 0.01 * rng.normal(size=(4, 32)))
    unit = np.concatenate([base, dups])
    dropped = near_duplicate_mask(unit, 0.95)
    assert dropped[20:].all() and not dropped[:20].any()


def test_select_keeps_one_representative_per_cluster():
    rng = np.random.default_rng(2)
    centres = _unit(rng.normal(size=(6, 24)))
    members = np.repeat(np.arange(6), 30)
    unit = _unit(centres[members] + 0.25 * rng.normal(size=(180, 24)))
    kept = select_diverse(unit, 6, dup_threshold=0.999, seed=0)
    assert len(kept) == 6
    assert sorted(members[kept]) == list(range(6))  # every cluster represented once
    for k in kept:  # the representative is the member closest to its cluster's mean
        group = np.flatnonzero(members == members[k])
        centroid = unit[group].mean(axis=0)
        dist = ((unit[group] - centroid) ** 2).sum(axis=1)
        assert dist[group == k] <= np.sort(dist)[2]
    assert mean_pairwise_cosine(unit[kept]) < mean_pairwise_cosine(unit)


def test_select_fewer_than_n_keeps_all_but_duplicates():
    unit = _unit(np.random.default_rng(3).normal(size=(10, 8)))
    unit = np.concatenate([unit, unit[:3]])
    assert list(select_diverse(unit, 100)) == list(range(10))


SENTENCES = [
    "The sky turns from grey to a deep blue.", "Fine grain vanishes from the wall.", "A red car gains sharp edges.",
    "Dark corners are lifted to daylight.", "Thin white lines disappear from the street.", "A tree gets its colours.",
]


def _corpus(path, pair, texts, **extra):
    with path.open("a") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"tuple_id": f"{pair}-{i}", "pair": pair, "text": text, "task_mentions": [],
                                **extra}) + "\n")


def test_filter_corpus_end_to_end(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    dupes = [SENTENCES[0]] * 3 + [SENTENCES[0].replace("deep", "very deep")]
    _corpus(corpus, "Deblur→Dehaze", SENTENCES + dupes)
    _corpus(corpus, "Color→Style", SENTENCES[:3])
    with corpus.open("a") as f:
        f.write(json.dumps({"tuple_id": "named", "pair": "Color→Style", "text": "Apply dehazing.",
                            "task_mentions": ["dehazing"]}) + "\n")
    out = tmp_path / "filtered.jsonl"
    report = filter_corpus([corpus], out, per_pair=4, dup_threshold=0.95)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    by_pair = {p: [r for r in rows if r["pair"] == p] for p in ("Deblur→Dehaze", "Color→Style")}
    assert len(by_pair["Deblur→Dehaze"]) == 4 and len(by_pair["Color→Style"]) == 3
    kept_texts = [r["text"] for r in by_pair["Deblur→Dehaze"]]
    assert len(set(kept_texts)) == 4  # duplicates never both survive
    assert report["dropped_naming_a_task"] == 1 and all(r["tuple_id"] != "named" for r in rows)
    first = report["pairs"][0]
    assert first["before"]["near_duplicates"] >= 3 and first["after"]["near_duplicates"] == 0
    assert first["after"]["mean_cosine"] < first["before"]["mean_cosine"]
    assert out.with_suffix(".report.json").exists()
    assert report["precision"] in ("float32", "bfloat16")
    # embeddings are cached: a second run embeds nothing new and gives the same selection
    cached = list((tmp_path / ".embeddings").glob("*.npy"))
    assert cached
    filter_corpus([corpus], out, per_pair=4, dup_threshold=0.95)
    assert [json.loads(line) for line in out.read_text().splitlines()] == rows


def test_report_of_a_single_kept_item_is_valid_json(tmp_path):
    from vtl.vicl.teaching.diversity import format_report

    corpus = tmp_path / "corpus.jsonl"
    _corpus(corpus, "Deblur→Dehaze", SENTENCES[:3])
    out = tmp_path / "filtered.jsonl"
    report = filter_corpus([corpus], out, per_pair=1)
    saved = json.loads(out.with_suffix(".report.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert saved["pairs"][0]["after"]["mean_cosine"] is None  # undefined for one item, not NaN
    assert "nan" not in format_report(report) and "n/a" in format_report(report)


def test_embeddings_are_unit_norm_and_semantic():
    vectors = embed_texts(["a dark room is brightened", "the dim room gets brighter", "colours become flat"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_filter_cli_errors_name_the_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"tuple_id": "x", "pair": "Deblur→Dehaze"}) + "\n")
    assert main(["vicl", "filter", "--corpus", str(bad), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "line 1 has no usable 'text'" in capsys.readouterr().err


def test_precision_auto_follows_the_cpu(monkeypatch):
    import vtl.vicl.teaching.diversity as div

    monkeypatch.setattr(div, "_cpu_flags", lambda: {"avx2", "avx512_bf16"})
    assert div.resolve_precision("auto") == "bfloat16"
    monkeypatch.setattr(div, "_cpu_flags", lambda: {"avx2"})
    assert div.resolve_precision("auto") == "float32"
    assert div.resolve_precision("bfloat16") == "bfloat16"
    with pytest.raises(ValueError, match="--precision must be one of"):
        div.resolve_precision("fp8")


def test_faster_precisions_agree_with_float32():
    texts = SENTENCES + ["a dark room is brightened", "the dim room gets brighter", "colours become flat"]
    ref = embed_texts(texts, precision="float32")
    for precision, floor in (("bfloat16", 0.999),):
        vectors = embed_texts(texts, precision=precision)
        assert vectors.dtype == np.float32 and vectors.shape == ref.shape
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
        assert (vectors * ref).sum(axis=1).min() > floor, precision
        assert vectors[-3] @ vectors[-2] > vectors[-3] @ vectors[-1]


def test_embedding_cache_is_keyed_by_precision(tmp_path):
    texts = SENTENCES[:4]
    embed_texts(texts, cache_dir=tmp_path, precision="float32")
    embed_texts(texts, cache_dir=tmp_path, precision="bfloat16")
    assert len(list(tmp_path.glob("*.npy"))) == 2  # bfloat16 never reuses (or overwrites) float32 vectors
    again = embed_texts(texts, cache_dir=tmp_path, precision="bfloat16")
    assert len(list(tmp_path.glob("*.npy"))) == 2
    stored = [np.load(p) for p in tmp_path.glob("*.npy")]
    assert sum(np.array_equal(vectors, again) for vectors in stored) == 1  # the bfloat16 chunk, distinct from float32
