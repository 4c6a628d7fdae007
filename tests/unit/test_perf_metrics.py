"""Performance measurement of one page load, in a real Chromium, against pages built to be slow.

A small local server serves: a plain fast page, a page whose server answers
after ~900 ms (TTFB), a page that shifts its text 300 ms after load (CLS), a
page with a ~300 ms busy loop after FCP (TBT) and a page whose hero image
arrives after ~2.6 s (LCP). Each problem page must fail exactly its budget.
The agreement test compares what we measure with Chromium's own trace events
on the same load.
"""

from __future__ import annotations

import json
import random
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser

from matf.browser.perf import INIT_SCRIPT, judge, measure
from matf.results import PerfMetrics
from matf.spec import Budgets

TIMEOUT_MS = 15_000
SLOW_SERVER_S = 0.9
HERO_DELAY_MS = 2600


def _png(width: int, height: int, noisy_rows: int) -> bytes:
    """A PNG with enough noise that Chromium counts it for LCP (not a low-entropy image)."""
    rnd = random.Random(7)
    plain = b"\x30\x60\x90" * width
    raw = b"".join(
        b"\x00" + (rnd.randbytes(width * 3) if y < noisy_rows else plain) for y in range(height)
    )

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


HERO = _png(800, 450, 40)
TEXT = "<p>" + "Plain words that fill the viewport with text. " * 40 + "</p>"
HEAD = "<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"

# After FCP (seen by the page's own observer), one busy loop of ~300 ms.
BUSY = """<script>
new PerformanceObserver((list, observer) => {
  if (!list.getEntriesByName("first-contentful-paint").length) return;
  observer.disconnect();
  setTimeout(() => {
    const end = performance.now() + %d;
    while (performance.now() < end) {}
    window.busyDone = true;
  }, 0);
}).observe({ type: "paint", buffered: true });
</script>"""

# 300 ms after load, a 200 px block pushes the text down (a layout shift).
SHIFT = """<script>
addEventListener("load", () => setTimeout(() => {
  const ad = document.createElement("div");
  ad.id = "ad";
  ad.style.height = "200px";
  ad.style.background = "#ccc";
  document.body.prepend(ad);
}, 300));
</script>"""

PAGES = {
    "/fast": HEAD.format(title="fast") + "<h1>Fast page</h1>" + TEXT + "</body></html>",
    "/slow": HEAD.format(title="slow") + "<h1>Slow server</h1>" + TEXT + "</body></html>",
    "/shift": HEAD.format(title="shift")
    + "<div id='text' style='font-size:20px'><h1>Shifting page</h1>"
    + TEXT * 3
    + "</div>"
    + SHIFT
    + "</body></html>",
    "/busy": HEAD.format(title="busy")
    + "<h1>Busy page</h1>"
    + TEXT
    + BUSY % 300
    + "</body></html>",
    "/hero": HEAD.format(title="hero")
    + "<h1>Hero</h1>"
    + f"<img id='hero' src='/hero.png?delay={HERO_DELAY_MS}' width='800' height='450' alt='hero'>"
    + "</body></html>",
    # For the trace: text first, an image later (LCP), a shift, a long task.
    "/mixed": HEAD.format(title="mixed")
    + "<h1>Mixed</h1>"
    + "<img id='hero' src='/hero.png?delay=400' width='800' height='450' alt='hero'>"
    + "<div style='font-size:20px'>"
    + TEXT * 2
    + "</div>"
    + SHIFT
    + BUSY % 150
    + "</body></html>",
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        parts = urlsplit(self.path)
        if parts.path == "/slow":
            time.sleep(SLOW_SERVER_S)  # the server is slow: that is what the page tests
        if parts.path == "/hero.png":
            delay = int(parse_qs(parts.query).get("delay", ["0"])[0])
            time.sleep(delay / 1000)
            self._send(200, "image/png", HERO)
        elif parts.path in PAGES:
            self._send(200, "text/html; charset=utf-8", PAGES[parts.path].encode())
        else:
            self._send(404, "text/plain", b"not found")

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def load(
    browser: Browser, url: str, ready: str | None = None, probe: bool = True, before: str = ""
) -> PerfMetrics:
    context = browser.new_context()
    try:
        if before:
            context.add_init_script(before)
        if probe:
            context.add_init_script(INIT_SCRIPT)
        page = context.new_page()
        page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
        if ready:
            page.wait_for_function(ready, timeout=TIMEOUT_MS)
        return judge(measure(page, TIMEOUT_MS), Budgets())
    finally:
        context.close()


FULL = ("ttfb_ms", "fcp_ms", "lcp_ms", "cls", "tbt_ms", "long_tasks")


def test_fast_page_passes_the_default_budgets(browser: Browser, site: str) -> None:
    m = load(browser, f"{site}/fast")
    assert m.url == f"{site}/fast"
    assert m.unsupported == [] and m.over_budget == []
    assert m.ttfb_ms is not None and 0 < m.ttfb_ms < 300
    assert m.fcp_ms is not None and m.ttfb_ms < m.fcp_ms < 1500
    assert m.lcp_ms is not None and m.fcp_ms <= m.lcp_ms < 1500
    assert m.cls == 0 and m.tbt_ms == 0 and m.long_tasks == 0
    assert m.dom_content_loaded_ms is not None and m.load_ms is not None
    assert m.ttfb_ms <= m.dom_content_loaded_ms <= m.load_ms < 1500
    assert m.requests >= 1
    assert m.transfer_bytes > len(PAGES["/fast"])


def test_slow_server_fails_ttfb_only(browser: Browser, site: str) -> None:
    m = load(browser, f"{site}/slow")
    assert m.ttfb_ms is not None and SLOW_SERVER_S * 1000 <= m.ttfb_ms < 2000
    assert m.fcp_ms is not None and m.fcp_ms >= m.ttfb_ms
    assert len(m.over_budget) == 1 and m.over_budget[0].startswith("TTFB ")
    assert m.over_budget[0].endswith(" ms over budget 800 ms")


def test_late_shift_fails_cls_only(browser: Browser, site: str) -> None:
    m = load(browser, f"{site}/shift", ready="document.getElementById('ad')")
    # 200 px of a 1280 px wide viewport, over (nearly) all of it: ~0.15
    assert m.cls is not None and 0.1 < m.cls < 0.3
    assert len(m.over_budget) == 1 and m.over_budget[0].startswith("CLS ")
    assert m.over_budget[0].endswith(" over budget 0.1")


def test_busy_loop_fails_tbt_only(browser: Browser, site: str) -> None:
    m = load(browser, f"{site}/busy", ready="window.busyDone === true")
    assert m.long_tasks is not None and m.long_tasks >= 1
    assert m.tbt_ms is not None and 230 <= m.tbt_ms < 500  # 300 ms task: ~250 ms blocking
    assert len(m.over_budget) == 1 and m.over_budget[0].startswith("TBT ")


def test_late_hero_image_fails_lcp_only(browser: Browser, site: str) -> None:
    m = load(browser, f"{site}/hero")
    assert m.fcp_ms is not None and m.fcp_ms < 1000  # the heading paints at once
    assert m.lcp_ms is not None and HERO_DELAY_MS <= m.lcp_ms < HERO_DELAY_MS + 1500
    assert m.transfer_bytes > len(HERO) and m.requests == 2
    assert m.cls == 0 and m.tbt_ms == 0
    assert len(m.over_budget) == 1 and m.over_budget[0].startswith("LCP ")


def test_lcp_stops_at_the_first_input(browser: Browser, site: str) -> None:
    context = browser.new_context()
    try:
        context.add_init_script(INIT_SCRIPT)
        page = context.new_page()
        page.goto(f"{site}/fast", wait_until="load")
        before = measure(page, TIMEOUT_MS)
        page.keyboard.press("Tab")
        page.evaluate(
            """() => new Promise((done) => {
                const big = document.createElement("h1");
                big.style.fontSize = "200px";
                big.textContent = "Much larger text";
                document.body.prepend(big);
                requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 0)));
            })"""
        )
        after = measure(page, TIMEOUT_MS)
    finally:
        context.close()
    assert before.lcp_ms is not None and after.lcp_ms == before.lcp_ms


def test_without_the_init_script_buffered_entries_still_measure(
    browser: Browser, site: str
) -> None:
    m = load(
        browser,
        f"{site}/mixed",
        ready="window.busyDone && document.getElementById('ad')",
        probe=False,
    )
    assert m.unsupported == []
    assert m.fcp_ms is not None and m.lcp_ms is not None and m.lcp_ms > m.fcp_ms
    assert m.cls is not None and m.cls > 0
    assert m.long_tasks is not None and m.long_tasks >= 1


# What WebKit offers (no LCP, layout shifts or long tasks), faked in Chromium.
WEBKIT_LIKE = """Object.defineProperty(PerformanceObserver, "supportedEntryTypes", {
  get: () => Object.freeze(["mark", "measure", "navigation", "paint", "resource"]),
});"""


def test_metrics_the_browser_lacks_are_none_and_listed(browser: Browser, site: str) -> None:
    m = load(browser, f"{site}/busy", ready="window.busyDone === true", before=WEBKIT_LIKE)
    assert m.unsupported == ["lcp_ms", "cls", "tbt_ms", "long_tasks"]
    assert m.lcp_ms is None and m.cls is None and m.tbt_ms is None and m.long_tasks is None
    assert m.fcp_ms is not None and m.ttfb_ms is not None and m.load_ms is not None
    assert m.over_budget == []  # the busy loop is there, but this browser cannot see it


def _metrics(**values: Any) -> PerfMetrics:
    return PerfMetrics(url="http://x/", **values)


def test_judge_lines_and_what_it_leaves_out() -> None:
    m = _metrics(
        lcp_ms=3120.0,
        cls=0.31,
        tbt_ms=350.0,
        ttfb_ms=1012.0,
        fcp_ms=900.0,
        load_ms=4000.4,
        requests=120,
        transfer_bytes=1530 * 1024,
    )
    budgets = Budgets(requests=100, transfer_kb=1000, load_ms=3000)
    assert judge(m, budgets).over_budget == [
        "LCP 3120 ms over budget 2500 ms",
        "CLS 0.31 over budget 0.1",
        "TBT 350 ms over budget 200 ms",
        "TTFB 1012 ms over budget 800 ms",
        "load 4000.4 ms over budget 3000 ms",
        "requests 120 over budget 100",
        "transfer 1530 KiB over budget 1000 KiB",
    ]
    assert m.over_budget == []  # a copy, the original stays as it was
    # Off budgets, unmeasured metrics and values at the budget add nothing.
    unmeasured = _metrics(ttfb_ms=800.0, cls=None, tbt_ms=None, unsupported=["cls", "tbt_ms"])
    off = Budgets(lcp_ms=None)
    assert judge(unmeasured, Budgets(cls=0)).over_budget == []
    assert judge(_metrics(lcp_ms=9000.0), off).over_budget == []


def test_measure_agrees_with_chromium_tracing(browser: Browser, site: str) -> None:
    context = browser.new_context()
    try:
        context.add_init_script(INIT_SCRIPT)
        page = context.new_page()
        browser.start_tracing(
            page=page,
            categories=[
                "blink.user_timing",
                "loading",
                "devtools.timeline",
                "disabled-by-default-devtools.timeline",
                "toplevel",
            ],
        )
        url = f"{site}/mixed"
        page.goto(url, wait_until="load")
        page.wait_for_function("window.busyDone && document.getElementById('ad')")
        m = measure(page, TIMEOUT_MS)
        events = json.loads(browser.stop_tracing())["traceEvents"]
    finally:
        context.close()
    trace = _from_trace(events, url)
    differences = {
        "fcp_ms": abs((m.fcp_ms or 0) - trace["fcp_ms"]),
        "lcp_ms": abs((m.lcp_ms or 0) - trace["lcp_ms"]),
        "cls": abs((m.cls or 0) - trace["cls"]),
        "tbt_ms": abs((m.tbt_ms or 0) - trace["tbt_ms"]),
    }
    print(f"\nmeasured {m.model_dump(include=set(FULL))}\ntrace {trace}\ndiff {differences}")
    assert m.fcp_ms is not None and m.lcp_ms is not None and m.cls is not None
    assert m.lcp_ms > m.fcp_ms and m.cls > 0  # the page has an LCP image and a shift
    assert differences["fcp_ms"] <= max(50, 0.1 * trace["fcp_ms"])
    assert differences["lcp_ms"] <= max(50, 0.1 * trace["lcp_ms"])
    assert differences["cls"] <= 0.01
    assert differences["tbt_ms"] <= max(50, 0.1 * trace["tbt_ms"])


def _from_trace(events: list[dict[str, Any]], url: str) -> dict[str, float]:
    """FCP, LCP, CLS and TBT of the load of ``url``, from Chromium's own trace events."""
    starts = [
        e
        for e in events
        if e.get("name") == "navigationStart"
        and e.get("args", {}).get("data", {}).get("documentLoaderURL") == url
        and e["args"]["data"].get("isLoadingMainFrame")
    ]
    assert starts, "no navigationStart for the page in the trace"
    nav = starts[-1]
    frame, origin_us = nav["args"]["frame"], nav["ts"]

    def since(e: dict[str, Any]) -> float:
        return (float(e["ts"]) - origin_us) / 1000

    fcp = [
        since(e)
        for e in events
        if e.get("name") == "firstContentfulPaint"
        and e.get("args", {}).get("frame") == frame
        and e["ts"] >= origin_us
    ]
    lcp = [
        e
        for e in events
        if e.get("name") == "largestContentfulPaint::Candidate"
        and e.get("args", {}).get("frame") == frame
        and e["ts"] >= origin_us
    ]
    shifts = [
        e["args"]["data"]
        for e in events
        if e.get("name") == "LayoutShift"
        and e.get("args", {}).get("frame") == frame
        and e["ts"] >= origin_us
        and not e["args"]["data"].get("had_recent_input")
    ]
    assert fcp and lcp, "no paint events for the page in the trace"
    main_thread = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("name") == "thread_name"
        and e.get("args", {}).get("name") == "CrRendererMain"
        and e["pid"] == nav["pid"]
    }
    tbt = 0.0
    for e in events:
        if (
            e.get("name") == "RunTask"
            and e.get("ph") == "X"
            and (e["pid"], e["tid"]) in main_thread
        ):
            start, end = since(e), since(e) + e.get("dur", 0) / 1000
            if end - start >= 50 and end > fcp[0]:
                tbt += max(0.0, end - max(start, fcp[0]) - 50)
    last = max(lcp, key=lambda e: e["args"]["data"].get("candidateIndex", 0))
    return {
        "fcp_ms": round(fcp[0], 1),
        "lcp_ms": round(since(last), 1),
        "cls": round(sum(s.get("weighted_score_delta", s.get("score", 0)) for s in shifts), 4),
        "tbt_ms": round(tbt, 1),
    }
