"""``matf export``: suites become pytest-playwright files that run, and fail, without MATF.

The round trip is real: a suite written against a made-up origin is exported,
then run by a plain ``pytest`` in a child process against the demo shop through
``MATF_BASE_URL``, so it only passes if every step's code works in a browser.
"""

from __future__ import annotations

import ast
import io
import os
import subprocess
import sys
import tokenize
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.commands.export import export
from matf.errors import UsageError
from matf.export import export_suite, render_suite
from matf.export.assembly import MARKER
from matf.spec import Suite

RECORDED = "http://shop.example.test:8080"  # nothing answers here: tests pass only if rewritten
SECRET_EMAIL = "bo.secret@example.com"

PRODUCTS_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["slug", "name", "price", "in_stock"],
        "properties": {
            "slug": {"type": "string"},
            "name": {"type": "string"},
            "price": {"type": "number"},
            "in_stock": {"type": "boolean"},
        },
    },
}


def _spec(spec_id: str, path: str, steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": spec_id, "name": spec_id.replace(".", " "), "url": RECORDED + path,
            "steps": steps, **extra}  # fmt: skip


def _newsletter_form(name: str, email: str) -> list[dict[str, Any]]:
    return [
        {"action": "goto", "url": "/newsletter"},
        {"action": "fill", "target": {"css": "#nl-name"}, "value": name},
        {"action": "fill", "target": {"label": "Email address"}, "value": email},
        {"action": "select", "target": {"label": "Main interest (optional)"}, "value": "climbing"},
        {"action": "check", "target": {"label": "I agree to receive the Acme newsletter"}},
    ]


JOURNEYS = Suite.model_validate(
    {
        "tests": [
            _spec(
                "newsletter.subscribe",
                "/newsletter",
                [
                    *_newsletter_form("Ann", "ann@example.com"),
                    {"action": "submit", "target": {"role": "button", "name": "Subscribe"}},
                    {"action": "expect_text", "target": {"role": "status"}, "text": "Thanks, Ann!"},
                    {"action": "expect_visible", "target": {"text": "Back to the home page"}},
                    {"action": "expect_title", "title": "Thank you | Acme Outfitters"},
                    {"action": "expect_url", "url": "/newsletter"},
                    {"action": "expect_no_console_errors"},
                    {"action": "expect_no_page_errors"},
                    {"action": "expect_no_failed_requests"},
                ],
                category="form",
            ),
            _spec(
                "newsletter.press-enter",
                "/newsletter",
                [
                    *_newsletter_form("Bo", "{{secret:newsletter.email}}"),
                    {"action": "press", "target": {"label": "Email address"}, "key": "Enter"},
                    {"action": "expect_text", "target": {"role": "status"}, "text": "Thanks, Bo!"},
                    {"action": "expect_url", "url": "newsletter", "contains": True},
                    {"action": "expect_no_page_errors", "since_last_action": True},
                    {"action": "expect_no_console_errors", "since_last_action": True},
                    {"action": "expect_no_failed_requests", "since_last_action": True},
                    {"action": "expect_no_server_errors", "since_last_action": True},
                    {"action": "expect_change"},
                    {"action": "expect_content"},
                ],
            ),
            _spec(
                "home.browse",
                "/",
                [
                    {"action": "goto", "url": "/", "wait_until": "networkidle"},
                    {"action": "expect_title", "title": "Home | Acme Outfitters"},
                    {
                        "action": "expect_visible",
                        "target": {"role": "heading", "name": "Gear for every trail"},
                    },
                    {"action": "click", "target": {"role": "link", "name": "Shop all products"}},
                    {"action": "expect_url", "url": "/products"},
                    {"action": "expect_title", "title": "Products", "contains": True},
                    {"action": "wait_for", "target": {"role": "heading", "name": "Products"}},
                    {"action": "expect_visible", "target": {"alt": "Trail Pack 28L"}},
                    {
                        "action": "expect_status",
                        "url": "/static/img/trail-pack.svg",
                        "content_type": "image/",
                    },
                    {"action": "expect_status", "url": "/no-such-page", "status": "4xx"},
                    {"action": "expect_no_server_errors"},
                    {"action": "check_accessibility", "min_impact": "serious"},
                ],
                viewport={"width": 1024, "height": 768},
            ),
            _spec(
                "api.products",
                "/api/products",
                [
                    {
                        "action": "api_request",
                        "url": "/api/products",
                        "headers": {"Accept": "application/json"},
                        "content_type": "application/json",
                        "max_time_ms": 10_000,
                        "json_schema": PRODUCTS_SCHEMA,
                        "expect_json": [
                            {"pointer": "/0/slug", "equals": "trail-pack"},
                            {"pointer": "/0/in_stock", "equals": True},
                            {"pointer": "/0/colour", "exists": False},
                        ],
                    },
                    {"action": "api_request", "url": "/api/products/nope", "expect_status": 404},
                ],
                kind="api",
                category="api",
            ),
            _spec(
                "about.looks",
                "/about",
                [
                    {"action": "goto", "url": "/about"},
                    {"action": "check_visual"},
                    {"action": "expect_text", "target": {"role": "heading"}, "text": "About"},
                    {"action": "check_performance"},
                ],
                kind="visual",
            ),
        ]
    }
)

FAILING = Suite.model_validate(
    {
        "tests": [
            _spec(
                "broken.image",
                "/products",
                [
                    {"action": "goto", "url": "/products"},
                    {"action": "expect_status", "url": "/static/img/camp-stove.png"},
                ],
            ),
            _spec("missing.page", "/nowhere", [{"action": "goto", "url": "/nowhere"}]),
            _spec(
                "missing.secret",
                "/newsletter",
                [
                    {"action": "goto", "url": "/newsletter"},
                    {"action": "fill", "target": {"label": "Name"}, "value": "{{secret:absent}}"},
                ],
            ),
            _spec(
                "wrong.price",
                "/api/products",
                [
                    {
                        "action": "api_request",
                        "url": "/api/products",
                        "expect_json": [{"pointer": "/0/price", "equals": 1}],
                    }
                ],
            ),
        ]
    }
)


def _pytest(folder: Path, report: Path, base_url: str, **env: str) -> dict[str, str]:
    """Run ``folder`` with a plain pytest child; each test's outcome by function name."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("MATF_SECRET_")}
    child_env.pop("PYTHONPATH", None)  # the exported files must not need MATF on the path
    child_env.update(MATF_BASE_URL=base_url, **env)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--junitxml={report}", str(folder)],
        cwd=folder, env=child_env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert report.exists(), run.stdout + run.stderr
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name", "").split("[")[0]
        found = [child for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[name] = found[0].tag if found else "passed"
        if found:
            outcomes[name + ":message"] = (found[0].get("message") or "") + (found[0].text or "")
    outcomes["returncode"] = str(run.returncode)
    return outcomes


def test_exported_journeys_pass_with_plain_pytest(healthy_demo: str, tmp_path: Path) -> None:
    suite_file = tmp_path / "suite.json"
    suite_file.write_text(JOURNEYS.model_dump_json(exclude_none=True), encoding="utf-8")
    out = tmp_path / "exported"

    result = CliRunner().invoke(export, [str(suite_file), "-o", str(out)])

    assert result.exit_code == 0, result.output
    modules = sorted(p.name for p in out.glob("test_*.py"))
    assert result.output.strip() == f"wrote 5 tests in {len(modules)} files to {out}"
    assert {"conftest.py", "README.md"} <= {p.name for p in out.iterdir()}
    code = {name: (out / name).read_text(encoding="utf-8") for name in modules}
    everything = "\n".join(code.values())
    assert SECRET_EMAIL not in everything
    assert 'secret("MATF_SECRET_NEWSLETTER_EMAIL")' in everything
    assert 'page.get_by_role("button", name="Subscribe", exact=True)' in everything
    assert "expect(page).to_have_url(" in everything
    assert "def test_newsletter_press_enter(" in everything
    assert "watch_console_errors" not in code["test_api_products.py"]  # only what a spec needs

    outcomes = _pytest(
        out, tmp_path / "report.xml", healthy_demo, MATF_SECRET_NEWSLETTER_EMAIL=SECRET_EMAIL
    )

    assert outcomes["returncode"] == "0", outcomes
    assert {k: v for k, v in outcomes.items() if k.startswith("test_") and ":" not in k} == {
        "test_newsletter_subscribe": "passed",
        "test_newsletter_press_enter": "passed",
        "test_home_browse": "passed",
        "test_api_products": "passed",
        "test_about_looks": "skipped",  # its other steps ran; the visual check runs in MATF
    }, outcomes
    assert (
        "check_visual 'page' and check_performance run in MATF"
        in (outcomes["test_about_looks:message"])
    )


def test_exported_tests_fail_where_the_site_does(healthy_demo: str, tmp_path: Path) -> None:
    out = tmp_path / "exported"
    export_suite(FAILING, out)

    outcomes = _pytest(out, tmp_path / "report.xml", healthy_demo)

    assert outcomes["returncode"] == "1"
    for name in ("broken_image", "missing_page", "missing_secret", "wrong_price"):
        assert outcomes[f"test_{name}"] == "failure", outcomes
    assert "camp-stove.png answered HTTP 404, expected 2xx" in outcomes["test_broken_image:message"]
    assert "/nowhere answered HTTP 404, expected 2xx" in outcomes["test_missing_page:message"]
    assert "MATF_SECRET_ABSENT" in outcomes["test_missing_secret:message"]
    assert "/0/price is 89.0, expected 1" in outcomes["test_wrong_price:message"]


HOSTILE = [
    'x"""; import os; os.system("x"); """',
    "line one\nimport os\nos.system('x')",
    "sep\u2028os.system('x')\u2029\x0c\x1c\x85",
    "'); import os; os.system('x",
    "\\'); os.system('x') #",
    "\u202eevil\u2066 tab\t{{ nope }}",
]


def _hostile_suite() -> Suite:
    tests = []
    for number, bad in enumerate(HOSTILE):
        one_line = bad.replace("\n", " ")  # a JSON pointer is one line (the spec's pattern)
        tests.append(
            {
                "id": f"bad-{number}.x_y",
                "name": bad,
                "url": f"http://h{number}.test/{bad.replace(' ', '%20')}?q={bad}#f{bad}",
                "tags": [bad],
                "steps": [
                    {"action": "goto", "url": bad},
                    {"action": "click", "target": {"role": "button", "name": bad}},
                    {"action": "fill", "target": {"label": bad}, "value": bad + "{{secret:a.b}}"},
                    {"action": "select", "target": {"css": bad}, "value": bad},
                    {"action": "press", "target": {"placeholder": bad}, "key": "Enter"},
                    {"action": "expect_text", "target": {"text": bad, "nth": 2}, "text": bad},
                    {"action": "expect_visible", "target": {"test_id": bad}},
                    {"action": "wait_for", "target": {"alt": bad, "exact": False}},
                    {"action": "expect_url", "url": bad, "contains": True},
                    {"action": "expect_title", "title": bad},
                    {"action": "expect_status", "url": bad, "content_type": bad},
                    {"action": "expect_no_failed_requests", "since_last_action": True},
                    {"action": "expect_change"},
                    {
                        "action": "api_request",
                        "method": "POST",
                        "url": bad,
                        "headers": {bad: bad + "{{secret:tok}}"},
                        "body": {bad: [bad, 1.5, None, True, {"k": bad * 3}]},
                        "content_type": bad,
                        "json_schema": {"type": "object", "properties": {bad: {"const": bad}}},
                        "expect_json": [{"pointer": "/" + one_line, "equals": {bad: [bad]}}],
                    },
                    {"action": "check_visual", "name": "x.y-z"},
                ],
            }
        )
    return Suite.model_validate({"target": "http://h0.test/", "tests": tests})


_ALLOWED_IMPORTS = {
    "__future__", "contextlib", "json", "os", "re", "time", "typing", "urllib.parse",
    "pytest", "playwright.sync_api", "pathlib", "shutil", "sys",
    "axe_playwright_python.sync_playwright",  # imported inside its helper, when present
}  # fmt: skip


def _assert_only_safe_statements(tree: ast.Module) -> None:
    """Only a docstring, imports, literal assignments and function definitions at the top."""
    body = tree.body
    assert isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)  # docstring
    for node in body[1:]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue  # checked below, with those inside functions
        if isinstance(node, ast.Assign):
            assert all(isinstance(t, ast.Name) for t in node.targets)
            ast.literal_eval(node.value)  # a plain literal, nothing computed
        elif isinstance(node, ast.Expr):  # conftest's expect.set_options(timeout=...)
            call = node.value
            assert isinstance(call, ast.Call) and ast.unparse(call.func) == "expect.set_options"
            assert all(isinstance(k.value, ast.Constant) for k in call.keywords)
        else:
            assert isinstance(node, ast.FunctionDef), ast.dump(node)
    for each in ast.walk(tree):
        if isinstance(each, ast.Call):
            called = ast.unparse(each.func)
            assert called not in {"os.system", "eval", "exec", "__import__", "compile"}, called
        if isinstance(each, ast.Import | ast.ImportFrom):
            modules = (
                [a.name for a in each.names] if isinstance(each, ast.Import) else [each.module]
            )
            assert set(modules) <= _ALLOWED_IMPORTS, ast.dump(each)


def test_hostile_strings_stay_data() -> None:
    suite = _hostile_suite()
    files = render_suite(suite)

    modules = {name: text for name, text in files.items() if name.endswith(".py")}
    assert len([n for n in modules if n.startswith("test_")]) == len(HOSTILE)
    names: dict[str, ast.FunctionDef] = {}
    for name, text in modules.items():
        assert name == "conftest.py" or name.replace(".py", "").replace("_", "").isalnum()
        compile(text, name, "exec")
        assert len(text.splitlines()) == text.count("\n"), f"a raw line break in {name}"
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:  # one line, nothing invisible or reordering
                assert token.string.isprintable(), token.string
        tree = ast.parse(text)
        _assert_only_safe_statements(tree)
        names.update({f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)})
    for number, bad in enumerate(HOSTILE):
        function = names[f"test_bad_{number}_x_y"]
        assert ast.get_docstring(function, clean=False) == bad  # the name, intact, as data
        constants = {n.value for n in ast.walk(function) if isinstance(n, ast.Constant)}
        assert bad in constants
        lookups = {
            ast.unparse(n.args[0])
            for n in ast.walk(function)
            if isinstance(n, ast.Call) and ast.unparse(n.func) == "secret"
        }
        assert lookups == {"'MATF_SECRET_A_B'", "'MATF_SECRET_TOK'"}  # secrets, never values


def test_hostile_export_writes_and_compiles(tmp_path: Path) -> None:
    written = export_suite(_hostile_suite(), tmp_path / "out")
    for path in written:
        assert path.parent == tmp_path / "out"
        assert MARKER in path.read_text(encoding="utf-8").splitlines()[0]
        if path.suffix == ".py":
            compile(path.read_bytes(), str(path), "exec")


def test_test_names_are_identifiers_and_unique() -> None:
    steps = [{"action": "goto", "url": "/"}]
    suite = Suite.model_validate(
        {
            "tests": [
                _spec("a.b", "/", steps),
                _spec("a-b", "/", steps),
                _spec("a_b", "/", steps),
                _spec("9lives", "/", steps),
            ]
        }
    )
    tree = ast.parse(render_suite(suite)["test_home.py"])
    tests = [f.name for f in tree.body if isinstance(f, ast.FunctionDef) and f.name[:5] == "test_"]
    assert tests == ["test_a_b", "test_a_b_2", "test_a_b_3", "test_9lives"]


def test_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    suite = Suite.model_validate({"tests": [_spec("one", "/", [{"action": "goto", "url": "/"}])]})

    with pytest.raises(UsageError, match=r"notes\.txt is not from matf export") as caught:
        export_suite(suite, out)
    assert "\n" not in str(caught.value)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]

    (out / "notes.txt").unlink()
    (out / "test_home.py").write_text("def test_mine() -> None: ...\n", encoding="utf-8")
    result = CliRunner().invoke(export, [str(tmp_path / "s.json"), "-o", str(out)])
    assert result.exit_code != 0  # no suite file: nothing written
    with pytest.raises(UsageError):
        export_suite(suite, out)
    assert (out / "test_home.py").read_text(encoding="utf-8").startswith("def test_mine")

    file_out = tmp_path / "a-file"
    file_out.write_text("x", encoding="utf-8")
    with pytest.raises(UsageError, match="not a directory"):
        export_suite(suite, file_out)


def test_reexport_replaces_its_own_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    two = Suite.model_validate(
        {
            "tests": [
                _spec("one", "/", [{"action": "goto", "url": "/"}]),
                _spec("two", "/about", [{"action": "goto", "url": "/about"}]),
            ]
        }
    )
    export_suite(two, out)
    (out / "__pycache__").mkdir()  # left by running the tests
    assert (out / "test_about.py").exists()

    one = Suite.model_validate({"tests": [_spec("one", "/", [{"action": "goto", "url": "/"}])]})
    written = export_suite(one, out)

    assert sorted(p.name for p in written) == ["README.md", "conftest.py", "test_home.py"]
    assert not (out / "test_about.py").exists()  # a stale module of ours is gone
    assert (out / "__pycache__").is_dir()
