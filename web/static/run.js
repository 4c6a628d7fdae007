// A run's page: follow it live over /ws (polling /events when the socket fails),
// keep its status and progress current, and reload once it ends, so the server
// renders the outcome. Cancel and re-run for editors.
// Test names, ids and errors come from the target: they are set with textContent only.
"use strict";

(function () {
  const FINAL = ["passed", "failed", "error"];
  const STATUS_EVERY_MS = 4000;
  const POLL_EVERY_MS = 2000;

  function actions(base) {
    const error = document.getElementById("run-error");
    const cancel = document.getElementById("cancel");
    if (cancel) {
      cancel.addEventListener("click", async function () {
        cancel.disabled = true;
        try {
          await window.matf.api("POST", base + "/cancel");
          window.location.reload();
        } catch (err) {
          window.matf.showError(error, err.message);
          cancel.disabled = false;
        }
      });
    }
    const rerun = document.getElementById("rerun");
    if (rerun) {
      rerun.addEventListener("click", async function () {
        rerun.disabled = true;
        try {
          const accepted = await window.matf.api("POST", base + "/rerun");
          window.location.assign(accepted.links.dashboard);
        } catch (err) {
          window.matf.showError(error, err.message);
          rerun.disabled = false;
        }
      });
    }
  }

  function follow(runId, base) {
    const el = window.matf.el;
    const rows = new Map();
    const tbody = document.getElementById("live-tests");
    const note = document.getElementById("live-note");
    const status = document.getElementById("run-status");
    const phase = document.getElementById("run-phase");
    const bar = document.getElementById("run-progress");
    const counted = document.getElementById("run-progress-text");
    const error = document.getElementById("run-error");
    let after = 0;
    let ended = false;
    let socket = null;
    let polling = false;
    let pending = null;

    function upsert(payload, state) {
      const key = String(payload.case_id) + "\u0000" + String(payload.browser);
      let row = rows.get(key);
      if (!row) {
        row = {
          status: el("td"),
          name: el("td", { className: "name" }, String(payload.case_id ?? "")),
          browser: el("td", {}, String(payload.browser ?? "")),
          time: el("td"),
          done: false,
        };
        row.tr = el("tr", {}, row.status, row.name, row.browser, row.time);
        rows.set(key, row);
        tbody.append(row.tr);
      }
      if (row.done && state === "running") return; // a late re-delivered start
      row.done = state !== "running";
      row.tr.dataset.status = state;
      row.status.replaceChildren(window.matf.badge(state));
      row.time.textContent = typeof payload.duration_ms === "number" ? payload.duration_ms + " ms" : "";
    }

    function handle(event) {
      if (!event || typeof event.id !== "number" || event.id <= after) return; // pings, repeats
      after = event.id;
      const payload = event.payload || {};
      if (event.kind === "test_started") upsert(payload, "running");
      else if (event.kind === "test_finished") upsert(payload, String(payload.status || "error"));
      else if (event.kind === "phase" && payload.phase) phase.textContent = String(payload.phase);
      soon();
    }

    function soon() {
      if (pending === null) pending = setTimeout(refresh, 800);
    }

    async function refresh() {
      pending = null;
      if (ended) return;
      let state;
      try {
        state = await window.matf.api("GET", base + "/status");
      } catch (err) {
        note.textContent = "Could not read the run's status: " + err.message;
        return;
      }
      status.textContent = state.status;
      status.className = "badge s-" + String(state.status).replace(/[^a-z]/g, "");
      phase.textContent = state.phase;
      bar.max = Math.max(state.total, 1);
      bar.value = state.done;
      counted.textContent = state.done + " of " + state.total + " tests done" + (state.failed ? ", " + state.failed + " failing" : "");
      if (state.error) window.matf.showError(error, state.error);
      if (FINAL.includes(state.status)) {
        ended = true;
        note.textContent = "The run has ended (" + state.status + "); loading its outcome…";
        if (socket) socket.close();
        window.location.reload();
      }
    }

    async function poll() {
      if (ended) return;
      try {
        const page = await window.matf.api("GET", base + "/events?after=" + after);
        page.items.forEach(handle);
      } catch (err) {
        note.textContent = "Could not read the run's events: " + err.message;
      }
      setTimeout(poll, POLL_EVERY_MS);
    }

    function fallBack(reason) {
      if (ended || polling) return;
      polling = true;
      note.textContent = "Following by polling (" + reason + ").";
      poll();
    }

    function connect() {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const url = scheme + "//" + location.host + "/ws?run_id=" + encodeURIComponent(runId) + "&after=" + after;
      try {
        socket = new WebSocket(url);
      } catch (err) {
        return fallBack("no WebSocket");
      }
      socket.addEventListener("open", function () { note.textContent = "Live."; });
      socket.addEventListener("message", function (message) {
        try {
          handle(JSON.parse(message.data));
        } catch (err) {
          // one bad message does not end the stream
        }
      });
      socket.addEventListener("close", function () { fallBack("the live connection closed"); });
    }

    connect();
    refresh();
    setInterval(function () { if (!ended) refresh(); }, STATUS_EVERY_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const root = document.getElementById("run");
    if (!root) return;
    const runId = root.dataset.runId;
    const base = "/api/v1/runs/" + encodeURIComponent(runId);
    actions(base);
    if (root.dataset.final !== "1") follow(runId, base);
  });
})();
