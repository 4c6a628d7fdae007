"""Failures by cause, as people read them: report.json's ``failure_groups`` as display values.

The same phrase ("html-has-lang: 25 pages") serves report.html, report.pdf and
``matf run``'s summary. Titles and URLs come from the tested site; Jinja2
escapes them in the report, the CLI makes them printable. Values are read
defensively: report.json may come from another version.
"""

from __future__ import annotations

from typing import Any

MAX_SHOWN = 50  # causes listed in report.html; the others are counted, and are in report.json
KIND_LABELS = {
    "accessibility": "accessibility rule",
    "request": "failed request",
    "console": "console error",
    "page-error": "page error",
    "performance": "performance budget",
    "assertion": "failed step",
    "error": "error",
}


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def extent(group: dict[str, Any]) -> str:
    """How far a cause reaches: ``25 pages``, or ``6 tests on 2 pages`` when a page has several."""
    count, pages = _count(group.get("count")), _count(group.get("pages"))
    if count == pages:
        return plural(pages, "page")
    return f"{plural(count, 'test')} on {plural(pages, 'page')}"


def cause_line(group: dict[str, Any]) -> str:
    """``html-has-lang: 25 pages``: a cause and its reach, in one line."""
    return f"{_text(group.get('title')) or '(untitled)'}: {extent(group)}"


def causes_summary(groups: list[dict[str, Any]], failures: int) -> str:
    """``3 causes for 25 failures``: a test failing two ways counts once among the failures."""
    return f"{plural(len(groups), 'cause')} for {plural(failures, 'failure')}"


def prepare_causes(value: Any, failures: int, limit: int = MAX_SHOWN) -> dict[str, Any] | None:
    """Display values for a "Failures by cause" section; None leaves it out (nothing failed)."""
    groups = [g for g in value if isinstance(g, dict)] if isinstance(value, list) else []
    if not groups:
        return None
    shown = groups[:limit]
    rest = groups[limit:]
    return {
        "summary": causes_summary(groups, failures),
        "groups": [_prepare(g) for g in shown],
        "more": len(rest),
        "more_tests": sum(_count(g.get("count")) for g in rest),
    }


def _prepare(group: dict[str, Any]) -> dict[str, Any]:
    kind = _text(group.get("kind"))
    pages = [_text(url) for url in group.get("page_sample") or []]
    return {
        "signature": _text(group.get("signature")),
        "title": _text(group.get("title")) or "(untitled)",
        "kind": KIND_LABELS.get(kind, kind),
        "count": _count(group.get("count")),
        "extent": extent(group),
        "pages": pages,
        "pages_left": max(_count(group.get("pages")) - len(pages), 0),
        "browsers": ", ".join(_text(b) for b in group.get("browsers") or []),
    }


def _count(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _text(value: Any) -> str:
    return "" if value is None else str(value)
