/* The back office's router: one server shell, views chosen by location.pathname.
   Links marked data-link navigate with history.pushState; Back and Forward re-render. */
"use strict";

(() => {
  const office = window.BackOffice;
  const view = document.getElementById("view");
  let latest = 0;

  function markCurrent(path) {
    for (const link of document.querySelectorAll(".app-nav a")) {
      if (link.pathname === path) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  /* Render the view of the current URL; a view's error is not caught here (it is the page's). */
  async function render() {
    const path = location.pathname.replace(/\/+$/, "") || "/";
    const [title, draw] = office.routes[path] || office.notFound;
    const mine = ++latest;
    document.title = `${title} | Back office | Acme Outfitters`;
    markCurrent(path);
    view.setAttribute("aria-busy", "true");
    try {
      await draw(view);
    } finally {
      if (mine === latest) view.setAttribute("aria-busy", "false");
    }
  }

  function focusHeading() {
    const first = view.querySelector("h1");
    if (first) first.focus({ preventScroll: true });
  }

  office.navigate = (path) => {
    history.pushState({}, "", path);
    return render().then(focusHeading);
  };

  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[data-link]");
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    if (link.pathname !== location.pathname) office.navigate(link.pathname);
  });
  window.addEventListener("popstate", () => { render(); });
  render();
})();
