"""Migrations are self-contained: a migration must keep creating what it created when it was
written, so it carries its own DDL and column types instead of importing nib's current code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

# Found by pattern rather than through a nib module, so the check outlives moves of the package.
_VERSIONS = sorted((Path(__file__).parents[2] / "src").glob("nib/**/migrations/versions/*.py"))


def _imported_modules(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # A relative import (level > 0) reaches into the package around the migration.
            modules.append("." * node.level + (node.module or ""))
    return modules


def test_the_migrations_are_found():
    assert len(_VERSIONS) >= 6
    assert {path.name[:4] for path in _VERSIONS} >= {"0001", "0002", "0003", "0004", "0005", "0006"}


@pytest.mark.parametrize("path", _VERSIONS, ids=lambda path: path.name)
def test_a_migration_imports_no_nib_code(path):
    live = [m for m in _imported_modules(path) if m.startswith(".") or m == "nib" or m.startswith("nib.")]
    assert live == [], f"{path.name} imports {live}"
