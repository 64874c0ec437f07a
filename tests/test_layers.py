"""The layers keep their import rules (docs/architecture.md), and no two modules share a name."""

from __future__ import annotations

import ast
import subprocess
import sys
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


# -- import cycles ------------------------------------------------------------------------
# Every import statement counts: at the top, inside a function (a lazy import only delays a
# cycle to run time) and under TYPE_CHECKING (the modules still depend on each other).

def module_graph(package: Path) -> dict[str, set[str]]:
    """module -> the modules of the package it imports, anywhere in its source."""
    def name_of(path: Path) -> str:
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    modules = {name_of(path): path for path in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: list[str] = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolved against this module's package
                    anchor = name.split(".")[: len(name.split(".")) - node.level + (path.stem == "__init__")]
                    base = ".".join([*anchor, *([base] if base else [])])
                # `from pkg import mod` imports the module mod; `from mod import name` imports mod.
                targets += [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        deps = set()
        for target in targets:
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                deps.add(target)
        graph[name] = deps
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


def test_no_import_cycles_not_even_through_lazy_imports():
    assert import_cycles(module_graph(PACKAGE)) == []


def test_the_cycle_check_sees_imports_inside_functions_and_type_checking(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def later():\n    from pkg.a import thing\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub.d import D\n")
    (package / "sub" / "d.py").write_text("from ..c import x\n")
    (package / "e.py").write_text("import pkg.a\n")
    assert import_cycles(module_graph(package)) == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.sub.d"]]


# -- importing changes nothing global -----------------------------------------------------

def _in_fresh_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_the_client_loads_httpx_without_its_cli_and_leaves_no_placeholder():
    code = ("import sys, atai_cli.client, httpx; "
            "print('httpx._main' in sys.modules, 'click' in sys.modules, hasattr(httpx, '_main'))")
    assert _in_fresh_python(code) == "False False False"


def test_pydantic_finds_no_plugins_without_scanning_installed_packages():
    """main.py stands in for pydantic's plugin loader (no entry-point scan, no importlib.metadata),
    in atai's process only: the environment is left alone."""
    code = ("import os, sys; from atai_cli import main; main._pydantic_without_plugins(); import pydantic\n"
            "class M(pydantic.BaseModel):\n    x: int\n"
            "M(x=1); loader = sys.modules['pydantic.plugin._loader']\n"
            "print(list(loader.get_plugins()), 'importlib.metadata' in sys.modules, "
            "'PYDANTIC_DISABLE_PLUGINS' in os.environ, main._PluginlessPydantic in map(type, sys.meta_path))")
    assert _in_fresh_python(code) == "[] False False False"


def test_importing_the_emulator_server_adds_no_logging_filter():
    code = "import logging, atai_cli.emulator.server; print(logging.getLogger('uvicorn.error').filters)"
    assert _in_fresh_python(code) == "[]"


def test_children_of_the_suite_start_with_the_default_sigint():
    """conftest.py undoes an inherited "ignore SIGINT" (a background job, CI) for the children
    tests start, so the Ctrl-C tests behave the same wherever the suite runs."""
    code = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    assert _in_fresh_python(code) == "True"
