"""Help texts tell the truth: `--X.help CLASS` shows that class, every backend vtl ships is listed and can be named by
its bare class name, option fields carry their descriptions, and defaults are not install paths."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vtl.cli import main
from vtl.home import PACKAGE_DIR

GENERATORS = ("ClassicalGenerator", "DiffusersEditor", "GeminiImageGenerator", "OpenAIImageEditGenerator",
              "SeedreamGenerator")


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("name", GENERATORS)
def test_generator_help_shows_the_named_class(capsys, name):
    code, text = run(capsys, "vicl", "infer", "--generator.help", name)
    assert code == 0
    header = " ".join(text.split("Help for", 1)[1].split("\n\n", 1)[0].split())  # argparse may wrap it
    assert header.startswith("--generator.help=vtl.vicl.generation.") and header.endswith(f".{name}"), header


def test_every_generator_and_judge_is_listed_in_infer_help(capsys):
    code, text = run(capsys, "vicl", "infer", "--help")
    flat = " ".join(text.split())
    assert code == 0
    for name in (*GENERATORS, "GeminiJudge", "QwenJudge", "OpenAIJudge"):
        assert name in flat, name


def test_every_backend_field_has_a_description(capsys):
    for flag, name in [*(("--generator.help", g) for g in GENERATORS),
                       *(("--judge.help", j) for j in ("GeminiJudge", "QwenJudge", "OpenAIJudge"))]:
        code, text = run(capsys, "vicl", "infer", flag, name)
        lines = text.splitlines()
        bare = [line.split()[0] for line, nxt in zip(lines, lines[1:], strict=False)
                if line.startswith("  --") and len(line.split()) <= 2 and nxt.strip().startswith("(type:")]
        assert code == 0 and not bare, f"{name}: no description for {bare}"


def test_option_dataclass_fields_show_their_docstrings(capsys):
    code, text = run(capsys, "eval", "--quantization.help")
    assert code == 0
    assert "NormalFloat4" in text and "vision tower" in text


def test_fit_lists_and_resolves_vtl_modules(capsys):
    code, text = run(capsys, "fit", "--data.help", "TransferDataModule")
    assert code == 0 and "--data.source_task" in text
    code, text = run(capsys, "fit", "--help")
    flat = " ".join(text.split())
    assert code == 0
    for name in ("TransferFineTuner", "StudentDistiller", "TransferDataModule", "DistillDataModule"):
        assert name in flat, name


def test_no_install_path_as_a_default(capsys):
    code, text = run(capsys, "vicl", "run", "--help")
    assert code == 0 and str(PACKAGE_DIR) not in text


def test_config_list_shows_one_command_per_file(capsys):
    code, text = run(capsys, "config", "list")
    assert code == 0
    lines = text.strip().splitlines()
    assert not [line for line in lines if line.rstrip().endswith("\\")]
    described = dict(line.split(None, 1) for line in lines)
    assert described["sweeps/pgf_selection"].startswith("vtl sweep sweeps/pgf_selection.yaml")
    assert "--seed_everything=0" in described["transfer/protocol_blink_val"]
    assert "vtl demo --quick" in described["sweeps/demo_tiny"]


def test_no_hub_kernel_warning_on_import():
    done = subprocess.run([sys.executable, "-c", "import vtl.models.lora, peft"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "gemm_4bit_forward" not in done.stderr


def test_help_is_recognised_in_any_of_its_spellings():
    from vtl.components import wants_help

    for argv in (["--help"], ["-h"], ["--data.help", "TransferDataModule"], ["--model.help=TransferFineTuner"],
                 ["--config", "x.yaml", "--print_config"], ["--print_config=comments"]):
        assert wants_help(argv), argv
    assert not wants_help(["--config", "x.yaml", "--trainer.default_root_dir", "runs/help", "--data.source_task=CT"])


def test_a_fit_parses_without_attribute_docs_and_help_still_shows_them(capsys, tmp_path, monkeypatch):
    """A fit's parse skips attribute docstrings (about a second of source parsing, for help text only); the config
    it parses is the same, and help asked for later in the same process still shows every field's description."""
    import vtl.components
    from vtl.lightning_cli import build_cli

    monkeypatch.setenv("VTL_HOME", str(tmp_path / "home"))
    config = str(PACKAGE_DIR.parent / "configs" / "transfer" / "tiny.yaml")
    argv = ["--config", config, f"--trainer.default_root_dir={tmp_path / 'run'}"]
    quiet = build_cli(argv, run=False).config
    assert vtl.components._attribute_docs is False
    capsys.readouterr()
    code, text = run(capsys, "eval", "--quantization.help")
    assert code == 0 and "NormalFloat4" in text and "vision tower" in text
    with monkeypatch.context() as m:
        m.setattr(vtl.components, "wants_help", lambda argv: True)
        documented = build_cli(argv, run=False).config
    assert vtl.components._attribute_docs is True
    assert quiet == documented
