"""A small app whose parts only show after a click, for the explorer's interaction tests.

- ``/app``: a "New contact" button opening a ``<dialog>`` with a form (Name,
  Email, Save); Save adds the contact and closes the dialog, or, on the
  ``broken`` variant, throws (it calls an undefined function); a
  ``<details>`` disclosure with a button inside; tabs (``role=tab``,
  ``aria-controls``) whose second panel holds a button; a "Reports" button
  that routes to ``/app/reports`` through ``history.pushState`` (the server
  answers that URL with the same app; on the ``broken`` variant the reports
  view throws as it renders); a "Delete account" button whose
  every click the server counts (``site.clicks["delete"]``); a "Help centre"
  button that navigates to ``help`` (another origin, in a test that gives one).
  ``site.requests`` counts the paths asked for.
- ``/many``: 300 buttons, each revealing a button of its own, and a "Load
  more" list that grows by ten items (each with a button) on every click,
  forever.
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import parse_qs, urlsplit

from tests.services import LoopbackHttpServer, QuietHandler

APP = """<!doctype html><html lang="en"><head><title>Contacts</title></head><body><main>
<h1 id="view">Contacts</h1>
<ul id="contacts"><li>Ada</li></ul>
<button type="button" id="new" aria-haspopup="dialog" aria-controls="contact-dialog">
  New contact</button>
<dialog id="contact-dialog" aria-labelledby="dialog-title">
  <h2 id="dialog-title">New contact</h2>
  <form id="contact-form">
    <label for="name">Name</label> <input id="name" name="name" required>
    <label for="email">Email</label> <input id="email" name="email" type="email">
    <button type="submit">Save</button>
  </form>
</dialog>
<details><summary>Shipping policy</summary>
  <p>We ship within two days.</p>
  <button type="button" onclick="this.textContent = 'Copied'">Copy policy link</button>
</details>
<div role="tablist">
  <button role="tab" id="tab-profile" aria-selected="true" aria-controls="panel-profile">
    Profile</button>
  <button role="tab" id="tab-settings" aria-selected="false" aria-controls="panel-settings">
    Settings</button>
</div>
<section id="panel-profile" role="tabpanel" aria-labelledby="tab-profile">
  <p>Your profile.</p></section>
<section id="panel-settings" role="tabpanel" aria-labelledby="tab-settings" hidden>
  <button type="button" onclick="this.textContent = 'Exported'">Export settings</button>
</section>
<button type="button" id="reports">Reports</button>
<button type="button" id="delete">Delete account</button>
<button type="button" id="help">Help centre</button>
</main>
<script>
const dialog = document.getElementById("contact-dialog");
document.getElementById("new").addEventListener("click", () => dialog.showModal());
document.getElementById("contact-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = document.getElementById("name").value;
  SAVE
  const item = document.createElement("li");
  item.textContent = name;
  document.getElementById("contacts").append(item);
  dialog.close();
});
for (const tab of document.querySelectorAll("[role=tab]")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll("[role=tab]")) {
      other.setAttribute("aria-selected", String(other === tab));
      document.getElementById(other.getAttribute("aria-controls")).hidden = other !== tab;
    }
  });
}
const route = () => {
  if (location.pathname !== "/app/reports") return;
  ROUTE
  document.getElementById("view").textContent = "Reports";
};
document.getElementById("reports").addEventListener("click", () => {
  history.pushState({}, "", "/app/reports");
  route();
});
document.getElementById("delete").addEventListener("click", () => fetch("/clicked?what=delete"));
document.getElementById("help").addEventListener("click", () => { location.href = "HELP"; });
route();
</script></body></html>"""

HEALTHY_SAVE = ""
BROKEN_SAVE = "contactStore.save(name);  // undefined: throws ReferenceError"
BROKEN_ROUTE = "reportRows.map(String);  // undefined: throws ReferenceError"

MANY = """<!doctype html><html lang="en"><head><title>Many</title></head><body><main>
<h1>Many buttons</h1>
<ul id="list"></ul>
<button type="button" id="more">Load more</button>
<div id="buttons"></div>
</main>
<script>
const box = document.getElementById("buttons");
for (let i = 1; i <= 300; i++) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = "Option " + i;
  b.addEventListener("click", () => {
    const revealed = document.createElement("button");
    revealed.type = "button";
    revealed.textContent = "Undo option " + i;
    box.append(revealed);
  });
  box.append(b);
}
let items = 0;
document.getElementById("more").addEventListener("click", () => {
  for (let k = 0; k < 10; k++) {
    items += 1;
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = "Open item " + items;
    li.append(b);
    document.getElementById("list").append(li);
  }
});
</script></body></html>"""


class InteractiveSite(LoopbackHttpServer):
    """Serves the pages above on a free loopback port; ``clicks`` counts recorded clicks."""

    def __init__(self, broken: bool = False, help: str = "/app") -> None:
        app = APP.replace("SAVE", BROKEN_SAVE if broken else HEALTHY_SAVE).replace("HELP", help)
        app = app.replace("ROUTE", BROKEN_ROUTE if broken else "")
        pages = {"/app": app, "/app/reports": app, "/many": MANY}
        clicks: Counter[str] = Counter()
        requests: Counter[str] = Counter()
        self.clicks, self.requests = clicks, requests

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                parts = urlsplit(self.path)
                requests[parts.path] += 1
                if parts.path == "/clicked":
                    clicks[parse_qs(parts.query).get("what", ["?"])[0]] += 1
                    self.answer(204, "text/plain", b"")
                elif parts.path in pages:
                    self.answer(200, "text/html; charset=utf-8", pages[parts.path].encode())
                else:
                    self.answer(404, "text/html", b"<!doctype html><title>Not found</title>")

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}"
