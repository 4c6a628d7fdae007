"""What a model is shown of a page, writing or healing: a compact, redacted, budgeted snapshot.

A ``PageSnapshot`` holds the facts a model needs to write specs for a page
(headings, same-origin links, forms with their labels, buttons, the ARIA tree
and the visible text), read in one ``page.evaluate`` plus Playwright's ARIA
snapshot. Everything in it comes from the site under test and is untrusted:
``matf.llm.prompts`` frames it as data. ``redact`` swaps secret values for
``{{secret:NAME}}`` placeholders before anything leaves the process,
``fingerprint`` keys caches (same page, same hash, run after run) and
``trimmed`` fits a snapshot into a token budget.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from matf.redaction import Redactor

if TYPE_CHECKING:
    from playwright.sync_api import Page

# Caps on what one page may put into a snapshot, whatever the budget later.
MAX_TEXT_CHARS = 100_000
MAX_ARIA_CHARS = 100_000
MAX_ITEMS = 300  # headings, links, buttons
MAX_FORMS = 20
MAX_FIELDS = 60
MAX_OPTIONS = 60
MAX_LABEL_CHARS = 200

_COLLECT = """
([maxItems, maxForms, maxFields, maxOptions, maxLabel, maxText]) => {
  const cut = (s) => (s || "").replace(/\\s+/g, " ").trim().slice(0, maxLabel);
  const shown = (el) =>
    (el.checkVisibility ? el.checkVisibility() : el.getClientRects().length > 0);
  const textOf = (id) => document.getElementById(id)?.innerText || "";
  const nameOf = (el) => {
    if (el.getAttribute("aria-label")) return cut(el.getAttribute("aria-label"));
    const by = el.getAttribute("aria-labelledby");
    if (by) return cut(by.split(/\\s+/).map(textOf).join(" "));
    const inner = cut(el.innerText);
    if (inner) return inner;
    if (el.tagName === "INPUT" && el.value) return cut(el.value);
    const img = el.querySelector && el.querySelector("img[alt], svg title");
    const alt = img ? img.getAttribute("alt") || img.textContent : "";
    return cut(alt || el.getAttribute("title") || "");
  };
  const labelOf = (el) => {
    if (el.getAttribute("aria-label")) return cut(el.getAttribute("aria-label"));
    const by = el.getAttribute("aria-labelledby");
    if (by) return cut(by.split(/\\s+/).map(textOf).join(" "));
    if (el.labels && el.labels.length) return cut(el.labels[0].innerText);
    return cut(el.getAttribute("title") || "");
  };
  const uniq = (items, key) => {
    const seen = new Set();
    return items.filter((x) => {
      const k = key(x);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  };
  const headings = [...document.querySelectorAll("h1, h2, h3")]
    .filter(shown).map((h) => cut(h.innerText)).filter(Boolean).slice(0, maxItems);
  const links = uniq([...document.querySelectorAll("a[href], area[href]")].map((a) => {
    let url = null;
    try { url = new URL(a.href, document.baseURI); } catch (e) { return null; }
    if (!/^https?:$/.test(url.protocol) || url.origin !== location.origin) return null;
    return [nameOf(a), url.href];
  }).filter(Boolean), (x) => x[0] + "\\u0000" + x[1]).slice(0, maxItems);
  const skipped = new Set(["hidden", "submit", "button", "reset", "image"]);
  const forms = [...document.forms].filter(shown).slice(0, maxForms).map((form) => {
    const fields = [];
    const groups = new Map();
    for (const el of form.elements) {
      const type = el.tagName === "SELECT" ? (el.multiple ? "select-multiple" : "select")
        : el.tagName === "TEXTAREA" ? "textarea" : (el.type || el.tagName || "text").toLowerCase();
      if (el.tagName === "FIELDSET" || el.tagName === "OUTPUT" || el.tagName === "OBJECT") continue;
      if (skipped.has(type) || el.disabled) continue;
      if (type === "radio") {
        const key = el.name || el.id;
        let group = groups.get(key);
        if (!group) {
          const legend = el.closest("fieldset")?.querySelector("legend");
          group = { label: legend ? cut(legend.innerText) : labelOf(el), name: el.name || "",
                    type, required: false, options: [] };
          groups.set(key, group);
          fields.push(group);
        }
        group.required = group.required || el.required;
        if (group.options.length < maxOptions) group.options.push(labelOf(el) || el.value || "");
        continue;
      }
      if (type !== "checkbox" && !shown(el)) continue;
      const field = { label: labelOf(el), name: el.name || "", type, required: !!el.required,
                      options: [] };
      if (el.placeholder) field.placeholder = cut(el.placeholder);
      if (el.tagName === "SELECT") {
        field.options = [...el.options].filter((o) => o.value && !o.disabled)
          .slice(0, maxOptions).map((o) => cut(o.label || o.text) || o.value);
      }
      fields.push(field);
    }
    const submit = [...form.elements].find((el) =>
      (el.tagName === "BUTTON" && (el.type || "submit") === "submit") ||
      (el.tagName === "INPUT" && (el.type === "submit" || el.type === "image")));
    return { action: form.action, method: (form.method || "get").toLowerCase(),
             fields: fields.slice(0, maxFields), submit: submit ? nameOf(submit) || null : null };
  });
  const buttons = uniq([...document.querySelectorAll(
      "button, input[type=button], input[type=submit], input[type=reset], [role=button]")]
    .filter((b) => shown(b) && !b.disabled).map(nameOf).filter(Boolean), (x) => x)
    .slice(0, maxItems);
  const text = (document.body ? document.body.innerText : "").slice(0, maxText * 2);
  return { url: location.href, title: document.title, headings, links, forms, buttons, text };
}
"""


@dataclass(frozen=True)
class PageSnapshot:
    url: str
    title: str
    headings: list[str]  # h1-h3 text, in order
    links: list[tuple[str, str]]  # (text, absolute href) same-origin only
    # per form: action, method, fields [{label, name, type, required, options, placeholder?}],
    # submit (the submit control's accessible name, or None)
    forms: list[dict[str, Any]]
    buttons: list[str]  # accessible names
    aria: str  # Playwright's ARIA snapshot of <body>
    text: str  # visible text (innerText of body), whitespace-collapsed


def collapse(text: str) -> str:
    """Runs of blanks become one space; blank lines go; line breaks stay."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def snapshot(page: Page, timeout_ms: float = 10_000) -> PageSnapshot:
    """Read what the page shows now: one ``evaluate`` for the DOM facts, then the ARIA tree."""
    data = page.evaluate(
        _COLLECT,
        [MAX_ITEMS, MAX_FORMS, MAX_FIELDS, MAX_OPTIONS, MAX_LABEL_CHARS, MAX_TEXT_CHARS],
    )
    aria = page.locator("body").aria_snapshot(timeout=timeout_ms)
    return PageSnapshot(
        url=str(data["url"]),
        title=" ".join(str(data.get("title") or "").split())[:MAX_LABEL_CHARS],
        headings=[str(h) for h in data["headings"]],
        links=[(str(text), str(href)) for text, href in data["links"]],
        forms=list(data["forms"]),
        buttons=[str(b) for b in data["buttons"]],
        aria=aria[:MAX_ARIA_CHARS],
        text=collapse(str(data["text"]))[:MAX_TEXT_CHARS],
    )


def as_dict(snap: PageSnapshot) -> dict[str, Any]:
    """The snapshot as JSON-able data (links as ``[text, href]`` pairs)."""
    return {
        "url": snap.url,
        "title": snap.title,
        "headings": list(snap.headings),
        "links": [[text, href] for text, href in snap.links],
        "forms": json.loads(json.dumps(snap.forms)),
        "buttons": list(snap.buttons),
        "aria": snap.aria,
        "text": snap.text,
    }


def fingerprint(snap: PageSnapshot) -> str:
    """SHA-256 (hex) of a canonical JSON of the snapshot: the same page gives the same hash.

    Links and buttons are sorted (their order on the page says little about it);
    headings, forms, the ARIA tree and the text keep theirs.
    """
    data = as_dict(snap)
    data["links"] = sorted(data["links"])
    data["buttons"] = sorted(data["buttons"])
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def redact(snap: PageSnapshot, secrets: Mapping[str, str]) -> PageSnapshot:
    """Every occurrence of a secret value (of at least 4 characters) becomes ``{{secret:NAME}}``.

    In every form ``matf.redaction`` knows: URL-encoded (a secret echoed in a
    link's query), escaped, or in base64. One pass, longest value first, so a
    placeholder is never rewritten.
    """
    redactor = Redactor(secrets)
    if not redactor:
        return snap
    scrub, deep = redactor.scrub, redactor.scrub_deep
    return replace(
        snap,
        url=scrub(snap.url),
        title=scrub(snap.title),
        headings=[scrub(h) for h in snap.headings],
        links=[(scrub(text), scrub(href)) for text, href in snap.links],
        forms=[deep(form) for form in snap.forms],
        buttons=[scrub(b) for b in snap.buttons],
        aria=scrub(snap.aria),
        text=scrub(snap.text),
    )


def to_json(data: Any) -> str:
    """The compact JSON the prompts use, and the token estimates measure."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def estimate_tokens(data: Any) -> int:
    """About four characters a token, on the compact JSON of ``data``."""
    text = data if isinstance(data, str) else to_json(data)
    return math.ceil(len(text) / 4)


def _largest(fits: Callable[[int], bool], high: int) -> int | None:
    """The largest k in [0, high] with ``fits(k)``, assuming fits is monotone; None if none."""
    if fits(high):
        return high
    if not fits(0):
        return None
    low = 0  # fits(low) is true, fits(high) false
    while high - low > 1:
        mid = (low + high) // 2
        if fits(mid):
            low = mid
        else:
            high = mid
    return low


def _kept(text: str, keep: int, at_line: bool = False) -> int:
    """How much of ``text`` a cut at ``keep`` keeps (at a line end, for the ARIA tree)."""
    kept = text[:keep]
    if at_line and keep < len(text) and "\n" in kept:
        return kept.rindex("\n")
    return len(kept)


def _cut_text(text: str, keep: int, at_line: bool = False) -> str:
    n = _kept(text, keep, at_line)
    if n == len(text):
        return text
    return f"{text[:n]}…[trimmed {len(text) - n} chars]"


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: max(limit - 1, 0)] + "…"


class _Trimming:
    """A snapshot's dict on its way into a token budget, with notes on what was trimmed."""

    def __init__(self, data: dict[str, Any], token_budget: int) -> None:
        self.data = data
        self.token_budget = token_budget
        self.notes: dict[str, str] = data["trimmed"]

    def fits(self, candidate: dict[str, Any]) -> bool:
        """Whether ``candidate`` is within the budget (its notes counted in)."""
        return estimate_tokens(candidate) <= self.token_budget

    def shrink(
        self, key: str, build: Callable[[int], Any], size: int, note: Callable[[int], str]
    ) -> bool:
        """Set data[field] to the largest build(k) that fits; True once the dict fits.

        ``key`` names what is trimmed, ``"forms.options"`` for part of ``forms``.
        """
        data, notes = self.data, self.notes
        field = key.split(".")[0]
        if self.fits(data):
            return True
        if size == 0:
            return False
        notes[key] = note(0)  # a note's size barely changes with k: count it in while searching

        def fits_with(k: int) -> bool:
            notes[key] = note(k)
            return self.fits({**data, field: build(k)})

        before = data[field]
        keep = _largest(fits_with, size)
        chosen = 0 if keep is None else keep
        data[field] = build(chosen)
        notes[key] = note(chosen)
        if data[field] == before:  # nothing could go (a heading always stays)
            del notes[key]
        return keep is not None


def trimmed(snap: PageSnapshot, token_budget: int) -> dict[str, Any]:
    """The snapshot as a JSON-able dict that fits ``token_budget`` (ceil(chars/4) of its JSON).

    Trims, in order and only as far as needed: the text (its start kept), the
    ARIA tree, links (the first kept), the options of form fields; then, for
    tiny budgets, buttons, form fields, headings and long strings. url, title,
    headings and forms are never dropped entirely. What was trimmed is recorded
    under ``"trimmed"`` (field -> what was kept), empty when nothing was.
    """
    data = as_dict(snap)
    data["trimmed"] = {}
    trimming = _Trimming(data, token_budget)
    if trimming.fits(data) or _trim_content(trimming, snap) or _trim_skeleton(trimming):
        return data
    _clip_strings(trimming)
    return data


def _trim_content(trimming: _Trimming, snap: PageSnapshot) -> bool:
    """Trim the text, the ARIA tree, links and field options, in turn; True once it fits."""
    text, aria = snap.text, snap.aria
    if trimming.shrink(
        "text",
        lambda k: _cut_text(text, k),
        len(text),
        lambda k: f"kept {min(k, len(text))} of {len(text)} chars",
    ):
        return True
    if trimming.shrink(
        "aria",
        lambda k: _cut_text(aria, k, at_line=True),
        len(aria),
        lambda k: f"kept {_kept(aria, k, at_line=True)} of {len(aria)} chars",
    ):
        return True
    links = trimming.data["links"]
    if trimming.shrink(
        "links", lambda k: links[:k], len(links), lambda k: f"kept {k} of {len(links)}"
    ):
        return True
    forms = trimming.data["forms"]
    most = max((len(f.get("options") or []) for form in forms for f in form["fields"]), default=0)

    def with_options(k: int) -> list[dict[str, Any]]:
        return [
            {**form, "fields": [{**f, "options": f["options"][:k]} for f in form["fields"]]}
            for form in forms
        ]

    return trimming.shrink(
        "forms.options",
        with_options,
        most,
        lambda k: f"kept at most {k} per field",
    )


def _trim_skeleton(trimming: _Trimming) -> bool:
    """For tiny budgets, trim buttons, form fields and headings; True once it fits.

    Past what ``_trim_content`` trims, this keeps the skeleton readable.
    """
    buttons = trimming.data["buttons"]
    if trimming.shrink(
        "buttons", lambda k: buttons[:k], len(buttons), lambda k: f"kept {k} of {len(buttons)}"
    ):
        return True
    forms = trimming.data["forms"]
    fields = max((len(form["fields"]) for form in forms), default=0)
    if trimming.shrink(
        "forms.fields",
        lambda k: [{**form, "fields": form["fields"][:k]} for form in forms],
        fields,
        lambda k: f"kept at most {k} per form",
    ):
        return True
    headings = trimming.data["headings"]
    return trimming.shrink(
        "headings",
        lambda k: headings[: max(k, 1)],
        len(headings),
        lambda k: f"kept {max(k, 1) if headings else 0} of {len(headings)}",
    )


def _clip_strings(trimming: _Trimming) -> None:
    """Clip headings, the title and the url; note when even that does not fit."""
    data = trimming.data
    data["headings"] = [_clip(h, 80) for h in data["headings"]]
    data["title"] = _clip(data["title"], 120)
    data["url"] = _clip(data["url"], 200)
    if not trimming.fits(data):
        trimming.notes["budget"] = (
            f"{trimming.token_budget} tokens is too small; this is the minimal snapshot"
        )
