"""The core stays pure: no orchestration, engines or processes in manymodels/, and small functions."""

import ast
from pathlib import Path

import pytest

CORE = sorted((Path(__file__).resolve().parents[2] / "manymodels").glob("*.py"))
OUTER = {"prefect", "prefect_ray", "ray", "flows", "tasks", "app", "engines", "subprocess", "psutil", "multiprocessing"}


def imported_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", CORE, ids=lambda p: p.name)
def test_the_core_imports_no_orchestration_engine_or_process_module(module):
    assert imported_roots(ast.parse(module.read_text())) & OUTER == set()


@pytest.mark.parametrize("module", CORE, ids=lambda p: p.name)
def test_no_core_function_is_longer_than_60_lines(module):
    functions = [n for n in ast.walk(ast.parse(module.read_text())) if isinstance(n, ast.FunctionDef)]
    assert {f.name: f.end_lineno - f.lineno + 1 for f in functions if f.end_lineno - f.lineno >= 60} == {}


def test_the_checks_see_what_they_look_for():
    assert imported_roots(ast.parse("import ray.util\nfrom prefect import flow\nfrom . import x")) == {"ray", "prefect"}
    assert len(CORE) > 20
