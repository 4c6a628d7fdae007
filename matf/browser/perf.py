"""Measure one page load in the browser (web vitals, timings, bytes) and judge it on budgets.

``INIT_SCRIPT`` (``perf.js``) goes into the context with ``add_init_script``
before the page loads: it starts PerformanceObservers for paint, LCP, layout
shifts, long tasks and resources as the document starts, before the page's own
scripts. ``measure`` then waits for the load event and a quiet network and
reads everything in one ``page.evaluate``; it always measures the document the
page shows now, i.e. its last navigation.

Definitions (all times in ms since navigation start, rounded to 0.1 ms):

* TTFB: the navigation entry's ``responseStart``.
* FCP: the ``first-contentful-paint`` paint entry.
* LCP: the latest ``largest-contentful-paint`` candidate before the first user
  input (keydown or pointerdown), as web-vitals reports it.
* CLS: web-vitals' definition: the largest session window of layout shifts
  without recent input (shifts < 1 s apart, a window at most 5 s long); 4 decimals.
* TBT: Lighthouse's: for each long task, its part after FCP less 50 ms; a task
  that straddles FCP counts for its part after FCP. ``long_tasks`` counts the
  long tasks that end after FCP.
* DOMContentLoaded and load: ``domContentLoadedEventEnd`` and ``loadEventEnd``.
* requests: the document plus every resource entry; transfer: their ``transferSize``.

A metric the browser cannot measure (its entry type is missing from
``PerformanceObserver.supportedEntryTypes``) is ``None`` and named, by its
field name, in ``unsupported``. Without the init script the probe is installed
at measuring time and reads what the browser buffered; a metric whose buffer
may have overflowed is then ``None`` too and listed as ``"<field>: <why>"``.
"""

from __future__ import annotations

import time
from contextlib import suppress
from importlib import resources
from typing import TYPE_CHECKING, Any

from matf.browser.page import wait_quiet
from matf.results import PerfMetrics

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from matf.spec import Budgets

INIT_SCRIPT: str = resources.files("matf.browser").joinpath("perf.js").read_text(encoding="utf-8")

# The init script installs itself when the page was loaded without it, then reads.
_READ = (
    "async (opts) => {\n"
    "  if (!Object.prototype.hasOwnProperty.call(window, Symbol.for('matf.perf'))) {\n"
    f"{INIT_SCRIPT}\n"
    "  }\n"
    "  return await window[Symbol.for('matf.perf')].read(opts);\n"
    "}"
)

# The entry type each metric needs, and the browser's buffer for that type: a
# probe installed late sees at most that many entries of it.
_NEEDS: dict[str, tuple[str, int]] = {
    "fcp_ms": ("paint", 0),  # from the performance timeline, never lost
    "lcp_ms": ("largest-contentful-paint", 150),
    "cls": ("layout-shift", 150),
    "tbt_ms": ("longtask", 200),
    "long_tasks": ("longtask", 200),
}
_RESOURCE_BUFFER = 250


def measure(page: Page, timeout_ms: float) -> PerfMetrics:
    """Measure the page's last navigation; a metric it cannot measure is None, never an error."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout_ms / 1000
    with suppress(PlaywrightTimeout):  # measure what there is; load_ms stays None
        page.wait_for_load_state("load", timeout=max(timeout_ms, 1))
    quiet_ms = min(_left_ms(deadline), 5000)
    if quiet_ms >= 1:  # Playwright reads a timeout of 0 as none at all
        wait_quiet(page, quiet_ms)
    options = {"loadWaitMs": min(_left_ms(deadline), 5000)}
    try:
        raw = page.evaluate(_READ, options)
    except PlaywrightError as exc:
        if "context was destroyed" not in str(exc):
            raise
        # The page navigated while we read: measure the new document instead.
        with suppress(PlaywrightTimeout):
            page.wait_for_load_state("load", timeout=max(_left_ms(deadline), 1))
        raw = page.evaluate(_READ, options)
    return _metrics(page.url, raw)


def _left_ms(deadline: float) -> float:
    return max(0.0, (deadline - time.monotonic()) * 1000)


def _ms(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _metrics(url: str, raw: dict[str, Any]) -> PerfMetrics:
    supported = set(raw.get("supported") or [])
    observed = set(raw.get("observed") or [])
    counts: dict[str, int] = raw.get("counts") or {}
    late = bool(raw.get("late"))
    values: dict[str, Any] = {
        "ttfb_ms": _ms(raw.get("ttfb")),
        "fcp_ms": _ms(raw.get("fcp")),
        "lcp_ms": _ms(raw.get("lcp")),
        "cls": None if raw.get("cls") is None else round(float(raw["cls"]), 4),
        "tbt_ms": _ms(raw.get("tbt")),
        "long_tasks": raw.get("longTasks"),
        "dom_content_loaded_ms": _ms(raw.get("dcl")),
        "load_ms": _ms(raw.get("load")),
    }
    unsupported: list[str] = []
    for name, (entry_type, buffer) in _NEEDS.items():
        if entry_type not in supported:
            values[name] = None
            unsupported.append(name)
        elif entry_type not in observed and name != "fcp_ms":
            values[name] = None
            unsupported.append(f"{name}: the browser refused to observe {entry_type} entries")
        elif late and buffer and counts.get(entry_type, 0) >= buffer:
            values[name] = None
            unsupported.append(
                f"{name}: init script not installed, {entry_type} buffer full (setup)"
            )
    if not raw.get("navigation"):
        unsupported += ["ttfb_ms", "dom_content_loaded_ms", "load_ms"]
    requests = int(raw.get("requests") or 1)
    if late and requests - 1 >= _RESOURCE_BUFFER:
        unsupported.append(
            "requests: init script not installed, resource buffer full: "
            "requests and transfer_bytes may be low (setup)"
        )
    return PerfMetrics(
        url=url,
        requests=requests,
        transfer_bytes=int(raw.get("transferBytes") or 0),
        unsupported=unsupported,
        **values,
    )


def _num(value: float, places: int) -> str:
    text = f"{value:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def judge(metrics: PerfMetrics, budgets: Budgets) -> PerfMetrics:
    """A copy of ``metrics`` whose ``over_budget`` has one line per measured metric over its budget.

    A budget that is off (None), or on a metric that was not measured, adds nothing.
    Values are judged as shown: ms to 0.1, CLS to 4 decimals, KiB to 0.1.
    """
    checks: list[tuple[str, float | None, float | None, int, str]] = [
        ("LCP", metrics.lcp_ms, budgets.lcp_ms, 1, " ms"),
        ("CLS", metrics.cls, budgets.cls, 4, ""),
        ("TBT", metrics.tbt_ms, budgets.tbt_ms, 1, " ms"),
        ("TTFB", metrics.ttfb_ms, budgets.ttfb_ms, 1, " ms"),
        ("FCP", metrics.fcp_ms, budgets.fcp_ms, 1, " ms"),
        ("load", metrics.load_ms, budgets.load_ms, 1, " ms"),
        ("requests", metrics.requests, budgets.requests, 0, ""),
        ("transfer", metrics.transfer_bytes / 1024, budgets.transfer_kb, 1, " KiB"),
    ]
    over = [
        f"{label} {_num(value, places)}{unit} over budget {_num(budget, places)}{unit}"
        for label, value, budget, places, unit in checks
        if value is not None and budget is not None and round(value, places) > budget
    ]
    return metrics.model_copy(update={"over_budget": over})


_MEDIAN_FIELDS = (
    "ttfb_ms", "fcp_ms", "lcp_ms", "cls", "tbt_ms", "long_tasks",
    "dom_content_loaded_ms", "load_ms", "requests", "transfer_bytes",
)  # fmt: skip


def median_metrics(samples: list[PerfMetrics]) -> PerfMetrics:
    """Per metric, the median of several loads of one page (unmeasured ones stay None)."""
    from statistics import median_low

    values: dict[str, Any] = {}
    for name in _MEDIAN_FIELDS:
        measured = [getattr(m, name) for m in samples if getattr(m, name) is not None]
        values[name] = median_low(measured) if measured else None
    values["samples"] = len(samples)
    return samples[0].model_copy(update=values)
