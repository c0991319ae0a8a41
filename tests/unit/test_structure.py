"""The layers hold: the core stays pure (no orchestration, engines or processes in manymodels/), no package imports
one above it, and every function outside the tests is small."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = sorted((ROOT / "manymodels").glob("*.py"))
OUTER = {"prefect", "prefect_ray", "ray", "flows", "tasks", "app", "engines", "subprocess", "psutil", "multiprocessing"}
# The project's packages, lowest first: each may import those below it, none above.
LAYERS = ["manymodels", "engines", "tasks", "flows", "app"]
LAYERED = sorted(path for layer in LAYERS for path in (ROOT / layer).rglob("*.py"))
# Every module outside the tests: the layers, the benchmarks and the infra scripts.
SOURCES = sorted(path for folder in [*LAYERS, "benchmarks", "infra"] for path in (ROOT / folder).rglob("*.py"))
MAX_LINES = 60


def name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def imported_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def long_functions(tree: ast.AST) -> dict[str, int]:
    """The functions (methods and nested ones too) of more than MAX_LINES lines, with their lengths."""
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    return {f.name: f.end_lineno - f.lineno + 1 for f in functions if f.end_lineno - f.lineno + 1 > MAX_LINES}


@pytest.mark.parametrize("module", CORE, ids=lambda p: p.name)
def test_the_core_imports_no_orchestration_engine_or_process_module(module):
    assert imported_roots(ast.parse(module.read_text())) & OUTER == set()


@pytest.mark.parametrize("module", LAYERED, ids=name)
def test_no_package_imports_one_above_it(module):
    layer = LAYERS.index(module.relative_to(ROOT).parts[0])
    assert imported_roots(ast.parse(module.read_text())) & set(LAYERS[layer + 1 :]) == set()


@pytest.mark.parametrize("module", SOURCES, ids=name)
def test_no_function_outside_the_tests_is_longer_than_60_lines(module):
    assert long_functions(ast.parse(module.read_text())) == {}


def test_the_checks_see_what_they_look_for():
    assert imported_roots(ast.parse("import ray.util\nfrom prefect import flow\nfrom . import x")) == {"ray", "prefect"}
    body = ["    pass"] * 60
    lines = "\n".join(["def f():", *body, "async def g():", *body, "def sixty():", *body[1:]])
    assert long_functions(ast.parse(lines)) == {"f": 61, "g": 61}
    assert len(CORE) > 20 and {"engines", "app", "benchmarks", "infra"} <= {
        p.relative_to(ROOT).parts[0] for p in SOURCES
    }
    assert ROOT / "app" / "server" / "lifecycle.py" in LAYERED  # packages inside the layers too
