"""The report's "Exploration" section: report.json's ``run.exploration`` as display values.

Every string in it came from the tested site; Jinja2 escapes them, this only
reads the values defensively (report.json may come from another version).
"""

from __future__ import annotations

from typing import Any


def prepare_exploration(value: Any) -> dict[str, Any] | None:
    """Display values for the section; None leaves it out (suites run as given)."""
    if not isinstance(value, dict):
        return None
    return {
        "pages": _count(value.get("pages")),
        "states": _count(value.get("states")),
        "merged": _count(value.get("merged")),
        "left_out": _count(value.get("left_out")),
        "unread": [
            (_text(item.get("url")), _text(item.get("reason")))
            for item in _dicts(value.get("unread"))
        ],
        "templates": [
            (
                _text(item.get("template")),
                [_text(url) for url in item.get("sampled") or [] if url],
                _count(item.get("skipped")),
            )
            for item in _dicts(value.get("templates"))
        ],
        "dropped": [
            (_text(item.get("id")), _text(item.get("name")), _text(item.get("reason")))
            for item in _dicts(value.get("dropped"))
        ],
    }


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _count(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _text(value: Any) -> str:
    return "" if value is None else str(value)
