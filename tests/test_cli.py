"""The `vtl` surface: every registered command resolves to a typed function with a docstring, `--help` and
`--print_config` work, argparse spellings still parse, user errors are one line on stderr with exit code 2, and
`vtl config list|show|cp`."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from vtl.cli import COMMANDS, build_parser, load, main, normalize_argv


def _leaves(node, prefix=()):
    for name, target in node.items():
        if isinstance(target, dict):
            yield from _leaves(target, (*prefix, name))
        else:
            yield (*prefix, name), target


LEAVES = list(_leaves(COMMANDS))


@pytest.mark.parametrize(("name", "target"), LEAVES, ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_every_command_is_a_documented_typed_function(name, target):
    fn = load(target)
    doc = inspect.getdoc(fn) or ""
    assert doc.splitlines()[0].endswith("."), f"{target}: one-line summary first"
    params = [p for p in inspect.signature(fn).parameters.values()]
    for p in params:
        assert p.annotation is not inspect.Parameter.empty, f"{target}: parameter {p.name} has no type"
        assert f"{p.name}:" in doc, f"{target}: parameter {p.name} is not documented in Args:"
    build_parser("vtl " + " ".join(name), fn)  # jsonargparse accepts the signature


def test_top_level_help_imports_no_torch():
    code = "import sys; from vtl.cli import main; main(['--help']); assert 'torch' not in sys.modules, 'torch'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "analyze" in done.stdout and "Transfer analysis" in done.stdout


def test_help_and_print_config(capsys):
    assert main(["data", "synth", "--help"]) == 0
    assert "--n_per_task" in capsys.readouterr().out
    assert main(["data", "synth", "--out", "x", "--n-per-task", "5", "--print_config"]) == 0
    assert "n_per_task: 5" in capsys.readouterr().out


def test_argparse_spellings_are_normalized():
    from vtl.transfer.sweep import sweep

    parser = build_parser("vtl sweep", sweep)
    argv = normalize_argv(parser, ["f.yaml", "--dry-run", "--set", "a=1", "--set", "b=2,3", "--runs-dir", "r"])
    cfg = parser.parse_args(argv)
    assert (cfg.file, cfg.dry_run, cfg.set, cfg.runs_dir) == ("f.yaml", True, ["a=1", "b=2,3"], "r")
    from vtl.analysis.cli import analyze

    parser = build_parser("vtl analyze", analyze)
    cfg = parser.parse_args(normalize_argv(parser, ["a.csv", "3B=b.csv", "--out", "o", "--quiet", "false"]))
    assert cfg.inputs == ["a.csv", "3B=b.csv"] and cfg.quiet is False


def test_user_errors_are_one_line_on_stderr(capsys, tmp_path):
    assert main(["data", "synth", "--out", str(tmp_path), "--n-pertask", "3"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "did you mean --n_per_task?" in err
    bad = tmp_path / "c.yaml"
    bad.write_text("out: x\nn_per_tsk: 3\n")
    assert main(["data", "synth", "--config", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "n_per_tsk" in err and "--n_per_task" in err
    assert main(["data", "synth", "--out", str(tmp_path), "--image-size", "8"]) == 2  # a VtlError from the code
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("vtl data synth: error:") and "Traceback" not in err
    assert main(["dta"]) == 2 and "did you mean data" in capsys.readouterr().err


def test_debug_shows_the_traceback(capsys, tmp_path):
    assert main(["--debug", "data", "synth", "--out", str(tmp_path), "--image-size", "8"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_config_list_show_cp(capsys, tmp_path):
    assert main(["config", "list"]) == 0
    listed = capsys.readouterr().out
    assert "transfer/tiny" in listed and "sweeps/demo_tiny" in listed and "vicl/infer_classical" in listed
    assert main(["config", "show", "transfer/tiny"]) == 0
    assert capsys.readouterr().out.startswith("# vtl fit")
    assert main(["config", "cp", "sweeps/demo_tiny", str(tmp_path)]) == 0
    assert (tmp_path / "demo_tiny.yaml").is_file()
    assert main(["config", "cp", "sweeps/demo_tiny", str(tmp_path)]) == 2  # exists: --force to overwrite
    assert "--force" in capsys.readouterr().err
    assert main(["config", "show", "trasfer/tiny"]) == 2
    assert "did you mean transfer/tiny" in capsys.readouterr().err


def test_shipped_config_paths_are_found_from_any_directory(tmp_path, monkeypatch):
    from vtl.home import PACKAGE_DIR, shipped_config_paths

    monkeypatch.chdir(tmp_path)
    argv = ["--config", "configs/vicl/infer_classical.yaml", "--config=configs/transfer/tiny.yaml", "--k", "2"]
    assert shipped_config_paths(argv) == ["--config", str(PACKAGE_DIR / "configs/vicl/infer_classical.yaml"),
                                          f"--config={PACKAGE_DIR / 'configs/transfer/tiny.yaml'}", "--k", "2"]
    (tmp_path / "configs" / "transfer").mkdir(parents=True)
    (tmp_path / "configs" / "transfer" / "tiny.yaml").write_text("{}")  # a file here wins
    assert shipped_config_paths(["--config", "configs/transfer/tiny.yaml"])[1] == "configs/transfer/tiny.yaml"


def test_a_closed_pipe_ends_the_command_quietly():
    """`vtl sweep FILE --dry-run | head -1` on the 156-run grid (64 KB printed, more than one buffer): the reader
    closes the pipe early; no traceback, the SIGPIPE status."""
    proc = subprocess.Popen([sys.executable, "-m", "vtl.cli", "sweep", "sweeps/transfer_grid.yaml", "--dry-run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # as `head -1` does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
