"""The layers keep their import rules (docs/architecture.md), and no two modules share a name."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "atai_cli"

# What each layer may import from atai_cli (besides itself and the leaf modules errors/environment).
ALLOWED = {
    "protocol": set(),
    "client": {"protocol"},
    "output": {"protocol"},
    "pipeline": {"protocol", "client", "output", "config_file"},
    "emulator": {"protocol"},
}
LEAVES = {"errors", "environment"}


def imported_layers(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "atai_cli" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports(layer):
    for path in (PACKAGE / layer).rglob("*.py"):
        extra = imported_layers(path) - ALLOWED[layer] - LEAVES - {layer}
        assert not extra, f"{path.relative_to(PACKAGE)} imports {sorted(extra)}"


def test_no_two_modules_share_a_name():
    names = Counter(p.stem for p in PACKAGE.rglob("*.py") if p.stem not in ("__init__", "__main__"))
    assert [name for name, count in names.items() if count > 1] == []


def test_nothing_imports_click_directly():
    for path in PACKAGE.rglob("*.py"):
        assert "click" not in imported_top_level(path), path


def imported_top_level(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


PROCESS_WIDE = {("signal", "signal"), ("threading", "stack_size"), ("os", "putenv")}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_libraries_leave_process_wide_state_to_the_command_edge(layer):
    """Signal handlers and the thread stack size are the commands' to set (commands/following.py),
    never a library's; os.environ is the injected Environment's, never written."""
    for path in (PACKAGE / layer).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
                assert (node.func.value.id, node.func.attr) not in PROCESS_WIDE, f"{path.relative_to(PACKAGE)}:{node.lineno}"


def test_main_does_not_write_the_process_environment():
    for node in ast.walk(ast.parse((PACKAGE / "main.py").read_text())):
        if isinstance(node, ast.Attribute) and node.attr == "environ":
            assert not (isinstance(node.value, ast.Name) and node.value.id == "os"), f"main.py:{node.lineno} uses os.environ"
