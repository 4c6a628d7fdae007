"""The dashboard's users page in real Chromium: admins deactivate, activate and delete users."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.apiserver import ApiServer
from tests.web.test_dashboard import sign_in


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context()
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


def _me(api: ApiServer, role: str) -> int:
    headers = {"Authorization": f"Bearer {api.tokens[role]}"}
    return httpx.get(f"{api.url}/api/v1/auth/me", headers=headers, timeout=30).status_code


def _row(tab: Page, email: str):  # type: ignore[no-untyped-def]
    return tab.locator(f"tr[data-email='{email}']")


def test_an_admin_deactivates_activates_and_deletes_users_on_the_users_page(
    api: ApiServer, context: BrowserContext
) -> None:
    tab = context.new_page()
    csp: list[str] = []
    tab.on("console", lambda m: csp.append(m.text) if "Content Security" in m.text else None)
    # Given an admin on the users page, reached from the menu
    sign_in(tab, api.url, "admin")
    tab.get_by_role("link", name="Users").click()
    expect(tab).to_have_url(f"{api.url}/users")
    editor = _row(tab, "editor@example.com")
    # When they deactivate the editor, the editor's session ends at once
    editor.get_by_role("button", name="Deactivate").click()
    expect(editor.locator("[data-state]")).to_have_text("deactivated")
    assert _me(api, "editor") == 401
    # And they can activate them again
    editor.get_by_role("button", name="Activate").click()
    expect(editor.locator("[data-state]")).to_have_text("active")
    # Deleting asks again on the same button, then deletes
    viewer = _row(tab, "viewer@example.com")
    viewer.get_by_role("button", name="Delete").click()
    expect(viewer.get_by_role("button", name="Really delete viewer@example.com?")).to_be_visible()
    assert _me(api, "viewer") == 200
    viewer.get_by_role("button", name="Really delete viewer@example.com?").click()
    expect(viewer).to_have_count(0)
    assert _me(api, "viewer") == 401
    # The last admin cannot delete themself: the page says why
    admin = _row(tab, "admin@example.com")
    admin.get_by_role("button", name="Delete").click()
    admin.get_by_role("button", name=re.compile("Really delete")).click()
    expect(tab.locator("#users-error")).to_contain_text("last active admin")
    assert _me(api, "admin") == 200
    assert csp == []


def test_the_users_page_is_for_admins_and_its_writes_need_the_csrf_token(
    api: ApiServer, context: BrowserContext
) -> None:
    tab = context.new_page()
    editor_id = api.user("editor").id
    # An editor has no Users link, and the page refuses them
    sign_in(tab, api.url, "editor")
    expect(tab.get_by_role("link", name="Users")).to_have_count(0)
    assert tab.goto(f"{api.url}/users").status == 403  # type: ignore[union-attr]
    expect(tab.get_by_text("Only admins manage users.")).to_be_visible()
    # An admin's cookie alone does not deactivate anyone: the CSRF token must come with it
    tab.get_by_role("button", name="Sign out").click()
    sign_in(tab, api.url, "admin")
    token = next(c["value"] for c in context.cookies() if c["name"] == "matf_csrf")
    url = f"{api.url}/api/v1/users/{editor_id}/deactivate"
    assert tab.request.post(url).status == 403
    assert _me(api, "editor") == 200
    assert tab.request.post(url, headers={"X-CSRF-Token": token}).status == 200
    assert _me(api, "editor") == 401
