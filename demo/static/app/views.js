/* The back office's views, each rendered from /api/app JSON (router.js picks one).
   Seeded bugs (demo/bugs.py) act only when #app has data-seeded="on", and only on interaction. */
"use strict";

window.BackOffice = (() => {
  const API = "/api/app";
  const seeded = () => document.getElementById("app").dataset.seeded === "on";

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === true) node.setAttribute(key, "");
      else if (value !== false && value != null) node.setAttribute(key, String(value));
    }
    node.append(...children);
    return node;
  }

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.json();
  }

  const heading = (text) => el("h1", { tabindex: "-1" }, text);

  /* A custom element whose content lives in an OPEN shadow root; its link
     (seeded bug "shadow-broken-link") is only seen by readers of shadow roots. */
  class HelpCard extends HTMLElement {
    connectedCallback() {
      if (this.shadowRoot) return;
      const root = this.attachShadow({ mode: "open" });
      const style = el("style", {}, ":host { display: block; border: 1px solid var(--border); border-radius: 8px; padding: 0 1rem; } a { color: var(--link); }");
      const link = el("a", { href: "/help/returns" }, "returns policy");
      root.append(style, el("p", {}, "Questions about a return? Read our ", link, "."));
    }
  }
  customElements.define("help-card", HelpCard);

  function tabs() {
    const names = [["summary", "Summary", "Nine orders this week, three of them still open."],
                   ["activity", "Activity", "Two new contacts and one monthly report."]];
    const list = el("div", { role: "tablist", "aria-label": "This week" });
    const panels = names.map(([id, label, text], index) => {
      const tab = el("button", { type: "button", role: "tab", id: "tab-" + id, "aria-controls": "panel-" + id,
                                 "aria-selected": String(index === 0), tabindex: index === 0 ? "0" : "-1", class: "tab" }, label);
      list.append(tab);
      return el("div", { role: "tabpanel", id: "panel-" + id, "aria-labelledby": "tab-" + id, tabindex: "0",
                         class: "tab-panel", hidden: index !== 0 }, el("p", {}, text));
    });
    list.addEventListener("click", (event) => {
      const chosen = event.target.closest("[role=tab]");
      if (!chosen) return;
      for (const tab of list.querySelectorAll("[role=tab]")) {
        const on = tab === chosen;
        tab.setAttribute("aria-selected", String(on));
        tab.tabIndex = on ? 0 : -1;
        document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
      }
    });
    return [list, ...panels];
  }

  function section(id, title, ...children) {
    return el("section", { "aria-labelledby": id }, el("h2", { id }, title), ...children);
  }

  function overview(view) {
    const faq = [["How often do orders refresh?", "Press Refresh on the orders page for the latest counts."],
                 ["Where do new contacts go?", "They show in the contact list as soon as you save them."]];
    const open = el("button", { type: "button", class: "button", id: "open-report" }, "Open report");
    // Seeded bug "route-only-view" lives behind this button: no link points at the report.
    open.addEventListener("click", () => window.BackOffice.navigate("/app/reports/monthly"));
    view.replaceChildren(
      heading("Back office"),
      el("p", { class: "lead" }, "Orders, contacts and reports for the shop team."),
      section("week-heading", "This week", ...tabs()),
      section("faq-heading", "Questions", ...faq.map(([q, a]) => el("details", {}, el("summary", {}, q), el("p", {}, a)))),
      section("help-heading", "Need help?", el("help-card")),
      section("reports-heading", "Reports", el("p", {}, "The monthly report sums up sales by item."), open),
    );
  }

  function orderRow(order) {
    return el("tr", {}, el("td", {}, String(order.number)), el("td", {}, order.customer),
              el("td", {}, order.item), el("td", {}, order.total), el("td", {}, order.status));
  }

  async function orders(view) {
    const summary = el("p", { id: "order-summary", role: "status" }, "Press Refresh for the latest counts.");
    const refresh = el("button", { type: "button", class: "button button-ghost", id: "refresh-orders" }, "Refresh");
    const rows = el("tbody", { id: "order-rows" });
    const head = el("tr", {}, ...["Order", "Customer", "Item", "Total", "Status"].map((t) => el("th", { scope: "col" }, t)));
    const more = el("button", { type: "button", class: "button", id: "load-more" }, "Load more orders");
    const remove = el("button", { type: "button", class: "button button-danger", id: "delete-all" }, "Delete all orders");
    const removed = el("p", { id: "delete-status", role: "status" });
    let page = 1;
    const first = await getJson(API + "/orders?page=1");
    rows.append(...first.orders.map(orderRow));
    refresh.addEventListener("click", async () => {
      try {  // seeded bug "click-failed-request": the summary answers 500, swallowed here
        const counts = await getJson(API + "/orders/summary");
        summary.textContent = `${counts.open} open, ${counts.shipped} shipped, ${counts.total} in total.`;
      } catch (_error) { /* keep the old counts */ }
    });
    more.addEventListener("click", async () => {
      const next = await getJson(`${API}/orders?page=${page + 1}`);
      page = next.page;
      rows.append(...next.orders.map(orderRow));
      more.hidden = page >= next.pages;
    });
    remove.addEventListener("click", async () => {
      const answer = await fetch(API + "/orders/delete-all", { method: "POST" });
      removed.textContent = answer.ok ? "All orders deleted (demo: nothing was removed)." : "Nothing was deleted.";
    });
    view.replaceChildren(
      heading("Orders"), summary, el("div", { class: "actions" }, refresh),
      el("table", {}, el("caption", {}, "Recent orders, newest first"), el("thead", {}, head), rows), more,
      section("danger-heading", "Danger zone", el("p", {}, "This cannot be undone."), remove, removed),
    );
  }

  const contactItem = (c) => el("li", {}, `${c.name} (${c.email})`);

  function field(id, label, attrs) {
    return el("div", { class: "field" }, el("label", { for: id }, label), el("input", { id, ...attrs }));
  }

  async function contacts(view) {
    const data = await getJson(API + "/contacts");
    const list = el("ul", { id: "contact-list" }, ...data.contacts.map(contactItem));
    const saved = el("p", { id: "contact-saved", role: "status" });
    const opener = el("button", { type: "button", class: "button", id: "new-contact" }, "New contact");
    const cancel = el("button", { type: "button", class: "button button-ghost" }, "Cancel");
    const form = el("form", { method: "dialog", class: "form", id: "contact-form" },
      el("h2", { id: "contact-dialog-title" }, "New contact"),
      field("contact-name", "Name", { name: "name", required: true, autocomplete: "name" }),
      field("contact-email", "Email address", { name: "email", type: "email", required: true, autocomplete: "email" }),
      el("div", { class: "actions" }, cancel, el("button", { type: "submit", class: "button" }, "Save")));
    const dialog = el("dialog", { id: "contact-dialog", "aria-labelledby": "contact-dialog-title" }, form);
    opener.addEventListener("click", () => dialog.showModal());
    cancel.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      // Seeded bug "dialog-form-throws": the handler reads a field that was renamed.
      const name = (seeded() ? form.elements.fullName : form.elements.name).value.trim();
      const body = JSON.stringify({ name, email: form.elements.email.value.trim() });
      const response = await fetch(API + "/contacts", { method: "POST", body, headers: { "Content-Type": "application/json" } });
      if (response.status !== 201) return;
      const contact = await response.json();
      list.append(contactItem(contact));
      saved.textContent = `Saved ${contact.name}.`;
      form.reset();
      dialog.close();
    });
    view.replaceChildren(heading("Contacts"), list, saved, opener, dialog);
  }

  function search(view) {
    const input = el("input", { id: "search-q", name: "q", type: "search", required: true });
    const form = el("form", { role: "search", action: "/app/search", method: "get", class: "form", id: "search-form" },
      el("div", { class: "field" }, el("label", { for: "search-q" }, "Search orders and products"), input),
      el("div", {}, el("button", { type: "submit", class: "button" }, "Search")));
    const summary = el("p", { id: "results-summary", role: "status" }, "Type a word, such as pack, and press Search.");
    const results = el("ul", { id: "results" });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = await getJson(`${API}/search?q=${encodeURIComponent(input.value)}`);
      // Seeded bug "script-form-console-error": every search logs an error, results still show.
      if (seeded()) console.error("Search index is stale: results may be incomplete");
      results.replaceChildren(...data.results.map((r) => el("li", {}, `${r.kind}: ${r.title} (${r.detail})`)));
      summary.textContent = `${data.results.length} result(s) for "${input.value}".`;
    });
    view.replaceChildren(heading("Search"), form, section("results-heading", "Results", summary, results));
  }

  function help(view) {
    // Seeded bug "frame-broken-image" is inside this same-origin frame.
    const frame = el("iframe", { src: "/app/help-frame", title: "Shipping zones", width: "320", height: "300", class: "help-frame" });
    view.replaceChildren(heading("Help"), el("p", { class: "lead" }, "Where we ship, and how fast."), frame);
  }

  async function report(view) {
    view.replaceChildren(heading("Monthly report"));
    const response = await fetch(API + "/reports/monthly", { headers: { Accept: "application/json" } });
    const data = await response.json();
    // Seeded bug "route-only-view": the 500's body has no rows, so this throws (uncaught).
    const rows = data.rows.map((r) => el("tr", {}, el("td", {}, r.item), el("td", {}, String(r.orders)), el("td", {}, r.revenue)));
    const head = el("tr", {}, ...["Item", "Orders", "Revenue"].map((t) => el("th", { scope: "col" }, t)));
    view.append(el("table", {}, el("caption", {}, `Sales in ${data.month}`), el("thead", {}, head), el("tbody", {}, ...rows)));
  }

  function notFound(view) {
    view.replaceChildren(heading("Page not found"),
      el("p", {}, "The back office has no such page. ", el("a", { href: "/app", "data-link": true }, "Back to the overview"), "."));
  }

  return {
    routes: {
      "/app": ["Overview", overview], "/app/orders": ["Orders", orders], "/app/contacts": ["Contacts", contacts],
      "/app/search": ["Search", search], "/app/help": ["Help", help], "/app/reports/monthly": ["Monthly report", report],
    },
    notFound: ["Page not found", notFound],
  };
})();
