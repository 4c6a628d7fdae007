"""A run's page lists its failures by cause, read from the head of its report.json.

The run is real (SQLite, the reporter's own report files); the page is the
real app's, through Flask's test client. Cause titles carry page text: they
must reach the page escaped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from matf.agents.reporter import build_document, write_reports
from matf.auth import create_user, issue_token
from matf.options import RunOptions
from matf.reports.jsonfile import read_head
from matf.results import StepResult, TestResult, Violation
from matf.storage.db import get_engine, migrate, session_scope
from matf.storage.runs import create_run, finish_run, record_results
from tests.conftest import make_settings
from web import create_app
from web.security import SESSION_COOKIE

SITE = "http://shop.test"
HOSTILE = "<script>window.__pwned=true</script>"


def _failed(run_id: str, case_id: str, url: str, action: str, **evidence: object) -> TestResult:
    return TestResult(
        run_id=run_id,
        case_id=case_id,
        name=f"Test {case_id}",
        kind="accessibility" if action == "check_accessibility" else "functional",
        category="page",
        browser="chromium",
        status="failed",
        url=url,
        error="failed",
        steps=[StepResult(index=0, action=action, description="", status="failed", error="x")],
        **evidence,  # type: ignore[arg-type]
    )


def test_the_run_page_lists_causes_from_report_json_escaped(tmp_path: Path) -> None:
    # Given a finished run: 25 product pages without lang, one page error carrying markup
    settings = make_settings(tmp_path)
    engine = get_engine(settings.database_url)
    migrate(engine, tmp_path / "matf.db")
    out = tmp_path / "out"
    with session_scope(engine, write=True) as session:
        run_id = create_run(session, f"{SITE}/", RunOptions(out_dir=str(out))).id
        lang = [Violation(rule="html-has-lang", impact="serious", nodes=1)]
        results = [
            _failed(run_id, f"p{n}", f"{SITE}/products/{n}", "check_accessibility", violations=lang)
            for n in range(25)
        ]
        results.append(
            _failed(
                run_id, "c", f"{SITE}/c", "expect_no_page_errors", page_errors=[f"bad {HOSTILE}"]
            )
        )
        record_results(session, results)
        finish_run(session, run_id, "failed", datetime.now(UTC))
    with session_scope(engine) as session:
        write_reports(build_document(session, run_id), out, tmp_path / "artifacts", None)
    assert read_head(out / "report.json") is not None
    app = create_app(settings)
    with session_scope(engine, write=True) as session:
        user = create_user(session, "viewer@example.com", "correct horse battery", "viewer")
        token = issue_token(app.config["MATF_JWT_SECRET"], user)
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, token)

    # When its page is opened
    page = client.get(f"/runs/{run_id}").get_data(as_text=True)

    # Then the causes come before the failures, counted, page text as text
    assert page.index('id="causes-title"') < page.index('id="fail-title"')
    assert "2 causes for 26 failures" in page
    assert "<code>html-has-lang</code>: 25 pages" in page
    assert "and 22 more" in page  # three pages named, the rest counted
    assert HOSTILE not in page
    assert "page error: bad &lt;script&gt;window.__pwned=true&lt;/script&gt;" in page

    # And a run whose report.json is gone still shows its page, without causes
    (out / "report.json").unlink()
    page = client.get(f"/runs/{run_id}").get_data(as_text=True)
    assert 'id="causes-title"' not in page and 'id="fail-title"' in page
    engine.dispose()


def test_read_head_refuses_what_write_json_did_not_write(tmp_path: Path) -> None:
    compact = tmp_path / "compact.json"
    compact.write_text('{"run": {}, "tests": []}', encoding="utf-8")
    assert read_head(compact) is None
    assert read_head(tmp_path / "missing.json") is None
