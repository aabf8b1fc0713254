"""`vtl vicl infer`: records per (tuple, arm), the description's effect, resume after a kill, config errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from vicl_helpers import LIGHT_TEXT, NOISE_TEXT, write_descriptions, write_tuples

from vtl.errors import VtlError
from vtl.vicl.generation.prompts import VICL_INSTRUCTION
from vtl.vicl.infer import InferConfig, run_infer
from vtl.vicl.scoring.results import read_results
from vtl.vicl.teaching.prompt_source import prompt_sha

SPECS = [("t0", "low_light_enhancement", "denoising"), ("t1", "denoising", "low_light_enhancement")]


@pytest.fixture
def inputs(tmp_path):
    tuples = write_tuples(tmp_path / "pairs", SPECS)
    desc = write_descriptions(tmp_path / "descriptions.jsonl", {"t0": NOISE_TEXT, "t1": LIGHT_TEXT})
    return tuples, desc


def test_classical_run_records_both_arms_and_is_idempotent(tmp_path, inputs):
    tuples, desc = inputs
    config = InferConfig(tuples=str(tuples), descriptions=str(desc), out=str(tmp_path / "run"), k=3,
                         concurrency=4)
    path = run_infer(config, progress=False)
    records = read_results(path)
    assert sorted(r["key"] for r in records) == ["t0|baseline", "t0|ours", "t1|baseline", "t1|ours"]
    # adding the teacher arm later continues the same run directory
    teacher = write_descriptions(tmp_path / "teacher.jsonl", {"t0": NOISE_TEXT, "t1": LIGHT_TEXT})
    run_infer(InferConfig(**{**config.__dict__, "teacher_descriptions": str(teacher),
                             "arms": ["baseline", "ours", "teacher"]}), progress=False)
    added = read_results(path)[4:]
    assert sorted(r["key"] for r in added) == ["t0|teacher", "t1|teacher"]
    assert all(r["description"] and r["best_info"]["chosen_by"] == "description" for r in added)
    by_key = {r["key"]: r for r in records}
    for r in records:
        assert r["status"] == "ok" and len(r["candidate_psnr"]) == 3
        assert r["psnr"] == max(r["candidate_psnr"]) and 0 < r["ssim"] <= 1
        assert (tmp_path / "run" / r["output"]).is_file()
    for tid in ("t0", "t1"):
        assert by_key[f"{tid}|ours"]["psnr"] > by_key[f"{tid}|baseline"]["psnr"]
        assert by_key[f"{tid}|ours"]["description"] and by_key[f"{tid}|baseline"]["description"] is None
    run_infer(config, progress=False)  # everything done: nothing appended
    assert len(read_results(path)) == 6
    with pytest.raises(ValueError, match="different k"):
        run_infer(InferConfig(**{**config.__dict__, "k": 5}), progress=False)


def test_partial_last_line_and_transient_errors_are_redone(tmp_path, inputs):
    tuples, desc = inputs
    config = InferConfig(tuples=str(tuples), descriptions=str(desc), out=str(tmp_path / "run"), k=2,
                         arms=["baseline"])
    path = run_infer(config, progress=False)
    lines = path.read_text().splitlines()
    retry = json.loads(lines[1]) | {"status": "error"}
    path.write_text(lines[0] + "\n" + json.dumps(retry) + "\n" + '{"key": "t9|bas')  # a kill mid-write
    run_infer(config, progress=False)
    records = read_results(path)
    assert [r["status"] for r in records] == ["ok", "error", "ok"]
    assert records[2]["key"] == retry["key"] and path.read_text().endswith("\n")


SLOW_GENERATOR = textwrap.dedent('''
    import time
    from vtl.vicl.generation.base import Candidate, Generator

    class SlowGenerator(Generator):
        name = "slow"
        concurrent = False

        def generate(self, instruction_text, images, k):
            time.sleep(0.4)
            return [Candidate(images[2].copy(), {"operator": "identity"}) for _ in range(k)]
''')


def test_resume_after_kill(tmp_path, inputs):
    tuples, desc = inputs
    (tmp_path / "slowgen.py").write_text(SLOW_GENERATOR)
    config = {"tuples": str(tuples), "descriptions": str(desc), "out": str(tmp_path / "run"), "k": 2,
              "generator": {"class_path": "slowgen.SlowGenerator"}}
    (tmp_path / "infer.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "vtl.cli", "vicl", "infer", "--config", str(tmp_path / "infer.yaml"),
           "--no-progress"]
    results = tmp_path / "run" / "results.jsonl"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and not (results.is_file() and results.read_text().count("\n") >= 1):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = read_results(results)
    assert 1 <= len(first) < 4, "the kill should land mid-run"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    keys = [r["key"] for r in read_results(results)]
    assert sorted(keys) == ["t0|baseline", "t0|ours", "t1|baseline", "t1|ours"]  # no duplicates, none lost
    assert keys[: len(first)] == [r["key"] for r in first]


def test_config_errors_name_the_key(tmp_path, inputs):
    tuples, _ = inputs
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"tuples": str(tuples), "kk": 3}))
    with pytest.raises(VtlError, match=r"bad.yaml: --kk is not an option; did you mean --k\?"):
        InferConfig.from_yaml(bad)
    with pytest.raises(ValueError, match="arm 'ours' needs `descriptions:`"):
        InferConfig(tuples=str(tuples))
    partial = write_descriptions(tmp_path / "d.jsonl", {"t0": NOISE_TEXT})
    with pytest.raises(ValueError, match=r"no description for 1 tuple\(s\), e.g. \['t1'\]"):
        run_infer(InferConfig(tuples=str(tuples), descriptions=str(partial), out=str(tmp_path / "r")),
                  progress=False)
    broken = Path(tuples).read_text().replace('"b_out"', '"b_outt"', 1)
    Path(tuples).write_text(broken)
    with pytest.raises(ValueError, match=r"tuples.jsonl: line 1 \(id t0\) lacks field\(s\) \['b_out'\]"):
        run_infer(InferConfig(tuples=str(tuples), arms=["baseline"], out=str(tmp_path / "r2")), progress=False)


def test_gemini_backend_concurrent_queries_and_error_retry(tmp_path, inputs, monkeypatch):
    from fake_gemini import FakeGemini, error, image_body, reply

    tuples, _ = inputs
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    out_img = np.full((48, 48, 3), 128, np.uint8)
    with FakeGemini([], default=error(503)) as server:
        options = {"model": "img", "base_url": server.base_url, "max_attempts": 2, "base_delay": 0.01,
                   "max_delay": 0.02}
        config = InferConfig(tuples=str(tuples), arms=["baseline"], out=str(tmp_path / "run"), k=2, concurrency=3,
                             generator={"class_path": "vtl.vicl.generation.gemini.GeminiImageGenerator",
                                        "init_args": options})
        path = run_infer(config, progress=False)
        first = read_results(path)
        assert [r["status"] for r in first] == ["error", "error"]  # transient: recorded, retried on rerun
        assert all(f["kind"] == "error" for r in first for f in r["failures"])
        server.push(*[reply(image_body(out_img)) for _ in range(4)])
        run_infer(config, progress=False)
    records = read_results(path)
    assert [r["status"] for r in records[2:]] == ["ok", "ok"] and len(records) == 4
    assert sorted(r["key"] for r in records[2:]) == ["t0|baseline", "t1|baseline"]
    assert all(r["generator"] == "gemini:img" and r["n_failed"] == 0 for r in records[2:])
    for file in (tmp_path / "run").rglob("*"):  # the key is never written anywhere in the run directory
        assert not file.is_file() or b"test-key" not in file.read_bytes(), file


def test_failed_start_does_not_claim_the_run_directory(tmp_path, inputs, monkeypatch):
    tuples, desc = inputs
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    base = {"tuples": str(tuples), "descriptions": str(desc), "out": str(tmp_path / "run"), "k": 2}
    with pytest.raises(VtlError, match="vtl.vicl.generation.classical.ClasicalGenerator"):
        run_infer(InferConfig(**base, generator={"class_path": "vtl.vicl.generation.classical.ClasicalGenerator"}),
                  progress=False)
    from vtl.vicl.clients.gemini import MissingApiKeyError

    with pytest.raises(MissingApiKeyError, match="GEMINI_API_KEY"):
        run_infer(InferConfig(**base, generator={"class_path": "vtl.vicl.generation.gemini.GeminiImageGenerator"}),
                  progress=False)
    path = run_infer(InferConfig(**base), progress=False)  # the corrected config runs in the same directory
    assert len(read_results(path)) == 4


def test_non_integer_k_names_the_key(tmp_path, inputs):
    tuples, desc = inputs
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"tuples": str(tuples), "descriptions": str(desc), "k": "two"}))
    with pytest.raises(VtlError, match=r"bad.yaml: `k: two`: expected an integer"):
        InferConfig.from_yaml(bad)


def test_infer_records_the_instruction_version(tmp_path, inputs):
    tuples, desc = inputs
    default = read_results(run_infer(InferConfig(tuples=str(tuples), descriptions=str(desc), k=1,
                                                 out=str(tmp_path / "vtl")), progress=False))
    assert {(r["prompt_version"], r["prompt_sha"]) for r in default} == {("vicl-v1", prompt_sha(VICL_INSTRUCTION))}
    theirs = tmp_path / "fixed_prompt.txt"
    theirs.write_text("This is a visual in-context learning task. Perform task B on the third image.\n")
    config = InferConfig(tuples=str(tuples), descriptions=str(desc), k=1, out=str(tmp_path / "authors"),
                         instruction=str(theirs))
    records = read_results(run_infer(config, progress=False))
    sha = prompt_sha(theirs.read_text().strip())
    assert {(r["prompt_version"], r["prompt_sha"]) for r in records} == {(f"vicl-v1+{sha[:8]}", sha)}
    with pytest.raises(ValueError, match="different instruction"):  # one run dir, one instruction
        run_infer(InferConfig(**{**config.__dict__, "instruction": "Something else."}), progress=False)
    with pytest.raises(ValueError, match="viescore"):
        InferConfig(tuples=str(tuples), arms=["baseline"], viescore="mean")
