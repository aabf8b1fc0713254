"""Every shell command in README.md and docs/*.md works as written, or says what it needs.

A command in a fenced `bash` block either carries `# needs: ...` at its end (words from NEEDS: what this machine and
CI lack) or runs offline. The slow test runs every unmarked command, in the order a reader meets them (README.md,
then docs/*.md by name), from the repository root of a fresh copy of the checkout, and fails with the file and line
of each command that did not exit 0.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# What a marked command needs; README.md's quick start lists the same words.
NEEDS = {"gpu", "hub", "api-key", "wandb", "source-data", "server", "grid", "time"}
SHELL_FENCES = {"bash", "sh", "shell"}
MARKER = re.compile(r"#\s*needs:\s*(?P<needs>[^#]+)$")
COMMAND_TIMEOUT_S = 900


@dataclass(frozen=True)
class Command:
    where: str  # "README.md:120"
    text: str  # continuation lines joined with their backslashes, as bash reads them
    needs: tuple[str, ...]


def needs_of(text: str) -> tuple[str, ...]:
    """The marker's items, each reduced to its first word (`time (6 min)` -> `time`)."""
    match = MARKER.search(text.rstrip())
    if not match:
        return ()
    return tuple(item.strip().split(" ", 1)[0] for item in match["needs"].split(",") if item.strip())


def commands(path: Path) -> list[Command]:
    """The commands of a markdown file's shell fences; comment-only lines are prose."""
    out: list[Command] = []
    fence: str | None = None
    pending: list[str] = []
    start = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        opening = re.match(r"\s*```\s*(\S*)", line)
        if opening:
            fence = None if fence is not None else opening[1].lower()
            continue
        if fence not in SHELL_FENCES:
            continue
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not pending:
            start = number
        pending.append(line)
        if not line.rstrip().endswith("\\"):
            text = "\n".join(pending)
            out.append(Command(f"{path.relative_to(ROOT)}:{start}", text, needs_of(text)))
            pending = []
    return out


ALL = [command for path in DOCS for command in commands(path)]


def test_the_docs_hold_commands():
    assert len(ALL) >= 40, [c.where for c in ALL]
    assert any(c.needs for c in ALL) and any(not c.needs for c in ALL)


def test_every_marker_uses_the_known_words():
    unknown = [(c.where, word) for c in ALL for word in c.needs if word not in NEEDS]
    assert not unknown, f"use words of {sorted(NEEDS)} after `# needs:`: {unknown}"


def test_every_command_is_valid_bash():
    bad = []
    for c in ALL:
        done = subprocess.run(["bash", "-n", "-c", c.text], capture_output=True, text=True)
        if done.returncode:
            bad.append(f"{c.where}: {done.stderr.strip()}")
    assert not bad, "\n".join(bad)


def test_hub_models_and_gpu_configs_are_marked():
    """The offline run would catch these too, but only in the slow tier: a hub model or a real model's config without
    a marker fails here at once."""
    real = re.compile(r"Qwen/|OpenGVLab/|BLINK-Benchmark/BLINK|nyu-visionx/|_(2b|3b|4b|7b|8b|32b)_qlora|\bvllm serve")
    unmarked = [c.where for c in ALL if real.search(c.text) and not c.needs]
    assert not unmarked, f"these commands need a hub or a GPU: add `# needs: gpu, hub`: {unmarked}"


def fresh_copy(dest: Path) -> Path:
    """The checkout's files as git sees them (tracked and untracked-but-not-ignored), none of its outputs."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source, target = ROOT / name, dest / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree, not yet in git
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return dest


@pytest.mark.slow
def test_every_unmarked_command_runs_offline_as_written(tmp_path):
    repo = fresh_copy(tmp_path / "checkout")
    env = dict(os.environ, VTL_NO_BROWSER="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)  # `vtl` as a user's shell finds it: the installed entry point
    failed = []
    for c in (c for c in ALL if not c.needs):
        try:
            done = subprocess.run(["bash", "-c", c.text], cwd=repo, env=env, capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            failed.append(f"{c.where}: still running after {COMMAND_TIMEOUT_S} s (mark it `# needs: time`)")
            continue
        if done.returncode:
            tail = "\n    ".join((done.stdout + done.stderr).strip().splitlines()[-6:])
            failed.append(f"{c.where}: exit {done.returncode}: {c.text}\n    {tail}")
    assert not failed, "\n".join(failed)
