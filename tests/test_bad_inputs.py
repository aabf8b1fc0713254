"""Bad inputs of issue 27: each ends in one line naming the flag and what to change, exit 2, no traceback."""

import re

import pytest

from vtl.cli import COMMANDS, build_parser, load, main


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


# ---- a sweep over every command's flags: wrong types, out-of-range numbers, unknown flags, unwritable outputs ----
def _leaf_commands(tree=COMMANDS, prefix=()):
    for name, node in tree.items():
        if isinstance(node, dict):
            yield from _leaf_commands(node, (*prefix, name))
        else:
            yield (*prefix, name), node


def _numeric_flags():
    """(command words, flag, restricted?) for every int/float flag of every command."""
    for words, target in _leaf_commands():
        parser = build_parser("vtl " + " ".join(words), load(target))
        for action in parser._actions:
            hint = str(getattr(action, "_typehint", ""))
            if action.option_strings and re.search(r"(\bint|\bfloat|Int|Float|Interval)\b", hint):
                yield words, action.option_strings[0], "jsonargparse.typing" in hint


NUMERIC = list(_numeric_flags())
# Positional placeholders that do not exist: a command must fail on them, or on the flag under test, in one line.
PLACEHOLDER = "/nonexistent/vtl-input"


def _assert_one_line(code: int, capsys) -> str:
    """The error line (warnings about left-out inputs may come before it)."""
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err and sum(": error: " in line for line in err.splitlines()) == 1, err
    return err.splitlines()[-1]


def _with_required(words: tuple[str, ...], argv: list[str]) -> list[str]:
    parser = build_parser("vtl " + " ".join(words), load(dict(_leaf_commands())[words]))
    for action in parser._actions:
        flag = action.option_strings[0] if action.option_strings else None
        if getattr(action, "required", False) and flag and flag not in argv:
            argv += [flag, PLACEHOLDER]
        elif not action.option_strings and action.dest not in ("help",):
            argv.insert(0, PLACEHOLDER)
    return [*words, *argv]


def test_the_sweep_covers_every_command():
    commands = {words for words, _ in _leaf_commands()}
    assert {w for w, _, _ in NUMERIC} >= commands - {("data", "check"), ("vicl", "import"), ("vicl", "merge"),
                                                      ("config", "list"), ("config", "show"), ("config", "cp"),
                                                      ("report", "open"), ("sweep", "status")}  # no numeric flag


@pytest.mark.parametrize(("words", "flag"), [(w, f) for w, f, _ in NUMERIC], ids=lambda v: str(v))
def test_a_word_where_a_number_goes_names_the_flag(words, flag, capsys):
    err = _assert_one_line(main([*words, flag, "many"]), capsys)
    assert f"{flag} many: expected" in err


@pytest.mark.parametrize(("words", "flag"), [(w, f) for w, f, r in NUMERIC if r and "seed" not in f],
                         ids=lambda v: str(v))
def test_a_negative_count_is_refused_up_front(words, flag, capsys):
    err = _assert_one_line(main([*words, flag, "-3"]), capsys)
    assert f"{flag} -3: out of range" in err


@pytest.mark.parametrize("words", [w for w, _ in _leaf_commands()], ids=" ".join)
def test_an_unknown_flag_is_one_line_with_the_command(words, capsys):
    err = _assert_one_line(main([*words, "--no_such_flag", "1"]), capsys)
    assert "--no_such_flag" in err


@pytest.mark.parametrize("words", [w for w, t in _leaf_commands() if "--out" in str(build_parser("x", load(t))
                                   ._option_string_actions)], ids=" ".join)
def test_an_output_under_a_file_is_one_line(words, capsys):
    # The command may stop at its missing input first; either way it ends in one line, exit 2, no traceback.
    _assert_one_line(main(_with_required(words, ["--out", "/dev/null/x"])), capsys)
