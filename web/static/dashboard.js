// The dashboard's shared script: API calls with the CSRF token, the start-run form,
// suite case toggles, baseline and healing decisions, users' deactivation and deletion,
// and the agents/queues/browser panels.
// Data from the server or a target is only ever set with textContent, never as markup.
"use strict";

(function () {
  function cookie(name) {
    const prefix = name + "=";
    for (const part of document.cookie.split(";")) {
      const item = part.trim();
      if (item.startsWith(prefix)) return decodeURIComponent(item.slice(prefix.length));
    }
    return "";
  }

  // fetch() against our API; resolves to the JSON body, rejects with a readable Error.
  async function api(method, url, body) {
    const options = { method: method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET") options.headers["X-CSRF-Token"] = cookie("matf_csrf");
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (err) {
      data = null;
    }
    if (!response.ok) {
      const message = (data && (data.detail || data.title)) || response.status + " " + response.statusText;
      if (response.status === 401) {
        window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
      }
      throw new Error(message);
    }
    return data;
  }

  // el("td", {className: "x"}, "text", child...): text arguments become text nodes.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // An ISO time as the server renders times: UTC, to the second.
  function when(iso) {
    if (!iso) return "never";
    const moment = new Date(iso);
    if (isNaN(moment)) return String(iso);
    return moment.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }

  function badge(status) {
    return el("span", { className: "badge s-" + String(status).replace(/[^a-z]/g, "") }, status);
  }

  function table(headers, rows) {
    const head = el("tr", {}, ...headers.map(function (h) { return el("th", {}, h); }));
    const body = el("tbody");
    for (const cells of rows) body.append(el("tr", {}, ...cells.map(function (c) { return el("td", {}, c); })));
    return el("table", { className: "grid" }, el("thead", {}, head), body);
  }

  function showError(node, message) {
    node.textContent = message;
    node.hidden = !message;
  }

  // -- start a run ------------------------------------------------------------------

  function startForm(form) {
    const error = document.getElementById("start-error");
    // Roles only mean something when the run signs in.
    const login = form.querySelector("input[name=login]");
    const roles = form.querySelector("input[name=roles]");
    if (login && roles) login.addEventListener("change", function () { roles.disabled = !login.checked; });
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      showError(error, "");
      const data = new FormData(form);
      const body = {
        url: String(data.get("url") || "").trim(),
        types: data.getAll("types"),
        browsers: data.getAll("browsers"),
        formats: data.getAll("formats").concat(["json"]),  // json: always written (its box is disabled)
      };
      const pages = parseInt(String(data.get("max_pages") || ""), 10);
      if (pages > 0) body.max_pages = pages;
      if (!body.url) return showError(error, "Give the URL of the site to test.");
      if (!body.types.length) return showError(error, "Choose at least one kind of test.");
      if (!body.browsers.length) return showError(error, "Choose at least one browser.");
      // The AI writer's fields (absent when the server has no model key: the fieldset is disabled).
      const goals = String(data.get("goals") || "").split("\n").map(function (g) { return g.trim(); }).filter(Boolean);
      const calls = parseInt(String(data.get("max_llm_calls") || ""), 10);
      if (goals.length > 50) return showError(error, "Give at most 50 goals, one per line.");
      if (goals.some(function (g) { return g.length > 500; })) return showError(error, "Keep each goal under 500 characters.");
      if (goals.length || calls > 0) {
        body.ai = {};
        if (goals.length) body.ai.goals = goals;
        if (calls > 0) body.ai.max_llm_calls = calls;
      }
      // Signing in (absent when the server has no ENCRYPTION_KEY: the fieldset is disabled).
      if (data.get("login")) {
        const names = String(data.get("roles") || "").split(",").map(function (r) { return r.trim(); }).filter(Boolean);
        if (names.length > 10) return showError(error, "Give at most 10 roles.");
        body.login = { enabled: true, roles: names };
      }
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const accepted = await api("POST", "/api/v1/tests/execute", body);
        window.location.assign((accepted.links && accepted.links.dashboard) || "/runs/" + encodeURIComponent(accepted.run_id));
      } catch (err) {
        showError(error, err.message);
        button.disabled = false;
      }
    });
  }

  // -- suite cases --------------------------------------------------------------------

  function suiteToggles(root) {
    const error = document.getElementById("suite-error");
    const suiteId = root.dataset.suiteId;
    root.addEventListener("change", async function (event) {
      const box = event.target;
      if (!(box instanceof HTMLInputElement) || !box.dataset.field) return;
      const row = box.closest("tr");
      const url = "/api/v1/suites/" + encodeURIComponent(suiteId) + "/cases/" + encodeURIComponent(row.dataset.caseId);
      box.disabled = true;
      showError(error, "");
      try {
        const body = {};
        body[box.dataset.field] = box.checked;
        const updated = await api("PATCH", url, body);
        box.checked = Boolean(updated[box.dataset.field]);
      } catch (err) {
        box.checked = !box.checked;
        showError(error, err.message);
      } finally {
        box.disabled = false;
      }
    });
  }

  // -- visual baselines ------------------------------------------------------------------

  function baselineButtons(root) {
    const error = document.getElementById("baseline-error");
    root.addEventListener("click", async function (event) {
      const button = event.target;
      if (!(button instanceof HTMLButtonElement) || !button.dataset.decide) return;
      const item = button.closest("[data-baseline-id]");
      const buttons = item.querySelectorAll("button[data-decide]");
      buttons.forEach(function (b) { b.disabled = true; });
      showError(error, "");
      try {
        const url = "/api/v1/baselines/" + encodeURIComponent(item.dataset.baselineId) + "/" + button.dataset.decide;
        const decided = await api("POST", url);
        item.querySelector("[data-outcome]").textContent = decided.status;
      } catch (err) {
        buttons.forEach(function (b) { b.disabled = false; });
        showError(error, err.message);
      }
    });
  }

  // -- users (admins) -----------------------------------------------------------------------

  // Deactivate, activate, delete; delete asks again on the same button before it acts.
  function userButtons(root) {
    const error = document.getElementById("users-error");
    root.addEventListener("click", async function (event) {
      const button = event.target;
      if (!(button instanceof HTMLButtonElement) || !button.dataset.userAction) return;
      const row = button.closest("[data-user-id]");
      const action = button.dataset.userAction;
      showError(error, "");
      if (action === "delete" && !button.dataset.armed) {
        button.dataset.armed = "1";
        button.textContent = "Really delete " + row.dataset.email + "?";
        return;
      }
      const url = "/api/v1/users/" + encodeURIComponent(row.dataset.userId);
      row.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      try {
        await api(action === "delete" ? "DELETE" : "POST", action === "delete" ? url : url + "/" + action);
        window.location.reload();
      } catch (err) {
        row.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
        if (action === "delete") { delete button.dataset.armed; button.textContent = "Delete"; }
        showError(error, err.message);
      }
    });
  }

  // -- healing proposals ------------------------------------------------------------------

  function healingButtons(root) {
    const error = document.getElementById("healing-error");
    root.addEventListener("click", async function (event) {
      const button = event.target;
      if (!(button instanceof HTMLButtonElement) || !button.dataset.decide) return;
      const item = button.closest("[data-proposal-id]");
      const buttons = item.querySelectorAll("button[data-decide]");
      buttons.forEach(function (b) { b.disabled = true; });
      showError(error, "");
      try {
        const url = "/api/v1/healing/" + encodeURIComponent(item.dataset.proposalId) + "/" + button.dataset.decide;
        const decided = await api("POST", url);
        item.dataset.status = decided.status;
        item.querySelector("[data-outcome]").textContent = decided.status + (decided.applied_to ? " (applied to " + decided.applied_to + ")" : "");
      } catch (err) {
        buttons.forEach(function (b) { b.disabled = false; });
        showError(error, err.message);
      }
    });
  }

  // -- the optimizer: quarantine proposals, a run now ------------------------------------

  function optimizerPage(root) {
    const error = document.getElementById("optimizer-error");
    const run = document.getElementById("optimizer-run");
    if (run) {
      run.addEventListener("click", async function () {
        run.disabled = true;
        showError(error, "");
        try {
          const sent = await api("POST", "/api/v1/optimizer/run");
          document.getElementById("optimizer-run-outcome").textContent = "sent (" + sent.task_id + "): reload in a moment";
        } catch (err) {
          run.disabled = false;
          showError(error, err.message);
        }
      });
    }
    root.addEventListener("click", async function (event) {
      const button = event.target;
      if (!(button instanceof HTMLButtonElement) || !button.dataset.decide) return;
      const item = button.closest("[data-quarantine-id]");
      const buttons = item.querySelectorAll("button[data-decide]");
      buttons.forEach(function (b) { b.disabled = true; });
      showError(error, "");
      try {
        const url = "/api/v1/optimizer/quarantine/" + encodeURIComponent(item.dataset.quarantineId) + "/" + button.dataset.decide;
        const decided = await api("POST", url);
        item.dataset.status = decided.status;
        item.querySelector("[data-outcome]").textContent = decided.status + (decided.applied_to ? " (" + decided.applied_to + ")" : "");
      } catch (err) {
        buttons.forEach(function (b) { b.disabled = false; });
        showError(error, err.message);
      }
    });
  }

  // -- agents, queues, browsers ---------------------------------------------------------

  function unavailable(node, err) {
    node.replaceChildren(el("p", { className: "error" }, "Unavailable: " + err.message));
  }

  function agentsTable(report) {
    return table(
      ["Agent", "Queue", "Health", "Workers", "Active", "Reserved", "Last heartbeat"],
      report.agents.map(function (a) {
        return [a.agent, a.queue, badge(a.state === "on_demand" ? "idle" : a.healthy ? "healthy" : "down"), String(a.workers_online) + (a.workers.length ? " (" + a.workers.join(", ") + ")" : ""), String(a.active_tasks), String(a.reserved_tasks), when(a.last_heartbeat)];
      })
    );
  }

  function queuesTable(report) {
    const rows = report.queues.map(function (q) { return [q.queue, q.length === null ? "unknown" : String(q.length)]; });
    rows.push([el("strong", {}, "total"), el("strong", {}, String(report.total))]);
    return table(["Queue", "Waiting"], rows);
  }

  function poolTable(report) {
    const engines = table(
      ["Browser", "Available", "Open", "Detail"],
      Object.entries(report.browsers).map(function ([name, b]) {
        return [name, b.available ? "yes" : "no", String(b.open ?? ""), String(b.detail ?? "")];
      })
    );
    const procs = table(
      ["Executor", "PID", "Browsers", "Launches", "Contexts open", "Tests run"],
      report.executors.map(function (x) {
        return [String(x.worker ?? ""), String(x.pid ?? ""), (x.browsers || []).join(", "), String(x.launches ?? ""), String(x.contexts_open ?? ""), String(x.tests_run ?? "")];
      })
    );
    return el("div", {}, el("p", { className: "muted" }, "Pool size " + report.pool_size), engines, procs);
  }

  // What a job's last run did, in a few words: its detail's numbers, or its error.
  function jobDetail(job) {
    const d = job.last_detail;
    if (!d) return "";
    if (d.error) return d.error;
    if (d.skipped) return String(d.skipped);
    return Object.entries(d)
      .filter(function ([, v]) { return typeof v === "number" || typeof v === "boolean"; })
      .map(function ([k, v]) { return k.replace(/_/g, " ") + " " + v; })
      .join(", ");
  }

  function scheduleTable(report) {
    const rows = report.jobs.map(function (j) {
      const outcome = j.running ? badge("running") : j.last_outcome ? badge(j.last_outcome) : "never ran";
      return [j.name, j.queue, "every " + j.interval, when(j.last_started_at), outcome, jobDetail(j), j.next_run_at ? when(j.next_run_at) : "one interval after start", String(j.runs) + (j.skipped ? " (" + j.skipped + " doubled sends skipped)" : "")];
    });
    return el("div", {},
      el("p", { className: "muted" }, "Sent by " + report.sender + "; a job runs once per interval, whoever sends it."),
      table(["Job", "Queue", "Interval", "Last run", "Outcome", "Last run did", "Next run", "Runs"], rows));
  }

  async function fill(node, url, render) {
    try {
      node.replaceChildren(render(await api("GET", url)));
    } catch (err) {
      unavailable(node, err);
    }
  }

  async function summary(node) {
    const parts = await Promise.allSettled([
      api("GET", "/api/v1/system/agents/status"),
      api("GET", "/api/v1/system/test-queue"),
    ]);
    const list = el("ul", { className: "summary" });
    if (parts[0].status === "fulfilled") {
      const agents = parts[0].value.agents;
      const healthy = agents.filter(function (a) { return a.healthy; }).length;
      if (agents.every(function (a) { return a.state === "on_demand"; })) {
        list.append(el("li", {}, badge("idle"), " embedded: the " + agents.length + " agents' workers start with the first run"));
      } else {
        list.append(el("li", {}, badge(healthy === agents.length ? "healthy" : "degraded"), " " + healthy + " of " + agents.length + " agents healthy (" + parts[0].value.mode + ")"));
      }
      for (const a of agents.filter(function (x) { return x.state === "down"; })) list.append(el("li", { className: "bad" }, a.agent + ": no worker online"));
    } else {
      list.append(el("li", { className: "error" }, "Agents unavailable: " + parts[0].reason.message));
    }
    if (parts[1].status === "fulfilled") {
      const q = parts[1].value;
      const busy = q.queues.filter(function (x) { return x.length; }).map(function (x) { return x.queue + " " + x.length; });
      list.append(el("li", {}, q.total + " message" + (q.total === 1 ? "" : "s") + " waiting" + (busy.length ? " (" + busy.join(", ") + ")" : "")));
    } else {
      list.append(el("li", { className: "error" }, "Queues unavailable: " + parts[1].reason.message));
    }
    node.replaceChildren(list);
  }

  function systemPanels() {
    const panels = {
      summary: function (node) { return summary(node); },
      agents: function (node) { return fill(node, "/api/v1/system/agents/status", agentsTable); },
      queues: function (node) { return fill(node, "/api/v1/system/test-queue", queuesTable); },
      pool: function (node) { return fill(node, "/api/v1/system/browser-pool", poolTable); },
      schedule: function (node) { return fill(node, "/api/v1/system/schedule", scheduleTable); },
    };
    const nodes = document.querySelectorAll("[data-system]");
    if (!nodes.length) return;
    const refresh = function () {
      nodes.forEach(function (node) { panels[node.dataset.system](node); });
    };
    refresh();
    setInterval(function () { if (!document.hidden) refresh(); }, 10000);
  }

  window.matf = { api: api, el: el, badge: badge, showError: showError };

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("start-run");
    if (form) startForm(form);
    const suite = document.getElementById("suite");
    if (suite) suiteToggles(suite);
    const baselines = document.getElementById("baselines");
    if (baselines) baselineButtons(baselines);
    const healing = document.getElementById("healing");
    if (healing) healingButtons(healing);
    const optimizer = document.getElementById("optimizer");
    if (optimizer) optimizerPage(document.querySelector("main"));
    const users = document.getElementById("users");
    if (users) userButtons(users);
    systemPanels();
  });
})();
