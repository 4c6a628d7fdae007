"""A big run's results read a page at a time: the API's cursor pages and the dashboard's pages.

The server is the real app on a real HTTP server over a real SQLite file,
seeded with a run of 250 results (every fifth one failing).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from matf.options import RunOptions
from matf.results import TestResult
from matf.storage.db import get_engine, session_scope
from matf.storage.runs import create_run, finish_run, record_results
from tests.apiserver import ApiServer
from tests.conftest import server_settings
from web.security import SESSION_COOKIE

TOTAL = 250
FAILED = TOTAL // 5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    folder: Path = tmp_path_factory.mktemp("paging")
    api = ApiServer(server_settings(folder)).start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def run_id(server: ApiServer) -> str:
    engine = get_engine(server.settings.database_url)
    with session_scope(engine, write=True) as session:
        run = create_run(session, "http://shop.test/", RunOptions()).id
        record_results(session, [_result(run, i) for i in range(TOTAL)])
        finish_run(session, run, "failed", datetime.now(UTC))
    return run


def _result(run_id: str, i: int) -> TestResult:
    failed = i % 5 == 0
    return TestResult(
        run_id=run_id,
        case_id=f"case-{i:04d}",
        name=f"Page {i} <b>loads</b>",
        kind="functional",
        category="page",
        browser="chromium",
        status="failed" if failed else "passed",
        url=f"http://shop.test/{i}",
        error="expected a 2xx answer, got 500" if failed else None,
    )


def _pages(client: httpx.Client, url: str, **params: Any) -> list[dict[str, Any]]:
    """Every page from ``url``, following ``next`` to the end."""
    pages = []
    answer = client.get(url, params=params)
    while True:
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        following = pages[-1].get("next")
        if following is None:
            return pages
        answer = client.get(following)


def test_results_come_in_pages_that_together_hold_every_result_once(
    server: ApiServer, run_id: str
) -> None:
    with server.client("viewer") as viewer:
        pages = _pages(viewer, f"/api/v1/runs/{run_id}/results", limit=100)
    assert [len(p["items"]) for p in pages] == [100, 100, 50]
    ids = [item["case_id"] for page in pages for item in page["items"]]
    assert ids == [f"case-{i:04d}" for i in range(TOTAL)]  # stored order, none twice
    assert "limit=100" in pages[0]["next"] and pages[-1]["next"] is None


def test_the_default_page_is_bounded_and_says_where_the_rest_is(
    server: ApiServer, run_id: str
) -> None:
    with server.client("viewer") as viewer:
        first = viewer.get(f"/api/v1/runs/{run_id}/results").json()
    assert len(first["items"]) == 200
    assert first["next"].startswith(f"/api/v1/runs/{run_id}/results?")


def test_a_last_page_that_is_exactly_full_has_no_next(server: ApiServer, run_id: str) -> None:
    with server.client("viewer") as viewer:
        pages = _pages(viewer, f"/api/v1/runs/{run_id}/results", limit=50)
    assert [len(p["items"]) for p in pages] == [50] * 5


def test_next_keeps_the_filters(server: ApiServer, run_id: str) -> None:
    with server.client("viewer") as viewer:
        pages = _pages(viewer, f"/api/v1/runs/{run_id}/results", status="failed", limit=20)
    statuses = {item["status"] for page in pages for item in page["items"]}
    assert statuses == {"failed"}
    assert sum(len(p["items"]) for p in pages) == FAILED
    assert "status=failed" in pages[0]["next"]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 1001}, {"limit": "ten"}, {"after": -1}, {"after": "x"}],
)
def test_malformed_paging_is_a_problem_document_never_a_crash(
    server: ApiServer, run_id: str, params: dict[str, Any]
) -> None:
    with server.client("viewer") as viewer:
        answer = viewer.get(f"/api/v1/runs/{run_id}/results", params=params)
    assert 400 <= answer.status_code < 500
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["status"] == answer.status_code


def _dashboard(server: ApiServer, path: str) -> str:
    cookies = {SESSION_COOKIE: server.tokens["viewer"]}
    with httpx.Client(base_url=server.url, cookies=cookies, timeout=30) as browser:
        answer = browser.get(path)
    assert answer.status_code == 200
    return answer.text


def test_the_dashboard_run_page_shows_one_page_of_problems_and_links_the_next(
    server: ApiServer, run_id: str
) -> None:
    first = _dashboard(server, f"/runs/{run_id}")
    assert f"Failures and other problems ({FAILED})" in first
    assert first.count('<article class="result"') == FAILED  # 50: exactly one page
    assert f"{TOTAL - FAILED} passed" in first
    assert first.count("<tr><td>Page ") == 50  # the first page of passed tests
    assert "Page 1 &lt;b&gt;loads&lt;/b&gt;" in first  # escaped, as every page of it
    following = re.search(r'href="([^"]*passed_offset=50[^"]*)" rel="next"', first)
    assert following is not None
    second = _dashboard(server, following.group(1).replace("&amp;", "&"))
    assert "Page 1 &lt;b&gt;loads" not in second and "Page 63 &lt;b&gt;loads" in second
