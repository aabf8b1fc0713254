"""Bad inputs of issue 27: each ends in one line naming the flag and what to change, exit 2, no traceback."""

from vtl.cli import main


def test_vicl_run_out_under_a_file_names_the_flag(capsys):
    assert main(["vicl", "run", "--out", "/dev/null/x"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--out /dev/null/x" in err and "writable directory" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_unbounded_fit_says_which_flags_bound_it(capsys, tmp_path):
    code = main(["fit", "--config", "configs/transfer/tiny.yaml", "--trainer.max_epochs", "-1",
                 "--trainer.default_root_dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "OverflowError" not in err
    last = err.strip().splitlines()[-1]
    assert "--trainer.max_epochs N" in last and "--trainer.max_steps N" in last


def test_nested_key_on_a_plain_flag_names_the_right_flag(capsys):
    assert main(["eval", "--model.model", "/nonexistent"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "NestedArg" not in err
    assert "--model.model is not an option" in err and "write --model /nonexistent" in err


def test_analyze_on_a_file_that_is_not_a_transfer_record_says_what_it_misses(capsys, tmp_path):
    bad = tmp_path / "other.jsonl"
    bad.write_text('{"loss": 0.5, "step": 3}\n')
    assert main(["analyze", f"X={bad}", "--out", str(tmp_path / "out")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "every input was empty" not in last
    assert "other.jsonl" in last and "source_task" in last and "target" in last
