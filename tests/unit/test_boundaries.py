"""``hub`` and ``agent`` never import each other; ``rules`` (behaviour both share) imports only
``protocol``; ``protocol`` holds wire shapes: it imports nothing of ours and no library but
pydantic."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "orchestratia"

FORBIDDEN = {
    "hub": ("orchestratia.agent", "orchestratia.cli"),
    "agent": ("orchestratia.hub", "orchestratia.cli"),
    "protocol": (
        "orchestratia.hub",
        "orchestratia.agent",
        "orchestratia.cli",
        "orchestratia.rules",
    ),
    "rules": ("orchestratia.hub", "orchestratia.agent", "orchestratia.cli"),
}
# What a wire shape may be built from: the standard library, pydantic, and other shapes.
WIRE_LIBRARIES = {"pydantic", "orchestratia"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_forbidden_siblings(package: str) -> None:
    files = sorted((SRC / package).rglob("*.py"))
    assert files, f"no sources found for {package}"
    offenders = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in files
        for name in imported_modules(path)
        if name.startswith(FORBIDDEN[package])
    ]
    assert offenders == []


def test_protocol_imports_only_wire_shape_libraries() -> None:
    files = sorted((SRC / "protocol").rglob("*.py"))
    offenders = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in files
        for name in imported_modules(path)
        if (top := name.split(".")[0]) not in sys.stdlib_module_names
        and top not in WIRE_LIBRARIES
        and name != "__future__"
    ]
    assert offenders == []


def test_checker_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from orchestratia.hub.app import create_app\n")
    assert "orchestratia.hub.app" in imported_modules(bad)
    bad.write_text("import re2\n")
    assert "re2" in imported_modules(bad)
