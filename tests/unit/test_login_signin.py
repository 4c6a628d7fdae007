"""Signing in: the demo's account area in real Chromium, and forms MATF cannot pass.

Every failure is one reason and one line; the password is in none of them,
nor in any log record or exception.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from demo.account import ACCOUNTS, LOGIN_PATH, SESSION_COOKIE
from matf.agents.login import Credentials, SignIn, sign_in
from matf.errors import SignInFailed, UsageError
from tests.login_site import SPA_TOKEN, LoginSiteHandler
from tests.services import LoopbackHttpServer

USER = ACCOUNTS["user"]
WRONG = "Wr0ng-passw0rd-7Qx"  # distinctive: it must show up nowhere


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with LoopbackHttpServer(LoginSiteHandler) as server:
        yield f"http://127.0.0.1:{server.port}"


def _user(password: str = USER.password) -> dict[str, str]:
    return {"username": USER.username, "password": password}


def _someone(username: str = "qa@example.com") -> dict[str, str]:
    """Credentials for the small site's forms, whose username is an email field."""
    return {"username": username, "password": "any-password-at-all"}


def test_signing_in_to_the_demo_gives_a_state_that_opens_the_account_area(
    browser: Browser, demo: str
) -> None:
    # Given only the site's address: the form is found at one of the usual paths
    result = sign_in(browser, demo + "/", _user())

    assert result.ok and result.reason is None
    assert result.login_url == demo + LOGIN_PATH
    assert result.storage_state is not None
    assert SESSION_COOKIE in {c["name"] for c in result.storage_state["cookies"]}
    # The state, in a new context, is signed in: the account page opens, not the form.
    context = browser.new_context(storage_state=result.storage_state)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        page.goto(demo + "/account/")
        assert page.url == demo + "/account/"
        assert page.get_by_role("link", name="Sign out").is_visible()
        assert USER.name in page.inner_text("body")
    finally:
        context.close()


def test_the_state_stays_out_of_the_results_repr(browser: Browser, demo: str) -> None:
    result = sign_in(browser, demo + "/", _user(), login_url=demo + LOGIN_PATH)

    assert result.ok and result.storage_state is not None
    cookie = next(c for c in result.storage_state["cookies"] if c["name"] == SESSION_COOKIE)
    assert cookie["value"] not in repr(result)
    assert USER.password not in repr(Credentials(USER.username, USER.password))


def test_a_wrong_password_is_wrong_credentials_with_the_sites_own_words(
    browser: Browser, demo: str
) -> None:
    result = sign_in(browser, demo + "/", _user(WRONG), login_url=demo + LOGIN_PATH)

    assert not result.ok and result.reason == "wrong_credentials"
    assert "Wrong username or password" in result.message
    assert "\n" not in result.message
    assert result.storage_state is None


def test_the_first_candidate_page_showing_a_form_is_used(browser: Browser, demo: str) -> None:
    # A page behind the sign-in sends an anonymous visitor to the form: that is where it is.
    result = sign_in(browser, demo + "/", _user(), candidates=[demo + "/account/orders"])

    assert result.ok
    assert result.login_url is not None
    assert result.login_url.startswith(demo + LOGIN_PATH + "?next=")


def test_a_form_handled_by_script_signs_in_with_a_token_in_local_storage(
    browser: Browser, site: str
) -> None:
    # No cookie at all: the token the script keeps is the session, and the page moves on.
    result = sign_in(browser, site + "/", _user(), login_url=site + "/spa/login")

    assert result.ok, result.message
    assert result.storage_state is not None
    [origin] = result.storage_state["origins"]
    assert {"name": "token", "value": SPA_TOKEN} in origin["localStorage"]


def test_a_site_without_a_form_is_form_not_found_naming_where_it_looked(
    browser: Browser, site: str
) -> None:
    result = sign_in(
        browser, site + "/", _someone(), candidates=["https://elsewhere.example/login"]
    )

    assert not result.ok and result.reason == "form_not_found"
    for path in ("/", "/login", "/signin", "/account/login", "/users/sign_in"):
        assert site + path in result.message
    assert "elsewhere.example" not in result.message  # another origin is never tried


def test_a_captcha_on_the_form_is_reported_as_captcha(browser: Browser, site: str) -> None:
    result = sign_in(browser, site + "/", _someone(), login_url=site + "/captcha/login")

    assert not result.ok and result.reason == "captcha"
    assert "reCAPTCHA" in result.message


def test_a_one_time_code_after_the_password_is_a_second_factor(browser: Browser, site: str) -> None:
    # The site set a (half-open) session cookie and the password field is gone: still no.
    result = sign_in(browser, site + "/", _someone(), login_url=site + "/otp/login")

    assert not result.ok and result.reason == "second_factor"
    assert "one-time code" in result.message


def test_a_username_the_form_will_not_send_is_wrong_credentials_saying_why(
    browser: Browser, site: str
) -> None:
    # An email field refuses "qa": the browser itself keeps the form from being sent.
    result = sign_in(browser, site + "/", _someone("qa"), login_url=site + "/otp/login")

    assert not result.ok and result.reason == "wrong_credentials"
    assert "would not send" in result.message and "@" in result.message


def test_a_form_posting_to_another_origin_gets_no_password(browser: Browser, site: str) -> None:
    result = sign_in(browser, site + "/", _someone(), login_url=site + "/elsewhere/login")

    assert not result.ok and result.reason == "form_not_found"
    assert "another origin" in result.message


def test_a_sign_in_page_on_another_origin_is_refused(browser: Browser, demo: str) -> None:
    with pytest.raises(UsageError, match="not on the target's origin"):
        sign_in(browser, demo + "/", _user(), login_url="http://127.0.0.2:1/login")


def test_a_visible_logged_in_check_is_success(browser: Browser, demo: str) -> None:
    result = sign_in(
        browser, demo + "/", _user(), login_url=demo + LOGIN_PATH, logged_in_check="text=Sign out"
    )

    assert result.ok


def test_a_logged_in_check_that_never_shows_is_check_failed(browser: Browser, demo: str) -> None:
    result = sign_in(
        browser,
        demo + "/",
        _user(),
        login_url=demo + LOGIN_PATH,
        logged_in_check="text=Welcome back, administrator",
    )

    assert not result.ok and result.reason == "check_failed"
    assert "Welcome back, administrator" in result.message


def test_the_password_is_in_no_message_log_record_or_exception(
    browser: Browser, demo: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    results: list[SignIn] = [
        sign_in(browser, demo + "/", _user(WRONG), login_url=demo + LOGIN_PATH),
        sign_in(browser, demo + "/", _user(WRONG), logged_in_check="text=Sign out"),
    ]
    with pytest.raises(SignInFailed) as raised:
        results[0].raise_for_failure()
    # A page that does not load is a browser error on the way: scrubbed, not chained.
    unreachable = sign_in(browser, "http://127.0.0.1:9/", _user(WRONG))

    assert raised.value.reason == "wrong_credentials"
    texts = [r.message for r in [*results, unreachable]] + [repr(r) for r in results]
    texts += [str(raised.value), "".join(traceback.format_exception(raised.value))]
    texts += [record.getMessage() for record in caplog.records]
    assert caplog.records, "the sign-ins were logged"
    assert [text for text in texts if WRONG in text] == []
    assert unreachable.reason == "form_not_found"
