// What interaction exploration reads on a live page (see matf/agents/interact.py).
// mode "mark": tag this document, so a later snapshot can tell a same-document
//   URL change (History API) from a new document;
// mode "settle": resolve once the DOM has been quiet for 100 ms (at most 1.5 s);
// mode "snapshot": the visible interactive structure (the state's fingerprint),
//   open dialogs, list items, and the controls worth clicking, best cue first.
(mode) => {
  if (mode === "mark") {
    window.__matfExplored = true;
    return true;
  }
  if (mode === "settle") {
    return new Promise((resolve) => {
      let timer = null;
      const done = () => { observer.disconnect(); clearTimeout(timer); resolve(true); };
      const observer = new MutationObserver(() => { clearTimeout(timer); timer = setTimeout(done, 100); });
      observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
      timer = setTimeout(done, 100);
      setTimeout(done, 1500);
    });
  }
  const norm = (s) => (s || "").replace(/\s+/g, " ").trim().slice(0, 120);
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const st = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && st.visibility !== "hidden" && st.display !== "none";
  };
  const nameOf = (el) => {
    const by = el.getAttribute("aria-labelledby");
    const labelled = by ? by.split(/\s+/).map((id) => document.getElementById(id)?.innerText || "").join(" ") : "";
    return norm(el.getAttribute("aria-label") || labelled || el.innerText || el.value || el.getAttribute("title") || "");
  };
  const roleOf = (el) => {
    const explicit = (el.getAttribute("role") || "").split(/\s+/)[0];
    if (explicit) return explicit;
    const tag = el.tagName;
    if (tag === "BUTTON" || (tag === "INPUT" && ["button", "submit", "reset", "image"].includes(el.type))) return "button";
    if (tag === "A") return "link";
    if (tag === "SUMMARY") return "summary";
    if (tag === "SELECT") return "combobox";
    if (tag === "TEXTAREA" || tag === "INPUT") return el.type === "checkbox" || el.type === "radio" ? el.type : "textbox";
    return tag.toLowerCase();
  };
  const controls = [...document.querySelectorAll(
    "a[href], button, input, select, textarea, summary, [role], [tabindex]",
  )].filter((el) => el.type !== "hidden" && visible(el));
  const structure = controls.map((el) => {
    const field = ["INPUT", "SELECT", "TEXTAREA"].includes(el.tagName);
    const name = field ? norm(el.name || el.id || el.getAttribute("aria-label")) : nameOf(el);
    const open = el.tagName === "SUMMARY" && el.parentElement?.open ? "open" : "";
    return [roleOf(el), name, el.getAttribute("aria-expanded") || "", el.getAttribute("aria-selected") || "", open].join("|");
  });
  const dialogs = [...document.querySelectorAll("dialog[open], [role=dialog], [role=alertdialog]")]
    .filter(visible)
    .map((d) => nameOf(d.querySelector("h1, h2, h3, h4, legend") || d).slice(0, 80));
  const controlsDialog = (el) => {
    const id = el.getAttribute("aria-controls");
    const target = id ? document.getElementById(id) : null;
    return !!target && (target.tagName === "DIALOG" || /dialog/.test(target.getAttribute("role") || ""));
  };
  const cue = (el) => {
    if (el.hasAttribute("aria-haspopup") || controlsDialog(el)) return 0;
    if (el.getAttribute("aria-expanded") === "false" || (el.tagName === "SUMMARY" && !el.parentElement?.open)) return 1;
    if (el.getAttribute("role") === "tab") return 2;
    return 3;
  };
  const candidates = [...document.querySelectorAll(
    "button, input[type=button], summary, [role=button], [role=tab], [aria-expanded], [aria-haspopup], [aria-controls]",
  )]
    .filter((el) => visible(el) && !el.disabled && el.getAttribute("aria-disabled") !== "true")
    // a link that leaves the document is crawled, not clicked; a submit button submits
    .filter((el) => !(el.tagName === "A" && !/^#/.test(el.getAttribute("href") || "#")))
    .filter((el) => !(el.tagName === "BUTTON" && el.form && el.type !== "button"))
    .filter((el) => !(el.tagName === "INPUT" && el.type !== "button"))
    .filter((el) => el.getAttribute("aria-selected") !== "true" && el.getAttribute("aria-expanded") !== "true")
    .filter((el) => !(el.tagName === "SUMMARY" && el.parentElement?.open))
    .map((el) => ({
      role: el.tagName === "SUMMARY" ? "" : roleOf(el), name: nameOf(el), id: el.id || "",
      testid: el.getAttribute("data-testid") || "", cue: cue(el),
    }));
  return {
    url: location.href,
    marked: window.__matfExplored === true,
    structure,
    dialogs,
    items: document.querySelectorAll("li, tr, [role=listitem], [role=row], article").length,
    candidates,
  };
}
