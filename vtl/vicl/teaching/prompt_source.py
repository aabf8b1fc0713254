"""Prompts given as data: every prompt vtl sends (teacher, student, generator instruction, judge) has a default in
code and can be replaced in a config by a file or by inline text (`PromptSource`).

`prompt_version` stays the default's version for the default text and becomes `<version>+<sha1[:8]>` for any other
text, so records written with, say, the T2T-VICL authors' prompts are never mistaken for vtl's; `prompt_sha` is
recorded beside it either way. It sits in the teaching stage, the first that sends a prompt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from vtl.errors import VtlError

PROMPT_FILE_SUFFIXES = (".txt", ".md", ".prompt")


class PromptError(VtlError, ValueError):
    pass


def prompt_sha(text: str) -> str:
    """The first 12 hex digits of sha1 of the prompt text (UTF-8)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def read_prompt(value: str, field: str = "prompt") -> str:
    """Prompt text from `value`: the contents of an existing file, else `value` itself as inline text.

    A value that looks like a file name (one word ending in .txt/.md/.prompt) but names no file is an error, so a
    typo in a path is not sent to a model as the prompt.
    """
    if not isinstance(value, str) or not value.strip():
        raise PromptError(f"`{field}:` must be a file path or non-empty inline text, got {value!r}")
    looks_like_path = len(value.split()) == 1 and value.strip().lower().endswith(PROMPT_FILE_SUFFIXES)
    path = Path(value.strip()).expanduser()
    if looks_like_path or ("\n" not in value and _is_file(path)):
        if not _is_file(path):
            raise PromptError(f"`{field}:` names the file {path}, which does not exist")
        text = path.read_text(encoding="utf-8").strip()
        if not text:
            raise PromptError(f"`{field}:` file {path} is empty")
        return text
    return value.strip()


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. inline text longer than a file name may be
        return False


@dataclass(frozen=True)
class PromptSource:
    """One prompt: its text, the version to record, and the text's hash."""

    text: str
    version: str
    sha: str

    @classmethod
    def resolve(cls, value: str | None, default: str, default_version: str, field: str = "prompt") -> PromptSource:
        """The default when `value` is None, else the file/inline text of `value` with a hash-suffixed version."""
        text = default if value is None else read_prompt(value, field)
        sha = prompt_sha(text)
        version = default_version if text == default else f"{default_version}+{sha[:8]}"
        return cls(text=text, version=version, sha=sha)

    def record(self) -> dict[str, str]:
        """The fields every record written with this prompt carries."""
        return {"prompt_version": self.version, "prompt_sha": self.sha}
