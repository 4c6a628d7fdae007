"""Write a finished run as JUnit XML so CI servers (Jenkins, GitLab, GitHub) can show it.

The layout follows what those tools read: one ``<testsuite>`` per browser, one
``<testcase>`` per test, ``<failure>``/``<error>``/``<skipped>`` for outcomes,
and Maven Surefire's ``<flakyFailure>`` (with a ``<stackTrace>`` child) for
tests that passed on retry. The XML is built with ElementTree, never by string
concatenation, and every string is cleaned of characters XML 1.0 forbids,
because error text from a tested site can contain anything.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matf.reports.stream import write_chunks

JUNIT_NAME = "junit.xml"
KNOWN_STATUSES = ("passed", "failed", "flaky", "error", "skipped")
MAX_MESSAGE_CHARS = 500
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
_ILLEGAL_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def write_junit(report: dict[str, Any], out_dir: Path) -> Path:
    """Write ``out_dir/junit.xml`` for CI test dashboards; flaky tests count as passed."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_chunks(out_dir / JUNIT_NAME, _stream(report))


def _stream(report: dict[str, Any]) -> Iterator[str]:
    """The XML a test case at a time: the whole tree of a big run is never held at once."""
    root, suites = _skeleton(report)
    yield "<?xml version='1.0' encoding='utf-8'?>\n" + _open_tag(root) + "\n"
    for suite, (browser, tests) in zip(root, suites.items(), strict=True):
        yield "  " + _open_tag(suite) + "\n"
        for child in suite:
            ET.indent(child, level=2)
            yield "    " + ET.tostring(child, encoding="unicode").rstrip() + "\n"
        for test in tests:
            case = _case(browser, test)
            ET.indent(case, level=2)
            yield "    " + ET.tostring(case, encoding="unicode").rstrip() + "\n"
        yield "  </testsuite>\n"
    yield "</testsuites>\n"


def _open_tag(element: ET.Element) -> str:
    """``<tag attr="...">`` of a childless element, escaped by ElementTree itself."""
    alone = ET.Element(element.tag, element.attrib)
    empty = ET.tostring(alone, encoding="unicode", short_empty_elements=True)
    return empty.removesuffix(" />") + ">"


def build_junit(report: dict[str, Any]) -> ET.Element:
    """Build the ``<testsuites>`` tree; separate from writing so it can be inspected directly."""
    root, suites = _skeleton(report)
    for suite, (browser, tests) in zip(root, suites.items(), strict=True):
        for test in tests:
            suite.append(_case(browser, test))
    return root


def _skeleton(report: dict[str, Any]) -> tuple[ET.Element, dict[str, list[dict[str, Any]]]]:
    """``<testsuites>`` and its suites with their counts and properties, but no test cases yet."""
    run = report.get("run") or {}
    tests = list(report.get("tests") or [])
    by_browser: dict[str, list[dict[str, Any]]] = {}
    for browser in run.get("browsers") or []:
        by_browser.setdefault(str(browser), [])
    for test in tests:
        by_browser.setdefault(str(test.get("browser") or "unknown"), []).append(test)

    totals = _tally(tests)
    run_time = _float(run.get("duration_s"))
    if run_time is None:
        run_time = sum(_seconds(t) for t in tests)
    root = _element(
        None,
        "testsuites",
        name="matf",
        tests=len(tests),
        failures=totals["failed"],
        errors=totals["error"],
        skipped=totals["skipped"],
        time=_format_time(run_time),
    )
    timestamp = _timestamp(run.get("started_at"))
    for browser, suite_tests in by_browser.items():
        _add_suite(root, browser, suite_tests, timestamp, run)
    return root, by_browser


def _add_suite(
    root: ET.Element, browser: str, tests: list[dict[str, Any]], timestamp: str, run: dict[str, Any]
) -> None:
    """Add one browser's suite; CI tools group and count by suite, so counts are per browser."""
    counts = _tally(tests)
    suite = _element(
        root,
        "testsuite",
        name=f"matf.{browser}",
        tests=len(tests),
        failures=counts["failed"],
        errors=counts["error"],
        skipped=counts["skipped"],
        time=_format_time(sum(_seconds(t) for t in tests)),
        timestamp=timestamp,
    )
    properties = _element(suite, "properties")
    for name in ("id", "target"):
        if run.get(name):
            _element(properties, "property", name=f"run.{name}", value=run[name])
    if not len(properties):
        suite.remove(properties)


def _case(browser: str, test: dict[str, Any]) -> ET.Element:
    """One ``<testcase>`` with the child element that CI tools read for its outcome."""
    status = _status(test)
    category = str(test.get("category") or test.get("kind") or "test")
    case = _element(
        None,
        "testcase",
        name=test.get("name") or test.get("id") or "(unnamed test)",
        classname=f"matf.{browser}.{category}",
        time=_format_time(_seconds(test)),
    )
    error = str(test.get("error") or "")
    if status == "failed":
        details = _failure_details(test, error)
        message = _first_line(details) or "Test failed"
        _element(case, "failure", details or message, message=message, type="AssertionError")
    elif status == "error":
        message = _first_line(error) or "Test could not be run"
        _element(case, "error", error or message, message=message, type="Error")
    elif status == "skipped":
        _element(case, "skipped", message=_first_line(error) or "skipped")
    elif status == "flaky":
        properties = _element(case, "properties")
        _element(properties, "property", name="flaky", value="true")
        _element(properties, "property", name="attempts", value=_int(test.get("attempts"), 1))
        for attempt_error in test.get("attempt_errors") or []:
            text = str(attempt_error or "")
            flaky = _element(
                case,
                "flakyFailure",
                message=_first_line(text) or "Attempt failed",
                type="AssertionError",
            )
            _element(flaky, "stackTrace", text)
    _element(case, "system-out", _system_out(test, status))
    return case


def _failure_details(test: dict[str, Any], error: str) -> str:
    """Join the error with accessibility violations, which often explain a failure on their own."""
    lines = [error] if error else []
    violations = test.get("violations") or []
    if violations:
        if lines:
            lines.append("")
        lines.append(f"{len(violations)} accessibility violation(s):")
        for v in violations:
            lines.append(
                f"- [{v.get('impact') or 'unknown'}] {v.get('rule') or '?'} "
                f"({_int(v.get('nodes'), 0)} node(s)): {v.get('description') or ''}".rstrip()
            )
            if v.get("help_url"):
                lines.append(f"  {v['help_url']}")
    return "\n".join(lines)


def _system_out(test: dict[str, Any], status: str) -> str:
    """Give CI viewers the URL, artifacts and, for failures, what the browser complained about."""
    lines = [f"URL: {test.get('url') or '-'}"]
    if _int(test.get("attempts"), 1) > 1:
        lines.append(f"Attempts: {_int(test.get('attempts'), 1)}")
    if test.get("retry_note"):
        lines.append(f"Retries: {test['retry_note']}")
    if test.get("session_note"):
        lines.append(f"Sign-in: {test['session_note']}")
    artifacts = test.get("artifacts") or {}
    for kind in ("screenshot", "trace"):
        if artifacts.get(kind):
            lines.append(f"{kind.capitalize()}: {artifacts[kind]}")
    if artifacts.get("withheld"):
        lines.append(f"Not recorded: {artifacts['withheld']}")
    if status in ("failed", "error"):
        for title, key in (("Console errors", "console_errors"), ("Page errors", "page_errors")):
            messages = test.get(key) or []
            if messages:
                lines.append(f"{title}:")
                lines.extend(f"  {m}" for m in messages)
        requests = test.get("failed_requests") or []
        if requests:
            lines.append("Failed requests:")
            for r in requests:
                outcome = r.get("status") if r.get("status") is not None else r.get("failure")
                after = f" (after {r['after']})" if r.get("after") else ""
                lines.append(
                    f"  {r.get('method') or 'GET'} {r.get('url') or ''} -> {outcome}{after}"
                )
    return "\n".join(lines)


def _element(parent: ET.Element | None, tag: str, text: Any = None, **attrs: Any) -> ET.Element:
    """Create an element with every attribute and text cleaned, so no caller can forget to."""
    clean_attrs = {key: _clean(value) for key, value in attrs.items()}
    if parent is None:
        element = ET.Element(tag, clean_attrs)
    else:
        element = ET.SubElement(parent, tag, clean_attrs)
    if text is not None:
        element.text = _clean(text)
    return element


def _clean(value: Any) -> str:
    """Drop characters XML 1.0 cannot carry (controls, lone surrogates, U+FFFE/U+FFFF)."""
    return _ILLEGAL_XML_CHARS.sub("", "" if value is None else str(value))


def _tally(tests: list[dict[str, Any]]) -> Counter[str]:
    """Count statuses the way JUnit does: flaky tests passed, unknown statuses are errors."""
    return Counter(_status(t) for t in tests)


def _status(test: dict[str, Any]) -> str:
    """Treat an unknown status as an error so it is noticed rather than silently passed."""
    status = str(test.get("status") or "")
    return status if status in KNOWN_STATUSES else "error"


def _first_line(text: str) -> str:
    """Use the first non-blank line as the one-line message CI tools show in lists.

    Only real line breaks count: ``str.splitlines`` would also split on form feeds
    and other controls that ``_clean`` removes anyway.
    """
    for line in _LINE_BREAKS.split(text):
        if line.strip():
            line = line.strip()
            return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 1] + "…"
    return ""


def _seconds(test: dict[str, Any]) -> float:
    """Convert the runner's milliseconds into the seconds JUnit's ``time`` attribute expects."""
    ms = _float(test.get("duration_ms"))
    return max(ms, 0.0) / 1000 if ms is not None else 0.0


def _format_time(seconds: float) -> str:
    """Format seconds with millisecond precision, as Surefire does."""
    return f"{max(seconds, 0.0):.3f}"


def _timestamp(value: Any) -> str:
    """Give suites an ISO 8601 UTC timestamp without offset, the form the JUnit schema allows."""
    moment: datetime | None = None
    if value:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            moment = None
    if moment is None:
        moment = datetime.now(UTC)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat()


def _float(value: Any) -> float | None:
    """Read a number defensively: report.json comes from another process and may be partial."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any, default: int) -> int:
    """Read a count defensively, falling back to a sensible default."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
