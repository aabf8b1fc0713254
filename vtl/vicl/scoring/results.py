"""The results file of a scored run (`results.jsonl`): one record per (tuple, arm), keyed by `item_key`.

`vtl vicl infer` writes it, `vtl vicl score` writes the same records for images made elsewhere, and
`vtl vicl report` reads it; this module owns its name, key and reader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vtl.records import read_jsonl

RESULTS_FILE = "results.jsonl"


def item_key(tuple_id: str, arm: str) -> str:
    return f"{tuple_id}|{arm}"


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """Records of a results.jsonl (none when it does not exist yet); a torn last line is ignored."""
    return read_jsonl(path, missing_ok=True)
