/* Seeded bug "slow-page": a "store map" that blocks the main thread for 350 ms
   just after load: one long task, so Total Blocking Time comes to about 300 ms. */
"use strict";

const STORE_MAP_BUSY_MS = 350;

function drawStoreMap() {
  const until = performance.now() + STORE_MAP_BUSY_MS;
  while (performance.now() < until) {
    // Busy: nothing else on the page can run until this returns.
  }
}

window.addEventListener("load", () => setTimeout(drawStoreMap, 100));
