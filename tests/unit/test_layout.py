"""The shape the code keeps: typed options read one way, small modules, thin tasks."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cli", "demo", "matf", "tasks", "web", "tests", "bench")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
MAX_TASK_BODY_LINES = 20
# Reading a run's options by key is what RunOptions replaced; only the model and the
# migration that carried old runs over may still spell the old shape out.
OPTIONS_BY_KEY = re.compile(r"\boptions(\.get\(|\[)")
MAY_READ_BY_KEY = {Path("matf/options.py"), Path("migrations/versions/0006_typed_run_options.py")}
# What ``matf export`` writes for its users: their pytest's launch options, not a run's.
EXPORTED = Path("matf/export/templates")


def _sources(*packages: str) -> Iterator[Path]:
    for package in packages:
        folder = ROOT / package
        if folder.is_dir():
            yield from sorted(folder.rglob("*.py"))


def test_run_options_are_read_as_a_model_everywhere() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _sources("cli", "matf", "tasks", "web", "migrations")
        if path.relative_to(ROOT) not in MAY_READ_BY_KEY
        and EXPORTED not in path.relative_to(ROOT).parents
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OPTIONS_BY_KEY.search(line)
    ]
    assert found == []


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in _sources(*PACKAGES)
        if (lines := path.read_text(encoding="utf-8").count("\n")) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_80_lines() -> None:
    long = {}
    for path in _sources(*PACKAGES):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = length
    assert long == {}


def test_every_celery_task_is_a_thin_adapter() -> None:
    tasks = {}
    for path in _sources("tasks"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and any(
                "shared_task" in ast.unparse(decorator) for decorator in node.decorator_list
            ):
                first = node.body[1] if ast.get_docstring(node) else node.body[0]
                tasks[f"{path.name}:{node.name}"] = (node.end_lineno or 0) - first.lineno + 1
    assert len(tasks) >= 8  # prepare, dispatch, write, execute, report, salvage, record, ...
    assert {name: n for name, n in tasks.items() if n > MAX_TASK_BODY_LINES} == {}
