"""The account area (/account, /admin): a real sign-in, pages behind it, and their two bugs.

Over HTTP (httpx, redirects not followed) the tests hold the sign-in's contract:
anonymous visitors go to the form with ``next``, a wrong password is refused,
each demo account gets an HttpOnly session cookie, signing out ends the session,
and ``/admin/`` answers by role. In real Chromium, signed in through the form,
the section is crawled as MATF's explorer would (never following "Sign out"):
the buggy site shows its one signed-in page error and nothing else, the healthy
site shows nothing at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext

from demo.account import (
    ACCOUNT_ROOT,
    ACCOUNTS,
    ADMIN_PATH,
    LOGIN_PATH,
    LOGOUT_PATH,
    ORDERS,
    SESSION_COOKIE,
    UNSHIPPED_ORDER,
)
from demo.bugs import ACCESS, CAPABILITIES, SEEDED_BUGS, TEST_TYPES, bugs_for_types
from demo.server import DemoServer
from tests.demo.observation import PageReport, load, observed_page, visit

PROTECTED = (
    ACCOUNT_ROOT,
    "/account/orders",
    *(f"/account/orders/{o[0]}" for o in ORDERS),
    "/account/settings",
    ADMIN_PATH,
)
SIGNED_IN_BUG = next(b for b in SEEDED_BUGS if b.id == "signed-in-page-error")
ACCESS_BUG = next(b for b in SEEDED_BUGS if b.id == "admin-open-to-user")


@pytest.fixture(params=["buggy", "healthy"])
def site(request: pytest.FixtureRequest, buggy: str, healthy: str) -> tuple[str, bool]:
    """Each test that takes it runs on both servers: (base URL, bugs seeded)."""
    return (buggy, True) if request.param == "buggy" else (healthy, False)


def client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, follow_redirects=False, timeout=30)


def sign_in(http: httpx.Client, role: str, **extra: str) -> httpx.Response:
    account = ACCOUNTS[role]
    form = {"username": account.username, "password": account.password, **extra}
    return http.post(LOGIN_PATH, data=form)


def test_anonymous_visitors_are_sent_to_the_sign_in_form_with_next(
    site: tuple[str, bool],
) -> None:
    base, _bugs = site
    with client(base) as http:
        for path in PROTECTED:
            answer = http.get(path)
            assert answer.status_code == 302, path
            assert answer.headers["location"] == f"{LOGIN_PATH}?next={path}"
        location = urlsplit(http.get("/account/orders?page=2").headers["location"])
        assert parse_qs(location.query) == {"next": ["/account/orders?page=2"]}
        form = http.get(LOGIN_PATH)
    assert form.status_code == 200 and SESSION_COOKIE not in form.headers.get("set-cookie", "")
    for needle in ('<label for="username">Username</label>', 'type="password"', "Sign in"):
        assert needle in form.text


def test_a_wrong_password_or_an_unknown_user_is_refused(site: tuple[str, bool]) -> None:
    base, _bugs = site
    with client(base) as http:
        for username, password in [("user", "wrong"), ("admin", ACCOUNTS["user"].password)]:
            answer = http.post(LOGIN_PATH, data={"username": username, "password": password})
            # Refused on the page (200, role="alert"), not as a failed request.
            assert answer.status_code == 200 and 'role="alert"' in answer.text
            assert "Wrong username or password" in answer.text
            assert f'value="{username}"' in answer.text and "set-cookie" not in answer.headers
        assert http.post(LOGIN_PATH, data={"username": "nobody", "password": ""}).status_code == 200
        assert not http.cookies and http.get(ACCOUNT_ROOT).status_code == 302


@pytest.mark.parametrize("role", sorted(ACCOUNTS))
def test_each_account_signs_in_with_an_http_only_session_cookie(
    role: str, site: tuple[str, bool]
) -> None:
    base, _bugs = site
    with client(base) as http:
        answer = sign_in(http, role)
        assert answer.status_code == 302 and answer.headers["location"] == ACCOUNT_ROOT
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie and "Path=/;" in cookie
        dashboard = http.get(ACCOUNT_ROOT)
        assert dashboard.status_code == 200 and dashboard.headers["cache-control"] == "no-store"
        assert f"Hello, {ACCOUNTS[role].name}" in dashboard.text
        assert f'href="{LOGOUT_PATH}">Sign out</a>' in dashboard.text
        assert (f'href="{ADMIN_PATH}"' in dashboard.text) == (role == "admin")
        assert http.get(LOGIN_PATH).headers["location"] == ACCOUNT_ROOT  # already signed in


def test_sign_in_goes_to_next_but_only_to_a_local_path(buggy: str) -> None:
    with client(buggy) as http:
        assert sign_in(http, "user", next="/account/settings").headers["location"] == (
            "/account/settings"
        )
        for outside in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
            assert sign_in(http, "user", next=outside).headers["location"] == ACCOUNT_ROOT


def test_sign_out_ends_the_session_on_the_server(site: tuple[str, bool]) -> None:
    base, _bugs = site
    with client(base) as http:
        sign_in(http, "user")
        old = http.cookies[SESSION_COOKIE]
        answer = http.get(LOGOUT_PATH)
        assert answer.status_code == 302 and answer.headers["location"] == LOGIN_PATH
        assert "Max-Age=0" in answer.headers["set-cookie"] and not http.cookies
        assert http.get(ACCOUNT_ROOT).status_code == 302
    with client(base) as replay:  # the old cookie, replayed, no longer signs anyone in
        replay.cookies.set(SESSION_COOKIE, old)
        assert replay.get(ACCOUNT_ROOT).status_code == 302


@pytest.mark.parametrize(
    ("role", "buggy_status", "healthy_status"), [("user", 200, 403), ("admin", 200, 200)]
)
def test_the_admin_page_answers_by_role(
    role: str, buggy_status: int, healthy_status: int, site: tuple[str, bool]
) -> None:
    base, bugs = site
    with client(base) as http:
        sign_in(http, role)
        answer = http.get(ADMIN_PATH)
    assert answer.status_code == (buggy_status if bugs else healthy_status)
    shows_accounts = "Admin: accounts" in answer.text
    assert shows_accounts == (answer.status_code == 200)
    if answer.status_code == 403:
        assert "Admins only" in answer.text and 'role="alert"' in answer.text


def test_the_settings_form_answers_a_saved_status_and_validates(buggy: str) -> None:
    with client(buggy) as http:
        sign_in(http, "user")
        saved = http.post("/account/settings", data={"name": "Ada", "email": "ada@example.com"})
        assert saved.status_code == 200 and "Your profile was saved" in saved.text
        refused = http.post("/account/settings", data={"name": " ", "email": "nope"})
        assert refused.status_code == 400 and "Name is required." in refused.text
        assert http.get("/account/orders/9999").status_code == 404


def test_the_bugged_order_is_the_first_order_linked(buggy: str) -> None:
    """Explorers read only a few URLs of one template (/account/orders/{id}): it is among them."""
    with client(buggy) as http:
        sign_in(http, "user")
        listing = http.get("/account/orders").text
    linked = re.findall(r'href="(/account/orders/\d+)"', listing)
    assert linked[0] == SIGNED_IN_BUG.path and len(linked) == len(ORDERS)


def test_the_new_bugs_are_listed_and_kept_from_anonymous_runs() -> None:
    assert SIGNED_IN_BUG.needs == {"login"} and SIGNED_IN_BUG.test_type == "functional"
    assert SIGNED_IN_BUG.path == f"/account/orders/{UNSHIPPED_ORDER}"
    assert ACCESS_BUG.needs == ACCESS and ACCESS_BUG.path == ADMIN_PATH
    anonymous = bugs_for_types(TEST_TYPES, CAPABILITIES)
    assert SIGNED_IN_BUG not in anonymous and ACCESS_BUG not in anonymous
    assert bugs_for_types(["functional"], ["login"])[-1] == SIGNED_IN_BUG
    assert bugs_for_types(["functional"], ACCESS)[-2:] == (SIGNED_IN_BUG, ACCESS_BUG)


# -- in real Chromium ---------------------------------------------------------------


@contextmanager
def signed_in(browser: Browser, base: str, role: str) -> Iterator[BrowserContext]:
    """A browser context signed in through the form, as a person would."""
    context = browser.new_context()
    try:
        with observed_page(context, base) as (page, observed):
            load(page, base + LOGIN_PATH)
            page.get_by_label("Username").fill(ACCOUNTS[role].username)
            page.get_by_label("Password").fill(ACCOUNTS[role].password)
            with page.expect_navigation():
                page.get_by_role("button", name="Sign in").click()
            assert page.url == base + ACCOUNT_ROOT
            assert page.get_by_role("link", name="Sign out").is_visible()
        assert observed.problems() == []
        [cookie] = context.cookies()
        assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == (
            SESSION_COOKIE,
            True,
            "Lax",
        )
        yield context
    finally:
        context.close()


def crawl_account_area(context: BrowserContext, base: str) -> dict[str, PageReport]:
    """Every page of the section linked from the dashboard; "Sign out" is never followed."""
    reports: dict[str, PageReport] = {}
    queue, seen = [ACCOUNT_ROOT], {ACCOUNT_ROOT}
    while queue:
        path = queue.pop(0)
        reports[path] = visit(context, base, path, press=True)
        for link in sorted(reports[path].links - seen):
            if link.startswith(("/account/", "/admin/")) and link not in (LOGOUT_PATH, LOGIN_PATH):
                seen.add(link)
                queue.append(link)
    return reports


def problems(reports: dict[str, PageReport]) -> dict[str, list[str]]:
    found = {
        path: [
            *([] if r.status == 200 else [f"HTTP {r.status}"]),
            *r.observed.problems(),
            *(f"axe: {v}" for v in r.violations),
            *(f"broken image: {src}" for src in r.broken_images),
            *([f"shift: {r.layout_shift}"] if r.layout_shift else []),
        ]
        for path, r in reports.items()
    }
    return {path: found[path] for path in found if found[path]}


@pytest.mark.parametrize("role", sorted(ACCOUNTS))
def test_signed_in_crawl_finds_only_the_seeded_page_error(
    role: str, browser: Browser, buggy: str
) -> None:
    with signed_in(browser, buggy, role) as context:
        reports = crawl_account_area(context, buggy)
    expected = {ACCOUNT_ROOT, "/account/orders", "/account/settings"}
    expected |= {f"/account/orders/{o[0]}" for o in ORDERS}
    assert set(reports) == expected | ({ADMIN_PATH} if role == "admin" else set())
    found = problems(reports)
    [error] = found.pop(SIGNED_IN_BUG.path)
    assert error.startswith("pageerror:") and "reading 'carrier'" in error
    assert found == {}


@pytest.mark.parametrize("role", sorted(ACCOUNTS))
def test_healthy_signed_in_pages_are_clean(role: str, browser: Browser, healthy: str) -> None:
    with signed_in(browser, healthy, role) as context:
        reports = crawl_account_area(context, healthy)
        assert problems(reports) == {}
        with observed_page(context, healthy) as (page, observed):
            load(page, healthy + SIGNED_IN_BUG.path)
            assert page.locator("#tracking").inner_text() == "Not shipped yet."
        assert observed.problems() == []


def test_an_anonymous_browser_sees_only_the_form_where_the_bugs_are(
    browser: Browser, buggy: str
) -> None:
    with observed_page(browser, buggy) as (page, observed):
        for path in (SIGNED_IN_BUG.path, ACCESS_BUG.path):
            assert load(page, buggy + path) == 200
            assert page.url == f"{buggy}{LOGIN_PATH}?next={path}"
            assert page.get_by_role("heading", name="Sign in").is_visible()
    assert observed.problems() == []


def test_healthy_account_pages_look_the_same_on_both_versions(browser: Browser) -> None:
    paths = [ACCOUNT_ROOT, "/account/orders", SIGNED_IN_BUG.path, "/account/settings", ADMIN_PATH]
    with DemoServer(bugs=False) as server, signed_in(browser, server.url, "admin") as context:
        first = screenshots_in(context, server.url, paths)
        server.set_version(2)
        second = screenshots_in(context, server.url, paths)
    assert [p for p in paths if first[p] != second[p]] == []


def screenshots_in(context: BrowserContext, base: str, paths: list[str]) -> dict[str, bytes]:
    shots = {}
    with observed_page(context, base) as (page, observed):
        for path in paths:
            load(page, base + path)
            shots[path] = page.screenshot(full_page=True, animations="disabled")
    assert observed.problems() == []
    return shots
