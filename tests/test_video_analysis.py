"""`vtl analyze` on image sources × (image + video) targets: the image matrix stays square, the video block gets its
own transferability, malleability and personas."""

import json

from vtl.analysis.analysis import analyze
from vtl.analysis.pgf import pgf


def _records(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _row(source, target, seed, acc, base, metric="accuracy"):
    return {"model": "Qwen/Qwen2.5-VL-3B-Instruct", "source_task": source, "seed": seed, "epoch": 0, "step": 1,
            "target": target, "accuracy": acc, "zero_shot_accuracy": base, "pgf": pgf(acc, base), "n": 10,
            "metric": metric}


def test_video_targets_get_their_own_block(tmp_path):
    sources = ["Counting", "Relative_Depth", "Jigsaw"]
    video = {"object_counting": "mra", "route_planning": "accuracy"}
    for source in sources:
        for seed in (0, 1):
            rows = [_row(source, t, seed, 0.6, 0.5) for t in sources]
            # Counting helps counting videos, Jigsaw hurts route planning, Relative_Depth changes nothing
            rows.append(_row(source, "object_counting", seed, 0.7 if source == "Counting" else 0.4, 0.4, "mra"))
            rows.append(_row(source, "route_planning", seed, 0.1 if source == "Jigsaw" else 0.5, 0.5))
            _records(tmp_path / "runs" / f"{source}_{seed}" / "transfer.jsonl", rows)
    summary = analyze([str(tmp_path / "runs")], tmp_path / "out", print_table=False, make_plots=False)
    label = next(iter(summary.values()))
    assert label["targets"] == ["Counting", "Jigsaw", "Relative_Depth"]  # square image matrix, no video columns
    block = label["video"]
    assert block["targets"] == ["route_planning", "object_counting"] and block["metric"] == video  # VSI order
    assert block["personas"]["donor"] == ["Counting"] and block["personas"]["pirate"] == ["Jigsaw"]
    assert block["personas"]["sponge"] == ["object_counting"] and block["personas"]["sieve"] == ["route_planning"]
    assert block["pgf_matrix"]["Counting"]["object_counting"] == pgf(0.7, 0.4)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "image sources × video targets" in report
