"""Backends chosen in YAML as `class_path` + typed `init_args`, built by jsonargparse against the real constructor.

A spec is `{"class_path": "vtl.vicl.generation.classical.ClassicalGenerator", "init_args": {...}}` (a class imported
in the base class's module may be named by its bare name, e.g. `ClassicalGenerator`). `build(spec, Base)` checks the
init_args against the constructor's signature, then instantiates; `check(spec, Base)` only checks. A command keeps
the spec itself (a plain dict) to record what ran and to build the backend only when there is work for it.
"""

from __future__ import annotations

import contextlib
from typing import Any, TypeVar

from vtl.errors import UsageError, explain_parse_error, user_cause

T = TypeVar("T")


_attribute_docs: bool | None = None  # the attribute-docstring setting applied last in this process


def wants_help(argv: list[str]) -> bool:
    """Whether a command line asks for text made from docstrings: `-h`/`--help`, `--KEY.help`, `--print_config`."""
    return any(a in ("-h", "--help") or a.split("=", 1)[0].endswith(".help") or a.startswith("--print_config")
               for a in argv)


def configure_parsing(help: bool = True) -> None:  # noqa: A002 (the flag it stands for)
    """jsonargparse settings every vtl parser shares: option dataclasses document their fields in attribute
    docstrings, which `--quantization.help` and `--lora.help` then show.

    Reading attribute docstrings parses the source of every class in a config's hierarchy (Trainer's included):
    about 1 s of a `vtl fit`'s 1.3 s of parsing, for text only help shows. So a parse that prints no help
    (`help=False`) skips them; values parse the same either way."""
    global _attribute_docs
    from jsonargparse import set_parsing_settings

    set_parsing_settings(docstring_parse_attribute_docstrings=help)
    if _attribute_docs is not None and _attribute_docs != help:
        # jsonargparse keeps each class's parser, help text included, for the process: drop them, so that help after
        # a quiet parse in the same process (tests, notebooks) shows the field docs again
        with contextlib.suppress(ImportError, AttributeError):
            from jsonargparse import _typehints

            _typehints._cached_class_parsers.clear()
    _attribute_docs = help


def _parse(spec: dict[str, Any], base: type, key: str):
    from jsonargparse import ArgumentParser

    configure_parsing()
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument(f"--{key}", type=base, required=True)
    if not isinstance(spec, dict) or "class_path" not in spec:
        raise UsageError(f"`{key}:` needs class_path (a subclass of {base.__module__}.{base.__qualname__}) and "
                         f"optionally init_args, got {spec!r}")
    try:
        return parser, parser.parse_object({key: spec})
    except Exception as exc:  # noqa: BLE001 (argparse.ArgumentError)
        raise UsageError(f"`{key}:` {explain_parse_error(parser, str(exc), in_file=True)}") from exc


def check(spec: dict[str, Any], base: type, key: str) -> dict[str, Any]:
    """The spec normalized (full class_path, init_args with defaults) after checking it against the constructor."""
    parser, cfg = _parse(spec, base, key)
    return cfg.as_dict()[key]


def build(spec: dict[str, Any], base: type[T], key: str) -> T:
    """The backend a spec names, instantiated; a VtlError its constructor raises comes through unwrapped."""
    parser, cfg = _parse(spec, base, key)
    try:
        return parser.instantiate_classes(cfg)[key]
    except Exception as exc:  # noqa: BLE001
        cause = user_cause(exc)
        if cause is not None and cause is not exc:
            raise cause from exc
        raise
