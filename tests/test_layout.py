"""The package layout keeps its arrows one way: no import circle, and each stage imports only what it may."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cds_service"

# Stage -> stages (and top-level modules) it may import; see each subpackage's docstring.
ALLOWED = {
    "record": {"record", "config", "logs"},
    "engine": {"engine", "record.patient_record", "config", "logs"},
    "cards": {"cards", "engine", "record.patient_record", "config", "logs"},
    "attest": {"attest", "engine", "record", "cards", "config", "logs"},
    "console": {"console", "engine", "record", "cards", "config", "logs", "offline"},
    # The population audit runs the offline pipeline; it reads Bundles as the CLI does, never through HTTP.
    "audit": {
        "audit",
        "engine",
        "record.patient_record",
        "record.orders",
        "record.hook_requests",
        "cards",
        "config",
        "logs",
        "offline",
    },
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every ``cds_service`` module a file imports, at any depth (type-checking and function-level included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cds_service"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("cds_service"))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules (first repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_there_is_no_import_cycle_inside_the_package() -> None:
    assert find_cycle(graph()) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_each_stage_imports_only_what_it_may(stage: str) -> None:
    allowed = ALLOWED[stage]
    wrong = {
        f"{name} -> {target}"
        for name, targets in graph().items()
        if name.startswith(f"cds_service.{stage}")
        for target in targets
        if not any(target == f"cds_service.{a}" or target.startswith(f"cds_service.{a}.") for a in allowed)
    }
    assert not wrong, sorted(wrong)


def test_importing_the_engine_loads_neither_http_nor_the_fhir_client() -> None:
    probe = (
        "import sys, cds_service.engine.evaluator, cds_service.engine.mapping; "
        "print(sorted(m for m in sys.modules if m.startswith(('cds_service.hooks', 'cds_service.record.fhir_client', "
        "'flask', 'requests'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
