/* Seeded bug "layout-shift": 300 ms after load, put the repair-week banner at the
   top of <main> with no space reserved for it, pushing the journal text down. */
"use strict";

const BANNER_DELAY_MS = 300;

function showRepairBanner() {
  const template = document.getElementById("journal-banner-template");
  const main = document.getElementById("content");
  main.prepend(template.content.cloneNode(true));
}

window.addEventListener("load", () => setTimeout(showRepairBanner, BANNER_DELAY_MS));
