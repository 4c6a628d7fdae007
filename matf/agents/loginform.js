// The sign-in form on a page, and what the page shows after submitting it.
// Called with "find" (mark the form's fields with data-matf-login and describe
// them) or "inspect" (password field, CAPTCHA, one-time-code field, error text).
// It reads the page only; no value typed in is ever read back.
(mode) => {
  const visible = (el) => {
    if (!el || (el.type || "").toLowerCase() === "hidden") return false;
    if (typeof el.checkVisibility === "function" &&
        !el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) return false;
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  };
  const words = (el) => [
    el.getAttribute("autocomplete"), el.name, el.id, el.getAttribute("aria-label"),
    el.getAttribute("placeholder"), ...Array.from(el.labels || [], (l) => l.textContent),
  ].filter(Boolean).join(" ").toLowerCase();
  const squeeze = (text) => (text || "").replace(/\s+/g, " ").trim();

  const passwords = () => Array.from(document.querySelectorAll("input[type=password]")).filter(visible);

  const captcha = () => {
    const seen = new Set();
    for (const frame of document.querySelectorAll("iframe")) {
      const src = (frame.getAttribute("src") || "").toLowerCase();
      if (src.includes("recaptcha")) seen.add("reCAPTCHA");
      if (src.includes("hcaptcha")) seen.add("hCaptcha");
      if (src.includes("turnstile") || src.includes("challenges.cloudflare.com")) seen.add("Turnstile");
    }
    const widgets = [
      [".g-recaptcha, [name=g-recaptcha-response], #g-recaptcha-response", "reCAPTCHA"],
      [".h-captcha, [name=h-captcha-response]", "hCaptcha"],
      [".cf-turnstile, [name=cf-turnstile-response]", "Turnstile"],
    ];
    for (const [selector, name] of widgets) {
      if (document.querySelector(selector)) seen.add(name);
    }
    return Array.from(seen);
  };

  const oneTimeCode = () => Array.from(document.querySelectorAll("input")).some((el) => {
    if (!visible(el)) return false;
    if ((el.getAttribute("autocomplete") || "").toLowerCase() === "one-time-code") return true;
    const key = `${el.name || ""} ${el.id || ""}`.toLowerCase();
    return /(^|[^a-z])(otp|totp|2fa|mfa|code)([^a-z]|$)|one.?time|verification/.test(key);
  });

  const errorText = () => {
    const selector = "[role=alert], [aria-live=assertive], .error, .errors, .alert-danger, " +
      ".alert-error, .notice-error, .flash-error, .form-error, .field-error, .invalid-feedback";
    const texts = [];
    for (const el of document.querySelectorAll(selector)) {
      const text = squeeze(el.innerText);
      if (visible(el) && text && !texts.some((t) => t.includes(text))) texts.push(text);
    }
    return texts.join(" ").slice(0, 300);
  };

  const usernameScore = (el) => {
    const auto = (el.getAttribute("autocomplete") || "").toLowerCase();
    if (auto === "username" || auto === "email") return 3;
    if (/user|e-?mail|login|account|identifier/.test(words(el))) return 2;
    return (el.type || "").toLowerCase() === "email" ? 2 : 1;
  };

  const find = () => {
    const fields = passwords();
    const password = fields.find((f) => (f.getAttribute("autocomplete") || "") === "current-password") ||
      fields.find((f) => !f.form || Array.from(f.form.elements).filter((e) => e.type === "password").length === 1) ||
      fields[0];
    if (!password) return { found: false };
    const scope = password.form || document;
    const textual = ["", "text", "email", "tel"];
    const before = (el) => el.compareDocumentPosition(password) & Node.DOCUMENT_POSITION_FOLLOWING;
    const inputs = Array.from(scope.querySelectorAll("input")).filter(
      (el) => visible(el) && textual.includes((el.getAttribute("type") || "").toLowerCase()) && before(el));
    let username = null;
    for (const el of inputs) {  // the best score, the one nearest the password on a tie
      if (!username || usernameScore(el) >= usernameScore(username)) username = el;
    }
    const buttons = Array.from(scope.querySelectorAll(
      "button[type=submit], button:not([type]), input[type=submit], input[type=image]")).filter(visible);
    const submit = buttons.find((b) => /sign.?in|log.?in|continue|submit/i.test(b.innerText || b.value || "")) ||
      buttons[0] || null;
    document.querySelectorAll("[data-matf-login]").forEach((el) => el.removeAttribute("data-matf-login"));
    password.setAttribute("data-matf-login", "password");
    if (username) username.setAttribute("data-matf-login", "username");
    if (submit) submit.setAttribute("data-matf-login", "submit");
    const form = password.form;
    return {
      found: true,
      action: form ? new URL(form.getAttribute("action") || location.href, location.href).href : null,
      username: Boolean(username),
      submit: Boolean(submit),
      captcha: captcha(),
    };
  };

  // What the browser itself refused to send (a username that is not an email...).
  const invalid = () => Array.from(document.querySelectorAll("[data-matf-login]"))
    .filter((el) => el.willValidate && !el.checkValidity())
    .map((el) => squeeze(el.validationMessage)).join(" ").slice(0, 300);

  if (mode === "find") return find();
  return {
    password: passwords().length > 0, captcha: captcha(), otp: oneTimeCode(), error: errorText(),
    invalid: invalid(),
  };
}
