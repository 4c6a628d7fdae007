"""The helper functions ``matf export`` copies into the test modules it writes.

Each function is what MATF does for one kind of step, in plain Playwright.
``matf.export.helpers`` picks a function out of this file by name (with
``ast``) and copies its lines, unchanged, into every exported module whose
tests call it, together with the helpers it calls, in the order they have
here. What a helper needs is read from its code: the other helpers it calls,
and the names it uses that ``matf.export.imports`` knows how to import (the
imports below are for linting; each exported module gets its own).

Static text: no spec data goes in here. The exported files are formatted as
``ruff format`` leaves them, so keep these functions so too.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import suppress
from typing import Any, Literal
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import APIResponse, ConsoleMessage, Locator, Page, Request, Response
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError


def settle(page: Page) -> None:
    """Let tasks the page has queued run, so that the errors they raise are seen."""
    page.evaluate("() => new Promise(r => setTimeout(r, 0))")


def wait_quiet(page: Page) -> None:
    """Best effort: give background requests up to 5 s to finish."""
    with suppress(PlaywrightTimeoutError):
        page.wait_for_load_state("networkidle", timeout=5000)


def goto(
    page: Page,
    url: str,
    status: str | None = "2xx",
    wait_until: Literal["commit", "domcontentloaded", "load", "networkidle"] = "load",
) -> None:
    """Open ``url``; fail unless its HTTP status is of the class ``status`` (None: any)."""
    quiet = wait_until == "networkidle"
    response = page.goto(url, wait_until="load" if quiet else wait_until)
    if quiet:
        wait_quiet(page)
    if response is not None and status is not None:
        assert str(response.status)[0] == status[0], (
            f"{response.url} answered HTTP {response.status}, expected {status}"
        )


def submit(page: Page, control: Locator) -> None:
    """Click a submit control and wait for what the submission answers."""
    control.click()
    page.wait_for_load_state("load")
    wait_quiet(page)  # a form sent with fetch answers over the network
    settle(page)


def secret(variable: str) -> str:
    """A secret read from the environment: secrets are never written into these files."""
    value = os.environ.get(variable)
    if value is None:
        pytest.fail(f"this test needs a secret: set the environment variable {variable}")
    return value


def watch_console_errors(page: Page) -> list[str]:
    """Console errors from now on (failed loads are left to the request checks)."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource:"):
            errors.append(message.text)

    page.on("console", on_console)
    return errors


def watch_page_errors(page: Page) -> list[str]:
    """Errors thrown and not caught in the page, from now on."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"{error.name or 'Error'}: {error.message}"))
    return errors


def same_origin(url: str, base: str) -> bool:
    """Whether ``url`` has the scheme, host and port of ``base``."""
    ports = {"http": 80, "https": 443}
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port or ports.get(a.scheme)) == (
        b.scheme,
        b.hostname,
        b.port or ports.get(b.scheme),
    )


def watch_failed_requests(
    page: Page, base_url: str, min_status: int = 400, answers: tuple[int, ...] = ()
) -> list[str]:
    """Requests to the site that fail, or answer ``min_status`` or more, from now on.

    ``answers``: 4xx statuses that are the site answering (a form's validation), not failing.
    """
    failed: list[str] = []

    def on_response(response: Response) -> None:
        if (
            response.status >= min_status
            and response.status not in answers
            and same_origin(response.url, base_url)
        ):
            failed.append(f"{response.request.method} {response.url} -> HTTP {response.status}")

    def on_request_failed(request: Request) -> None:
        if min_status < 500 and same_origin(request.url, base_url):
            failed.append(f"{request.method} {request.url} -> {request.failure or 'failed'}")

    page.on("response", on_response)
    page.on("requestfailed", on_request_failed)
    return failed


def assert_none(page: Page, found: list[str], what: str, since: int = 0) -> None:
    """Fail, listing them, if the page reported any ``what`` (past the first ``since``)."""
    settle(page)
    items = found[since:]
    listed = "".join(f"\n  {item}" for item in items[:10])
    assert not items, f"{len(items)} {what}(s):{listed}"


def fingerprint(page: Page) -> str:
    """What the page shows: its document, URL, visible text and field values."""
    return page.evaluate(
        """() => [performance.timeOrigin, location.href, document.body?.innerText,
        ...Array.from(document.querySelectorAll('input, textarea, select'), f => f.value)]
        .join('\\n')"""
    )


def expect_change(page: Page, shown: str) -> None:
    """The last action changed the page: a new document, another URL, or what it shows."""
    settle(page)
    try:
        page.wait_for_function(
            """(shown) => [performance.timeOrigin, location.href, document.body?.innerText,
            ...Array.from(document.querySelectorAll('input, textarea, select'), f => f.value)]
            .join('\\n') !== shown""",
            arg=shown,
            timeout=5000,
        )
    except PlaywrightTimeoutError:
        pytest.fail(f"nothing on {page.url} changed after the last action")


def expect_status(
    page: Page, url: str, status: str = "2xx", content_type: str = "", follow: bool = True
) -> None:
    """Fetch ``url`` without rendering it (a link, an image) and check its answer.

    ``status`` "denied" is a 3xx or 4xx: what a user may not open answers.
    """
    response = page.request.get(url, fail_on_status_code=False, max_redirects=None if follow else 0)
    try:
        if status == "denied":
            assert 300 <= response.status < 500, (
                f"{response.url} answered HTTP {response.status}, expected it denied (3xx or 4xx)"
            )
        else:
            assert str(response.status)[0] == status[0], (
                f"{response.url} answered HTTP {response.status}, expected {status}"
            )
        answered = response.headers.get("content-type", "")
        assert answered.startswith(content_type), (
            f"{response.url} answered {answered or 'no content type'}, expected {content_type}"
        )
    finally:
        response.dispose()


def check_accessibility(page: Page, min_impact: str = "minor") -> None:
    """Run axe-core on the page; fail on violations of at least ``min_impact``."""
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        pytest.skip("accessibility checks need axe-playwright-python (pip install it)")
    order = {"minor": 0, "moderate": 1, "serious": 2, "critical": 3}
    settle(page)
    violations = [
        f"{v.get('id')} ({v.get('impact') or 'unknown'}, {len(v.get('nodes', []))} nodes)"
        for v in Axe().run(page).response.get("violations", [])
        if order.get(str(v.get("impact")), 3) >= order[min_impact]
    ]
    assert not violations, f"{len(violations)} accessibility violation(s): {', '.join(violations)}"


def api_request(
    page: Page,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: Any = None,
    status: str | int | None = "2xx",
    content_type: str | None = None,
    max_time_ms: int | None = None,
) -> APIResponse:
    """Send one HTTP request (no rendering), check its status, content type and time."""
    headers = dict(headers or {})
    data = None
    if body is not None:  # sent as JSON
        data = json.dumps(body, ensure_ascii=False)
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    expects_redirect = status is not None and str(status)[0] == "3"
    started = time.monotonic()
    response = page.request.fetch(
        url,
        method=method,
        headers=headers,
        data=data,
        fail_on_status_code=False,
        max_redirects=0 if expects_redirect else 10,
    )
    elapsed_ms = (time.monotonic() - started) * 1000
    where = f"{method} {response.url}"
    if status is not None:
        matches = (
            response.status == status
            if isinstance(status, int)
            else str(response.status)[0] == status[0]
        )
        assert matches, f"{where} answered HTTP {response.status}, expected {status}"
    if content_type is not None:
        answered = response.headers.get("content-type", "")
        media = answered.split(";")[0].strip().lower()
        assert media.startswith(content_type.split(";")[0].strip().lower()), (
            f"{where} answered {answered or 'no content type'}, expected {content_type}"
        )
    if max_time_ms is not None:
        assert elapsed_ms <= max_time_ms, (
            f"{where} answered in {elapsed_ms:.0f} ms, budget {max_time_ms} ms"
        )
    return response


def assert_schema(document: Any, schema: dict[str, Any]) -> None:
    """Fail unless ``document`` conforms to the JSON Schema (draft 2020-12)."""
    jsonschema = pytest.importorskip("jsonschema", reason="JSON Schema checks need jsonschema")
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.path])
    shown = "; ".join(f"{e.json_path}: {e.message}" for e in errors[:5])
    assert not errors, f"the JSON body does not match the schema ({len(errors)} errors): {shown}"


def json_at(document: Any, pointer: str) -> tuple[bool, Any]:
    """(found, value) of the JSON Pointer (RFC 6901) ``pointer`` in ``document``."""
    current = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif (
            isinstance(current, list)
            and token.isascii()
            and token.isdigit()
            and (token == "0" or not token.startswith("0"))
            and int(token) < len(current)
        ):
            current = current[int(token)]
        else:
            return False, None
    return True, current


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: true is not 1, 1 is 1.0, key order does not matter."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def assert_json(document: Any, pointer: str, *, equals: Any = None, exists: bool = True) -> None:
    """Check the value at a JSON Pointer: present (and equal to ``equals``), or absent."""
    found, value = json_at(document, pointer)
    where = pointer or "the document root"
    if not exists:
        assert not found, f"JSON pointer {where} is present ({value!r}), expected it absent"
        return
    assert found, f"JSON pointer {where} is missing"
    if equals is not None:
        assert json_equal(value, equals), f"JSON pointer {where} is {value!r}, expected {equals!r}"
