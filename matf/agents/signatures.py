"""Why tests failed, as causes: each failure's signature, and a run's failures grouped by it.

Twenty-five failed accessibility tests are often three problems: the same
rules on every page of one template. A signature is what a failure says with
the page's variable parts taken out, so the same cause on different pages
reads the same:

- ``accessibility``: one per axe rule violated (``html-has-lang``). A page
  breaking two rules has two causes, fixed separately; a signature of the
  whole rule set would split "html-has-lang on 25 pages" into one group per
  combination of rules;
- ``request``: one per failed request: method, URL template, status or
  network failure (``GET /api/orders/{id} -> 500``);
- ``console`` and ``page-error``: one per distinct message;
- ``performance``: one per metric over its budget (``LCP over budget``);
- ``assertion``: any other failed step: its action and first line;
- ``error``: a test with no failed step (a lost result, a crashed browser):
  its error's first line.

What is taken out of a message: durations and timestamps (as
``retrypolicy.normalized`` does for retries), UUIDs, hex ids, numbers (HTTP
statuses excepted: a 404 is not a 500), long quoted values (page text quoted
into a message; short ones are mostly the test's own constants: a locator's
name, an expected text), URLs (as templates) and the page's own URL or path.

A signature's ``id`` is a hash of its kind and key: the same cause has the same
id in every run, so the optimizer's history can link co-failing tests to it.
Grouping is one pass in bounded memory: per signature a count, the distinct
URLs, and capped samples.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from matf.agents.frontier import url_template
from matf.agents.retrypolicy import normalized
from matf.reports.document import FailureGroup, FailureKind
from matf.results import StepResult, TestResult

FAILING = frozenset({"failed", "error"})
MAX_PER_TEST = 10  # signatures of one test: a page with 300 console errors is not 300 causes
MAX_READ = 50  # evidence items read per test for them (most repeat one another)
MAX_PAGES = 10  # URLs sampled per group
MAX_TESTS = 20  # test ids sampled per group
MAX_TITLE = 160

_URL = re.compile(r"https?://[^\s'\"<>()\[\]{}]+")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_HEX = re.compile(r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.I)
# Numbers, but not HTTP statuses: "HTTP 500", "status of 404", "-> 502", "got 500".
_STATUS = r"(?<!HTTP )(?<!status )(?<!status of )(?<!-> )(?<!got )"
_NUMBER = re.compile(_STATUS + r"(?:\b\d+(?:[.,]\d+)*\b|\d{3,})")
_QUOTED = re.compile(r"'[^'\n]{41,}'|\"[^\"\n]{41,}\"")
_SPACES = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class Signature:
    """One cause of a failure: its kind, the key that defines it, and a title for people."""

    kind: FailureKind
    key: str
    title: str

    @property
    def id(self) -> str:
        """12 hex digits of SHA-256 over kind and key: the same cause, the same id, every run."""
        return hashlib.sha256(f"{self.kind}\n{self.key}".encode()).hexdigest()[:12]


def signatures(result: TestResult) -> list[Signature]:
    """The causes of a failed or errored result (at most ``MAX_PER_TEST``); [] for the others."""
    if result.status not in FAILING:
        return []
    step = next((s for s in result.steps if s.status == "failed"), None)
    action = step.action if step is not None else ""
    found: list[Signature] = []
    if action == "check_accessibility" or (step is None and result.violations):
        found = [_rule(v.rule) for v in result.violations if v.rule]
    elif action in ("expect_no_failed_requests", "expect_no_server_errors"):
        requests = result.failed_requests
        if action == "expect_no_server_errors":
            requests = [r for r in requests if (r.status or 0) >= 500] or requests
        found = [
            _request(r.method, r.url, r.status, r.failure, result.url) for r in requests[:MAX_READ]
        ]
    elif action == "expect_no_console_errors":
        console = result.console_errors[:MAX_READ]
        found = [_message("console", "console error", m, result.url) for m in console]
    elif action == "expect_no_page_errors":
        errors = result.page_errors[:MAX_READ]
        found = [_message("page-error", "page error", m, result.url) for m in errors]
    elif action == "check_performance":
        over = [line for m in result.performance for line in m.over_budget]
        found = [_over_budget(line) for line in over]
    if not found:
        found = [_fallback(result, step)]
    return list(dict.fromkeys(found))[:MAX_PER_TEST]


def signature(result: TestResult) -> Signature | None:
    """The first cause of a failed or errored result; None for the others."""
    found = signatures(result)
    return found[0] if found else None


def anonymized(text: str, page_url: str = "") -> str:
    """``text``'s first line(s) with the page's variable parts replaced by placeholders.

    A Playwright message's call log keeps only its first entry (what it
    waited for); the rest (attempts, values seen) varies with the page.
    """
    page = page_url.split("#", 1)[0]
    path = urlsplit(page).path if page else ""
    text = _URL.sub(lambda m: _url(m.group(0), page), _essence(text))
    if len(path) > 1:
        text = _without_path(text, path)
    text = normalized(_UUID.sub("{uuid}", text))  # a UUID's last part looks like an epoch
    text = _HEX.sub("{hex}", text)
    text = _QUOTED.sub(lambda m: m.group(0)[0] + "…" + m.group(0)[0], text)
    text = _NUMBER.sub("{n}", text)
    return _SPACES.sub(" ", text).strip()


def _without_path(text: str, path: str) -> str:
    """``path`` as ``{page}`` where it stands whole (``/a/5``, not the start of ``/a/55``).

    A plain search: a regex per page would be compiled once per distinct URL.
    """
    parts: list[str] = []
    at = 0
    while (found := text.find(path, at)) != -1:
        end = found + len(path)
        rest = text[end : end + 2]
        if (
            rest[:1].isalnum()
            or rest[:1] in ("_", "/", "-")
            or rest[1:].isalnum()
            and rest[0] == "."
        ):
            parts.append(text[at:end])
        else:
            parts.append(text[at:found] + "{page}")
        at = end
    return "".join(parts) + text[at:]


def _essence(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    if "Call log:" in lines[1:]:
        at = lines.index("Call log:", 1)
        first = lines[at + 1].lstrip("- ") if at + 1 < len(lines) else ""
        return f"{lines[0]} ({first})" if first else lines[0]
    return lines[0]


def _url(url: str, page: str) -> str:
    """The page's own URL as ``{page}``; another as its template, with its host if foreign."""
    url = url.rstrip(".,;:")
    if page and url.split("#", 1)[0] == page:
        return "{page}"
    return _template(url, page)


def _template(url: str, page: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme:
        return url_template(url)
    own = urlsplit(page).netloc if page else ""
    prefix = "" if parts.netloc == own else f"{parts.scheme}://{parts.netloc}"
    return prefix + url_template(url)


def _rule(rule: str) -> Signature:
    return Signature("accessibility", rule, rule)


def _request(
    method: str, url: str, status: int | None, failure: str | None, page: str
) -> Signature:
    outcome = str(status) if status is not None else anonymized(failure or "failed")
    where = f"{method.upper()} {_template(url, page)}"
    return Signature("request", f"{where} -> {outcome}", _short(f"{where} -> {outcome}"))


def _message(kind: FailureKind, label: str, text: str, page: str) -> Signature:
    key = anonymized(text, page)
    return Signature(kind, key, _short(f"{label}: {key}"))


def _over_budget(line: str) -> Signature:
    metric = line.split(" ", 1)[0]
    return Signature("performance", metric, f"performance: {metric} over budget")


def _fallback(result: TestResult, step: StepResult | None) -> Signature:
    """A failed step's action and message; for a test without one, its error."""
    if step is not None:
        key = f"{step.action}: {anonymized(step.error or result.error or 'failed', result.url)}"
        return Signature("assertion", key, _short(key))
    key = anonymized(result.error or result.status, result.url)
    return Signature("error", key, _short(key))


def _short(text: str) -> str:
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1] + "…"


@dataclass
class _Tally:
    signature: Signature
    count: int = 0
    pages: Counter[str] = field(default_factory=Counter)
    tests: list[str] = field(default_factory=list)
    browsers: dict[str, None] = field(default_factory=dict)


class FailureGroups:
    """Failures added one at a time; ``groups()`` lists their causes, most tests first.

    Per cause it keeps a count, each distinct URL's count (the URLs are the
    results' own strings) and at most ``MAX_TESTS`` test ids.
    """

    def __init__(self) -> None:
        self._tallies: dict[Signature, _Tally] = {}

    def add(self, result: TestResult, found: Sequence[Signature], test_id: str = "") -> None:
        """Count ``result`` under each of its signatures ``found``."""
        for sig in found:
            tally = self._tallies.get(sig)
            if tally is None:
                tally = self._tallies[sig] = _Tally(sig)
            tally.count += 1
            tally.pages[result.url] += 1
            if len(tally.tests) < MAX_TESTS:
                tally.tests.append(test_id or f"{result.case_id}:{result.browser}")
            tally.browsers.setdefault(result.browser)

    def groups(self) -> list[FailureGroup]:
        tallies = sorted(self._tallies.values(), key=lambda t: (-t.count, t.signature.title))
        return [
            FailureGroup(
                signature=t.signature.id,
                kind=t.signature.kind,
                title=t.signature.title,
                count=t.count,
                pages=len(t.pages),
                page_sample=[url for url, _n in t.pages.most_common(MAX_PAGES)],
                tests=t.tests,
                browsers=list(t.browsers),
            )
            for t in tallies
        ]


def group_failures(results: Iterable[TestResult]) -> list[FailureGroup]:
    """The failed and errored ``results`` grouped by cause, in one pass, most tests first."""
    grouped = FailureGroups()
    for result in results:
        grouped.add(result, signatures(result))
    return grouped.groups()
