"""The OpenAI-compatible backend against a local server: retries, failures, teacher corpus, judge, describer,
shards, kill-and-rerun, and no key in any output."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fake_openai import (
    FakeOpenAI,
    Reply,
    chat_json,
    empty_choices_json,
    error_json,
    retry_fast,
)
from vicl_helpers import write_tuples

from vtl.records import read_jsonl
from vtl.vicl.clients.gemini import MissingApiKeyError
from vtl.vicl.clients.openai_chat import ChatFailure, OpenAIChat, OpenAIConfigError
from vtl.vicl.distill.describe import OpenAIDescriber, describe_tuples
from vtl.vicl.scoring.judge import OpenAIJudge, VieScorer
from vtl.vicl.scoring.viescore import make_scorer
from vtl.vicl.teaching.corpus import build_corpus, failures_path
from vtl.vicl.teaching.shards import Shard, ShardError, merge_records
from vtl.vicl.teaching.teachers import OpenAITeacher

TESTS = Path(__file__).parent


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def tuples(tmp_path_factory):
    root = tmp_path_factory.mktemp("openai_tuples")
    specs = [(f"t{i:02d}", *(("low_light_enhancement", "denoising") if i % 2 else ("denoising",
                                                                                   "low_light_enhancement")))
             for i in range(10)]
    return write_tuples(root, specs, size=16)


def chat(server, **kwargs) -> OpenAIChat:
    options = {"api_key_env": None, "max_retries": 2, "timeout_s": 5.0, **kwargs}
    return OpenAIChat("served-model", base_url=server.base_url, **options)


# --- the client ---------------------------------------------------------------------------------------------------


def test_success_sends_images_as_data_urls_of_their_bytes(server, tuples):
    image = tuples.parent / "images" / "t00_a_in.png"
    answer = chat(server, temperature=0.0, max_tokens=50, seed=3).complete("describe", [image])
    assert isinstance(answer, str) and answer.startswith("The inputs look like")
    body = server.requests[0].body
    assert body["model"] == "served-model" and body["temperature"] == 0.0 and body["max_tokens"] == 50
    assert body["seed"] == 3 and "top_p" not in body  # unset options are not sent
    parts = body["messages"][0]["content"]
    url = parts[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == image.read_bytes()
    assert parts[-1] == {"type": "text", "text": "describe"}


def test_429_then_success_is_retried_by_the_sdk(server):
    server.push(retry_fast(429))
    assert isinstance(chat(server).complete("hi"), str)
    assert len(server.requests) == 2


def test_persistent_500_is_a_failure_after_the_retries(server):
    server.push(*[retry_fast(500)] * 3)
    answer = chat(server, max_retries=2).complete("hi")
    assert isinstance(answer, ChatFailure) and answer.kind == "error" and "500" in answer.detail
    assert len(server.requests) == 3


def test_timeout_is_a_failure(server):
    server.push(Reply(body=chat_json("late"), delay_s=1.5), Reply(body=chat_json("late"), delay_s=1.5))
    answer = chat(server, max_retries=1, timeout_s=0.3).complete("hi")
    assert isinstance(answer, ChatFailure) and answer.kind == "error" and "Timeout" in answer.detail
    assert len(server.requests) == 2


@pytest.mark.parametrize(("reply", "kind"), [
    (Reply(body=b"{not json"), "error"),
    (Reply(body=empty_choices_json()), "empty"),
    (Reply(body=chat_json("   ")), "empty"),
    (Reply(body=chat_json(None, refusal="I can't help with that.")), "refused"),
    (Reply(body=chat_json("partial", finish_reason="content_filter")), "refused"),
])
def test_bad_replies_are_failures_not_crashes(server, reply, kind):
    server.push(reply)
    answer = chat(server).complete("hi")
    assert isinstance(answer, ChatFailure) and answer.kind == kind


def test_wrong_key_or_model_stops_with_a_clear_error(server):
    server.push(Reply(body=error_json(404), status=404))
    with pytest.raises(OpenAIConfigError, match="served-model.*HTTP 404"):
        chat(server).complete("hi")


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("VTL_TEST_NO_SUCH_KEY", raising=False)
    with pytest.raises(MissingApiKeyError, match="VTL_TEST_NO_SUCH_KEY"):
        OpenAIChat("m", base_url="http://127.0.0.1:9/v1", api_key_env="VTL_TEST_NO_SUCH_KEY")


def test_concurrency_is_bounded(server):
    server.delay_s = 0.1
    client = chat(server, max_concurrency=3)
    in_flight, peak = [0], [0]
    original = server._reply_for

    def counting(path, body, auth):
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.05)
        in_flight[0] -= 1
        return original(path, body, auth)

    server._reply_for = counting
    answers = client.complete_many([(f"q{i}", []) for i in range(9)])
    assert all(isinstance(a, str) for a in answers) and peak[0] <= 3


# --- roles --------------------------------------------------------------------------------------------------------


def test_teacher_corpus_through_the_server_records_failures_and_rerun_fills_them(server, tuples, tmp_path):
    out = tmp_path / "corpus.jsonl"
    server.push(Reply(body=chat_json(None, refusal="no")))  # the first request is refused
    teacher = OpenAITeacher("Qwen/Qwen2.5-VL-32B-Instruct", base_url=server.base_url, api_key_env=None,
                            max_concurrency=1)
    stats = build_corpus(tuples, out, teacher, split="eval")
    assert (stats.written, stats.failed) == (9, 1)
    failed = read_jsonl(failures_path(out))
    assert len(failed) == 1 and failed[0]["reason"].startswith("refused")
    rows = read_jsonl(out)
    assert {r["model"] for r in rows} == {"Qwen/Qwen2.5-VL-32B-Instruct"} and {r["teacher"] for r in rows} == {"openai"}
    first = server.requests[0].body["messages"][0]["content"]
    assert [p["type"] for p in first].count("image_url") == 4
    stats = build_corpus(tuples, out, teacher, split="eval")
    assert (stats.written, stats.already_done, stats.failed) == (1, 9, 0)
    assert sorted(r["tuple_id"] for r in read_jsonl(out)) == [f"t{i:02d}" for i in range(10)]


def test_describer_sees_three_images(server, tuples, tmp_path):
    out = tmp_path / "descriptions.jsonl"
    student = OpenAIDescriber("student", base_url=server.base_url, api_key_env=None, max_concurrency=4)
    written, before = describe_tuples(student, tuples, out, split="eval")
    assert (written, before) == (10, 0)
    rows = read_jsonl(out)
    assert {r["student"] for r in rows} == {"openai:student"} and all(r["text"] for r in rows)
    assert all([p["type"] for p in r.body["messages"][0]["content"]].count("image_url") == 3
               for r in server.requests)
    assert describe_tuples(student, tuples, out, split="eval") == (0, 10)


def judge_answer(a: float, b: float) -> Reply:
    return Reply(body=chat_json(json.dumps({"score": [a, b], "reasoning": "ok"})))


def test_judge_through_the_server(server):
    scorer = make_scorer({"class_path": "vtl.vicl.scoring.judge.OpenAIJudge",
                          "init_args": {"model": "judge", "base_url": server.base_url, "api_key_env": None}})
    assert isinstance(scorer.backend, OpenAIJudge)
    server.push(judge_answer(8, 6), Reply(body=chat_json(None, refusal="no")), judge_answer(9, 4))
    image = np.zeros((8, 8, 3), np.uint8)
    score = scorer.score("brighten", image, image)
    assert score.ok and (score.SC, score.PQ) == (6, 4) and score.attempts == 3
    assert server.requests[2].body["temperature"] == pytest.approx(0.7)  # the retry samples


def test_judge_server_down_is_a_counted_failure(server):
    server.push(*[retry_fast(503)] * 2)
    scorer = VieScorer(OpenAIJudge("judge", base_url=server.base_url, api_key_env=None, max_retries=1))
    score = scorer.score("brighten", np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8))
    assert not score.ok and "503" in score.error


# --- shards -------------------------------------------------------------------------------------------------------


def test_shard_parse_and_partition():
    assert Shard.parse("1/3") == Shard(1, 3) and Shard.parse(None) is None
    for bad in ("3/3", "a/2", "1", "-1/2"):
        with pytest.raises(ShardError, match="--shard"):
            Shard.parse(bad)
    keys = [f"k{i}" for i in range(200)]
    parts = [{k for k in keys if Shard(i, 3).owns(k)} for i in range(3)]
    assert set().union(*parts) == set(keys) and sum(map(len, parts)) == len(keys)


def test_two_shards_merge_to_the_unsharded_result(server, tuples, tmp_path):
    def teacher():
        return OpenAITeacher("teacher", base_url=server.base_url, api_key_env=None, max_concurrency=2)

    build_corpus(tuples, tmp_path / "all.jsonl", teacher(), split="eval")
    shards = [tmp_path / f"shard{i}.jsonl" for i in range(2)]
    for i, path in enumerate(shards):
        build_corpus(tuples, path, teacher(), split="eval", shard=f"{i}/2")
    assert all(read_jsonl(p) for p in shards)
    assert merge_records(shards, tmp_path / "merged.jsonl") == (10, 0)
    assert merge_records(shards, tmp_path / "merged.jsonl") == (0, 10)  # rerun adds nothing

    def by_id(path):
        return sorted(read_jsonl(path), key=lambda r: r["tuple_id"])

    assert by_id(tmp_path / "merged.jsonl") == by_id(tmp_path / "all.jsonl")
    other = tmp_path / "other.jsonl"
    row = read_jsonl(shards[0])[0]
    other.write_text(json.dumps({**row, "text": "something else"}) + "\n")
    with pytest.raises(ShardError, match="other content"):
        merge_records([shards[0], other], tmp_path / "bad.jsonl")


# --- kill and rerun -----------------------------------------------------------------------------------------------

CHILD = """
import sys
from vtl.vicl.teaching.corpus import build_corpus
from vtl.vicl.teaching.teachers import OpenAITeacher
teacher = OpenAITeacher("teacher", base_url=sys.argv[1], api_key_env=None, max_concurrency=1)
build_corpus(sys.argv[2], sys.argv[3], teacher, split="eval")
"""


def test_kill_during_a_corpus_build_then_rerun(server, tuples, tmp_path):
    server.delay_s = 0.15
    out = tmp_path / "corpus.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, server.base_url, str(tuples), str(out)], env=env)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and (not out.exists() or not out.read_bytes().count(b"\n")):
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    lines_before = out.read_bytes().count(b"\n")
    assert 1 <= lines_before < 10
    with out.open("ab") as f:  # as if the kill had cut a line short
        f.write(b'{"tuple_id": "t0')
    server.delay_s = 0
    build_corpus(tuples, out, OpenAITeacher("teacher", base_url=server.base_url, api_key_env=None), split="eval")
    ids = [r["tuple_id"] for r in read_jsonl(out)]
    assert sorted(ids) == [f"t{i:02d}" for i in range(10)]  # nothing lost, no duplicate


# --- secrets ------------------------------------------------------------------------------------------------------


def test_api_keys_appear_in_no_output(server, tuples, tmp_path, monkeypatch, caplog, capsys):
    import logging

    from vtl.vicl.infer import InferConfig, run_infer

    secret = "sk-vtl-test-SECRET-0123456789"
    fal_secret = "fal-vtl-test-SECRET-9876543210"
    monkeypatch.setenv("VTL_TEST_OPENAI_KEY", secret)
    monkeypatch.setenv("FAL_KEY", fal_secret)
    caplog.set_level(logging.DEBUG)
    common = {"base_url": server.base_url, "api_key_env": "VTL_TEST_OPENAI_KEY"}
    build_corpus(tuples, tmp_path / "corpus.jsonl", OpenAITeacher("teacher", **common), split="eval")
    describe_tuples(OpenAIDescriber("student", **common), tuples, tmp_path / "descriptions.jsonl", split="eval")
    server.responder = lambda path, body: (judge_answer(7, 7) if path.endswith("/chat/completions")
                                           else __import__("fake_openai").default_responder(path, body))
    config = InferConfig(
        tuples=str(tuples), descriptions=str(tmp_path / "descriptions.jsonl"), out=str(tmp_path / "infer"), k=2,
        generator={"class_path": "vtl.vicl.generation.openai_images.OpenAIImageEditGenerator",
                   "init_args": {"model": "gpt-image-1", **common}},
        judge={"class_path": "vtl.vicl.scoring.judge.OpenAIJudge", "init_args": {"model": "judge", **common}},
        judge_max_attempts=1, limit=1,
    )
    run_infer(config, progress=False)
    assert server.requests and all(r.authorization == f"Bearer {secret}" for r in server.requests)
    texts = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    texts += [caplog.text.encode(), "".join(capsys.readouterr()).encode()]
    for key in (secret, fal_secret):
        assert not any(key.encode() in t for t in texts)
    results = read_jsonl(tmp_path / "infer" / "results.jsonl")
    assert {r["status"] for r in results} == {"ok"} and all(r["viescore"]["ok"] for r in results)


# --- config surface -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cls_path", "base"), [
    ("vtl.vicl.teaching.teachers.OpenAITeacher", "vtl.vicl.teaching.teachers.Teacher"),
    ("vtl.vicl.scoring.judge.OpenAIJudge", "vtl.vicl.scoring.judge.JudgeBackend"),
    ("vtl.vicl.generation.openai_images.OpenAIImageEditGenerator", "vtl.vicl.generation.base.Generator"),
    ("vtl.vicl.generation.seedream.SeedreamGenerator", "vtl.vicl.generation.base.Generator"),
    ("vtl.vicl.generation.diffusers_editors.DiffusersEditor", "vtl.vicl.generation.base.Generator"),
])
def test_backends_are_class_path_with_typed_init_args(cls_path, base):
    import importlib

    from vtl.components import check
    from vtl.errors import UsageError

    module, _, name = base.rpartition(".")
    base_cls = getattr(importlib.import_module(module), name)
    init = {"model": "m"} if "Diffusers" not in cls_path else {"pipeline": "flux2", "steps": 4}
    spec = check({"class_path": cls_path, "init_args": init}, base_cls, "backend")
    assert spec["class_path"] == cls_path and ("max_concurrency" in spec["init_args"] or "steps" in spec["init_args"])
    with pytest.raises(UsageError, match="no_such_option"):
        check({"class_path": cls_path, "init_args": {**init, "no_such_option": 1}}, base_cls, "backend")


def test_cli_corpus_shards_merge_and_describe(server, tuples, tmp_path):
    from vtl.cli import main

    common = ["--base-url", server.base_url, "--api-key-env", "none", "--tuples", str(tuples), "--split", "eval"]
    for i in range(2):
        assert main(["vicl", "corpus", "--teacher", "openai", "--shard", f"{i}/2", *common,
                     "--out", str(tmp_path / f"s{i}.jsonl")]) == 0
    assert main(["vicl", "merge", str(tmp_path / "s0.jsonl"), str(tmp_path / "s1.jsonl"),
                 "--out", str(tmp_path / "corpus.jsonl")]) == 0
    assert len(read_jsonl(tmp_path / "corpus.jsonl")) == 10
    assert main(["vicl", "describe", "--student", "student", *common, "--out", str(tmp_path / "d.jsonl")]) == 0
    assert {r["student"] for r in read_jsonl(tmp_path / "d.jsonl")} == {"openai:student"}
    assert main(["vicl", "corpus", "--teacher", "openai", "--shard", "2/2", *common,
                 "--out", str(tmp_path / "bad.jsonl")]) == 2


def test_no_failures_file_when_nothing_failed(server, tuples, tmp_path):
    out = tmp_path / "corpus.jsonl"
    build_corpus(tuples, out, OpenAITeacher("t", base_url=server.base_url, api_key_env=None), split="eval")
    assert out.is_file() and not failures_path(out).exists()
