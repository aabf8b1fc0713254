"""The T2T-VICL authors' files read as they are: importers, combo ids, untouched images, logs, VIEScore variants."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from vtl.records import read_jsonl
from vtl.vicl.authors.release import AuthorsFormatError, combo_id, import_release, read_json_array
from vtl.vicl.lowlevel.pairs import load_tuples

# The authors' per-query id of the first row of their eval_dataset.json.
KNOWN_ID = ("inpainting/input/69.png", "style_transfer/input/5618.jpg", "17131fad17")


def _img(seed: int, shape=(37, 53)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def _write_tasks(root, files: dict[str, list[str]]):
    """tasks/<task>/{input,output}/<name> for each task; odd sizes, png and jpg."""
    for t, (task, names) in enumerate(files.items()):
        for i, name in enumerate(names):
            for j, side in enumerate(("input", "output")):
                path = root / task / side / name
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(_img(100 * t + 10 * i + j)).save(path)


def _quad(a: str, an: str, b: str, bn: str, **extra):
    return {"taskA_input": f"{a}/input/{an}", "taskA_output": f"{a}/output/{an}",
            "taskB_input": f"{b}/input/{bn}", "taskB_output": f"{b}/output/{bn}", **extra}


@pytest.fixture
def release(tmp_path):
    tasks = tmp_path / "tasks"
    _write_tasks(tasks, {"light_enhancement": ["1.png", "2.png"], "deraining": ["7.jpg", "8.jpg"],
                         "colorization": ["image5.jpg", "image6.jpg"]})
    data = tmp_path / "dataset"
    data.mkdir()
    (data / "eval_dataset.json").write_text(json.dumps([
        _quad("light_enhancement", "1.png", "deraining", "7.jpg"),
        _quad("light_enhancement", "2.png", "deraining", "8.jpg"),
        _quad("light_enhancement", "2.png", "deraining", "9.jpg"),  # image not in the release: skipped, counted
    ], indent=4))
    (data / "eval_dataset_2.json").write_text(json.dumps([
        _quad("colorization", "image5.jpg", "colorization", "image6.jpg"),
    ]))
    (data / "eval_dataset_1.json").write_text(json.dumps([
        {"task": "colorization", "input": "colorization/input/image5.jpg",
         "output": "colorization/output/image5.jpg"},
    ]))
    train = [
        _quad("deraining", "7.jpg", "light_enhancement", "1.png", description="Rainy street; brighten it."),
        _quad("deraining", "8.jpg", "light_enhancement", "2.png", description="Error: Failed to generate response."),
        _quad("deraining", "8.jpg", "light_enhancement", "1.png", description="Streaks vanish; light rises."),
    ]
    text = json.dumps(train, indent=4)
    (data / "train_dataset.json").write_text(text[: text.rindex("}")] + '}, {"taskA_input": "der')  # no closing ]
    return tmp_path, tasks, data


def test_combo_id_is_the_authors():
    a, b, expected = KNOWN_ID
    assert combo_id(a, b) == expected
    assert combo_id(a, b) == hashlib.sha1(f"{a}|{b}|".encode()).hexdigest()[:10]


def test_truncated_array_keeps_complete_objects(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('[\n {"a": "x}"},\n {"a": 2},\n {"a": ')
    assert read_json_array(path) == ([{"a": "x}"}, {"a": 2}], True)
    path.write_text("[]")
    assert read_json_array(path) == ([], False)
    path.write_text('{"a": 1}')
    with pytest.raises(AuthorsFormatError, match="expected a JSON array"):
        read_json_array(path)


def test_import_release(release, capsys):
    root, tasks, data = release
    out = root / "vtl"
    files = [data / n for n in ("eval_dataset.json", "eval_dataset_2.json", "eval_dataset_1.json",
                                "train_dataset.json")]
    assert import_release(files, tasks_root=tasks, out=out) == 0
    report = json.loads((out / "import_report.json").read_text())["files"]
    by_kind = {e["kind"]: e for e in report}
    assert by_kind["cross"]["imported"] == 2 and by_kind["cross"]["missing_images"] == 1
    assert by_kind["same"]["imported"] == 1 and by_kind["single"]["imported"] == 1
    train = by_kind["train"]
    assert train["truncated"] and train["rows"] == 3 and train["error_rows"] == 1 and train["imported"] == 2
    assert "1 error rows" in capsys.readouterr().out

    tuples = {t.id: t for t in load_tuples(out)}
    assert len(tuples) == 5
    t = tuples[combo_id("light_enhancement/input/1.png", "deraining/input/7.jpg")]
    assert (t.task_a, t.task_b, t.pair, t.split) == ("low_light_enhancement", "deraining", "LightEnh→Derain", "eval")
    assert t.b_out.resolve() == (tasks / "deraining/output/7.jpg").resolve()  # referenced in place
    same = [x for x in tuples.values() if x.task_a == x.task_b]
    assert len(same) == 1 and same[0].pair == "Color→Color"
    assert {x.split for x in tuples.values() if x.task_a == "deraining"} == {"train"}

    corpus = read_jsonl(out / "corpus.jsonl")
    assert [r["text"] for r in corpus] == ["Rainy street; brighten it.", "Streaks vanish; light rises."]
    assert all(r["tuple_id"] in tuples for r in corpus)

    # rerun: nothing is imported twice
    import_release(files, tasks_root=tasks, out=out)
    assert len(load_tuples(out)) == 5 and len(read_jsonl(out / "corpus.jsonl")) == 2


def test_converted_dataset_finds_ground_truth(release):
    root, tasks, data = release
    conv = [{"image": ["deraining/input/7.jpg", "deraining/output/7.jpg", "light_enhancement/input/2.png"],
             "conversations": [{"from": "human", "value": "Picture 1: <image>\n..."},
                               {"from": "gpt", "value": "Wet glass; lift the shadows."}]}]
    (data / "converted_dataset.json").write_text(json.dumps(conv))
    import_release([data / "converted_dataset.json"], tasks_root=tasks, out=root / "vtl")
    (t,) = load_tuples(root / "vtl")
    assert t.id == combo_id("deraining/input/7.jpg", "light_enhancement/input/2.png")
    assert t.b_out.name == "2.png" and t.b_out.parent.name == "output" and t.split == "train"
    assert read_jsonl(root / "vtl" / "corpus.jsonl")[0]["text"] == "Wet glass; lift the shadows."


def test_unknown_task_folder_names_file_row_and_field(tmp_path):
    path = tmp_path / "eval_dataset.json"
    path.write_text(json.dumps([_quad("sharpening", "1.png", "deraining", "2.png")]))
    with pytest.raises(AuthorsFormatError, match=r"row 0 field 'taskA_input'.*sharpening"):
        import_release([path], tasks_root=tmp_path, out=tmp_path / "out", check_images=False)


def test_psnr_on_imported_tuple_equals_skimage_on_untouched_files(release):
    from vtl.vicl.lowlevel.metrics import psnr, ssim

    root, tasks, data = release
    import_release([data / "eval_dataset.json"], tasks_root=tasks, out=root / "vtl")
    t = load_tuples(root / "vtl")[0]
    gt = np.asarray(Image.open(tasks / t.extra["authors_paths"]["taskB_output"]).convert("RGB"))
    cand = np.asarray(Image.open(tasks / t.extra["authors_paths"]["taskB_input"]).convert("RGB"))
    assert t.array("b_out").shape == gt.shape == (37, 53, 3)  # native size
    assert psnr(t.array("b_in"), t.array("b_out")) == pytest.approx(peak_signal_noise_ratio(gt, cand, data_range=255))
    assert ssim(t.array("b_in"), t.array("b_out")) == pytest.approx(
        structural_similarity(gt, cand, data_range=255, channel_axis=-1))


# --- VIEScore variants ----------------------------------------------------------------------------------------------


class Scripted:
    name = "scripted"
    concurrent = True

    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = []

    def ask(self, prompt, images, attempt):
        self.calls.append((prompt, len(images)))
        return self.answers.pop(0)


def test_viescore_variants_on_scripted_answers():
    from vtl.vicl.scoring.viescore import make_variant_scorer, mean_viescore

    ims = [_img(i, (8, 8)) for i in range(4)]
    judge = Scripted(['{"score": [8, 6]}', "no json", "no json", "no json", '```json\n{"score": [2, 4]}\n```'])
    authors = make_variant_scorer(judge, "authors-code", max_attempts=3)
    ok = authors.score_tuple("low_light_enhancement", "deraining", ims[:3], ims[3])
    failed = authors.score_tuple("low_light_enhancement", "deraining", ims[:3], ims[3])
    assert (ok.ok, ok.score, ok.variant) == (True, 7.0, "authors-code")
    assert (failed.ok, failed.score, failed.attempts) == (False, 0.0, 3)
    assert judge.calls[0][1] == 4 and "light_enhancement" in judge.calls[0][0]  # four images, the folder names
    # authors' averaging: the failure is a 0 averaged in
    assert mean_viescore([ok.to_dict(), failed.to_dict()]) == (3.5, 2, 1)

    paper = make_variant_scorer(Scripted(['{"score": [9, 4]}', '{"score": [8, 2]}', "x", "x", "x"]), "paper",
                                max_attempts=3)
    good = paper.score_tuple("deraining", "dehazing", ims[:3], ims[3])
    assert (good.SC, good.PQ, good.score) == (4.0, 2.0, pytest.approx(8 ** 0.5))
    bad = paper.score_tuple("deraining", "dehazing", ims[:3], ims[3])
    assert not bad.ok and bad.score is None
    # paper: the failure is excluded and counted
    assert mean_viescore([good.to_dict(), bad.to_dict()]) == (pytest.approx(8 ** 0.5), 1, 1)


def test_judge_prompt_from_file_changes_the_recorded_version(tmp_path):
    from vtl.vicl.scoring.viescore import AUTHORS_CODE_VERSION, make_variant_scorer

    prompt = tmp_path / "authors_judge.txt"
    prompt.write_text("Rate image 4 for {task_b} after {task_a}. JSON {\"score\": [SC, PQ]}")
    judge = Scripted(['{"score": [5, 5]}'])
    scorer = make_variant_scorer(judge, "authors-code", prompts={"judge": str(prompt)})
    result = scorer.score_tuple("dehazing", "low_light_enhancement", [_img(0, (4, 4))] * 3, _img(1, (4, 4)))
    assert judge.calls[0][0] == "Rate image 4 for light_enhancement after dehazing. JSON {\"score\": [SC, PQ]}"
    assert result.prompt_version.startswith(AUTHORS_CODE_VERSION + "+")
    with pytest.raises(ValueError, match="do not apply"):
        make_variant_scorer(judge, "paper", prompts={"judge": "x"})


def test_prompt_source_default_file_and_inline(tmp_path):
    from vtl.vicl.teaching.prompt_source import PromptError, PromptSource

    default = PromptSource.resolve(None, "Do it.", "v1")
    assert default.version == "v1" and default.record()["prompt_sha"] == default.sha
    inline = PromptSource.resolve("Do something else.", "Do it.", "v1")
    assert inline.text == "Do something else." and inline.version == f"v1+{inline.sha[:8]}"
    f = tmp_path / "p.txt"
    f.write_text("Do something else.\n")
    assert PromptSource.resolve(str(f), "Do it.", "v1") == inline
    with pytest.raises(PromptError, match="does not exist"):
        PromptSource.resolve(str(tmp_path / "missing.txt"), "Do it.", "v1")


# --- vtl vicl score -------------------------------------------------------------------------------------------------


def test_score_directory_of_images_and_authors_logs(release):
    from vtl.vicl.scoring.report import summarize
    from vtl.vicl.scoring.score import score

    root, tasks, data = release
    import_release([data / "eval_dataset.json"], tasks_root=tasks, out=root / "vtl")
    t1, t2 = load_tuples(root / "vtl")
    # the authors' Gemini layout for t1 (saved as PNG though the ground truth is JPEG), vtl's layout for t2
    gemini = root / "authors_out" / "light_enhancement__deraining"
    gemini.mkdir(parents=True)
    cand1 = _img(7, (20, 30))
    Image.fromarray(cand1).save(gemini / f"{t1.a_in.name}_{t1.b_in.name}_{t1.id}.png")
    Image.fromarray(_img(8)).save(gemini / f"{t2.id}__ours.png")
    Image.fromarray(_img(9)).save(gemini / f"{t2.id}__baseline.png")  # other arm: not picked for "ours"
    run = root / "scored"
    assert score(tuples=root / "vtl", out=run, images=root / "authors_out", arm="ours", generator="gemini",
                 save_as_ground_truth_format=True) == 0
    recs = {r["tuple_id"]: r for r in read_jsonl(run / "results.jsonl")}
    assert recs[t1.id]["status"] == "ok" and recs[t1.id]["saved_as"] == "JPEG"
    # the reference: PNG -> JPEG (Pillow default quality) -> bicubic to the ground truth's size -> skimage
    import io

    buf = io.BytesIO()
    Image.fromarray(cand1).save(buf, format="JPEG")
    gt = Image.open(t1.b_out).convert("RGB")
    ref = np.asarray(Image.open(buf).convert("RGB").resize(gt.size, Image.BICUBIC))
    assert recs[t1.id]["psnr"] == pytest.approx(peak_signal_noise_ratio(np.asarray(gt), ref, data_range=255))
    assert recs[t2.id]["output"].endswith("__ours.png")

    # the authors' evaluation log of a fixed-prompt run becomes the baseline arm
    base = root / "authors_fixed" / "light_enhancement__deraining"
    base.mkdir(parents=True)
    rows = [{"combo_id": t1.id, "final_image": "x.jpg", "psnr": 10.0, "ssim": 0.3, "viescore": 6.5},
            {"combo_id": t2.id, "final_image": "y.jpg", "psnr": 12.0, "ssim": 0.4, "viescore": 0.0}]
    (base / "evaluation_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    score(tuples=root / "vtl", out=run, authors_logs=root / "authors_fixed", arm="baseline", generator="gemini")
    records = read_jsonl(run / "results.jsonl")
    assert len(records) == 4
    b2 = next(r for r in records if r["tuple_id"] == t2.id and r["arm"] == "baseline")
    assert b2["viescore"] == {**b2["viescore"], "ok": False, "score": 0.0, "variant": "authors-code"}
    pair = summarize(records, vie_average="all")["pairs"]["LightEnh→Derain"]
    assert pair["baseline"]["viescore"] == pytest.approx(3.25)  # (6.5 + 0) / 2: the authors' averaging
    assert pair["n_paired"] == 2


def test_score_needs_images_or_logs(release):
    from vtl.vicl.scoring.score import ScoreError, score

    root, tasks, data = release
    import_release([data / "eval_dataset.json"], tasks_root=tasks, out=root / "vtl")
    with pytest.raises(ScoreError, match="exactly one"):
        score(tuples=root / "vtl", out=root / "run")


def test_authors_code_judge_through_gemini_with_their_settings(monkeypatch):
    from fake_gemini import FakeGemini, reply, text_body

    from vtl.vicl.scoring.viescore import make_scorer

    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    ims = [_img(i, (8, 8)) for i in range(4)]
    replies = [reply(text_body("not json")), reply(text_body('{"score": [9, 7], "reasoning": "ok"}'))]
    with FakeGemini(replies) as server:
        spec = {"class_path": "vtl.vicl.scoring.judge.GeminiJudge",
                "init_args": {"model": "gemini-2.5-flash-lite", "base_url": server.base_url, "temperature": 0.1,
                              "retry_temperature": None, "max_output_tokens": 1024}}
        scorer = make_scorer(spec, variant="authors-code")
        result = scorer.score_tuple("inpainting", "style_transfer", ims[:3], ims[3])
        assert (result.ok, result.score, result.attempts) == (True, 8.0, 2)
        bodies = [r.body for r in server.requests]
        assert [b["generationConfig"]["temperature"] for b in bodies] == [0.1, 0.1]
        assert bodies[0]["generationConfig"]["maxOutputTokens"] == 1024
        parts = bodies[0]["contents"][0]["parts"]
        assert sum("inlineData" in p or "inline_data" in p for p in parts) == 4


def test_score_single_task_outputs_and_their_log(release):
    from vtl.vicl.scoring.score import score

    root, tasks, data = release
    import_release([data / "eval_dataset_1.json"], tasks_root=tasks, out=root / "vtl")
    (row,) = read_jsonl(root / "vtl" / "single.jsonl")
    assert row["id"] == combo_id("colorization/input/image5.jpg", "colorization/output/image5.jpg")
    outputs = root / "one_fix" / "colorization"
    outputs.mkdir(parents=True)
    shutil.copy(tasks / "colorization/output/image5.jpg", outputs / f"image5.jpg_{row['id']}.jpg")
    run = root / "scored"
    score(tuples=root / "vtl" / "single.jsonl", out=run, images=root / "one_fix", arm="baseline")
    (rec,) = read_jsonl(run / "results.jsonl")
    assert (rec["pair"], rec["status"], rec["psnr"]) == ("Color→Color", "ok", 100.0)  # the ground truth itself
    (outputs / "evaluation_log.jsonl").write_text(json.dumps(
        {"sample_id": row["id"], "final_image": "f.jpg", "psnr": 20.0, "ssim": 0.7, "viescore": 7.5}) + "\n")
    score(tuples=root / "vtl" / "single.jsonl", out=root / "logged", authors_logs=root / "one_fix", arm="baseline")
    (logged,) = read_jsonl(root / "logged" / "results.jsonl")
    assert (logged["tuple_id"], logged["psnr"], logged["viescore"]["score"]) == (row["id"], 20.0, 7.5)


def test_cli_import_score_with_judge_config_and_report(release, monkeypatch, capsys):
    import yaml
    from fake_gemini import FakeGemini, reply, text_body

    from vtl.cli import main

    root, tasks, data = release
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    assert main(["vicl", "import", str(data / "eval_dataset.json"), "--tasks_root", str(tasks),
                 "--out", str(root / "vtl")]) == 0
    tuples = load_tuples(root / "vtl")
    images = root / "given"
    images.mkdir()
    for t in tuples:  # the fixed-prompt arm returns B_in, the described arm the ground truth
        shutil.copy(t.b_in, images / f"{t.id}__baseline{t.b_in.suffix}")
        shutil.copy(t.b_out, images / f"{t.id}__ours{t.b_out.suffix}")
    answers = [reply(text_body('{"score": [3, 5]}')), reply(text_body("no")), reply(text_body("no")),
               reply(text_body('{"score": [9, 9]}')), reply(text_body('{"score": [8, 8]}'))]
    with FakeGemini(answers) as server:
        config = root / "score.yaml"
        config.write_text(yaml.safe_dump({
            "tuples": str(root / "vtl"), "out": str(root / "run"), "images": str(images), "viescore": "authors-code",
            "judge_max_attempts": 2,
            "judge": {"class_path": "vtl.vicl.scoring.judge.GeminiJudge",
                      "init_args": {"model": "gemini-2.5-flash-lite", "base_url": server.base_url,
                                    "temperature": 0.1}}}))
        assert main(["vicl", "score", "--config", str(config), "--arm", "baseline"]) == 0
        assert main(["vicl", "score", "--config", str(config), "--arm", "ours"]) == 0
    assert main(["vicl", "report", str(root / "run"), "--vie_average", "all"]) == 0
    summary = json.loads((root / "run" / "summary.json").read_text())
    pair = summary["pairs"]["LightEnh→Derain"]
    assert pair["baseline"]["viescore"] == pytest.approx(2.0)  # (4 + 0) / 2: a failed judgement counts 0
    assert pair["ours"]["viescore"] == pytest.approx(8.5) and pair["ours"]["psnr"] == 100.0
    assert summary["viescore_variants"] == ["authors-code"]
    assert "VIEScore variant: authors-code" in capsys.readouterr().out
