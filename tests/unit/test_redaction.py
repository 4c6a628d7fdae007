"""Secret values scrubbed from strings, results and log records, in every encoding."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from urllib.parse import quote, quote_plus

import pytest

from matf.redaction import Redactor, redacting
from matf.results import StepResult, TestResult

VALUE = 'zq-9f8e7d6c5b4a a+b&c/d=é<x>"q"'
SECRETS = {"login.password": VALUE}


def _b64_embedded(prefix: bytes, urlsafe: bool = False) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(prefix + VALUE.encode() + b"!tail").decode()


@pytest.mark.parametrize(
    "shown",
    [
        VALUE,
        quote(VALUE, safe=""),
        quote(VALUE),
        quote_plus(VALUE),
        re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote_plus(VALUE)),
        json.dumps(VALUE)[1:-1],
        json.dumps(VALUE, ensure_ascii=False)[1:-1],
        "&lt;x&gt;".join(VALUE.split("<x>")).replace('"', "&quot;").replace("&c", "&amp;c"),
        _b64_embedded(b""),
        _b64_embedded(b"u"),
        _b64_embedded(b"us", urlsafe=True),
        _b64_embedded(b"alice:"),  # HTTP Basic credentials
    ],
    ids=[
        "plain", "quote", "quote-slash", "quote_plus", "lower-hex", "json", "json-utf8",
        "html", "base64-0", "base64-1", "base64-2-urlsafe", "basic-auth",
    ],
)  # fmt: skip
def test_every_form_of_a_value_is_scrubbed(shown: str) -> None:
    text = f"step 3 failed: the page said [{shown}] after typing"

    scrubbed = Redactor(SECRETS).scrub(text)

    assert "9f8e7d6c5b4a" not in scrubbed
    assert "{{secret:login.password}}" in scrubbed
    assert scrubbed.startswith("step 3 failed: the page said [")


def test_values_too_short_to_tell_apart_are_left_alone() -> None:
    redactor = Redactor({"pin": "123", "token": "abcd"})

    assert redactor.scrub("code 123, token abcd") == "code 123, token {{secret:token}}"


def test_a_longer_value_wins_over_one_it_contains() -> None:
    redactor = Redactor({"short": "hunter", "long": "hunter2-horse"})

    assert redactor.scrub("pw=hunter2-horse;") == "pw={{secret:long}};"


def test_a_result_is_scrubbed_everywhere_but_in_the_words_it_is_made_of() -> None:
    result = TestResult(
        run_id="r1", case_id="login", name="Log in", kind="functional", category="form",
        browser="chromium", status="failed", url=f"http://shop.test/?q={quote_plus(VALUE)}",
        error=f"Actual value: Hello {VALUE}", console_errors=[f"typed {VALUE}"],
        steps=[StepResult(index=0, action="fill", description="fill", status="failed")],
    )  # fmt: skip

    scrubbed = Redactor({**SECRETS, "odd": "failed"}).scrub_model(result)

    text = scrubbed.model_dump_json()
    assert "9f8e7d6c5b4a" not in text
    assert scrubbed.error == "Actual value: Hello {{secret:login.password}}"
    assert scrubbed.status == "failed"  # a status, not a secret that equals it
    assert scrubbed.steps[0].status == "failed"


def test_log_records_are_scrubbed_while_a_job_runs_and_tracebacks_too() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("matf.test.redaction")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        with redacting(SECRETS):
            log.info("filled %s into %s", VALUE, "#password")
            try:
                raise ValueError(f"could not type {quote_plus(VALUE)}")
            except ValueError:
                log.exception("step failed")
        log.info("after the job: %s", "9f8e7d6c5b4a")
    finally:
        log.removeHandler(handler)

    written = stream.getvalue()
    assert "filled {{secret:login.password}} into #password" in written
    assert "ValueError: could not type {{secret:login.password}}" in written
    assert written.count("9f8e7d6c5b4a") == 1  # only the line logged after the job
    assert "after the job: 9f8e7d6c5b4a" in written
