"""docs/layout.md names every folder of the package, and only folders that exist."""

from __future__ import annotations

import re
from pathlib import Path

import vtl

PACKAGE = Path(vtl.__file__).resolve().parent
MAP = PACKAGE.parent / "docs" / "layout.md"


def _mapped() -> set[str]:
    block = re.search(r"```text\n(.*?)```", MAP.read_text(encoding="utf-8"), re.S)
    assert block, f"{MAP}: no ```text block with the package map"
    return {line.split()[0].rstrip("/") for line in block.group(1).splitlines() if line.startswith("vtl")}


def _folders() -> set[str]:
    root = PACKAGE.parent
    return {"vtl"} | {
        path.relative_to(root).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_dir() and "__pycache__" not in path.parts and _has_files(path)
    }


def _has_files(folder: Path) -> bool:
    """A folder counts when it holds a file outside __pycache__ (a stale bytecode-only folder is not the code)."""
    return any(p.is_file() and "__pycache__" not in p.parts for p in folder.rglob("*"))


def test_layout_map_names_every_folder():
    mapped, folders = _mapped(), _folders()
    assert not folders - mapped, f"add to docs/layout.md: {sorted(folders - mapped)}"
    assert not mapped - folders, f"docs/layout.md names folders that do not exist: {sorted(mapped - folders)}"
