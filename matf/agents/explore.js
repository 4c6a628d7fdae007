() => {
  const norm = (s) => (s || "").replace(/\s+/g, " ").trim();
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const st = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && st.visibility !== "hidden" && st.display !== "none";
  };
  const labelOf = (el) => {
    if (el.getAttribute("aria-label")) return norm(el.getAttribute("aria-label"));
    const by = el.getAttribute("aria-labelledby");
    if (by) return norm(by.split(/\s+/).map((id) => document.getElementById(id)?.innerText || "").join(" "));
    if (el.labels && el.labels.length) return norm(el.labels[0].innerText);
    return "";
  };
  const nameOf = (el) => norm(el.getAttribute("aria-label") || el.innerText || el.value || el.getAttribute("title") || "");
  const links = [...document.querySelectorAll("a[href]")].map((a) => ({
    href: a.href, text: norm(a.innerText || a.getAttribute("aria-label") || ""),
  }));
  const images = [...document.querySelectorAll("img")].map((img) => ({
    src: img.currentSrc || img.src, alt: img.getAttribute("alt"),
  }));
  const forms = [...document.forms].filter(visible).map((form, index) => {
    const fields = [...form.elements].filter((el) => el.name || el.id).map((el) => ({
      tag: el.tagName.toLowerCase(), type: (el.type || "text").toLowerCase(), name: el.name || "",
      id: el.id || "", testid: el.getAttribute("data-testid") || "", label: labelOf(el), placeholder: el.getAttribute("placeholder") || "",
      required: el.required, pattern: el.getAttribute("pattern"), min: el.getAttribute("min"),
      max: el.getAttribute("max"), step: el.getAttribute("step"),
      minlength: el.minLength > 0 ? el.minLength : null, maxlength: el.maxLength > 0 ? el.maxLength : null,
      value: el.value || "", visible: visible(el), disabled: el.disabled,
      options: el.tagName === "SELECT" ? [...el.options].filter((o) => o.value && !o.disabled).map((o) => o.value) : [],
    }));
    const submit = [...form.elements].find((el) =>
      (el.tagName === "BUTTON" && (el.type || "submit") === "submit") ||
      (el.tagName === "INPUT" && (el.type === "submit" || el.type === "image")));
    return {
      index, action: form.action, method: (form.method || "get").toLowerCase(), fields,
      submit: submit ? { name: nameOf(submit), id: submit.id || "", testid: submit.getAttribute("data-testid") || "" } : null,
    };
  });
  const buttons = [...document.querySelectorAll("button, input[type=button]")]
    .filter((b) => visible(b) && !b.disabled)
    .filter((b) => !b.form || b.type === "button")
    .map((b) => ({ name: nameOf(b), id: b.id || "", testid: b.getAttribute("data-testid") || "" }));
  // API descriptions the page points at (RFC 8631 service-desc, or rel=api-docs).
  const apiDocs = [...document.querySelectorAll("link[href]")]
    .filter((l) => /(^|\s)(service-desc|api-docs|describedby)(\s|$)/i.test(l.rel || ""))
    .map((l) => l.href);
  return { title: document.title, links, images, forms, buttons, apiDocs };
}
