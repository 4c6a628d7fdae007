"""Run one declarative API step: send the request, check what it answers.

The request goes through the page's ``APIRequestContext``, so it shares the
browser context's proxy (MATF's network guard, in a guarded run) and cookies
(a logged-in session). Nothing in the step is code: the JSON Schema is data for
``jsonschema``, the expectations are JSON Pointers resolved here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from itertools import islice
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from matf.browser.errors import StepFailed, first_line
from matf.browser.page import describe_refusal
from matf.results import ApiCheck
from matf.spec import ApiRequest, JsonExpectation

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from playwright.sync_api import APIResponse, Page

MAX_BODY_BYTES = 5 * 1024 * 1024  # read at most this much of a body to validate it
MAX_REDIRECTS = 10
SHOWN_ERRORS = 5
MAX_COLLECTED_ERRORS = 10_000  # stop counting schema errors past this many
_VALUE_CHARS = 120
_NOT_FOLLOWED = " (not followed: a request that carries a secret follows no redirect)"


class ApiStepFailed(StepFailed):
    """An API check that did not hold; ``check`` is what was measured, for the result."""

    def __init__(self, message: str, check: ApiCheck) -> None:
        super().__init__(message)
        self.check = check


class _NotJson(Exception):
    """The body cannot be read as JSON; the message says why."""


class PointerError(ValueError):
    """A JSON Pointer that is not well formed (RFC 6901)."""


MISSING = object()  # what resolve_pointer answers for a pointer that names nothing


def run_api_request(
    page: Page, step: ApiRequest, base_url: str, timeout_ms: float, *, follow: bool = True
) -> ApiCheck:
    """Send ``step``'s request and check its answer; raise ``ApiStepFailed`` when one fails.

    ``follow=False``: answer with the first response, redirects included.
    """
    from playwright.sync_api import Error as PlaywrightError

    url = urljoin(base_url, step.url)
    check = ApiCheck(method=step.method, url=url)
    headers = dict(step.headers)
    data: str | None = None
    if step.body is not None:
        data = json.dumps(step.body, ensure_ascii=False, allow_nan=False)
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    started = time.monotonic()
    try:
        response = page.request.fetch(
            url,
            method=step.method,
            headers=headers,
            data=data,
            timeout=timeout_ms,
            fail_on_status_code=False,
            max_redirects=_redirects(step.expect_status) if follow else 0,
        )
    except PlaywrightError as exc:
        message = exc.message or str(exc)
        if _closed(message):
            raise  # the browser died: playwright_errors makes that an infrastructure error
        check.duration_ms = _ms_since(started)
        raise ApiStepFailed(
            f"{step.method} {url} got no answer: {first_line(message, 300)}", check
        ) from exc
    check.duration_ms = _ms_since(started)
    try:
        _check_answer(response, step, url, check, follow)
    finally:
        response.dispose()
    return check


def _check_answer(
    response: APIResponse, step: ApiRequest, url: str, check: ApiCheck, follow: bool = True
) -> None:
    headers = response.headers
    check.status = response.status
    ctype = headers.get("content-type") or None
    check.content_type = ctype
    where = f"{step.method} {url}"

    refused = describe_refusal(url, headers)
    if refused:  # the guard answered, not the site: nothing was checked
        raise ApiStepFailed(refused, check)
    expected = step.expect_status
    if expected is not None and not _status_matches(response.status, expected):
        raise ApiStepFailed(
            f"{where} answered HTTP {response.status}, expected {expected}"
            + ("" if follow or response.status // 100 != 3 else _NOT_FOLLOWED)
            + _excerpt(response, ctype),
            check,
        )
    if step.content_type and not _media_type(ctype or "").startswith(
        _media_type(step.content_type)
    ):
        raise ApiStepFailed(
            f"{where} answered {ctype or 'no content type'}, expected {step.content_type}", check
        )
    duration = check.duration_ms or 0.0
    if step.max_time_ms is not None and duration > step.max_time_ms:
        raise ApiStepFailed(
            f"{where} answered in {round(duration)} ms, budget {step.max_time_ms} ms", check
        )
    if step.json_schema is None and not step.expect_json:
        return
    try:
        document = _json_body(response, ctype)
    except _NotJson as exc:
        raise ApiStepFailed(f"{where}: {exc}", check) from None
    if step.json_schema is not None:
        lines, total = schema_errors(document, step.json_schema)
        if lines:
            check.schema_errors = lines
            counted = f"{total}+" if total >= MAX_COLLECTED_ERRORS else str(total)
            raise ApiStepFailed(
                f"{where}: the JSON body does not match the schema "
                f"({counted} error{'s' if total != 1 else ''}): " + "; ".join(lines),
                check,
            )
    for expectation in step.expect_json:
        problem = _expectation_problem(document, expectation.pointer, expectation)
        if problem:
            raise ApiStepFailed(f"{where}: {problem}", check)


def _redirects(expected: int | str | None) -> int:
    """Follow redirects, unless the step expects the redirect itself."""
    if expected is not None and str(expected)[0] == "3":
        return 0
    return MAX_REDIRECTS


def _closed(message: str) -> bool:
    return (
        "Target page, context or browser has been closed" in message
        or "Browser has been closed" in message
        or "Connection closed" in message
    )


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _status_matches(status: int, expected: int | str) -> bool:
    if isinstance(expected, int):
        return status == expected
    return str(status)[0] == expected[0]


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _excerpt(response: APIResponse, ctype: str | None) -> str:
    """A short look at an unexpected answer's body, when it is text."""
    media = _media_type(ctype or "")
    if not (media.startswith("text/") or "json" in media or "xml" in media):
        return ""
    length = _content_length(response.headers)
    if length is not None and length > MAX_BODY_BYTES:
        return ""
    try:
        text = response.body()[:2000].decode("utf-8", "replace")
    except Exception:  # a body we cannot read adds nothing to the message
        return ""
    text = " ".join(text.split())
    if not text:
        return ""
    return f" ({text[:200]}{'…' if len(text) > 200 else ''})"


def _content_length(headers: dict[str, str]) -> int | None:
    try:
        return int(headers.get("content-length", ""))
    except ValueError:
        return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_body(response: APIResponse, ctype: str | None) -> Any:
    """The body decoded as JSON, reading at most ``MAX_BODY_BYTES``."""
    limit_mb = MAX_BODY_BYTES // (1024 * 1024)
    length = _content_length(response.headers)
    if length is not None and length > MAX_BODY_BYTES:
        raise _NotJson(f"the body is {length} bytes, over the {limit_mb} MB MATF validates")
    body = response.body()
    if len(body) > MAX_BODY_BYTES:
        raise _NotJson(f"the body is {len(body)} bytes, over the {limit_mb} MB MATF validates")
    shown = ctype or "no content type"
    if not body.strip():
        raise _NotJson(f"the body is empty ({shown}), not JSON")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise _NotJson("the JSON body is nested too deeply to read") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN, huge integers
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise _NotJson(f"the body is not JSON ({shown}: {first_line(reason, 200)})") from None


def schema_errors(document: Any, schema: dict[str, Any]) -> tuple[list[str], int]:
    """Where ``document`` breaks ``schema``: lines and the number of errors found.

    Up to ``SHOWN_ERRORS`` lines ``$.path: message``, sorted by path, then
    "… and N more" when there are more.
    """
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors: list[ValidationError] = list(
        islice(validator.iter_errors(document), MAX_COLLECTED_ERRORS)
    )
    if not errors:
        return [], 0
    errors.sort(key=lambda e: (_path_key(e.absolute_path), e.message))
    lines = [f"{e.json_path}: {_shorten(e.message, 300)}" for e in errors[:SHOWN_ERRORS]]
    if len(errors) > SHOWN_ERRORS:
        more = len(errors) - SHOWN_ERRORS
        plus = "+" if len(errors) == MAX_COLLECTED_ERRORS else ""
        lines.append(f"… and {more}{plus} more")
    return lines, len(errors)


def _path_key(path: Iterable[str | int]) -> tuple[tuple[int, int, str], ...]:
    """Sort key for a JSON path: array indices numerically, keys as text, parents first."""
    return tuple((0, part, "") if isinstance(part, int) else (1, 0, str(part)) for part in path)


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value ``pointer`` (RFC 6901) names in ``document``, or ``MISSING``."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise PointerError(f"JSON pointer {pointer!r} must be empty or start with '/'")
    current = document
    for raw in pointer[1:].split("/"):
        token = _unescape(raw, pointer)
        if isinstance(current, dict):
            if token not in current:
                return MISSING
            current = current[token]
        elif isinstance(current, list):
            if token == "-" or not _is_index(token):
                return MISSING
            index = int(token)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def _unescape(token: str, pointer: str) -> str:
    parts = token.split("~")
    for part in parts[1:]:
        if not part or part[0] not in "01":
            raise PointerError(f"JSON pointer {pointer!r} has a '~' not followed by 0 or 1")
    return token.replace("~1", "/").replace("~0", "~")


def _is_index(token: str) -> bool:
    return token == "0" or (token.isascii() and token.isdigit() and token[0] != "0")


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: true is not 1, 1 is 1.0, objects ignore key order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return False


def _expectation_problem(document: Any, pointer: str, expectation: JsonExpectation) -> str | None:
    try:
        found = resolve_pointer(document, pointer)
    except PointerError as exc:
        return str(exc)
    shown = pointer or "the document root"
    if not expectation.exists:
        if found is MISSING:
            return None
        return f"JSON pointer {shown} is present ({_show(found)}), expected it absent"
    if found is MISSING:
        return f"JSON pointer {shown} is missing"
    if expectation.equals is not None and not json_equal(found, expectation.equals):
        return f"JSON pointer {shown} is {_show(found)}, expected {_show(expectation.equals)}"
    return None


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return _shorten(text, _VALUE_CHARS)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
