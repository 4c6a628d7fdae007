"""Render a finished run as one self-contained HTML file that is safe to open.

The report gets mailed around and opened straight from disk, so it carries
everything it needs (CSS and one small script inline, screenshots as data:
URIs) and treats every string from the tested site as hostile: Jinja2
autoescapes all output, links are only made for http(s) URLs, artifact links
are percent-encoded relative paths, and a strict Content-Security-Policy with a
per-report nonce lets nothing but our own filter script run.
"""

from __future__ import annotations

import base64
import secrets
from collections import Counter
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from matf.reports.causes import prepare_causes
from matf.reports.embed import embed_image, safe_http_url, safe_relative_href
from matf.reports.exploration import prepare_exploration
from matf.reports.stream import Rows, write_chunks
from matf.results import FINAL_STATUSES
from matf.spec import describe_locator

REPORT_NAME = "report.html"
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATUS_ORDER = ("failed", "error", "flaky", "skipped", "passed")
STATUS_LABELS = {
    "failed": "Failed",
    "error": "Error",
    "flaky": "Flaky",
    "skipped": "Skipped",
    "passed": "Passed",
}
IMPACT_ORDER = ("critical", "serious", "moderate", "minor")
PAGE_SIZE = 50  # tests shown at once in report.html; the others wait inert in <template>s
MAX_PRINTED_FAILURES = 100  # failures printed in full in report.pdf
MAX_PRINTED_ROWS = 1000  # rows of report.pdf's all-results table


def write_html(report: dict[str, Any], out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` so a run can be reviewed without MATF or a network."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    nonce = base64.b64encode(secrets.token_bytes(18)).decode("ascii")
    context = _build_context(report, out_dir, nonce)
    page = _environment().get_template("report.html").generate(**context, for_print=False)
    return write_chunks(out_dir / REPORT_NAME, page)


def render_html(report: dict[str, Any], out_dir: Path, for_print: bool = False) -> str:
    """The report page; ``for_print``: no script or filters, failures open, a results table.

    The print variant is bounded, whatever the run's size: the first
    ``MAX_PRINTED_FAILURES`` failures in full and the first ``MAX_PRINTED_ROWS``
    results in the table, each with a line saying how many more report.html has.
    """
    nonce = base64.b64encode(secrets.token_bytes(18)).decode("ascii")
    context = _build_context(report, Path(out_dir), nonce)
    return _environment().get_template("report.html").render(**context, for_print=for_print)


class _Environment(jinja2.Environment):
    """Jinja2, reading ``t.name`` of a dict as a key first: the report's values are dicts.

    Jinja tries an attribute before a key, and the failed attribute lookup costs an
    exception: at 10,000 tests and ~70 lookups each, a good part of the writing time.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """Build the one Jinja2 environment; autoescape is on for every template, not by extension."""
    return _Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _build_context(report: dict[str, Any], out_dir: Path, nonce: str) -> dict[str, Any]:
    """Turn report.json into plain display values so the template holds no logic worth testing."""
    run = report.get("run") or {}
    run_id = _text(run.get("id"))
    raw = sorted(report.get("tests") or [], key=lambda t: STATUS_ORDER.index(_status(t)))
    problems = [t for t in raw if _status(t) != "passed"]

    def rows(some: list[dict[str, Any]]) -> Rows:
        return Rows(some, lambda test: _prepare_test(test, out_dir, run_id))

    tests = rows(raw)
    row_counts = Counter(_status(t) for t in raw)
    counts = _run_counts(run.get("counts") or {}, row_counts, len(tests))
    total = counts["total"]
    executed = total - counts["skipped"]
    pass_rate = (counts["passed"] + counts["flaky"]) / executed * 100 if executed > 0 else None
    status = str(run.get("status") or "error")
    return {
        "nonce": nonce,
        "run_id": run_id,
        "target": _text(run.get("target")),
        "target_href": safe_http_url(run.get("target")),
        "status": status,
        "status_class": status if status in FINAL_STATUSES else "error",
        "started": _format_timestamp(run.get("started_at")),
        "finished": _format_timestamp(run.get("finished_at")),
        "duration": _format_seconds(run.get("duration_s")),
        "browsers": [_text(b) for b in run.get("browsers") or []],
        "types": [_text(t) for t in run.get("types") or []],
        "run_error": _text(run.get("error")) or None,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "tiles": [(s, STATUS_LABELS[s], counts[s]) for s in STATUS_ORDER],
        "total": total,
        "pass_rate": None if pass_rate is None else f"{pass_rate:.1f}",
        "bar": [
            (s, STATUS_LABELS[s], counts[s], f"{counts[s] / total * 100:.3f}")
            for s in ("passed", "flaky", "failed", "error", "skipped")
            if total and counts[s]
        ],
        "filters": [(s, STATUS_LABELS[s], row_counts[s]) for s in STATUS_ORDER],
        "kinds": sorted({_text(t.get("kind")) for t in raw} - {""}),
        "tests": tests,
        "page_size": PAGE_SIZE,
        "printed_failures": rows(problems[:MAX_PRINTED_FAILURES]),
        "failures_left": max(len(problems) - MAX_PRINTED_FAILURES, 0),
        "printed_rows": rows(raw[:MAX_PRINTED_ROWS]),
        "rows_left": max(len(raw) - MAX_PRINTED_ROWS, 0),
        "llm": _prepare_llm(run.get("llm")),
        "healing": _prepare_run_healing(run.get("healing")),
        "exploration": prepare_exploration(run.get("exploration")),
        "causes": prepare_causes(report.get("failure_groups"), counts["failed"] + counts["error"]),
        "perf_rows": [
            {**_prepare_perf(m), "test": _name(t), "browser": _text(t.get("browser"))}
            for t in raw
            for m in t.get("performance") or []
        ],
    }


def _status(test: dict[str, Any]) -> str:
    """A test's status as the report shows it: an unknown one is an error."""
    status = str(test.get("status") or "")
    return status if status in STATUS_LABELS else "error"


def _name(test: dict[str, Any]) -> str:
    return _text(test.get("name")) or _text(test.get("id")) or "(unnamed test)"


def _run_counts(given: dict[str, Any], rows: Counter[str], n_rows: int) -> dict[str, int]:
    """Prefer the runner's counts (they may cover tests not listed) and fill gaps from the rows."""
    counts = {s: _int(given.get(s), rows[s]) for s in STATUS_ORDER}
    counts["total"] = _int(given.get("total"), n_rows)
    return counts


def _prepare_test(test: dict[str, Any], out_dir: Path, run_id: str = "") -> dict[str, Any]:
    """Flatten one test into display values, embedding its screenshot if it is a real image."""
    raw_status = str(test.get("status") or "")
    status = raw_status if raw_status in STATUS_LABELS else "error"
    artifacts = test.get("artifacts") or {}
    shot_path = artifacts.get("screenshot")
    trace_path = artifacts.get("trace")
    shot_src = embed_image(out_dir, shot_path) if shot_path else None
    attempts = _int(test.get("attempts"), 1)
    return {
        "id": _text(test.get("id")),
        "causes": " ".join(_text(sig) for sig in test.get("signatures") or []),
        "case_id": _text(test.get("case_id")),
        "name": _name(test),
        "status": status,
        "label": STATUS_LABELS[status] if raw_status == status else raw_status or "Unknown",
        "kind": _text(test.get("kind")),
        "category": _text(test.get("category")),
        "browser": _text(test.get("browser")),
        "url": _text(test.get("url")),
        "url_href": safe_http_url(test.get("url")),
        "duration": _format_ms(test.get("duration_ms")),
        "attempts": attempts,
        "quarantined": test.get("quarantined") is True,
        "error": _text(test.get("error")) or None,
        "steps": [_prepare_step(s) for s in test.get("steps") or []],
        "screenshot_path": _text(shot_path) or None,
        "screenshot_src": shot_src,
        "screenshot_href": None if shot_src else safe_relative_href(shot_path),
        "trace_path": _text(trace_path) or None,
        "withheld": _text(artifacts.get("withheld")) or None,
        "trace_href": safe_relative_href(trace_path),
        "violations": _prepare_violations(test.get("violations") or []),
        "console_errors": [_text(m) for m in test.get("console_errors") or []],
        "page_errors": [_text(m) for m in test.get("page_errors") or []],
        "failed_requests": [_prepare_request(r) for r in test.get("failed_requests") or []],
        "attempt_errors": [_text(m) for m in test.get("attempt_errors") or []],
        "retry_note": _text(test.get("retry_note")) or None,
        "session_note": _text(test.get("session_note")) or None,
        "performance": [_prepare_perf(m) for m in test.get("performance") or []],
        "visual": [_prepare_visual(v, out_dir) for v in test.get("visual") or []],
        "api": [_prepare_api(c) for c in test.get("api") or []],
        "video_path": _text(artifacts.get("video")) or None,
        "video_href": safe_relative_href(artifacts.get("video")),
        "device": _text(test.get("device")) or None,
        "triage": _prepare_triage(test.get("triage")),
        "healing": _prepare_healing(test.get("healing"), run_id),
        "llm": _prepare_test_llm(test.get("llm")),
    }


def _prepare_test_llm(llm: Any) -> dict[str, Any] | None:
    """What the model cost for one test: its share of writing, plus its healing."""
    if not isinstance(llm, dict):
        return None
    try:
        calls = round(float(llm.get("calls") or 0), 2)
    except (TypeError, ValueError):
        calls = 0.0
    return {
        "calls": f"{calls:g}",
        "prompt_tokens": _int(llm.get("prompt_tokens"), 0),
        "completion_tokens": _int(llm.get("completion_tokens"), 0),
    }


TRIAGE_LABELS = {
    "app-bug": "application bug",
    "ui-drift": "UI drift",
    "flaky": "flaky",
    "environment": "environment",
}


def _prepare_triage(triage: Any) -> dict[str, str] | None:
    if not isinstance(triage, dict) or triage.get("kind") not in TRIAGE_LABELS:
        return None
    return {"label": TRIAGE_LABELS[triage["kind"]], "reason": _text(triage.get("reason"))}


def _prepare_llm(llm: Any) -> dict[str, Any] | None:
    """The AI writer's spending and verdicts, as display values."""
    if not isinstance(llm, dict):
        return None
    try:
        cost = f"${float(llm.get('cost_usd') or 0):.4f}"
    except (TypeError, ValueError):
        cost = "—"
    return {
        "model": _text(llm.get("model")),
        "calls": _int(llm.get("calls"), 0),
        "prompt_tokens": _int(llm.get("prompt_tokens"), 0),
        "completion_tokens": _int(llm.get("completion_tokens"), 0),
        "cost": cost,
        "pages": _int(llm.get("pages"), 0),
        "cached_pages": _int(llm.get("cached_pages"), 0),
        "verified": _int(llm.get("verified"), 0),
        "findings": _int(llm.get("findings"), 0),
        "dropped": [_text(d) for d in llm.get("dropped") or []],
        "skipped": [_text(d) for d in llm.get("skipped") or []],
    }


HEALING_SOURCES = {"alternative": "stored alternative", "ai": "model"}
HEALING_OUTCOMES = ("passed", "failed", "none")


def _prepare_healing(healing: Any, run_id: str) -> dict[str, Any] | None:
    """What the healer tried for one test: its locator changes and how the re-run went."""
    if not isinstance(healing, dict):
        return None
    changes = []
    for change in healing.get("changes") or []:
        if not isinstance(change, dict):
            continue
        source = _text(change.get("source"))
        changes.append(
            {
                "step": _int(change.get("step"), 0) + 1,
                "action": _text(change.get("action")),
                "before": _describe_locator(change.get("before")),
                "after": _describe_locator(change.get("after")),
                "source": HEALING_SOURCES.get(source, source),
            }
        )
    outcome = healing.get("outcome")
    return {
        "outcome": outcome if outcome in HEALING_OUTCOMES else None,
        "changes": changes,
        "error": _text(healing.get("error")) or None,
        "calls": _int(healing.get("calls"), 0),
        "prompt_tokens": _int(healing.get("prompt_tokens"), 0),
        "completion_tokens": _int(healing.get("completion_tokens"), 0),
        "run_id": run_id or "RUN_ID",
    }


def _describe_locator(locator: Any) -> str:
    """A locator as people read it (``button 'Buy'``); raw text when it is not a valid one."""
    return describe_locator(locator if isinstance(locator, dict) else _text(locator) or "—")


def _prepare_run_healing(healing: Any) -> dict[str, int] | None:
    """The run's healing totals: tests looked at, proposals, re-runs passed, model usage."""
    if not isinstance(healing, dict):
        return None
    keys = ("tests", "proposals", "passed", "calls", "prompt_tokens", "completion_tokens")
    return {key: _int(healing.get(key), 0) for key in keys}


def _num(value: Any, unit: str = " ms", digits: int = 0) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "—"
    return f"{number:.{digits}f}{unit}"


def _prepare_perf(metrics: dict[str, Any]) -> dict[str, Any]:
    """One page load's metrics as display values; unmeasured ones show as a dash."""
    return {
        "url": _text(metrics.get("url")),
        "ttfb": _num(metrics.get("ttfb_ms")),
        "fcp": _num(metrics.get("fcp_ms")),
        "lcp": _num(metrics.get("lcp_ms")),
        "cls": _num(metrics.get("cls"), "", 3),
        "tbt": _num(metrics.get("tbt_ms")),
        "dcl": _num(metrics.get("dom_content_loaded_ms")),
        "load": _num(metrics.get("load_ms")),
        "requests": _int(metrics.get("requests"), 0),
        "kib": _num(_int(metrics.get("transfer_bytes"), 0) / 1024, " KiB", 1),
        "unsupported": ", ".join(_text(m) for m in metrics.get("unsupported") or []),
        "over": [_text(line) for line in metrics.get("over_budget") or []],
    }


def _prepare_visual(check: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """A visual comparison, with its diff (or the capture, when nothing differs) embedded."""
    status = _text(check.get("status"))
    diff, actual = check.get("diff"), check.get("actual")
    try:
        ratio = f"{float(check.get('ratio') or 0):.3%}"
        tolerance = f"{float(check.get('tolerance') or 0):.3%}"
    except (TypeError, ValueError):
        ratio = tolerance = "—"
    return {
        "name": _text(check.get("name")),
        "status": status if status in ("recorded", "matched", "changed") else "unknown",
        "size": f"{_int(check.get('width'), 0)}×{_int(check.get('height'), 0)}",
        "changed_pixels": _int(check.get("changed_pixels"), 0),
        "ratio": ratio,
        "tolerance": tolerance,
        "size_changed": check.get("size_changed") is True,
        "diff_src": embed_image(out_dir, diff) if diff else None,
        "actual_src": embed_image(out_dir, actual) if actual and status == "changed" else None,
        "diff_href": safe_relative_href(diff),
        "actual_href": safe_relative_href(actual),
    }


def _prepare_api(check: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": _text(check.get("method")) or "GET",
        "url": _text(check.get("url")),
        "status": _text(check.get("status")) or "—",
        "content_type": _text(check.get("content_type")) or "—",
        "duration": _num(check.get("duration_ms")),
        "schema_errors": [_text(e) for e in check.get("schema_errors") or []],
    }


def _prepare_step(step: dict[str, Any]) -> dict[str, Any]:
    """Give each step a known status class so an odd value cannot restyle the row."""
    status = str(step.get("status") or "")
    return {
        "number": _int(step.get("index"), 0) + 1,
        "action": _text(step.get("action")),
        "description": _text(step.get("description")),
        "status": status,
        "status_class": status if status in ("passed", "failed", "skipped") else "unknown",
        "duration": _format_ms(step.get("duration_ms")),
        "error": _text(step.get("error")) or None,
    }


def _prepare_violations(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort violations worst first; help links survive only when they are plain http(s)."""
    prepared: list[dict[str, Any]] = []
    for v in violations:
        impact = str(v.get("impact") or "").lower()
        prepared.append(
            {
                "rule": _text(v.get("rule")),
                "impact": impact or "unknown",
                "impact_class": impact if impact in IMPACT_ORDER else "unknown",
                "nodes": _int(v.get("nodes"), 0),
                "description": _text(v.get("description")),
                "help_url": _text(v.get("help_url")),
                "help_href": safe_http_url(v.get("help_url")),
            }
        )
    rank = {name: i for i, name in enumerate(IMPACT_ORDER)}
    prepared.sort(key=lambda v: rank.get(v["impact_class"], len(rank)))
    return prepared


def _prepare_request(request: dict[str, Any]) -> dict[str, Any]:
    """Show a failed request's HTTP status, or the network failure when there was no response."""
    status = request.get("status")
    return {
        "method": _text(request.get("method")) or "GET",
        "url": _text(request.get("url")),
        "status": "" if status is None else _text(status),
        "failure": _text(request.get("failure")),
        "after": _text(request.get("after")),  # the action it followed; absent in old results
    }


def _format_timestamp(value: Any) -> str:
    """Show ISO timestamps in UTC for humans, falling back to the raw value if it doesn't parse."""
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return _text(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _format_seconds(value: Any) -> str:
    """Print a run's duration the way people read it: 12.3 s, 4 min 05 s, 1 h 02 min."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _format_ms(value: Any) -> str:
    """Print a test or step duration in ms below a second and in seconds above."""
    try:
        ms = float(value)
    except (TypeError, ValueError):
        return "—"
    return f"{ms:.0f} ms" if ms < 1000 else _format_seconds(ms / 1000)


def _int(value: Any, default: int) -> int:
    """Read a count defensively: report.json comes from another process and may be partial."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _text(value: Any) -> str:
    """Coerce any JSON value to text; escaping is left to Jinja2's autoescape."""
    return "" if value is None else str(value)
