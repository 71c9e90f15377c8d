"""The layout's lines: ``hub`` and ``agent`` never import each other; ``rules`` (behaviour both
share) imports only ``protocol``; ``protocol`` holds wire shapes: it imports nothing of ours and
no library but pydantic; routers in ``hub/api`` leave queries, commits and publishing to actions;
no module grows past 400 lines; a test module never imports another (shared test code lives in
support modules)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "orchestratia"
TESTS = Path(__file__).resolve().parents[1]

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


# Routers parse, call one action and shape the reply: the transaction and everything that leaves
# the hub after it belong to hub/actions.
ROUTER_FORBIDDEN = re.compile(r"\bselect\(|\.commit\(|\.publish(?:_revocation)?\(")


def router_offences(text: str) -> list[str]:
    return ROUTER_FORBIDDEN.findall(text)


def test_routers_do_not_query_commit_or_publish() -> None:
    files = sorted((SRC / "hub" / "api").rglob("*.py"))
    assert files
    offenders = [f"{p.relative_to(SRC)}: {router_offences(p.read_text())}" for p in files]
    assert [o for o in offenders if not o.endswith(": []")] == []
    assert router_offences("rows = await db.scalars(select(Task))\nawait db.commit()\n") == [
        "select(",
        ".commit(",
    ]
    assert router_offences("await hub.bus.publish(p, e)") == [".publish("]


MAX_MODULE_LINES = 400  # a module past this holds more than one thing; migrations are history


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if "migrations" not in p.parts and (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_test_module_imports_another() -> None:
    # Importing a test module runs its module-level code and re-collects its fixtures; what two
    # test files share belongs in a support module beside them.
    offending = {
        str(p.relative_to(TESTS)): sorted(m for m in imported_modules(p) if _is_test_module(m))
        for p in TESTS.rglob("*.py")
    }
    assert {path: mods for path, mods in offending.items() if mods} == {}


def _is_test_module(module: str) -> bool:
    return module.startswith("tests.") and module.rsplit(".", 1)[-1].startswith("test_")


def test_checker_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from orchestratia.hub.app import create_app\n")
    assert "orchestratia.hub.app" in imported_modules(bad)
    bad.write_text("import re2\n")
    assert "re2" in imported_modules(bad)
