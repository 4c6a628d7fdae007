() => {
  // Reads the page's document, its open shadow roots (custom elements inside
  // custom elements too) and the documents of its same-origin iframes, nested.
  // Closed shadow roots and cross-origin frames are out of reach: skipped.
  // Every item found inside an iframe says which one: `frames`, a selector of
  // each iframe element in the document before it, outermost first.
  const MAX_DOCS = 20;
  const MAX_DEPTH = 5;
  const norm = (s) => (s || "").replace(/\s+/g, " ").trim();
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const st = el.ownerDocument.defaultView.getComputedStyle(el);
    return r.width > 0 && r.height > 0 && st.visibility !== "hidden" && st.display !== "none";
  };
  // Every tree of one document: the document, then each open shadow root within.
  const treesOf = (doc) => {
    const trees = [doc];
    for (let i = 0; i < trees.length; i++) {
      for (const el of trees[i].querySelectorAll("*")) {
        if (el.shadowRoot) trees.push(el.shadowRoot);
      }
    }
    return trees;
  };
  const all = (trees, selector) => trees.flatMap((tree) => [...tree.querySelectorAll(selector)]);
  const labelOf = (el) => {
    if (el.getAttribute("aria-label")) return norm(el.getAttribute("aria-label"));
    const by = el.getAttribute("aria-labelledby");
    const root = el.getRootNode();
    if (by) return norm(by.split(/\s+/).map((id) => root.getElementById?.(id)?.innerText || "").join(" "));
    if (el.labels && el.labels.length) return norm(el.labels[0].innerText);
    return "";
  };
  const nameOf = (el) => norm(el.getAttribute("aria-label") || el.innerText || el.value || el.getAttribute("title") || "");
  const quoted = (value) => JSON.stringify(value);
  // A selector that finds this iframe alone in its document (Playwright's CSS
  // reaches into open shadow roots, so uniqueness is counted across them).
  const frameSelector = (frame, trees) => {
    const candidates = [];
    for (const attr of ["id", "name", "title", "data-testid", "src"]) {
      const value = frame.getAttribute(attr);
      if (value) candidates.push(`${frame.localName}[${attr}=${quoted(value)}]`);
    }
    for (const selector of candidates) {
      try {
        if (selector.length <= 300 && all(trees, selector).length === 1) return selector;
      } catch (e) {
        // a value CSS cannot quote: try the next
      }
    }
    const plain = [...frame.ownerDocument.querySelectorAll(frame.localName)];
    const shadowed = trees.length > 1 && all(trees.slice(1), frame.localName).length > 0;
    return plain.includes(frame) && !shadowed ? `${frame.localName} >> nth=${plain.indexOf(frame)}` : null;
  };
  const fieldOf = (el) => ({
    tag: el.tagName.toLowerCase(), type: (el.type || "text").toLowerCase(), name: el.name || "",
    id: el.id || "", testid: el.getAttribute("data-testid") || "", label: labelOf(el), placeholder: el.getAttribute("placeholder") || "",
    required: el.required, pattern: el.getAttribute("pattern"), min: el.getAttribute("min"),
    max: el.getAttribute("max"), step: el.getAttribute("step"),
    minlength: el.minLength > 0 ? el.minLength : null, maxlength: el.maxLength > 0 ? el.maxLength : null,
    value: el.value || "", visible: visible(el), disabled: el.disabled,
    options: el.tagName === "SELECT" ? [...el.options].filter((o) => o.value && !o.disabled).map((o) => o.value) : [],
  });
  const out = { title: document.title, links: [], images: [], forms: [], buttons: [], apiDocs: [] };
  const read = (doc, frames) => {
    const trees = treesOf(doc);
    out.links.push(...all(trees, "a[href]").map((a) => ({
      href: a.href, text: norm(a.innerText || a.getAttribute("aria-label") || ""), frames,
    })));
    out.images.push(...all(trees, "img").map((img) => ({ src: img.currentSrc || img.src, alt: img.getAttribute("alt"), frames })));
    // form.elements holds the form's controls in its own tree, shadow or not.
    out.forms.push(...all(trees, "form").filter(visible).map((form, index) => {
      const fields = [...form.elements].filter((el) => el.name || el.id).map(fieldOf);
      const submit = [...form.elements].find((el) =>
        (el.tagName === "BUTTON" && (el.type || "submit") === "submit") ||
        (el.tagName === "INPUT" && (el.type === "submit" || el.type === "image")));
      return {
        index, frames, action: form.action, method: (form.method || "get").toLowerCase(), fields,
        submit: submit ? { name: nameOf(submit), id: submit.id || "", testid: submit.getAttribute("data-testid") || "" } : null,
      };
    }));
    out.buttons.push(...all(trees, "button, input[type=button]")
      .filter((b) => visible(b) && !b.disabled)
      .filter((b) => !b.form || b.type === "button")
      .map((b) => ({ name: nameOf(b), id: b.id || "", testid: b.getAttribute("data-testid") || "", frames })));
    return trees;
  };
  // Documents breadth first: the page, then its frames' documents, nested.
  const queue = [[document, []]];
  for (let done = 0; queue.length && done < MAX_DOCS; done++) {
    const [doc, frames] = queue.shift();
    const trees = read(doc, frames);
    if (frames.length >= MAX_DEPTH) continue;
    for (const frame of all(trees, "iframe, frame")) {
      let inner = null;
      try {
        inner = frame.contentDocument; // null for a cross-origin frame
      } catch (e) {
        inner = null;
      }
      if (!inner || !inner.documentElement) continue;
      const selector = frameSelector(frame, trees);
      if (selector !== null) queue.push([inner, [...frames, selector]]);
    }
  }
  // API descriptions the page points at (RFC 8631 service-desc, or rel=api-docs).
  out.apiDocs = [...document.querySelectorAll("link[href]")]
    .filter((l) => /(^|\s)(service-desc|api-docs|describedby)(\s|$)/i.test(l.rel || ""))
    .map((l) => l.href);
  return out;
}
