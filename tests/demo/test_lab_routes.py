"""The unlinked lab routes give tests slow, flaky, failing or hostile pages on demand."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from playwright.sync_api import Browser, Dialog

from demo import lab
from demo.app import create_app
from tests.demo.observation import axe_violations, fetch, load, observed_page


def test_lab_pages(browser: Browser, buggy: str) -> None:
    with observed_page(browser, buggy) as (page, observed):
        dialogs: list[str] = []

        def on_dialog(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        load(page, buggy + "/lab/ok")
        assert page.get_by_role("heading", level=1).inner_text() == "Lab"
        page.get_by_role("button", name="Ping").click()
        assert page.get_by_role("status").inner_text() == "Pong"
        assert axe_violations(page) == []
        load(page, buggy + "/lab/fail")
        assert page.get_by_role("heading", level=1).inner_text() == "Lab failure"
        load(page, buggy + "/lab/xss")
        assert page.title() == "<script>alert(1)</script> Lab"
        assert page.get_by_role("heading", level=1).inner_text() == "XSS lab"
    assert dialogs == [] and observed.problems() == []
    status, body = fetch(buggy + "/lab/xss")
    assert status == 200 and "<title>&lt;script&gt;alert(1)&lt;/script&gt; Lab</title>" in body


def test_lab_flaky_fails_n_times_then_recovers(healthy: str) -> None:
    url = healthy + "/lab/flaky?key=flaky-test&fail=2"
    statuses = [fetch(url)[0] for _ in range(2)]
    status, body = fetch(url)
    assert statuses == [500, 500] and status == 200 and "Recovered" in body
    assert fetch(healthy + "/lab/flaky?key=other&fail=0")[0] == 200


def test_lab_flaky_counter_is_thread_safe(healthy: str) -> None:
    url = healthy + "/lab/flaky?key=race&fail=20"
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda _: fetch(url)[0], range(30)))
    assert sorted(statuses) == [200] * 10 + [500] * 20


def test_lab_slow_waits_and_is_capped(healthy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    started = time.monotonic()
    status, body = fetch(healthy + "/lab/slow?ms=300")
    assert status == 200 and "Waited 300 ms." in body
    assert time.monotonic() - started >= 0.3

    slept: list[float] = []
    monkeypatch.setattr(lab, "time", SimpleNamespace(sleep=slept.append))
    client = create_app(bugs=False).test_client()
    assert client.get("/lab/slow?ms=999999").status_code == 200
    assert client.get("/lab/slow?ms=-5").status_code == 200
    assert client.get("/lab/slow?ms=soon").status_code == 400
    assert slept == [60.0, 0.0]
