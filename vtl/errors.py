"""One base class for every error a user can fix by changing an input, a flag or a file.

`vtl` prints a `VtlError` once, as one line on stderr, and exits with code 2; anything else is a bug and keeps its
traceback. `--debug` (or VTL_DEBUG=1) shows the traceback of user errors too.
"""

from __future__ import annotations

import difflib
import re

EXIT_USER_ERROR = 2


class VtlError(Exception):
    """A problem with the user's input; the message names the file, row, field or flag and what to change."""


class UsageError(VtlError):
    """A command line or config file that does not fit the command's parameters."""


def user_cause(err: BaseException | None) -> VtlError | None:
    """The VtlError in `err`'s chain of causes (jsonargparse and Lightning wrap errors raised in constructors)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, VtlError):
            return err
        err = err.__cause__ or err.__context__
    return None


def one_line(text: str) -> str:
    """A multi-line message as one line: `key:` runs into its next line, other lines join with `; `."""
    out = ""
    for part in (p.strip() for p in text.strip().splitlines()):
        if part:
            out += part if not out else (" " if out.endswith(":") else "; ") + part
    return out


def explain_parse_error(parser, message: str, in_file: bool = False) -> str:
    """A parse error in one line; for an unknown flag or config key, the valid ones closest to it (not the usage).
    `in_file`: the values came from a YAML file, so a bad value is named as its key (`k: two`), not as a flag."""
    nested = re.search(r"""Parser key "([\w.]+)".*NestedArg\(key='([\w.]+)', val=(.*)\)""", message, re.S)
    if nested:  # `--model.model X` where --model takes a plain value: jsonargparse reads it as a nested key
        flag, key, val = nested.groups()
        return (f"--{flag}.{key} is not an option: --{flag} takes a value itself; write --{flag} {val.strip(chr(39))}"
                f" (see {parser.prog} --help)")
    typed = _value_error(message, in_file)
    if typed:
        return typed
    flags = sorted({s for a in parser._actions for s in a.option_strings
                    if s.startswith("--") and s not in ("--help", "--print_shtab") and not s.endswith("+")})
    bad = [(f, flags) for f in re.findall(r"(--[\w.\-]+)", message)] if "nrecognized arguments" in message else []
    for key in re.findall(r"Option '([\w.\-]+)' is not accepted", message):
        parent = re.match(r'Parser key "([\w.]+)"', message)
        prefix = f"--{parent.group(1)}." if parent else "--"
        known = _class_parameters(re.search(r"class_path '([\w.]+)'", message))
        bad.append((prefix + key, [prefix + k for k in known] if known is not None else flags))
    if not bad:
        return one_line(message) + (f" (see {parser.prog} --help)" if "required" in message else "")
    hints = []
    for name, valid in bad:
        close = difflib.get_close_matches(name.replace("-", "_").replace("__", "--", 1), valid, n=3, cutoff=0.6)
        if close:
            hints.append(f"{name} is not an option; did you mean {' or '.join(close)}?")
            continue
        parent = name.rsplit(".", 1)[0] if "." in name else "--"
        near = [v for v in valid if v.startswith(parent)][:12] or valid[:12]
        hints.append(f"{name} is not an option (valid near it: {', '.join(near)}{', ...' if len(near) == 12 else ''})")
    return "; ".join(hints)


_RESTRICTION = re.compile(r"(?:Not of type \w+: (\S+) )?does not conform to restriction ([^\n]+)")
_GIVEN = re.compile(r"(?:Given|Got) value: ([^\n]*)|base 10: '([^']*)'|to float: '([^']*)'")
_NOT_NUMBER = re.compile(
    r"invalid literal for int\(\)|could not convert string to float|Expected a <class '(?:int|float)'>")


def _value_error(message: str, in_file: bool = False) -> str | None:
    """`--key VALUE: ...` for a number of the wrong type or out of its range (jsonargparse's restricted numbers such
    as PositiveInt say `v>0`), or None when `message` is another kind of error."""
    key = re.match(r'Parser key "([\w.]+)":', message)
    if key is None or "NestedArg" in message:
        return None
    name = key.group(1).rsplit(".", 1)[-1]
    given = _GIVEN.search(message)
    value = next((g for g in given.groups() if g is not None), "").strip() if given else ""
    restriction = _RESTRICTION.search(message)
    value = (restriction.group(1) or value) if restriction else value
    where = f"`{key.group(1)}: {value}`" if in_file else f"--{key.group(1)} {value}"
    nullable = " (or null)" if "NoneType" in message else ""
    if restriction:
        allowed = re.sub(r"\bv\b", name, restriction.group(2).strip())
        return f"{where}: out of range; give a value with {allowed}{nullable}"
    number = _NOT_NUMBER.search(message)
    if number:
        return f"{where}: expected {'an integer' if 'int' in number.group(0) else 'a number'}{nullable}"
    return None


def _class_parameters(match) -> list[str] | None:
    """The constructor parameters of the class a jsonargparse message names, if it can be imported."""
    if match is None:
        return None
    import importlib
    import inspect

    module, _, name = match.group(1).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
        params = inspect.signature(cls.__init__).parameters.values()
    except (ImportError, AttributeError, ValueError, TypeError):
        return None
    return [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def make_output_dir(path, flag: str):
    """`path` created as a directory (parents too), or a VtlError naming `flag` when the OS refuses it."""
    from pathlib import Path

    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise VtlError(f"{flag} {path}: cannot create this directory ({err.strerror}); "
                       f"pass {flag} a writable directory path") from err
    return out
