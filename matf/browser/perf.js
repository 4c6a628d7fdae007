// MATF performance probe.
//
// Added with context.add_init_script, it runs in every new top-level document
// before the page's own scripts and starts PerformanceObservers early. What it
// sees lives on window[Symbol.for("matf.perf")] (non-enumerable), with read(),
// which matf/browser/perf.py calls once to take the measurements.
//
// Evaluated late (on a page that was loaded without it), it installs itself
// then: observers with buffered: true still get what the browser buffered, and
// the state says it came late so the reader can flag what may be missing.
//
// Every observer is guarded with PerformanceObserver.supportedEntryTypes:
// Firefox and WebKit have no layout-shift or longtask (and maybe no LCP).
(() => {
  const KEY = Symbol.for("matf.perf");
  if (window.top !== window || Object.prototype.hasOwnProperty.call(window, KEY)) return;

  const PO = typeof PerformanceObserver === "function" ? PerformanceObserver : null;
  const supported = PO && Array.isArray(PO.supportedEntryTypes) ? [...PO.supportedEntryTypes] : [];
  const late = document.readyState !== "loading";

  const state = {
    late,
    supported,
    // Like web-vitals: paints after the page was first hidden do not count.
    hidden: !late && document.visibilityState === "hidden" ? 0 : Infinity,
    counts: {},       // entries seen per type (a full buffer, when late, means some are lost)
    errors: [],
    fcp: null,
    lcp: null,        // latest candidate, ms since navigation start
    lcpSize: 0,
    lcpStopped: false,
    cls: 0,           // largest session window (web-vitals' CLS)
    shifts: 0,
    sessionValue: 0,
    sessionFirst: 0,
    sessionLast: 0,
    longTasks: [],    // [startTime, duration]
    resources: 0,
    resourceBytes: 0,
  };
  const observers = {};

  const handlers = {
    paint(entries) {
      for (const e of entries) {
        if (e.name === "first-contentful-paint" && e.startTime < state.hidden) state.fcp = e.startTime;
      }
    },
    "largest-contentful-paint"(entries) {
      if (state.lcpStopped) return;
      const last = entries[entries.length - 1];
      if (last && last.startTime < state.hidden) {
        state.lcp = last.startTime;
        state.lcpSize = last.size || 0;
      }
    },
    "layout-shift"(entries) {
      for (const e of entries) {
        if (e.hadRecentInput) continue;
        state.shifts += 1;
        // web-vitals: a session window goes on while shifts come < 1 s apart
        // and within 5 s of its first; CLS is the largest window.
        if (state.sessionValue && e.startTime - state.sessionLast < 1000
            && e.startTime - state.sessionFirst < 5000) {
          state.sessionValue += e.value;
          state.sessionLast = e.startTime;
        } else {
          state.sessionValue = e.value;
          state.sessionFirst = state.sessionLast = e.startTime;
        }
        if (state.sessionValue > state.cls) state.cls = state.sessionValue;
      }
    },
    longtask(entries) {
      for (const e of entries) state.longTasks.push([e.startTime, e.duration]);
    },
    resource(entries) {
      for (const e of entries) {
        state.resources += 1;
        state.resourceBytes += e.transferSize || 0;
      }
    },
  };

  const take = (type, entries) => {
    if (!entries.length) return;
    state.counts[type] = (state.counts[type] || 0) + entries.length;
    handlers[type](entries);
  };

  for (const type of Object.keys(handlers)) {
    if (!supported.includes(type)) continue;
    try {
      const po = new PO((list) => take(type, list.getEntries()));
      po.observe({ type, buffered: true });
      observers[type] = po;
    } catch (err) {
      state.errors.push(`${type}: ${err}`);
    }
  }

  // Deliver what the observers hold but have not handed over yet.
  const flush = () => {
    for (const [type, po] of Object.entries(observers)) take(type, po.takeRecords());
  };

  // Like web-vitals, the LCP candidates stop at the first user input.
  const inputs = ["keydown", "pointerdown"];
  const stopLcp = (event) => {
    if (!event.isTrusted) return;
    for (const type of inputs) removeEventListener(type, stopLcp, true);
    const po = observers["largest-contentful-paint"];
    if (po) {
      take("largest-contentful-paint", po.takeRecords());
      po.disconnect();
    }
    state.lcpStopped = true;
  };
  if (!late) for (const type of inputs) addEventListener(type, stopLcp, true);
  addEventListener("visibilitychange", (event) => {
    if (document.visibilityState === "hidden" && state.hidden === Infinity) {
      state.hidden = event.timeStamp;
    }
  }, true);

  const navigation = () => {
    const entry = performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
    if (entry) return entry;
    const t = performance.timing;  // browsers without Navigation Timing 2
    if (!t || !t.navigationStart) return null;
    const since = (v) => (v ? v - t.navigationStart : 0);
    return {
      responseStart: since(t.responseStart),
      domContentLoadedEventEnd: since(t.domContentLoadedEventEnd),
      loadEventEnd: since(t.loadEventEnd),
      transferSize: 0,
      activationStart: 0,
    };
  };

  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  const PAINT_WAIT_MS = 2000;
  const firstContentfulPaint = () => {
    if (state.fcp != null || !performance.getEntriesByName) return state.fcp;
    const paint = performance.getEntriesByName("first-contentful-paint")[0];
    return paint && paint.startTime < state.hidden ? paint.startTime : null;
  };
  // Whether the paints this browser can report have been: FCP, and LCP where supported.
  const painted = () => {
    if (document.visibilityState === "hidden") return true;  // a hidden page paints nothing
    const lcpDue = observers["largest-contentful-paint"] && !state.lcpStopped;
    return firstContentfulPaint() != null && (!lcpDue || state.lcp != null);
  };

  // Everything measured so far; waits (on the page, bounded) for loadEventEnd.
  const read = async ({ loadWaitMs = 0 } = {}) => {
    const deadline = performance.now() + loadWaitMs;
    let nav = navigation();
    while (nav && !nav.loadEventEnd && performance.now() < deadline) {
      await pause(Math.min(20, Math.max(0, deadline - performance.now())));
      nav = navigation();
    }
    flush();
    // Paint timings come with the frame that showed the paint; on a starved
    // machine that frame can come after load. Wait for it a little (bounded).
    const paintDeadline = Math.min(deadline, performance.now() + PAINT_WAIT_MS);
    while (!painted() && performance.now() < paintDeadline) {
      await pause(20);
      flush();
    }
    const activation = (nav && nav.activationStart) || 0;
    const since = (v) => (v == null ? null : Math.max(0, v - activation));
    const fcp = firstContentfulPaint();
    // TBT as Lighthouse computes it from FCP on: each long task's part after
    // FCP, less 50 ms, counts; long_tasks counts the tasks that end after FCP.
    const from = fcp == null ? 0 : fcp;
    let tbt = 0;
    let longTasks = 0;
    for (const [start, duration] of state.longTasks) {
      const end = start + duration;
      if (end <= from) continue;
      longTasks += 1;
      tbt += Math.max(0, end - Math.max(start, from) - 50);
    }
    let requests = 1 + state.resources;
    let resourceBytes = state.resourceBytes;
    if (!observers.resource && performance.getEntriesByType) {
      const entries = performance.getEntriesByType("resource");
      requests = 1 + entries.length;
      resourceBytes = entries.reduce((sum, e) => sum + (e.transferSize || 0), 0);
    }
    return {
      late: state.late,
      supported: state.supported,
      observed: Object.keys(observers),
      counts: state.counts,
      errors: state.errors,
      lcpStopped: state.lcpStopped,
      lcpSize: state.lcpSize,
      navigation: !!nav,
      ttfb: nav ? since(nav.responseStart) : null,
      fcp: since(fcp),
      lcp: since(state.lcp),
      cls: state.cls,
      shifts: state.shifts,
      tbt,
      longTasks,
      dcl: nav && nav.domContentLoadedEventEnd ? since(nav.domContentLoadedEventEnd) : null,
      load: nav && nav.loadEventEnd ? since(nav.loadEventEnd) : null,
      requests,
      transferBytes: ((nav && nav.transferSize) || 0) + resourceBytes,
    };
  };

  Object.defineProperty(state, "read", { value: read, enumerable: false });
  Object.defineProperty(window, KEY, { value: state, enumerable: false, configurable: false, writable: false });
})();
