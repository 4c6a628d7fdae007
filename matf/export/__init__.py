"""``matf export``: turn a suite into plain pytest-playwright files its users own.

Each spec becomes one readable test function (role-based locators, ``expect``
assertions, one line per step) in a ``test_<page>.py`` module per page, next to
a ``conftest.py`` that finds and launches Chromium the way MATF does and points
the tests at ``MATF_BASE_URL`` when it is set. The files run with ``pytest``
alone: no MATF needed.

Spec strings are untrusted data. They reach the generated code only as Python
literals made by ``repr`` (checked with ``ast.literal_eval``) or as comments
with every non-printable character escaped; identifiers are rebuilt from
``[a-z0-9_]`` (``literals``). Every module is compiled before anything is written.

The modules: ``literals`` (safe pieces of code), ``origins`` (where a test and
its module go), ``writer`` (one spec's test function), ``helpers`` and
``imports`` (what a module carries besides its tests), ``assembly`` (whole
files). The code the exported files share, helper functions and conftest.py,
is real Python under ``templates/``, read at run time.
"""

from __future__ import annotations

from pathlib import Path

from matf import spec as s
from matf.errors import UsageError
from matf.export.assembly import MARKER, conftest_text, module_text, readme_text
from matf.export.literals import check_compiles
from matf.export.origins import TestNames, main_origin, module_slug, page_label
from matf.export.writer import TestWriter
from matf.files import write_atomic

# What a folder may hold besides our files: caches and artifacts of running the tests.
_BY_PRODUCTS = frozenset({"__pycache__", ".pytest_cache", "test-results"})


def export_suite(suite: s.Suite, out_dir: Path) -> list[Path]:
    """Write ``suite`` into ``out_dir`` as pytest-playwright files; return the files written.

    ``out_dir`` is created when missing. A folder holding anything but files a
    previous export wrote (and the caches running them leaves) is refused with a
    ``UsageError``; files of a previous export that this one does not write are removed.
    """
    files = render_suite(suite)
    previous = _previous_export(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = [write_atomic(out_dir / name, text) for name, text in files.items()]
        for stale in previous:
            if stale.name not in files:
                stale.unlink(missing_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write to {out_dir}: {exc.strerror or exc}") from exc
    return written


def render_suite(suite: s.Suite) -> dict[str, str]:
    """File name -> text of every file an export of ``suite`` writes; the modules compiled."""
    base = main_origin(suite)
    names = TestNames()
    modules: dict[str, list[str]] = {}
    helpers: dict[str, set[str]] = {}
    imports: dict[str, set[str]] = {}
    page_of: dict[str, str] = {}
    secret_vars: set[str] = set()
    skipped: list[str] = []
    for spec in suite.tests:
        module = f"test_{module_slug(spec.url, base)}.py"
        test = TestWriter(spec, base, names.take(spec.id))
        code = test.render()
        modules.setdefault(module, []).append(code)
        helpers.setdefault(module, set()).update(test.helpers)
        imports.setdefault(module, set()).update(test.imports)
        page_of.setdefault(module, page_label(spec.url, base))
        secret_vars.update(test.secret_vars)
        if test.skip_reasons:
            skipped.append(spec.id)
    files: dict[str, str] = {}
    for module, tests in modules.items():
        text = module_text(page_of[module], tests, helpers[module], imports[module])
        check_compiles(text, module)
        files[module] = text
    conftest = conftest_text(base)
    check_compiles(conftest, "conftest.py")
    files["conftest.py"] = conftest
    files["README.md"] = readme_text(
        len(suite.tests), len(modules), base, sorted(secret_vars), skipped
    )
    return files


def _previous_export(out_dir: Path) -> list[Path]:
    """Files an earlier export wrote in ``out_dir``; refuse a folder holding anything else."""
    if not out_dir.exists():
        return []
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir} is not a directory")
    ours: list[Path] = []
    for entry in sorted(out_dir.iterdir()):
        if entry.name in _BY_PRODUCTS and entry.is_dir() and not entry.is_symlink():
            continue
        if entry.name.startswith(".") and entry.name.endswith(".tmp"):
            continue  # left by an interrupted atomic write
        if not (entry.is_file() and not entry.is_symlink() and _written_by_us(entry)):
            raise UsageError(
                f"{out_dir} is not empty and {entry.name} is not from matf export: "
                "export into a new or empty directory"
            )
        ours.append(entry)
    return ours


def _written_by_us(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            first = handle.readline(300)
    except OSError:
        return False
    return MARKER.encode() in first
