"""The `vtl` entry point.

`vtl fit|validate|test` hand over to LightningCLI; every other command lives in its own module, which exposes
`add_arguments(parser)` and `run(args) -> int`. Modules are imported only for the command that runs, so `vtl --help`
and pure-analysis commands start without importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "model": ("vtl.models.cli", "model utilities: `vtl model tiny --out DIR` writes the tiny offline Qwen2.5-VL"),
    "data": ("vtl.data.cli", "BLINK-format data: `synth` writes the synthetic suite, `check` validates a source"),
    "analyze": ("vtl.analysis.cli", "transfer analysis of runs or released PGF CSVs -> summary.json, report.md, PNGs"),
    "select": ("vtl.analysis.select_cli", "PGF-guided training-data mixture for a target task"),
    "sweep": ("vtl.transfer.sweep", "run a W&B sweep file's grid locally, sequentially and resumably"),
    "demo": ("vtl.transfer.demo", "the whole transfer study on the embedded default (tiny model, synthetic suite)"),
    "vicl": ("vtl.vicl.cli", "T2T-VICL steps: pairs, corpus, filter, describe, infer, report"),
}
LIGHTNING_COMMANDS = ("fit", "validate", "test")


def _top_parser() -> argparse.ArgumentParser:
    lines = [f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items()]
    lines.insert(0, f"  {'fit|validate|test':<10} LightningCLI: `vtl fit --config configs/transfer/tiny.yaml`")
    return argparse.ArgumentParser(
        prog="vtl",
        description="Cross-task transfer in vision-language models.",
        epilog="commands:\n" + "\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_COMMANDS:
        from vtl.lightning_cli import run_lightning_cli

        return run_lightning_cli(argv)
    if not argv or argv[0] not in COMMANDS:
        parser = _top_parser()
        parser.add_argument("command", choices=[*LIGHTNING_COMMANDS, *COMMANDS])
        parser.parse_args(argv or ["--help"])
        return 2
    return _dispatch(f"vtl {argv[0]}", *COMMANDS[argv[0]], argv[1:])


def _dispatch(prog: str, module_name: str, text: str, argv: list[str]) -> int:
    module = importlib.import_module(module_name)
    steps = getattr(module, "STEPS", None)
    if steps is not None:  # a command group such as `vtl vicl`: pick the step, then its own module
        if not argv or argv[0] not in steps:
            lines = "\n".join(f"  {name:<10} {help_}" for name, (_, help_) in steps.items())
            parser = argparse.ArgumentParser(
                prog=prog, description=text, epilog="steps:\n" + lines,
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
            parser.add_argument("step", choices=list(steps))
            parser.parse_args(argv or ["--help"])
            return 2
        return _dispatch(f"{prog} {argv[0]}", *steps[argv[0]], argv[1:])
    parser = argparse.ArgumentParser(prog=prog, description=text)
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(argv)) or 0)


if __name__ == "__main__":
    sys.exit(main())
