"""Teacher prompt, task-name check, the analytic teacher, and the Gemini and local Qwen backends."""

from __future__ import annotations

import pytest
from fake_gemini import FakeGemini, blocked_body, error, reply, text_body

from vtl.vicl.lowlevel.degrade import make_pair
from vtl.vicl.lowlevel.images import clean_image
from vtl.vicl.lowlevel.pairs import load_tuples, write_tuples
from vtl.vicl.lowlevel.tasks import LOW_LEVEL_TASKS, REPORTED_SCENARIOS
from vtl.vicl.teaching.analytic import describe_tuple_images, measure_change
from vtl.vicl.teaching.prompts import TEACHER_PROMPT, clean_description, sentences, task_mentions
from vtl.vicl.teaching.teachers import AnalyticTeacher, GeminiTeacher, QwenTeacher, TeacherFailure


@pytest.fixture(scope="module")
def tuples_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher_tuples")
    write_tuples(out, pairs=["Deblur→Dehaze", "LightEnh→Shadow", "Inpaint→Color"], n_train=2, n_eval=1,
                 image_size=48)
    return out


def test_task_mentions_flags_names_not_plain_words():
    assert task_mentions("The model performs DEHAZING on image B.") == ["dehazing"]
    assert task_mentions("after de-raining and inpainting") == ["de-raining", "inpainting"]
    assert task_mentions("a low-light enhancement, then style transfer") == ["low-light enhancement",
                                                                              "style transfer"]
    assert task_mentions("Colourise it and remove the shadow.") == ["colourise", "remove the shadow"]
    assert task_mentions("thin bright streaks over a rainbow-tinted veil") == []
    assert task_mentions("noisy and hazy", strict=True) == ["hazy", "noisy"]
    assert task_mentions("noisy and hazy") == []
    # a degradation plus "removal" is another name of the task
    assert task_mentions("A does haze removal; B is about removing the rain streaks") == ["haze removal",
                                                                                           "removing the rain"]
    assert task_mentions("Moiré-removal and noise removal") == ["moiré-removal", "noise removal"]
    assert task_mentions("removing a distance-dependent whitish cast") == []
    for word in ("deblurring", "dehazing", "harmonization", "inpainting", "colorization"):
        assert word in TEACHER_PROMPT  # the prompt lists what not to write ...
    assert len(task_mentions(TEACHER_PROMPT)) >= 5  # ... so the check would flag it


def test_clean_description_keeps_three_sentences():
    text = "<|im_start|>One.  Two two.\nThree! Four? Five."
    assert clean_description(text) == "One. Two two. Three!"


@pytest.mark.parametrize("a,b", REPORTED_SCENARIOS[::4])
def test_analytic_descriptions_are_implicit_three_sentences(a, b):
    ca, cb = clean_image("train", f"{a}-x", seed=0, size=64), clean_image("train", f"{b}-y", seed=0, size=64)
    pa, pb = make_pair(a, ca.pixels, 1, ca.depth), make_pair(b, cb.pixels, 2, cb.depth)
    text = describe_tuple_images(pa.input, pa.output, pb.input, pb.output, seed=3)
    assert len(sentences(text)) == 3
    assert task_mentions(text, strict=True) == [], text


def test_analytic_teacher_measures_the_change_from_pixels():
    """The dominant cue comes from pixels alone; each task's operator is recognised on most images."""
    cues = {}
    for task in LOW_LEVEL_TASKS:
        found = []
        for i in range(4):
            clean = clean_image("eval", f"cue-{i}", seed=5, size=64)
            pair = make_pair(task, clean.pixels, i, clean.depth)
            found.append(measure_change(pair.input, pair.output).cue)
        cues[task] = max(set(found), key=found.count)
        assert found.count(cues[task]) >= 3, (task, found)
    assert len(set(cues.values())) == 12  # twelve tasks, twelve distinct dominant cues


def test_analytic_descriptions_differ_between_pairs(tuples_dir):
    tuples = load_tuples(tuples_dir, split="train")
    texts = AnalyticTeacher().describe(tuples)
    by_pair: dict[str, set[str]] = {}
    for t, text in zip(tuples, texts, strict=True):
        by_pair.setdefault(t.pair, set()).add(text)
    assert len(by_pair) == 3
    all_texts = [x for v in by_pair.values() for x in v]
    assert len(set(all_texts)) == len(all_texts)
    # the change sentence of different pairs differs, not only the numbers
    middles = {pair: {sentences(x)[1].split(";")[0][:40] for x in v} for pair, v in by_pair.items()}
    assert not middles["Deblur→Dehaze"] & middles["LightEnh→Shadow"]
    assert AnalyticTeacher().describe(tuples[:1]) == texts[:1]  # deterministic per tuple


def test_gemini_teacher_sends_four_images_and_retries(tuples_dir, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "fake-key")
    tuples = load_tuples(tuples_dir, split="eval")[:2]
    script = [error(429), reply(text_body("A. B. C. D.")), error(500), reply(blocked_body())]
    with FakeGemini(script) as server:
        teacher = GeminiTeacher("gemini-test", base_url=server.base_url, concurrency=1, sleep=lambda s: None)
        out = teacher.describe(tuples)
    assert out[0] == "A. B. C."  # trimmed to three sentences
    assert isinstance(out[1], TeacherFailure) and "SAFETY" in out[1].reason
    assert len(server.requests) == 4
    body = server.requests[1].body
    parts = body["contents"][0]["parts"]
    assert sum("inline_data" in p or "inlineData" in p for p in parts) == 4
    assert parts[-1]["text"] == TEACHER_PROMPT
    assert body["generationConfig"]["temperature"] == 0.0


def test_gemini_teacher_gives_up_as_a_failure_not_a_crash(tuples_dir, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "fake-key")
    with FakeGemini(default=error(503)) as server:
        teacher = GeminiTeacher("gemini-test", base_url=server.base_url, max_attempts=2, sleep=lambda s: None)
        (out,) = teacher.describe(load_tuples(tuples_dir)[:1])
    assert isinstance(out, TeacherFailure) and "503" in out.reason
    assert len(server.requests) == 2


def test_gemini_teacher_stops_the_corpus_on_a_refused_request(tuples_dir, tmp_path, monkeypatch, capsys):
    from vtl.cli import main

    monkeypatch.setenv("GEMINI_API_KEY", "fake-key")
    with FakeGemini(default=error(404, "model not found")) as server:
        code = main(["vicl", "corpus", "--tuples", str(tuples_dir), "--out", str(tmp_path / "c.jsonl"),
                     "--teacher", "gemini", "--model", "no-such-model", "--base-url", server.base_url,
                     "--concurrency", "1"])
        assert len(server.requests) == 1  # not one refused request per tuple
    assert code == 2
    assert "refused the teacher request" in (out := capsys.readouterr().err) and "HTTP 404" in out


def test_qwen_teacher_runs_on_the_tiny_model(tuples_dir, tiny_model_dir):
    teacher = QwenTeacher(str(tiny_model_dir), quantization=None, dtype="float32", max_new_tokens=8, batch_size=2,
                          max_pixels=None, device_map=None)
    out = teacher.describe(load_tuples(tuples_dir, split="eval")[:2])
    assert len(out) == 2
    assert all(isinstance(x, str | TeacherFailure) for x in out)
    assert teacher.model == str(tiny_model_dir) and teacher.prompt_version
