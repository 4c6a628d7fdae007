"""The helper functions exported modules carry, read from ``templates/helpers.py``.

A helper is what MATF does for a step, in plain Playwright, copied into a
module only when one of its tests needs it. Each is a real function in the
template file, linted like the rest of the code; its source is picked out by
name with ``ast``, and what it needs is read from the names it uses: other
helpers, and names ``matf.export.imports`` writes imports for.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from importlib import resources

from matf.export.imports import IMPORTABLE


@dataclass(frozen=True)
class Helper:
    """One helper function: its source lines, the names it imports, the helpers it calls."""

    source: str
    imports: frozenset[str]
    needs: frozenset[str]


def read_template(name: str) -> str:
    """The text of the template file ``name`` in ``matf/export/templates``."""
    return (resources.files("matf.export") / "templates" / name).read_text(encoding="utf-8")


@cache
def helpers() -> dict[str, Helper]:
    """Every helper by name, in the order of the template file."""
    text = read_template("helpers.py")
    tree = ast.parse(text)
    _check_imports(tree)
    lines = text.split("\n")
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    names = {function.name for function in functions}
    found: dict[str, Helper] = {}
    for function in functions:
        used = {node.id for node in ast.walk(function) if isinstance(node, ast.Name)}
        first = min([function.lineno, *(d.lineno for d in function.decorator_list)])
        found[function.name] = Helper(
            source="\n".join(lines[first - 1 : function.end_lineno]),
            imports=frozenset(used & IMPORTABLE),
            needs=frozenset(used & (names - {function.name})),
        )
    return found


def _check_imports(tree: ast.Module) -> None:
    """Refuse a template importing a name no exported module would get an import for."""
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound = alias.asname or alias.name
                if bound not in IMPORTABLE:
                    raise RuntimeError(f"templates/helpers.py imports {bound}: not importable")


def with_dependencies(names: set[str]) -> list[str]:
    """Helper names plus those they call, in the order of the template file."""
    known = helpers()
    wanted: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(known[name].needs)
    return [name for name in known if name in wanted]
