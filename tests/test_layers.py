"""The import rules of design.md section 1, checked on the source: data flows one way through the
loop, and so do imports. Imports under ``if TYPE_CHECKING:`` count too (they are still a
dependency a reader must follow)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import safeheal

PACKAGE = Path(safeheal.__file__).resolve().parent

#: For each stage, the stages of safeheal it must never import.
FORBIDDEN = {
    "core": {"signals", "policy", "store", "heal", "serve", "control", "bench", "cli", "config"},
    "signals": {"policy", "store", "heal", "serve", "control", "bench", "cli"},
    "policy": {"store", "heal", "serve", "control", "bench", "cli"},
    "store": {"signals", "policy", "heal", "serve", "control", "bench", "cli"},
    "heal": {"store", "serve", "control", "bench", "cli"},
    "serve": {"store", "control", "bench", "cli"},
}


def imported_stages(path: Path) -> set[str]:
    stages = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "safeheal" and len(parts) > 1:
                stages.add(parts[1])
    return stages


@pytest.mark.parametrize("stage", sorted(FORBIDDEN))
def test_a_stage_imports_nothing_downstream_of_it(stage: str) -> None:
    files = sorted((PACKAGE / stage).rglob("*.py"))
    assert files
    broken = {
        str(f.relative_to(PACKAGE)): sorted(imported_stages(f) & FORBIDDEN[stage]) for f in files
    }
    assert {f: s for f, s in broken.items() if s} == {}
