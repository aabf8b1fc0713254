"""The `vtl` entry point: one jsonargparse surface over typed command functions.

Every command is a typed function with a Google-style docstring (`--help` comes from it), reached through `COMMANDS`:
a name maps to `"module:function"`, or to a nested dict for a group (`vtl vicl pairs`). Adding a command is one line
here. Modules are imported only for the command that runs, so `vtl --help` and the analysis commands never import
torch. `vtl fit|validate|test` hand over to LightningCLI (`vtl.lightning_cli`).

Every command takes `--config FILE` (a YAML of its parameters) and `--print_config`. Flags are spelled with
underscores as in the function (`--n_per_task`); the hyphen form (`--n-per-task`) works too, a bare boolean flag
(`--dry-run`) means true, and a list parameter takes several words (`--tasks CT RD`) or repeats (`--set A --set B`).

Parameters typed as classes (dataclasses, class_path components) arrive instantiated; a command that builds its
components itself, when there is work for them, sets `fn.keeps_specs = True` and gets the specs as dicts
(`vtl vicl infer`).

A user error (`vtl.errors.VtlError`, or a flag or config value that does not parse) prints one line on stderr and
exits with code 2; `--debug` or VTL_DEBUG=1 adds the traceback.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import json
import os
import sys
import traceback
import typing
from collections.abc import Callable
from typing import Any

from vtl.errors import EXIT_USER_ERROR, UsageError, VtlError, explain_parse_error, one_line, user_cause
from vtl.home import shipped_config_paths

Command = typing.Union[str, "dict[str, Command]"]  # in a group, the key "" is the group's own command

# name -> "module:function", or a group: name -> {step -> ...}. Keep the names of DESIGN.md's command table.
COMMANDS: dict[str, Command] = {
    "model": {
        "tiny": "vtl.models.cli:tiny",
    },
    "data": {
        "synth": "vtl.data.cli:synth",
        "check": "vtl.data.cli:check",
        "build": "vtl.data.cli:build",
        "leaks": "vtl.data.cli:leaks",
    },
    "analyze": "vtl.analysis.cli:analyze",
    "report": {
        "open": "vtl.analysis.open_report:open_report",
    },
    "eval": "vtl.transfer.evaluate:evaluate",
    "select": "vtl.analysis.select_cli:select",
    "sweep": {
        "": "vtl.transfer.sweep:sweep",  # `vtl sweep FILE`: the group's own command when no step is named
        "status": "vtl.transfer.sweep_status:status",
    },
    "demo": "vtl.transfer.demo:demo",
    "vicl": {
        "pairs": "vtl.vicl.lowlevel.pairs:pairs",
        "import": "vtl.vicl.authors.release:import_release",
        "corpus": "vtl.vicl.teaching.corpus:corpus",
        "filter": "vtl.vicl.teaching.diversity:filter_command",
        "describe": "vtl.vicl.distill.describe:describe",
        "merge": "vtl.vicl.teaching.shards:merge",
        "infer": "vtl.vicl.infer:infer",
        "score": "vtl.vicl.scoring.score:score",
        "report": "vtl.vicl.scoring.report:report",
        "run": "vtl.vicl.pipeline:run",
    },
    "config": {
        "list": "vtl.shipped:config_list",
        "show": "vtl.shipped:config_show",
        "cp": "vtl.shipped:config_cp",
    },
}
LIGHTNING_COMMANDS = ("fit", "validate", "test")
GROUP_HELP = {
    "model": "model utilities",
    "data": "BLINK-format data: the synthetic suite and source checks",
    "vicl": "T2T-VICL steps, and the whole offline chain (`vtl vicl run`)",
    "config": "the configs and sweep files shipped with vtl, and a copy to edit",
    "report": "the transfer explorer (report.html) that vtl analyze writes",
    "sweep": "Run a W&B sweep file's grid locally (`vtl sweep FILE`); `vtl sweep status DIR` lists its points",
}
_BOOL_WORDS = {"true", "false", "yes", "no", "on", "off", "1", "0"}


def debug_enabled(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("VTL_DEBUG", "").lower() not in ("", "0", "false", "no")


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # the reader went away (`vtl sweep FILE --dry-run | head`): stop quietly, as cat and ls do; stdout points at
        # devnull so the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer killed by a closed pipe


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_enabled(argv)
    argv = [a for a in argv if a != "--debug"]
    if argv and argv[0] in LIGHTNING_COMMANDS:
        from vtl.lightning_cli import run_lightning_cli

        return run_lightning_cli(argv, debug=debug)
    prog, node, rest = "vtl", COMMANDS, argv
    while isinstance(node, dict):
        if "" in node and (not rest or rest[0] not in node):  # the group's own command (`vtl sweep FILE`)
            node = node[""]
            break
        if not rest or rest[0] in ("-h", "--help"):
            print(group_help(prog, node), file=sys.stdout if rest else sys.stderr)
            return 0 if rest else EXIT_USER_ERROR
        name = rest[0]
        names = [*node, *(LIGHTNING_COMMANDS if node is COMMANDS else ())]
        if name not in node:
            close = difflib.get_close_matches(name, names, n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            print(f"{prog}: error: unknown command {name!r}{hint} (commands: {', '.join(names)})", file=sys.stderr)
            return EXIT_USER_ERROR
        prog, node, rest = f"{prog} {name}", node[name], rest[1:]
    try:
        return run_command(prog, load(node), rest)
    except VtlError as err:
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {one_line(str(err))}", file=sys.stderr)
        return EXIT_USER_ERROR


def load(target: str) -> Callable[..., int]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def run_command(prog: str, fn: Callable[..., int], argv: list[str]) -> int:
    """Parse `argv` against `fn`'s signature (plus `--config`, `--print_config`), instantiate, call."""
    parser = build_parser(prog, fn)
    argv = normalize_argv(parser, shipped_config_paths(argv))
    try:
        cfg = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --print_config
        return exit_.code if isinstance(exit_.code, int) else 0
    except Exception as err:  # noqa: BLE001 (argparse.ArgumentError and jsonargparse's own)
        raise UsageError(explain_parse_error(parser, str(err))) from err
    if getattr(fn, "keeps_specs", False):  # the command builds its class_path components itself, when needed
        values = cfg.as_dict()
    else:
        try:
            values = vars((getattr(parser, "instantiate", None) or parser.instantiate_classes)(cfg))
        except Exception as err:  # noqa: BLE001 (a constructor's VtlError may come wrapped)
            raise user_cause(err) or err from err
    kwargs = {k: (v.as_dict() if _is_namespace(v) else v) for k, v in values.items()
              if k not in ("config", "print_config", "__path__")}
    return int(fn(**kwargs) or 0)


def build_parser(prog: str, fn: Callable[..., int]):
    from jsonargparse import ActionConfigFile, ArgumentParser

    from vtl.components import configure_parsing

    configure_parsing()
    doc = (fn.__doc__ or "").strip()
    summary = doc.split("\n\n", 1)[0].replace("\n", " ")
    parser = ArgumentParser(prog=prog, description=summary, exit_on_error=False)
    parser.add_argument("--config", action=ActionConfigFile, help="a YAML of this command's parameters")
    parser.add_function_arguments(fn, as_positional=True)
    return parser


def _is_namespace(value: Any) -> bool:
    return type(value).__name__ == "Namespace" and type(value).__module__.startswith("jsonargparse")


# ---------------------------------------------------------------------------------------------------- argv


def _hint_kind(action) -> str | None:
    """"bool" or "list" for actions typed so, else None."""
    hint = getattr(action, "_typehint", None)
    if hint is None:
        return None
    args = [a for a in typing.get_args(hint) if a is not type(None)] if _is_union(hint) else [hint]
    if len(args) != 1:
        return None
    hint = args[0]
    if hint is bool:
        return "bool"
    origin = typing.get_origin(hint)
    if origin in (list, tuple, set) or (origin is not None and getattr(origin, "__name__", "") in ("Sequence",)):
        return "list"
    return None


def _is_union(hint) -> bool:
    import types

    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def normalize_argv(parser, argv: list[str]) -> list[str]:
    """argparse-style spellings to jsonargparse's: `--a-b` -> `--a_b`, a bare `--flag` -> `--flag=true`,
    `--list x y` and repeated `--list x --list y` -> `--list=["x", "y"]`, several words for a list positional."""
    options = {s: a for a in parser._actions for s in a.option_strings}
    positionals = [a for a in parser._actions if not a.option_strings]
    out: list[str] = []
    lists: dict[str, list[str]] = {}
    words: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            words += argv[i + 1:]
            break
        if not token.startswith("--"):
            words.append(token)
            i += 1
            continue
        name, eq, value = token.partition("=")
        name = "--" + name[2:].replace("-", "_")
        if name not in options and not any(name.startswith(o + ".") for o in options):
            # Before it can swallow the next word as a positional (`--typo 1` -> "inputs: expected a list").
            raise UsageError(explain_parse_error(parser, f"Unrecognized arguments: {name}"))
        kind = _hint_kind(options.get(name))
        if kind == "bool":
            if not eq and i + 1 < len(argv) and argv[i + 1].lower() in _BOOL_WORDS:
                value, i = argv[i + 1], i + 1
            out.append(f"{name}={value if eq or value else 'true'}")
        elif kind == "list":
            if eq:
                items = [value]
            else:
                j = i + 1
                while j < len(argv) and not argv[j].startswith("--"):
                    j += 1
                items, i = argv[i + 1:j], j - 1
            if len(items) == 1 and items[0].lstrip().startswith("["):
                out.append(f"{name}={items[0]}")  # already a list (jsonargparse / YAML form)
            else:
                lists.setdefault(name, []).extend(items)
        elif name.endswith(".help") and not eq and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            out.append(f"{name}={argv[i + 1]}")  # `--generator.help ClassicalGenerator`: the class is its value
            i += 1
        elif eq or (name in options and options[name].nargs in (0, "?")):
            out.append(name + eq + value)
        else:  # an option and its value, whatever the value looks like (`--threshold -0.5`)
            out.append(name)
            if i + 1 < len(argv) and (name in options or not argv[i + 1].startswith("--")):
                out.append(argv[i + 1])
                i += 1
        i += 1
    out += [f"{name}={json.dumps(items)}" for name, items in lists.items()]
    head: list[str] = []
    for action in positionals:
        if not words:
            break
        if _hint_kind(action) == "list" and not (len(words) == 1 and words[0].startswith("[")):
            head.append(json.dumps(words))
            words = []
        else:
            head.append(words.pop(0))
    return head + words + out


# ---------------------------------------------------------------------------------------------------- errors


# ---------------------------------------------------------------------------------------------------- help


def summary(target: Command) -> str:
    """A command's one-line summary from its docstring, read without importing its module."""
    if isinstance(target, dict):
        return ""
    module, _, name = target.partition(":")
    try:
        spec = importlib.util.find_spec(module)
        tree = ast.parse(open(spec.origin, encoding="utf-8").read())  # type: ignore[union-attr,arg-type]
    except (ImportError, AttributeError, OSError, SyntaxError, TypeError):
        return ""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            doc = ast.get_docstring(node) or ""
            return doc.split("\n\n", 1)[0].replace("\n", " ")
    return ""


def group_help(prog: str, node: dict[str, Command]) -> str:
    lines = [f"usage: {prog} COMMAND [--help] ...", ""]
    if node is COMMANDS:
        lines += ["Cross-task transfer in vision-language models (PGF task transfer, T2T-VICL).", "",
                  "commands:", f"  {'fit|validate|test':<18} LightningCLI, e.g. `vtl fit --config "
                  "configs/transfer/tiny.yaml`"]
    else:
        lines.append("commands:")
    for name, target in node.items():
        text = GROUP_HELP.get(name, "") if isinstance(target, dict) else summary(target)
        lines.append(f"  {name:<18} {text}")
    lines += ["", f"`{prog} COMMAND --help` for a command's options; --debug shows tracebacks of user errors."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
