"""The interactive API docs work offline, under the app's strict CSP, in real Chromium."""

from __future__ import annotations

import httpx
from playwright.sync_api import sync_playwright

from matf.browser.launch import launch
from tests.apiserver import ApiServer


def test_docs_show_every_operation_of_the_openapi_document(api: ApiServer) -> None:
    document = httpx.get(api.url + "/openapi.json").json()
    operations = sum(len(methods) for methods in document["paths"].values())
    with sync_playwright() as playwright:
        browser = launch(playwright, "chromium", None)
        try:
            page = browser.new_page()
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(api.url + "/docs")
            page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
            title = page.inner_text(".swagger-ui .info .title")
            shown = page.locator(".opblock").count()
        finally:
            browser.close()
    assert title.startswith("MATF")
    assert shown == operations
    assert not [m for m in console if "Content Security Policy" in m]
    assert all(url.startswith(api.url) for url in requests)  # nothing from a CDN
