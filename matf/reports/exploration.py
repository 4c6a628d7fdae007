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
        "access": prepare_access(value.get("access")),
    }


def prepare_access(value: Any) -> dict[str, Any] | None:
    """The "Access by role" table: per page, each role's status ("302", "200, not linked")."""
    if not isinstance(value, dict):
        return None
    roles = [_text(role) for role in value.get("roles") or [] if role]
    rows = []
    for page in _dicts(value.get("pages")):
        seen: dict[str, Any] = page["seen"] if isinstance(page.get("seen"), dict) else {}
        cells = []
        for role in roles:
            cell: dict[str, Any] = seen[role] if isinstance(seen.get(role), dict) else {}
            status = cell.get("status")
            shown = "no answer" if status is None else _text(status)
            opened = isinstance(status, int) and 200 <= status < 300
            if opened and not cell.get("linked") and role != "anonymous":
                shown += ", not linked"
            cells.append((shown, opened))
        rows.append((_text(page.get("url")), cells))
    findings = [_text(item.get("message")) for item in _dicts(value.get("findings"))]
    return {"roles": roles, "rows": rows, "findings": findings}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _count(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _text(value: Any) -> str:
    return "" if value is None else str(value)
