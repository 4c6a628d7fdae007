"""The import block of an exported module, written from the names its code uses."""

from __future__ import annotations

# Where each imported name comes from: "module" for ``import module``, else its module.
_STDLIB_MODULES = {"json", "os", "re", "time"}
_FROM = {
    "suppress": "contextlib",
    "Any": "typing",
    "Literal": "typing",
    "urlsplit": "urllib.parse",
}
_PLAYWRIGHT = {"APIResponse", "ConsoleMessage", "Locator", "Page", "Request", "Response", "expect"}

# Every name ``import_lines`` can write an import for.
IMPORTABLE = frozenset(
    _STDLIB_MODULES | set(_FROM) | _PLAYWRIGHT | {"pytest", "PlaywrightTimeoutError"}
)


def _sort_key(name: str) -> tuple[int, str]:
    """isort's order within one ``from`` import: CONSTANTS, Classes, functions."""
    if name.isupper():
        return 0, name
    return (1, name) if name[0].isupper() else (2, name)


def import_lines(names: set[str]) -> list[str]:
    """The import statements for ``names``, grouped and sorted as isort does, blocks ending ''."""
    stdlib = sorted(f"import {n}" for n in names if n in _STDLIB_MODULES)
    by_module: dict[str, list[str]] = {}
    for name in names:
        if name in _FROM:
            by_module.setdefault(_FROM[name], []).append(name)
    stdlib += [
        f"from {module} import {', '.join(sorted(by_module[module], key=_sort_key))}"
        for module in sorted(by_module)
    ]
    third = ["import pytest"] if "pytest" in names else []
    playwright = sorted((n for n in names if n in _PLAYWRIGHT), key=_sort_key)
    if playwright:
        third.append(f"from playwright.sync_api import {', '.join(playwright)}")
    if "PlaywrightTimeoutError" in names:
        third.append("from playwright.sync_api import TimeoutError as PlaywrightTimeoutError")
    blocks = [["from __future__ import annotations"], stdlib, third]
    return [line for block in blocks if block for line in [*block, ""]]
