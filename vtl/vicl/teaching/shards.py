"""Split one corpus or describe job over N machines or servers, and merge their outputs.

`--shard I/N` (0 <= I < N) keeps the tuples whose id hashes (CRC-32) to I modulo N: the N shards are disjoint, cover
every tuple, and do not depend on the order or the number of tuples in the file, so each shard resumes on its own.
Each shard appends to its own file; `vtl vicl merge` joins them into one, keyed by tuple id, refusing two different
records for one tuple and skipping exact repeats.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from vtl.errors import VtlError
from vtl.records import JsonlAppender, done_keys, iter_jsonl
from vtl.vicl.lowlevel.images import stable_seed

log = logging.getLogger("vtl.vicl")


class ShardError(VtlError, ValueError):
    pass


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, spec: str | None) -> Shard | None:
        """"I/N" -> Shard(I, N); None stays None (the whole job)."""
        if spec is None:
            return None
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(spec))
        if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
            raise ShardError(f"--shard {spec!r}: expected I/N with 0 <= I < N, e.g. --shard 0/4 … --shard 3/4")
        return cls(int(match.group(1)), int(match.group(2)))

    def owns(self, key: str) -> bool:
        return stable_seed("shard", key) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def select(items: list, shard: Shard | str | None, key=lambda item: item.id) -> list:
    """The items of `shard` (all of them for None), in their order."""
    if isinstance(shard, str):
        shard = Shard.parse(shard)
    if shard is None:
        return items
    return [item for item in items if shard.owns(key(item))]


def merge_records(inputs: list[Path], out: Path, *, key: str = "tuple_id") -> tuple[int, int]:
    """Append every record of `inputs` whose `key` is not yet in `out`; returns (written, already there).
    Two different records for one key (two producers described the same tuple differently) are refused."""
    out = Path(out)
    seen: dict[str, tuple[Path, dict]] = {}
    for path in inputs:
        path = Path(path)
        if path.resolve() == out.resolve():
            raise ShardError(f"{path} is both an input and --out; merge into a new file")
        for number, row in enumerate(iter_jsonl(path), start=1):
            if key not in row:
                raise ShardError(f"{path}:{number}: no {key!r} field; merge only corpus or describe outputs")
            earlier = seen.get(row[key])
            if earlier is not None and earlier[1] != row:
                raise ShardError(f"{path}:{number}: {key} {row[key]!r} is also in {earlier[0]} with other content; "
                                 f"the inputs come from different runs")
            seen.setdefault(row[key], (path, row))
    before = done_keys(out, key)
    written = 0
    with JsonlAppender(out) as sink:
        for value, (_, row) in seen.items():
            if value not in before:
                sink.append(row)
                written += 1
    return written, len(before)


def merge(inputs: list[str], *, out: str, key: str = "tuple_id") -> int:
    """Merge the append-only outputs of shards (`vtl vicl corpus/describe --shard I/N`) into one file.

    Args:
        inputs: The shard files, in any order.
        out: The merged JSONL (appended to; a rerun adds only what is missing).
        key: The field that identifies a record.
    """
    missing = [p for p in inputs if not Path(p).is_file()]
    if missing:
        raise ShardError(f"no such shard file: {missing[0]}")
    written, before = merge_records([Path(p) for p in inputs], Path(out), key=key)
    print(f"{out}: {written} merged, {before} already there")
    return 0
