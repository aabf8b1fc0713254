"""`vtl config list|show|cp`: the configs and sweep files shipped inside the package, and a copy to edit.

A shipped file is named by its path under the package without `.yaml`: `transfer/tiny`, `vicl/infer_classical`,
`sweeps/demo_tiny` (configs live in vtl/configs/, sweep files in vtl/sweeps/).
"""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

from vtl.errors import VtlError
from vtl.home import CONFIGS_DIR, SWEEPS_DIR


def shipped() -> dict[str, Path]:
    """name -> path of every shipped YAML: `transfer/tiny` for configs, `sweeps/demo_tiny` for sweep files."""
    files = {str(p.relative_to(CONFIGS_DIR).with_suffix("")): p for p in sorted(CONFIGS_DIR.rglob("*.yaml"))}
    files.update({f"sweeps/{p.stem}": p for p in sorted(SWEEPS_DIR.glob("*.yaml"))})
    return files


def find_shipped(name: str) -> Path:
    """A shipped file by name (`transfer/tiny`), with or without `.yaml` or a leading `configs/`."""
    files = shipped()
    key = name.removesuffix(".yaml").removesuffix(".yml").removeprefix("configs/").removeprefix("vtl/")
    if key in files:
        return files[key]
    close = difflib.get_close_matches(key, list(files), n=3, cutoff=0.4)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise VtlError(f"no shipped config {name!r}; {hint}(`vtl config list` shows them all)")


def _first_line(path: Path) -> str:
    """The command in a file's first comment line, with its `\\`-continued lines joined."""
    parts: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text = line.removeprefix("#").strip()
        parts.append(text.removesuffix("\\").strip())
        if not text.endswith("\\"):
            break
    return " ".join(parts)


def config_list() -> int:
    """List the shipped configs and sweep files, with the command that runs each."""
    files = shipped()
    width = max(map(len, files), default=0)
    for name, path in files.items():
        print(f"{name:<{width}}  {_first_line(path)}")
    return 0


def config_show(name: str) -> int:
    """Print a shipped config or sweep file.

    Args:
        name: The file's name as `vtl config list` shows it, e.g. transfer/tiny or sweeps/demo_tiny.
    """
    print(find_shipped(name).read_text(encoding="utf-8"), end="")
    return 0


def config_cp(name: str, dest: Path, *, force: bool = False) -> int:
    """Copy a shipped config or sweep file to DEST, to edit and run with `--config DEST`.

    Args:
        name: The file's name as `vtl config list` shows it, e.g. transfer/tiny or sweeps/demo_tiny.
        dest: A file path, or an existing directory (the copy keeps the file name).
        force: Overwrite DEST if it exists.
    """
    source = find_shipped(name)
    target = dest / source.name if dest.is_dir() else dest
    if target.exists() and not force:
        raise VtlError(f"{target} exists; choose another DEST or pass --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    print(f"copied {name} to {target}")
    return 0
