"""The package's import graph (module-level and function-level imports, read with ast): no cycle between
subpackages and none between modules, the layering of the house (leaves < data < models < checkpointing < {transfer, vicl};
analysis torch-free), T2T-VICL's stages in data-flow order, and nothing imports the entry points."""

from __future__ import annotations

import ast
from pathlib import Path

import vtl

PACKAGE = Path(vtl.__file__).resolve().parent
LEAVES = {"tasks", "errors", "home", "records", "shipped", "components", "faults", "locks"}
ENTRY_POINTS = {"cli", "lightning_cli"}
# unit -> units it may import (besides itself and the leaves)
ALLOWED = {
    "data": set(),
    "models": {"data"},
    # what a checkpoint carries for a bit-exact resume, and when one is taken: Lightning mixins and a callback
    # shared by both studies, over models' RNG helpers
    "checkpointing": {"models"},
    "transfer": {"data", "models", "analysis", "checkpointing"},
    "vicl": {"data", "models", "checkpointing"},
    "analysis": set(),
    "cli": {"data", "models", "transfer", "vicl", "analysis", "lightning_cli"},
    "lightning_cli": {"transfer", "data", "models", "checkpointing"},
}
# T2T-VICL's stages, lowest first: a module may import its own stage and the ones before it. The remote API clients
# serve every stage; the authors' importers write tuples and corpora and read the authors' logs, which the scoring
# stage turns into results; the modules directly in vtl/vicl/ (infer, pipeline) are the pipeline on top.
VICL_STAGES = ("clients", "lowlevel", "teaching", "authors", "distill", "generation", "scoring", "pipeline")
TORCH_LIKE = ("torch", "torchvision", "lightning", "transformers", "peft", "bitsandbytes", "sentence_transformers")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in the file (function-level imports included)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _unit(module: str) -> str | None:
    """The layer a vtl module belongs to: its subpackage, or its top-level module."""
    parts = module.split(".")
    return parts[1] if parts[0] == "vtl" and len(parts) > 1 else None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        graph[_module_name(path)] = _imports(path)
    return graph


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph `edges` (node -> nodes it imports) as a path, or None (depth-first)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:  # the loop itself, without the path that led to it
                loop = [*path, node]
                return [*loop[loop.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, node])):
                return cycle
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node, [])):
            return cycle
    return None


def test_layering_and_no_entry_point_imports():
    graph = _graph()
    known_units = {_unit(m) for m in graph} - {None}
    problems = []
    for module, imports in graph.items():
        unit = _unit(module)
        for target in imports:
            other = _unit(target)
            if other is None or other == unit or other not in known_units or other in LEAVES:
                continue
            if unit in LEAVES:
                problems.append(f"{module} is a leaf but imports {target}")
            elif other in ENTRY_POINTS and unit not in ENTRY_POINTS:
                problems.append(f"{module} imports the entry point {target}")
            elif other not in ALLOWED.get(unit, set()):
                problems.append(f"{module} ({unit}) imports {target} ({other})")
    assert not problems, "\n".join(problems)


def test_no_cycle_between_subpackages():
    edges: dict[str, set[str]] = {}
    for module, imports in _graph().items():
        unit = _unit(module)
        for target in imports:
            other = _unit(target)
            if unit and other and other != unit:
                edges.setdefault(unit, set()).add(other)
    cycle = _find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_analysis_never_imports_torch():
    offenders = [
        f"{module} imports {target}"
        for module, imports in _graph().items()
        if _unit(module) == "analysis"
        for target in imports
        if target.split(".")[0] in TORCH_LIKE
    ]
    assert not offenders, "\n".join(offenders)


def _vicl_stage(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["vtl", "vicl"] or len(parts) < 3:
        return None
    return parts[2] if parts[2] in VICL_STAGES else "pipeline"


def test_vicl_stages_in_data_flow_order():
    graph = _graph()
    stages = {_vicl_stage(m) for m in graph} - {None}
    assert stages == set(VICL_STAGES), f"vtl/vicl/ stages {sorted(stages)} differ from VICL_STAGES"
    problems = [
        f"{module} ({stage}) imports {target} ({other}), a later stage"
        for module, imports in graph.items()
        if (stage := _vicl_stage(module))
        for target in imports
        if (other := _vicl_stage(target)) and VICL_STAGES.index(other) > VICL_STAGES.index(stage)
    ]
    assert not problems, "\n".join(problems)


def test_no_cycle_between_modules():
    """No two modules import each other, directly or around a longer loop (function-level imports count)."""
    graph = _graph()
    edges = {module: {t for t in imports if t in graph and t != module} for module, imports in graph.items()}
    cycle = _find_cycle(edges)
    assert cycle is None, "import cycle between modules: " + " -> ".join(cycle)
