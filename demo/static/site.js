/* Shared behaviour for the Acme Outfitters demo: theme switch and disclosure buttons. */
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-theme-toggle]")) {
    button.addEventListener("click", () => {
      const dark = document.documentElement.dataset.theme !== "dark";
      document.documentElement.dataset.theme = dark ? "dark" : "light";
      button.setAttribute("aria-pressed", String(dark));
    });
  }
  for (const button of document.querySelectorAll("[data-toggle]")) {
    const panel = document.getElementById(button.dataset.toggle);
    const showLabel = button.textContent;
    const hideLabel = showLabel.replace(/^Show/, "Hide");
    button.addEventListener("click", () => {
      const open = panel.hidden;
      panel.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
      button.textContent = open ? hideLabel : showLabel;
    });
  }
});
